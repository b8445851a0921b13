"""The claim bus: every checked claim is told to the listeners of the moment (the pytest
plugin listens during a test, so results know which comparison judged them)."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

from lmgate.stats.comparison import Comparison

#: Callbacks told of every claim comparison (`assert_better`, `assert_not_worse`, ...): the
#: pytest plugin listens during a test so results know which comparison judged them.
_LISTENERS: list[Callable[[dict], None]] = []


@contextmanager
def comparisons_to(callback: Callable[[dict], None]) -> Iterator[None]:
    """Send each claim comparison made inside the block to `callback` (as a dict)."""
    _LISTENERS.append(callback)
    try:
        yield
    finally:
        _LISTENERS.remove(callback)


def report_comparison(claim: str, cmp: Comparison, held: bool) -> None:
    """Tell the listeners that `claim` ("better", "not worse", "non-inferior", "equivalent",
    "above") was checked with `cmp`."""
    for callback in list(_LISTENERS):
        callback({"claim": claim, "held": held, **cmp.to_dict()})


def settle(claim: str, cmp: Comparison, held: bool, failure: str) -> Comparison:
    """Report the checked `claim` to the listeners, then fail with `failure` unless it held."""
    report_comparison(claim, cmp, held)
    if not held:
        raise AssertionError(failure)
    return cmp
