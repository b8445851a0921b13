"""The claim bus: every checked claim is told to the listeners of the moment (the pytest
plugin listens during a test, so results know which comparison judged them)."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

from lmgate.stats.comparison import Comparison, cost_in_words, with_cost

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


class ClaimFailed(AssertionError):
    """A claim that did not hold (or could not be judged). Only this failure becomes an
    expected failure under a dry-run profile or for an `unpowered` claim; a plain
    `AssertionError` (a code check) always fails. `comparison` is what judged it (None for a
    composite claim, `assert_claim`)."""

    def __init__(self, message: str, comparison: Comparison | None = None) -> None:
        super().__init__(message)
        self.comparison = comparison


class ClaimInconclusive(ClaimFailed):
    """A sequential claim that ran out of examples or budget before it was settled: never
    held; it fails the test unless its policy says `on_inconclusive="skip"`."""

    def __init__(self, message: str, comparison: Comparison | None = None,
                 skip: bool = False) -> None:
        super().__init__(message, comparison)
        self.skip = skip


def report_comparison(claim: str, cmp: Comparison, held: bool) -> None:
    """Tell the listeners that `claim` ("better", "not worse", "non-inferior", "equivalent",
    "above") was checked with `cmp`."""
    for callback in list(_LISTENERS):
        callback({"claim": claim, "held": held, **cmp.to_dict()})


def settle(claim: str, cmp: Comparison, held: bool, failure: str,
           error: ClaimFailed | None = None) -> Comparison:
    """Report the checked `claim` to the listeners, then fail with `failure` (or `error`)
    unless it held. The comparison carries the cost of the systems being judged."""
    cmp = with_cost(cmp)
    report_comparison(claim, cmp, held)
    if not held:
        cost = cost_in_words(cmp.cost)
        if error is None:
            error = ClaimFailed(failure, cmp)
        elif error.args and cost:
            failure = str(error.args[0])
        if cost and cost not in failure:
            error.args = (f"{failure}; cost {cost}",)
        error.comparison = cmp
        raise error
    return cmp


def assert_claim(holds: bool, message: str) -> None:
    """A study's composite claim (e.g. "learning curves rose on most languages"): a claim
    like `assert_better`'s, counted on the scoreboard and failing with `ClaimFailed`, so that
    a dry run or an `unpowered` entry may expect it to fail while code checks still fail."""
    for callback in list(_LISTENERS):
        callback({"claim": "composite", "held": bool(holds), "text": message})
    if not holds:
        raise ClaimFailed(message)
