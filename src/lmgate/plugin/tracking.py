"""`--lmgate-track NAME` (ini `lmgate_track`): log the session to trackers (lmgate.report.tracking).

On the controller only (xdist workers log nothing). Trackers start in pytest_configure, so one
that cannot reach its store stops the session before any test; they log after the results
folder is published, reading it back.
"""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from lmgate.core.markup import terminal_text
from lmgate.core.redact import redact_json
from lmgate.plugin.collector import COLLECTOR
from lmgate.plugin.options import add_option, is_worker

TRACKERS = pytest.StashKey[list]()


def pytest_addoption(parser: pytest.Parser) -> None:
    add_option(parser, "lmgate_track", action="append", default=None, metavar="NAME",
               help="log the run to a tracker: mlflow, wandb, or one a package registers in the "
               "'lmgate.trackers' entry-point group (repeatable; ini: lmgate_track)")
    parser.addini("lmgate_track", "trackers to log every run to", type="linelist", default=[])
    parser.addini("lmgate_mlflow_uri", "MLflow tracking URI (MLFLOW_TRACKING_URI wins)",
                  default="")
    parser.addini("lmgate_mlflow_experiment", "MLflow experiment name", default="lmgate")
    parser.addini("lmgate_wandb_project", "W&B project", default="lmgate")
    parser.addini("lmgate_wandb_entity", "W&B entity (team or user; W&B's default if unset)",
                  default="")
    parser.addini("lmgate_wandb_dir", "folder for W&B's local run files (WANDB_DIR)",
                  default="")


@pytest.hookimpl(trylast=True)   # after the collector exists
def pytest_configure(config: pytest.Config) -> None:
    names = config.getoption("lmgate_track") or config.getini("lmgate_track")
    if not names or is_worker(config) or COLLECTOR not in config.stash:
        return
    from lmgate.core.errors import ConfigError
    from lmgate.core.extras import MissingExtra
    from lmgate.report.tracking import make_tracker

    def ini(key: str) -> str | None:
        return config.getini(key) or None

    collector = config.stash[COLLECTOR]
    trackers = []
    try:
        for name in dict.fromkeys(names):
            tracker = make_tracker(name, ini)
            tracker.start(run_facts(config, collector))
            trackers.append(tracker)
    except (ConfigError, MissingExtra) as exc:
        raise pytest.UsageError(f"lmgate: {exc}") from None
    config.stash[TRACKERS] = trackers


def run_facts(config: pytest.Config, collector: Any) -> dict[str, Any]:
    from lmgate.plugin.gating import environment

    env = environment(config)
    facts = {k: env.get(k) for k in ("profile", "device", "seed", "repeats", "lmgate", "torch",
                                    "transformers")}
    try:
        facts["git commit"] = subprocess.run(["git", "rev-parse", "HEAD"], cwd=config.rootpath,
                                             capture_output=True, text=True,
                                             timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        facts["git commit"] = None
    return redact_json(facts)


@pytest.hookimpl(trylast=True)   # after the collector has published the results folder
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    trackers = session.config.stash.get(TRACKERS, [])
    collector = session.config.stash.get(COLLECTOR, None)
    if not trackers or collector is None:
        return
    from lmgate.report.tracking import RunRecord

    facts = redact_json({**run_facts(session.config, collector), **collector._header()})
    gate = None if collector.gate is None else ("passed" if collector.gate.passed else "failed")
    status = ("interrupted" if collector.interrupted else
              "passed" if session.exitstatus == 0 else "failed")
    # A run that recorded nothing still closes its tracker run (with no metrics).
    record = (RunRecord.read(collector.out, facts, gate, status) if collector.written
              else RunRecord(collector.out, facts, [], [], gate, status))
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    for tracker in trackers:
        where = tracker.log(record)
        if reporter is not None:
            reporter.write_line(terminal_text(f"lmgate: logged to {tracker.name}: {where}"))
