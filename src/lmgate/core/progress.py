"""Where a process is in its long work, for whoever supervises it (the xdist controller).

lmgate's loops use `progress_bar` (a tqdm that also reports) and Trainer runs get
`TrainingProgress`; both call `report(what, done, total)`. When `$LMGATE_PROGRESS_FILE` names a
file (the plugin sets it on each xdist worker), the latest report is written there as JSON,
atomically and at most once a second; otherwise reporting costs nothing. The controller reads
the files of all workers and prints one line (`board_line`), so parallel tqdm bars never
garble the terminal.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Iterable

from lmgate.core.io import atomic_write_text

ENV = "LMGATE_PROGRESS_FILE"
#: The test a process works for: in the environment, so that the processes it starts (DDP
#: ranks) report under it too.
TEST_ENV = "LMGATE_PROGRESS_TEST"
MIN_INTERVAL_S = 1.0
_last_write = [0.0]


def set_test(nodeid: str) -> None:
    """The test this process runs now (its reports are shown under it)."""
    os.environ[TEST_ENV] = nodeid


def end_test() -> None:
    """This process's test has ended: its last report goes, so that the board shows work in
    progress, never a finished test's last step as if it were still running."""
    os.environ.pop(TEST_ENV, None)
    _last_write[0] = 0.0
    path = os.environ.get(ENV)
    if path:
        Path(path).unlink(missing_ok=True)


def report(what: str, done: int, total: int | None = None) -> None:
    """Record this process's progress (no-op unless $LMGATE_PROGRESS_FILE is set)."""
    path = os.environ.get(ENV)
    if not path:
        return
    now = time.monotonic()
    finished = total is not None and done >= total
    if now - _last_write[0] < MIN_INTERVAL_S and not finished:
        return
    _last_write[0] = now
    atomic_write_text(Path(path), json.dumps({
        "worker": Path(path).stem, "test": os.environ.get(TEST_ENV, ""), "what": what, "done": done,
        "total": total, "time": time.time()}))


def read_board(folder: str | Path) -> list[dict[str, Any]]:
    """Every worker's latest report in `folder`, by worker name."""
    entries = []
    for path in sorted(Path(folder).glob("*.json")):
        try:
            entries.append(json.loads(path.read_text()))
        except (OSError, ValueError):   # being replaced right now: next time
            continue
    return entries


def board_line(entries: Iterable[dict[str, Any]]) -> str:
    """One line: `gw0 test_x: training minilm 60/113 (53%) | gw1 ...`."""
    parts = []
    for e in entries:
        amount = f"{e['done']}/{e['total']} ({e['done'] / e['total']:.0%})" if e.get("total") \
            else str(e["done"])
        who = f"{e['worker']} {e.get('test', '').split('::')[-1]}".strip()
        parts.append(f"{who}: {e['what']} {amount}")
    return " | ".join(parts)


def progress_bar(iterable: Iterable, *, desc: str, total: int | None = None):
    """`tqdm(iterable, desc=..., leave=False)` that also reports each step."""
    from tqdm.auto import tqdm

    class ReportingBar(tqdm):
        def update(self, n: int = 1):
            shown = super().update(n)
            report(self.desc, self.n, self.total)
            return shown

    return ReportingBar(iterable, desc=desc, total=total, leave=False, disable=None)


def training_progress(what: str):
    """A transformers TrainerCallback that reports `what` at every optimiser step."""
    from transformers import TrainerCallback

    class TrainingProgress(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            report(what, state.global_step, state.max_steps)

    return TrainingProgress()
