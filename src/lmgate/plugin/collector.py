"""The controller-side `Collector`: gathers every test's records (from this process or the
xdist workers) and verdicts, writes the results once at session finish (before any baseline
work that could fail), then gates. It owns its hooks and is unregistered at unconfigure, like
pytest's own junitxml plugin.
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from lmgate.core.errors import ConfigError
from lmgate.plugin.gating import check_baseline, environment, read_baseline_now, update_baseline
from lmgate.plugin.options import GATE, MEMORY, SETTINGS, GateOptions, is_worker
from lmgate.plugin.recording import junit_per_test
from lmgate.plugin.selection import strip_group
from lmgate.plugin.terminal import write_summary

if TYPE_CHECKING:  # lmgate.report loads pandas and numpy: imported once a test records
    from lmgate.report.rows import ResultRow

COLLECTOR = pytest.StashKey["Collector"]()


@pytest.hookimpl(trylast=True)  # after options.pytest_configure has parsed the settings
def pytest_configure(config: pytest.Config) -> None:
    if is_worker(config):
        return
    gate = config.stash[GATE]
    _check_results_folder(config.stash[SETTINGS].results_dir)
    baseline = read_baseline_now(gate)
    config.stash[COLLECTOR] = collector = Collector(config, gate, baseline)
    config.pluginmanager.register(collector, "lmgate-collector")


def _check_results_folder(folder: Path) -> None:
    """Before any test: lmgate must not replace files it did not write."""
    from lmgate.core.folder import foreign_results

    try:
        theirs = foreign_results(folder)
    except ConfigError as exc:
        raise pytest.UsageError(f"lmgate: {exc}") from None
    if theirs:
        raise pytest.UsageError(
            f"lmgate: --lmgate-results-dir {folder} holds {', '.join(theirs)}, which lmgate did "
            "not write (no manifest lists them) or will not delete or write through (a symbolic "
            "link could lead outside the folder): choose another --lmgate-results-dir, or move "
            "them away")


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
        self.rows: list[ResultRow] = []
        self.predictions: list[dict] = []
        self.sections: list[dict] = []
        self.verdicts: dict[str, str] = {}
        self.groups: dict[str, str] = {}             # node id -> its repeat-independent group
        self.reasons: dict[str, str] = {}
        self.claims: list[dict] = []
        self.started = time.time()
        self.interrupted = False
        self.write_error: str | None = None
        self.written: list[Path] = []
        self.gate = None
        self.baseline_written: list[Path] = []
        self.baseline_refused: str | None = None
        self.baseline_kept = 0                       # entries of tests that did not run
        self.baseline_pruned: list[str] = []         # stale entries dropped on update

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
            from lmgate.report.rows import ResultRow

            rows = attach([ResultRow.from_json(row) for row in payload["rows"]],
                          payload["comparisons"], verdict)
            self._junit_suite_properties(rows)
            self.rows.extend(rows)
            self.predictions.extend(payload["predictions"])
            self.sections.extend(payload["sections"])
            claimed = bool(payload.get("claimed", payload["comparisons"]))
            reason = self.reasons.get(nodeid, "")
            if verdict == "passed" and claimed and not claim_held(payload):
                verdict, reason = "failed", CAUGHT
            if rows or claimed:   # a test that only records is listed, not counted as a claim
                self.claims.append({"nodeid": nodeid, "test": rows[0].test if rows
                                    else report.nodeid.split("::")[-1].split("[")[0],
                                    "verdict": verdict, "comparisons": payload["comparisons"],
                                    "claimed": claimed, "reason": reason, **payload["study"]})

    def _publish_empty_shard(self) -> None:
        from lmgate.core.folder import publish
        from lmgate.report.writers import write_folder

        shard = self.config.getoption("lmgate_shard")
        note = [("Shard", f"Shard {shard} selected no test: it has nothing to merge.\n")]
        self.written = publish(self.out, lambda stage: write_folder(stage, [], [], note))

    def _junit_suite_properties(self, rows: list[ResultRow]) -> None:
        """Metrics as <testsuite> properties, where xunit2's schema allows them."""
        from _pytest.junitxml import xml_key

        from lmgate.core.markup import xml_text

        xml = self.config.stash.get(xml_key, None)
        if xml is None or junit_per_test(self.config):
            return
        for row in rows:
            for metric, value in row.metrics.items():
                xml.add_global_property(xml_text(f"{row.nodeid}::{row.result}.{metric}"),
                                        value)   # pytest escapes values, not names

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if not self.verdicts:   # nothing ran (--collect-only, --lmgate-plan, none selected)
            if self.config.getoption("lmgate_shard", None) and not self.config.option.collectonly:
                self._publish_empty_shard()   # `lmgate merge` of the matrix needs every shard
            return
        self.interrupted = exitstatus == pytest.ExitCode.INTERRUPTED
        # Tests ran: this run's results replace the last run's, even when it recorded nothing,
        # published once (with the gate's verdict when a baseline is checked).
        sections: list[tuple[str, str]] = []
        if self.baseline is not None:
            try:
                sections = check_baseline(self, session)
            except BaseException:   # the gate's bug must not cost the run's results
                self.write([])
                raise
        self.write(sections)
        if self.write_error:
            session.exitstatus = pytest.ExitCode.INTERNAL_ERROR
            return
        if self.baseline is None and self.gate_options.update and self.rows:
            if self.interrupted:
                self.baseline_refused = (f"the run was interrupted: the baseline "
                                         f"{self.gate_options.baseline} was not updated")
            else:
                update_baseline(self, session)

    def pytest_terminal_summary(self, terminalreporter, config: pytest.Config) -> None:
        write_summary(self, terminalreporter, config)

    def write(self, sections: list[tuple[str, str]]) -> None:
        """Publish this run's files as the results folder's set (lmgate.core.folder)."""
        from lmgate.core.folder import owned, publish

        from lmgate.report.writers import write_folder

        try:
            if not self.rows:   # the last run's results go; a plain pytest run creates nothing
                self.written = []
                if self.out.is_dir() and owned(self.out):
                    publish(self.out, lambda stage: [])
                return
            self.written = publish(self.out, lambda stage: write_folder(
                stage, self.rows, self.predictions, sections, self.sections, self.claims,
                self._header(), with_plots=self._plots()))
        except (OSError, ConfigError) as exc:   # a full disk, a folder gone read-only
            from lmgate.core.io import TornWrite

            self.write_error = f"results could not be written to {self.out} ({exc})" + (
                "" if isinstance(exc, TornWrite) else
                "; the folder keeps the previous run's complete set")

    def _plots(self) -> bool:
        settings = self.config.stash.get(SETTINGS, None)
        return settings is None or settings.plots

    def _header(self) -> dict[str, Any]:
        """Run facts for the top of summary.md (not in results files: they would differ per
        run and per shard)."""
        from lmgate.core.device import precision_summary, resolve_device

        env = environment(self.config)
        hits = sum(bool(r.info.get("cache_hit")) for r in self.rows)
        requested = str(env["device"])
        if requested == "auto" and "torch" not in sys.modules:
            # No model ran: asking torch which device it would have used costs torch's import.
            device, dtype = "none used (no model ran)", "n/a"
        else:
            device = resolve_device(requested)      # "auto" -> what the tests ran on
            dtype = precision_summary(device)
        stopped = (f"yes: stopped (Ctrl-C) after {len(self.verdicts)} of "
                   f"{self.config.stash.get(ITEMS, '?')} tests; these results are partial"
                   if self.interrupted else None)
        return {"interrupted": stopped, "profile": env["profile"], "device": device, "dtype": dtype,
                "seed": env["seed"],
                "repeats": env["repeats"],
                "versions": ", ".join(f"{k} {env[k]}" for k in ("lmgate", "torch",
                                                                 "transformers") if env.get(k)),
                "wall time": f"{time.time() - self.started:.0f} s",
                "cache hits": f"{hits} of {len(self.rows)} results",
                "plots": None if self._plots() else "off (--lmgate-plots off)",
                "memory": self._memory()}

    def _memory(self) -> str | None:
        """What lmgate did to the process's allocator: nothing (None) unless opted in."""
        kept = self.config.stash.get(MEMORY, None)
        return f"{kept}, in the whole process (--lmgate-keep-freed-memory on)" if kept else None

    def tests(self, verdict: str | None = None) -> set[str]:
        """The tests (repeat-independent groups) that ran this session, with `verdict` if given."""
        return {self.groups.get(nodeid, nodeid) for nodeid, v in self.verdicts.items()
                if verdict is None or v == verdict}


ITEMS = pytest.StashKey[int]()


def pytest_collection_finish(session: pytest.Session) -> None:
    session.config.stash[ITEMS] = len(session.items)


#: Why a test that passed is on the scoreboard as a failed claim.
CAUGHT = ("a claim did not hold, and the test went on (it caught the ClaimFailed); a "
          "composite claim over such comparisons is made with lmgate.assert_claim")


def claim_held(payload: dict) -> bool:
    """Whether a passed test's claims held: a composite claim (`assert_claim`) that held
    decides over the comparisons it summed up; otherwise every comparison must have held (a
    test that caught a failed claim and passed did not show it)."""
    composites = payload.get("composites") or []
    if composites:
        return all(c.get("held") for c in composites)
    return all(c.get("held") for c in payload.get("comparisons", []))


def reason_of(report: pytest.TestReport) -> str:
    """Why a test did not pass, in one line: the xfail reason or the failure's message."""
    if hasattr(report, "wasxfail"):
        return str(report.wasxfail)
    crash = getattr(report.longrepr, "reprcrash", None)
    if report.failed and crash is not None:
        first = crash.message.splitlines()[0] if crash.message else ""
        return re.sub(r"^[\w.]*(Error|Exception|ClaimFailed): ", "", first)
    return ""
