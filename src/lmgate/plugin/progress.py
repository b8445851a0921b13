"""Progress across xdist workers: each worker writes its latest `lmgate.core.progress` report to a
file of its own; the controller prints one line for all workers every
`lmgate_progress_interval` seconds (when something moved), e.g.

    lmgate progress: gw0 test_learning_curves[minilm-all]: training on sentiment-fr-n200 60/113 (53%) | gw1 ...

Worker output is never interleaved with the controller's: tqdm bars stay inside the workers.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading

import pytest

from lmgate.core.markup import terminal_text
from lmgate.core.progress import ENV, board_line, end_test, read_board, set_test

BOARD_KEY = "lmgate_progress_dir"
BOARD = pytest.StashKey["Board"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("lmgate_progress_interval", "seconds between the controller's progress lines "
                  "under pytest-xdist (0: none)", default="30")


def _is_xdist_controller(config: pytest.Config) -> bool:
    return not hasattr(config, "workerinput") and bool(getattr(config.option, "numprocesses", 0))


def pytest_configure(config: pytest.Config) -> None:
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None and workerinput.get(BOARD_KEY):
        os.environ[ENV] = os.path.join(workerinput[BOARD_KEY], f"{workerinput['workerid']}.json")
    elif _is_xdist_controller(config):
        from lmgate.core.errors import ConfigError
        from lmgate.plugin.options import parse_number

        try:
            interval = parse_number(str(config.getini("lmgate_progress_interval")),
                                    "lmgate_progress_interval")
        except ConfigError as exc:
            raise pytest.UsageError(f"lmgate: {exc}") from None
        if interval > 0:
            board = Board(config, tempfile.mkdtemp(prefix="lmgate-progress-"), interval)
            config.stash[BOARD] = board
            config.pluginmanager.register(board, "lmgate-progress-board")


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:
    board = node.config.stash.get(BOARD, None)
    if board is not None:
        node.workerinput[BOARD_KEY] = board.folder


def pytest_runtest_setup(item: pytest.Item) -> None:
    from lmgate.plugin.selection import plain_id

    set_test(plain_id(item))   # the id results use, without loadgroup's @group


def pytest_runtest_logfinish(nodeid: str, location) -> None:
    end_test()


class Board:
    """The controller's side: a daemon thread that prints the workers' latest reports."""

    def __init__(self, config: pytest.Config, folder: str, interval: float) -> None:
        self.config, self.folder, self.interval = config, folder, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lmgate-progress", daemon=True)
        self._last = ""

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self._thread.start()

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        shutil.rmtree(self.folder, ignore_errors=True)

    def _run(self) -> None:
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        while not self._stop.wait(self.interval):
            line = board_line(read_board(self.folder))
            if line and line != self._last and reporter is not None:
                self._last = line
                reporter.write_line(terminal_text(f"lmgate progress: {line}"))
