"""Every report pytest prints or writes to JUnit XML, with its secrets masked
(`lmgate.core.redact`): a test's traceback, skip or xfail reason, captured output and
properties, a collection error, a warning, an INTERNALERROR. lmgate's own errors are redacted
where they are raised; this catches what reaches pytest otherwise (an exception of another library, an
`assert` on a server's answer, a print of it). The same pass makes their text inert for a
terminal (`lmgate.core.markup.terminal_text`): an escape sequence in a result name, a label or a
server's answer is shown, never run (line breaks and tabs stay)."""

from __future__ import annotations

import dataclasses
import sys
from typing import Any

import pytest

from lmgate.core.markup import terminal_text
from lmgate.core.redact import redact, redact_json


class RedactedRepr:
    """A failure's text, redacted, still with its crash line (pytest's short summary and
    JUnit's `message` read `reprcrash`)."""

    def __init__(self, text: str, reprcrash: Any) -> None:
        self.text = text
        if reprcrash is not None and dataclasses.is_dataclass(reprcrash):
            reprcrash = dataclasses.replace(reprcrash, message=terminal_text(reprcrash.message))
        self.reprcrash = reprcrash

    def __str__(self) -> str:
        return self.text

    def toterminal(self, tw: Any) -> None:
        for line in self.text.split("\n"):
            tw.line(line)


def scrub(report: pytest.TestReport | pytest.CollectReport) -> None:
    """Mask the secrets in everything `report` carries to the terminal and to JUnit XML, and
    show its control characters and escape sequences escaped."""
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:      # a skip: (path, line, reason)
        report.longrepr = (longrepr[0], longrepr[1], terminal_text(longrepr[2]))
    elif longrepr is not None:
        text = str(longrepr)
        masked = terminal_text(text)
        if masked != text:
            report.longrepr = RedactedRepr(masked, getattr(longrepr, "reprcrash", None))
    location = getattr(report, "location", None)   # a CollectReport's is derived, read-only
    if isinstance(report, pytest.TestReport) and isinstance(location, tuple) and len(location) == 3 and isinstance(location[2], str):
        report.location = (location[0], location[1], redact(location[2]))
    report.sections = [(terminal_text(title), terminal_text(content))
                       for title, content in report.sections]
    if isinstance(getattr(report, "wasxfail", None), str):
        report.wasxfail = terminal_text(report.wasxfail)
    if getattr(report, "user_properties", None):
        report.user_properties = [(redact(str(name)), redact_json(value))
                                  for name, value in report.user_properties]


TAKEN_IDS = pytest.StashKey[set]()


def masked_id(nodeid: str, taken: set[str]) -> str:
    """`nodeid` with its secrets masked (a key in a parametrize value), kept apart from the
    ids in `taken`: cases that differ only in a secret get `~2`, `~3`, ... in their brackets.
    Adds the id returned to `taken`."""
    if nodeid.endswith("]") and "[" in nodeid:   # the brackets stay: masking could eat "]"
        start = nodeid.index("[") + 1
        masked = redact(nodeid[:start]) + redact(nodeid[start:-1]) + "]"
    else:
        masked = redact(nodeid)
    if masked in taken:   # another case, or a case whose own id reads like a masked one
        head, close = (masked[:-1], "]") if masked.endswith("]") else (masked, "")
        masked = next(f"{head}~{n}{close}" for n in range(2, len(taken) + 3)
                      if f"{head}~{n}{close}" not in taken)
    taken.add(masked)
    return masked


@pytest.hookimpl(tryfirst=True)   # before lmgate keeps the id as collected (selection)
def pytest_itemcollected(item: pytest.Item) -> None:
    """A test id that holds a secret is masked where pytest keeps it, once: the terminal,
    JUnit XML, pytest's cache (--lf), results and baselines then all use the masked id."""
    taken = item.config.stash.setdefault(TAKEN_IDS, set())
    masked = masked_id(item.nodeid, taken)
    if masked != item.nodeid:
        item._nodeid = masked   # as pytest-xdist's loadgroup does for its "@group" suffix


@pytest.hookimpl(wrapper=True, tryfirst=True)   # outermost: sees the report others changed
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    report = yield
    scrub(report)
    return report


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Any:
    report = yield
    scrub(report)
    return report


@pytest.hookimpl(tryfirst=True)   # before the terminal reporter keeps it for its summary
def pytest_warning_recorded(warning_message: Any, when: str, nodeid: str,
                            location: Any) -> None:
    message = warning_message.message
    if isinstance(message, Warning):
        args = tuple(terminal_text(a) if isinstance(a, str) else a for a in message.args)
        if args != message.args:
            message.args = args
    elif isinstance(message, str):
        warning_message.message = terminal_text(message)


@pytest.hookimpl(tryfirst=True)
def pytest_internalerror(excrepr: Any, excinfo: Any) -> bool | None:
    text = str(excrepr)
    masked = terminal_text(text)
    if masked == text:
        return None
    for line in masked.split("\n"):
        sys.stderr.write(f"INTERNALERROR> {line}\n")
    sys.stderr.flush()
    return True
