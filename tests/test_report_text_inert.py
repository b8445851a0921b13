"""Every report pytest prints or writes to JUnit XML carries its text inert for a terminal:
an escape sequence in a result name, a label, a server's answer or a print is shown escaped,
never run (lmgate.plugin.redaction, with lmgate.core.markup's terminal rules)."""

import re

import pytest
from hypothesis import given, settings, strategies as st

from lmgate.plugin.redaction import scrub

#: What a terminal runs: C0 controls but tab and line feed, DEL, C1 controls (CSI, OSC, ...).
RUNNABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")

ESCAPING = '''
import numpy as np
from lmgate import EvalResult, assert_better

E = "\\x1b]0;pwned\\x07\\x1b[2J"

def test_fails(record):
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 200)
    a = EvalResult("A" + E, ("a", "b"), y, np.where(rng.random(200) < 0.6, y, 1 - y))
    b = EvalResult("B", ("a", "b"), y, np.where(rng.random(200) < 0.9, y, 1 - y))
    record(a, b)
    print("captured" + E)
    assert_better(a, b, metric="accuracy")
'''


def test_an_escape_sequence_in_a_claim_failure_is_shown_not_run(pytester):
    pytester.makepyfile(test_e=ESCAPING)
    result = pytester.runpytest("-rA", "--junitxml", "j.xml", "--lmgate-results-dir", "out")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    out = result.stdout.str() + result.stderr.str()
    assert not RUNNABLE.search(out), [m.group() for m in RUNNABLE.finditer(out)][:5]
    assert "A\\x1b]0;pwned\\x07\\x1b[2J" in out        # shown, as text
    junit = (pytester.path / "j.xml").read_text()
    assert "\x1b" not in junit and "\\x1b]0;pwned" in junit


@settings(max_examples=200, deadline=None)
@given(longrepr=st.text(), section=st.text(), reason=st.text())
def test_scrubbed_reports_carry_no_control_characters_but_line_breaks(longrepr, section,
                                                                        reason):
    failed = pytest.TestReport("t.py::test_x", ("t.py", 1, "test_x"), {}, "failed", longrepr,
                               "call", sections=[("Captured stdout call", section)])
    skipped = pytest.TestReport("t.py::test_x", ("t.py", 1, "test_x"), {}, "skipped",
                                ("t.py", 1, reason), "setup")
    scrub(failed)
    scrub(skipped)
    for text in (str(failed.longrepr), failed.sections[0][1], skipped.longrepr[2]):
        assert not RUNNABLE.search(text)
    assert str(failed.longrepr).count("\n") == longrepr.count("\n")
    assert failed.sections[0][1].count("\t") == section.count("\t")
