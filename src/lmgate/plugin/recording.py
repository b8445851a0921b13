"""Recording and export: the `record` fixture and the controller-side `Collector`.

Records travel from xdist workers to the controller on the teardown report (`report.lmgate`);
the `Collector`, registered on the controller only, gathers them, writes the results once at
session finish (before any baseline work that could fail) and runs the gate. It owns its hooks
and is unregistered at unconfigure, like pytest's own junitxml plugin.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import pytest

from lmgate.plugin.options import GATE, SETTINGS, GateOptions, is_worker
from lmgate.plugin.selection import item_params

if TYPE_CHECKING:  # records pull in numpy and scikit-learn: loaded when a test records
    from lmgate.report.records import Recorder

RECORDER = pytest.StashKey["Recorder"]()
COLLECTOR = pytest.StashKey["Collector"]()
REPEAT_ID = re.compile(r"-seed\d+(?=\])|\[seed\d+\]")
#: Files lmgate writes into --results-dir; removed at session start so results are this run's.
RESULT_FILES = ("results.jsonl", "results.csv", "predictions.jsonl", "sections.jsonl",
                "claims.jsonl", "summary.md", "report.html")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator:
    report = yield
    if call.when == "teardown" and RECORDER in item.stash:
        recorder = item.stash[RECORDER]
        report.lmgate = {"rows": recorder.rows, "predictions": recorder.predictions,
                         "sections": recorder.sections, "comparisons": recorder.comparisons,
                         "study": recorder.study}
    return report


@pytest.hookimpl(trylast=True)  # after options.pytest_configure has parsed the settings
def pytest_configure(config: pytest.Config) -> None:
    if is_worker(config):
        return
    gate = config.stash[GATE]
    baseline = None
    if gate.baseline is not None and not gate.update:
        from lmgate.errors import ConfigError
        from lmgate.gate import read_baseline

        try:  # a corrupt baseline must stop the run now, not after an hour of training
            baseline = read_baseline(gate.baseline)
        except ConfigError as exc:
            raise pytest.UsageError(f"lmgate: {exc}") from None
    config.stash[COLLECTOR] = collector = Collector(config, gate, baseline)
    config.pluginmanager.register(collector, "lmgate-collector")


def pytest_unconfigure(config: pytest.Config) -> None:
    collector = config.stash.get(COLLECTOR, None)
    if collector is not None:
        del config.stash[COLLECTOR]
        config.pluginmanager.unregister(collector)


class Collector:
    """Gathers rows and predictions (from this process or xdist workers), writes, gates."""

    def __init__(self, config: pytest.Config, gate: GateOptions, baseline=None) -> None:
        self.config = config
        self.gate_options = gate
        self.baseline = baseline
        self.out: Path = config.stash[SETTINGS].results_dir
        self.rows: list[dict] = []
        self.predictions: list[dict] = []
        self.sections: list[dict] = []
        self.verdicts: dict[str, str] = {}
        self.reasons: dict[str, str] = {}
        self.claims: list[dict] = []
        self.started = time.time()
        self.written: list[Path] = []
        self.gate = None
        self.baseline_written: list[Path] = []
        self.baseline_refused: str | None = None
        self.baseline_kept = 0                       # entries of tests that did not run
        self.baseline_pruned: list[str] = []         # stale entries dropped on update

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        for name in RESULT_FILES:  # a run where everything skips must not show the last run's
            (self.out / name).unlink(missing_ok=True)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        from lmgate.plugin.scaleout import strip_group

        nodeid = strip_group(report.nodeid)
        if report.when == "call" or (report.when == "setup" and not report.passed):
            # pytest's own classification: passed, failed, error, skipped, xfailed, xpassed.
            category = self.config.hook.pytest_report_teststatus(report=report,
                                                                 config=self.config)[0]
            self.verdicts[nodeid] = category
            self.reasons[nodeid] = reason_of(report)
        payload = getattr(report, "lmgate", None)
        if payload:
            verdict = self.verdicts.get(nodeid, "error")
            from lmgate.report.claims import attach

            rows = attach(payload["rows"], payload["comparisons"], verdict)
            self.rows.extend(rows)
            self.predictions.extend(payload["predictions"])
            self.sections.extend(payload["sections"])
            if rows:
                self.claims.append({"nodeid": rows[0]["nodeid"], "test": rows[0]["test"],
                                    "verdict": verdict, "comparisons": payload["comparisons"],
                                    "reason": self.reasons.get(nodeid, ""), **payload["study"]})

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.rows:
            self._write([])
        if self.baseline is not None:
            self._check(session)
        elif self.gate_options.update and self.rows:
            self._update(session)

    def _write(self, sections: list[tuple[str, str]]) -> None:
        from lmgate.report.plots import plots_by_study
        from lmgate.report.writers import write_results

        plots = plots_by_study(self.rows, self.out)
        self.written = write_results(self.rows, self.predictions, self.out, plots, sections,
                                     self.sections, self.claims, self._header()) \
            + [p for paths in plots.values() for p in paths]

    def _header(self) -> dict[str, Any]:
        """Run facts for the top of summary.md (not in results files: they would differ per
        run and per shard)."""
        from lmgate.models.causal import inference_dtype
        from lmgate.settings import resolve_device

        env = environment(self.config)
        hits = sum(bool(r["info"].get("cache_hit")) for r in self.rows)
        device = resolve_device(str(env["device"]))   # "auto" -> what the tests ran on
        dtype = inference_dtype(device)
        if dtype != "float32":   # CUDA: bf16 inference and frozen features, bf16 mixed training
            dtype += " (inference, frozen-base features; training in bf16 mixed precision)"
        return {"profile": env["profile"], "device": device, "dtype": dtype,
                "seed": env["seed"],
                "repeats": env["repeats"],
                "versions": ", ".join(f"{k} {env[k]}" for k in ("lmgate", "torch",
                                                                 "transformers") if env.get(k)),
                "wall time": f"{time.time() - self.started:.0f} s",
                "cache hits": f"{hits} of {len(self.rows)} results"}

    def _check(self, session: pytest.Session) -> None:
        from lmgate.gate import (baseline_environment, compare, environment_changes, markdown,
                                 measurements, settings_by_result)

        old, old_examples = self.baseline
        new, new_examples = measurements(self.rows, self.predictions)
        options = self.gate_options
        self.gate = compare(old, new, old_examples, new_examples, tolerance=options.tolerance,
                            alpha=options.alpha, strict_missing=options.strict_missing,
                            settings=settings_by_result(self.rows),
                            passed_tests=self._tests("passed"))

        self.gate.environment_changes = environment_changes(
            baseline_environment(options.baseline), environment(self.config))
        if options.mde is not None:
            from lmgate.gate import power_warnings

            self.gate.power_warnings = power_warnings(self.gate, options.mde)
            self.gate.strict_power = options.strict_power
        self._write([("Compared with baseline", markdown(self.gate))])
        if not self.gate.passed:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def _update(self, session: pytest.Session) -> None:
        from lmgate.gate import carried_over, measurements, read_baseline, write_baseline

        if session.testsfailed and not self.gate_options.force:
            self.baseline_refused = (f"{session.testsfailed} test(s) failed: the baseline "
                                     f"{self.gate_options.baseline} was not updated (add "
                                     "--force to write it anyway)")
            return
        path = self.gate_options.baseline
        found, examples = measurements(self.rows, self.predictions)
        if not self.gate_options.prune and path.exists():
            old, old_examples = read_baseline(path)
            kept, kept_examples = carried_over(old, old_examples, self._tests())
            self.baseline_pruned = sorted(set(old) - set(kept) - set(found))
            self.baseline_kept = len(kept)
            found, examples = {**kept, **found}, {**kept_examples, **examples}
        self.baseline_written = write_baseline(path, found, examples, environment(self.config))

    def _tests(self, verdict: str | None = None) -> set[str]:
        """The tests (repeat-independent groups) that ran this session, with `verdict` if given."""
        return {REPEAT_ID.sub("", nodeid) for nodeid, v in self.verdicts.items()
                if verdict is None or v == verdict}

    def pytest_terminal_summary(self, terminalreporter, config: pytest.Config) -> None:
        if self.rows:
            from lmgate.report.claims import claim_line
            from lmgate.report.writers import key_table

            terminalreporter.section("lmgate results")
            if config.option.verbose > 0:   # the metric dump only with -v
                table = key_table(self.rows)
                limit = 40
                terminalreporter.write_line(table.head(limit).to_string(
                    index=False, float_format="%.4f", na_rep=""))
                if len(table) > limit:
                    terminalreporter.write_line(f"... {len(table) - limit} more rows")
            # One screen for the whole suite: a line per claim, many comparisons summed up
            # (-v: every comparison in words).
            style = "words" if config.option.verbose > 0 else "compact"
            for claim in sorted(self.claims, key=lambda c: c["nodeid"]):
                terminalreporter.write_line(claim_line(claim, style),
                                            red=claim["verdict"] in ("failed", "error"),
                                            green=claim["verdict"] == "passed")
            if self.written:
                report = Path(self.written[0]).parent / "report.html"
                terminalreporter.write_line(f"report: {report} (metrics: -v, or results.csv)")
        if self.baseline_written:
            terminalreporter.write_line(f"lmgate: baseline written to {self.baseline_written[0]}"
                                        + (f"; kept {self.baseline_kept} entries of tests that "
                                           "did not run" if self.baseline_kept else ""))
            if self.baseline_pruned:
                terminalreporter.write_line(f"lmgate: dropped {len(self.baseline_pruned)} stale "
                                            f"entries: {', '.join(self.baseline_pruned[:5])}"
                                            + (" ..." if len(self.baseline_pruned) > 5 else ""))
        if self.baseline_refused:
            terminalreporter.write_line(f"lmgate: {self.baseline_refused}", red=True)
        if self.gate is not None:
            from lmgate.gate import data_changes, failure_message, power_summary

            terminalreporter.section("lmgate baseline check")
            counts = ", ".join(f"{n} {s}" for s, n in sorted(self.gate.counts().items()))
            terminalreporter.write_line(f"{len(self.gate.checks)} metric(s) compared: {counts}")
            for change in data_changes(self.gate):
                terminalreporter.write_line(f"lmgate: {change}", yellow=True)
            for change in self.gate.environment_changes:
                terminalreporter.write_line(f"lmgate: environment differs from the baseline's: "
                                            f"{change}", yellow=True)
            moved = [f for f in self.gate.flips if f.right_to_wrong or f.wrong_to_right]
            for flip in sorted(moved, key=lambda f: f.p_value)[:10]:
                terminalreporter.write_line(f"lmgate: flips: {flip.describe()}")
            if len(moved) > 10:
                terminalreporter.write_line(f"lmgate: flips in {len(moved) - 10} more result(s) "
                                            "(summary.md lists them)")
            power = power_summary(self.gate)
            if power:
                terminalreporter.write_line(f"lmgate: {power}")
            for warning in self.gate.power_warnings:
                terminalreporter.write_line(f"lmgate: too blind: {warning}",
                                            red=self.gate.strict_power,
                                            yellow=not self.gate.strict_power)
            if self.gate.passed:
                terminalreporter.write_line("no regression beyond noise", green=True)
            else:
                terminalreporter.write_line(failure_message(self.gate), red=True)


def reason_of(report: pytest.TestReport) -> str:
    """Why a test did not pass, in one line: the xfail reason or the failure's message."""
    if hasattr(report, "wasxfail"):
        return str(report.wasxfail)
    crash = getattr(report.longrepr, "reprcrash", None)
    if report.failed and crash is not None:
        first = crash.message.splitlines()[0] if crash.message else ""
        return re.sub(r"^\w+(Error|Exception): ", "", first)
    return ""


def environment(config: pytest.Config) -> dict[str, Any]:
    """What a baseline stores about the run that produced it."""
    import platform

    from lmgate.cache import library_versions

    settings = config.stash[SETTINGS]
    return {"profile": settings.profile.name, "seed": settings.seed, "device": settings.device,
            "repeats": config.stash[GATE].repeats, "python": platform.python_version(),
            **library_versions()}


@pytest.fixture
def record(request: pytest.FixtureRequest, lmgate_seed: int) -> Iterator["Recorder"]:
    """Record results and scalar metrics of this test: exported to --results-dir, JUnit, gate.

    Example::

        def test_finetuned_beats_zero_shot(finetune, zero_shot, record):
            ...
            record(finetuned, prompted, mode_agreement=0.93)   # results and loose scalars
            record.section("My table", markdown_text)          # a block in summary.md

    Comparisons made by `assert_better` / `assert_not_worse` during the test are kept with
    the results they compared, and the test's verdict with every row.
    """
    from lmgate.metrics.stats import comparisons_to
    from lmgate.plugin.scaleout import strip_group
    from lmgate.report.records import Recorder

    item = request.node

    def to_junit(row: dict) -> None:
        item.user_properties.extend((f"{row['result']}.{metric}", value)
                                    for metric, value in row["metrics"].items())

    params = {k: v for k, v in item_params(item).items() if k != "lmgate_repeat"}
    nodeid = strip_group(item.nodeid)
    recorder = Recorder(nodeid, getattr(item, "originalname", item.name),
                        {**params, "seed": lmgate_seed}, on_row=to_junit,
                        group=REPEAT_ID.sub("", nodeid))
    module = getattr(request, "module", None)
    recorder.study = {"module": item.path.name, "doc": (getattr(module, "__doc__", "") or "")}
    marker = item.get_closest_marker("lmgate_gate")
    if marker is not None:
        from lmgate.gate import gate_settings

        recorder.gate = gate_settings(marker.kwargs)
    item.stash[RECORDER] = recorder
    with comparisons_to(recorder.comparisons.append):
        yield recorder
