"""Claims a profile does not expect to hold, reported as xfailed instead of failed.

- A dry-run profile (`claims = "xfail"`) swaps its models for random-weight stand-ins to prove
  its code paths. Their predictions are noise, so a claim's failure (`ClaimFailed`) says nothing
  about the claim: every failed claim is reported as xfailed with the profile's reason.
- A study's `unpowered` knob (a table: test key -> the measured reason) names the
  claims a profile's design cannot power, e.g. an effect the source study itself did not find
  at the smoke profile's sizes. Those tests still run and assert: a failed claim is xfailed
  with the reason, a held one is reported as XPASS, so nothing is dropped. A key is a test
  function's name, optionally with parameter values in brackets that the case must all have
  (`test_in_language_beats_transfer[hi]`: every model's Hindi case). Power depends on the
  data: an entry `{ reason = "...", sources = ["local"] }` applies only where the test's
  recorded results came from those sources (the `provenance` of their rows, which data loaded
  by `lmgate.load_source` carries into its results); on other data, and on data without
  provenance, the claim is a plain one.

Every other exception (a tokenizer without a pad token, a shape error, a plain `assert` that
checks the code rather than a claim) still fails. A key
that names no test of its study, or no case of the test it names, is warned about at collection
(a typo there would turn an expected failure into a plain one, never hide a failure).
"""

from __future__ import annotations

import sys
import warnings
from collections import defaultdict

import pytest

from lmgate.core.profiles import unpowered_claims
from lmgate.plugin.options import SETTINGS
from lmgate.plugin.recording import RECORDER


def unpowered_reason(item: pytest.Item) -> str | None:
    """The reason the item's study knob `unpowered` gives for this test, if any. An entry
    measured on some data sources applies when the item recorded results from one of them
    (their rows' `provenance`); on other data, or with no source recorded, the claim is a
    plain one."""
    settings = item.config.stash.get(SETTINGS, None)
    marker = item.get_closest_marker("study")
    if settings is None or marker is None or not marker.args:
        return None
    table = settings.profile.studies.get(marker.args[0], {}).get("unpowered", {})
    for key, claim in unpowered_claims(marker.args[0], table).items():
        if not matches(item, key):
            continue
        if claim.sources is None:
            return f"unpowered in profile {settings.profile.name!r}: {claim.reason}"
        used = sorted(recorded_sources(item) & set(claim.sources))
        if used:
            return (f"unpowered in profile {settings.profile.name!r} on data from "
                    f"{', '.join(used)}: {claim.reason}")
    return None


def recorded_sources(item: pytest.Item) -> set[str]:
    """The data sources in the provenance of what the item recorded so far."""
    recorder = item.stash.get(RECORDER, None)
    if recorder is None:
        return set()
    return {entry["source"] for row in recorder.rows for entry in row.provenance}


def matches(item: pytest.Item, key: str) -> bool:
    """Whether `key` (`name` or `name[value,value]`) names this test case."""
    name, _, rest = key.partition("[")
    if getattr(item, "originalname", item.name) != name.strip():
        return False
    wanted = [v.strip() for v in rest.rstrip("]").split(",") if v.strip()]
    callspec = getattr(item, "callspec", None)
    values = {str(v) for v in callspec.params.values()} if callspec is not None else set()
    return all(v in values for v in wanted)


@pytest.hookimpl(tryfirst=True)   # before -k/-m deselect: every collected case counts
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    settings = config.stash.get(SETTINGS, None)
    if settings is None:
        return
    by_study: dict[str, list[pytest.Item]] = defaultdict(list)
    for item in items:
        marker = item.get_closest_marker("study")
        if marker is not None and marker.args:
            by_study[marker.args[0]].append(item)
    for study, cases in by_study.items():
        modules = {getattr(case, "module", None) for case in cases} - {None}
        for key in settings.profile.studies.get(study, {}).get("unpowered", {}):
            name = key.partition("[")[0].strip()
            if not any(hasattr(module, name) for module in modules):
                problem = f"names no test of study {study!r}"
            elif any(getattr(c, "originalname", c.name) == name for c in cases) \
                    and not any(matches(c, key) for c in cases):
                problem = f"matches no collected case of {name}"
            else:
                continue
            warnings.warn(pytest.PytestConfigWarning(
                f"profile {settings.profile.name!r}, studies.{study}.unpowered: {key!r} "
                f"{problem}"), stacklevel=1)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    settings = item.config.stash.get(SETTINGS, None)
    listeners = sys.modules.get("lmgate.stats.listeners")
    if call.when != "call" or listeners is None:   # no claim made yet (it would be loaded)
        return report
    ClaimFailed, ClaimInconclusive = listeners.ClaimFailed, listeners.ClaimInconclusive

    if (report.failed and call.excinfo is not None and call.excinfo.errisinstance(
            ClaimInconclusive) and call.excinfo.value.skip):
        # The claim's policy asked for an inconclusive claim to be skipped: never held.
        report.outcome = "skipped"
        report.longrepr = (str(item.path), item.location[1] or 0,
                           f"Skipped: {str(call.excinfo.value).splitlines()[0][:300]}")
        return report
    if settings is None:
        return report
    # Only a claim's own failure is expected; a plain `assert` (a code check) still fails.
    claim_failed = (report.failed and call.excinfo is not None
                    and call.excinfo.errisinstance(ClaimFailed))
    measured = str(call.excinfo.value).splitlines()[0][:200] if claim_failed else ""
    if settings.profile.claims == "xfail":
        if claim_failed:
            report.outcome = "skipped"
            report.wasxfail = (f"profile {settings.profile.name!r} does not evaluate claims "
                               f"(stand-in models): {measured}")
        return report
    reason = unpowered_reason(item)
    if reason is not None and (claim_failed or report.passed):
        if claim_failed:
            report.outcome = "skipped"
            reason += f"; measured: {measured}"
        report.wasxfail = reason     # a passed report with wasxfail is pytest's XPASS
    return report
