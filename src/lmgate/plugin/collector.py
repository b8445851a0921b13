"""The controller-side `Collector`: gathers every test's records (from this process or the
xdist workers) and verdicts, writes the results once at session finish (before any baseline
work that could fail), then gates. It owns its hooks and is unregistered at unconfigure, like
pytest's own junitxml plugin.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

from lmgate.plugin.gating import check_baseline, environment, read_baseline_now, update_baseline
from lmgate.plugin.options import GATE, SETTINGS, GateOptions, is_worker
from lmgate.plugin.selection import strip_group
from lmgate.plugin.terminal import write_summary

COLLECTOR = pytest.StashKey["Collector"]()
#: Files lmgate writes into --results-dir; removed at session start so results are this run's.
RESULT_FILES = ("results.jsonl", "results.csv", "predictions.jsonl", "sections.jsonl",
                "claims.jsonl", "summary.md", "report.html")


@pytest.hookimpl(trylast=True)  # after options.pytest_configure has parsed the settings
def pytest_configure(config: pytest.Config) -> None:
    if is_worker(config):
        return
    gate = config.stash[GATE]
    baseline = read_baseline_now(gate)
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
        self.groups: dict[str, str] = {}             # node id -> its repeat-independent group
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
        nodeid = strip_group(report.nodeid)
        if report.when == "call" or (report.when == "setup" and not report.passed):
            # pytest's own classification: passed, failed, error, skipped, xfailed, xpassed.
            category = self.config.hook.pytest_report_teststatus(report=report,
                                                                 config=self.config)[0]
            self.verdicts[nodeid] = category
            self.reasons[nodeid] = reason_of(report)
            self.groups[nodeid] = getattr(report, "lmgate_group", nodeid)
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
            self.write([])
        if self.baseline is not None:
            check_baseline(self, session)
        elif self.gate_options.update and self.rows:
            update_baseline(self, session)

    def pytest_terminal_summary(self, terminalreporter, config: pytest.Config) -> None:
        write_summary(self, terminalreporter, config)

    def write(self, sections: list[tuple[str, str]]) -> None:
        from lmgate.report.plots import plots_by_study
        from lmgate.report.writers import write_results

        plots = plots_by_study(self.rows, self.out)
        self.written = write_results(self.rows, self.predictions, self.out, plots, sections,
                                     self.sections, self.claims, self._header()) \
            + [p for paths in plots.values() for p in paths]

    def _header(self) -> dict[str, Any]:
        """Run facts for the top of summary.md (not in results files: they would differ per
        run and per shard)."""
        from lmgate.core.device import precision_summary, resolve_device

        env = environment(self.config)
        hits = sum(bool(r["info"].get("cache_hit")) for r in self.rows)
        device = resolve_device(str(env["device"]))   # "auto" -> what the tests ran on
        return {"profile": env["profile"], "device": device, "dtype": precision_summary(device),
                "seed": env["seed"],
                "repeats": env["repeats"],
                "versions": ", ".join(f"{k} {env[k]}" for k in ("lmgate", "torch",
                                                                 "transformers") if env.get(k)),
                "wall time": f"{time.time() - self.started:.0f} s",
                "cache hits": f"{hits} of {len(self.rows)} results"}

    def tests(self, verdict: str | None = None) -> set[str]:
        """The tests (repeat-independent groups) that ran this session, with `verdict` if given."""
        return {self.groups.get(nodeid, nodeid) for nodeid, v in self.verdicts.items()
                if verdict is None or v == verdict}


def reason_of(report: pytest.TestReport) -> str:
    """Why a test did not pass, in one line: the xfail reason or the failure's message."""
    if hasattr(report, "wasxfail"):
        return str(report.wasxfail)
    crash = getattr(report.longrepr, "reprcrash", None)
    if report.failed and crash is not None:
        first = crash.message.splitlines()[0] if crash.message else ""
        return re.sub(r"^\w+(Error|Exception): ", "", first)
    return ""
