"""Claims in a dry-run profile (`claims = "xfail"`): failed assertions reported as xfailed.

A dry run swaps a profile's models for random-weight stand-ins to prove its code paths. Their
predictions are noise, so a claim's `AssertionError` says nothing about the claim: the test is
reported as xfailed with the profile's reason. Every other exception (a tokenizer without a pad
token, a head of the wrong size, a shape error) still fails: that is what a dry run is for.
"""

from __future__ import annotations

import pytest

from lmgate.plugin.options import SETTINGS


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    settings = item.config.stash.get(SETTINGS, None)
    if settings is None or settings.profile.claims != "xfail" or call.when != "call":
        return report
    if report.failed and call.excinfo is not None and call.excinfo.errisinstance(AssertionError):
        report.outcome = "skipped"
        report.wasxfail = (f"profile {settings.profile.name!r} does not evaluate claims "
                           f"(stand-in models): {str(call.excinfo.value).splitlines()[0][:200]}")
    return report
