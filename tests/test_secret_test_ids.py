"""A secret in a test id (a key in a parametrize value) is masked where pytest keeps the id:
the terminal's lines, JUnit XML's testcase names, results and baselines all show the same
masked id, and cases that differ only in their secret stay apart."""

import json

import pytest
from hypothesis import given, settings, strategies as st

from lmgate.core.redact import MASK
from lmgate.plugin.redaction import masked_id

KEY = "Zq8vWm3kLp0xRt7Y"
OTHER = "Pp4rTt9uVv2wXx6Y"

SUITE = '''
import os
import numpy as np
import pytest
from lmgate import EvalResult

KEYS = [os.environ["MYSERVICE_API_KEY"], os.environ["OTHER_SERVICE_TOKEN"]]

@pytest.mark.parametrize("url", [f"https://api.example.com/v1?key={k}" for k in KEYS])
def test_param(url, record):
    y = np.random.default_rng(0).integers(0, 2, 50)
    record(EvalResult("A", ("neg", "pos"), y, y, params={"endpoint": url}))

@pytest.mark.parametrize("token", KEYS[:1])
def test_bare(token, record):
    assert False, "fails: its id is in the short summary"
'''


def test_a_secret_in_a_test_id_is_masked_everywhere_pytest_shows_it(pytester, monkeypatch):
    monkeypatch.setenv("MYSERVICE_API_KEY", KEY)
    monkeypatch.setenv("OTHER_SERVICE_TOKEN", OTHER)
    pytester.makepyfile(test_s=SUITE)
    pytester.makeini("[pytest]\n")
    result = pytester.runpytest("-rA", "-v", "--junitxml", "j.xml", "--lmgate-results-dir",
                                "out", "--lmgate-baseline", "base.json",
                                "--lmgate-update-baseline", "--lmgate-force")
    result.assert_outcomes(passed=2, failed=1)
    written = [result.stdout.str(), result.stderr.str(), (pytester.path / "j.xml").read_text(),
               (pytester.path / "base.json").read_text(),
               *(p.read_text() for p in (pytester.path / "out").glob("*.*"))]
    assert not any(KEY in text or OTHER in text for text in written)
    result.stdout.fnmatch_lines([
        "PASSED test_s.py::test_param[[]https://api.example.com/v1?key=***[]]",
        "PASSED test_s.py::test_param[[]https://api.example.com/v1?key=***~2[]]",
        "FAILED test_s.py::test_bare[[]***[]] - AssertionError: fails*"])
    assert 'name="test_param[https://api.example.com/v1?key=***]"' in written[2]
    rows = [json.loads(line) for line in (pytester.path / "out" / "results.jsonl").open()]
    assert len({row["nodeid"] for row in rows}) == 2                 # still two cases


@settings(max_examples=200, deadline=None)
@given(ids=st.lists(st.text(max_size=10).map(lambda t: t.replace("]", "")), max_size=6),
       secret=st.sampled_from(["", KEY, OTHER]))
def test_masked_ids_hold_no_secret_and_stay_apart(ids, secret):
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("MYSERVICE_API_KEY", KEY)
        monkeypatch.setenv("OTHER_SERVICE_TOKEN", OTHER)
        nodeids = list(dict.fromkeys(f"t.py::test_x[{i}{secret}{i}]" for i in ids))
        taken: set[str] = set()
        masked = [masked_id(nodeid, taken) for nodeid in nodeids]
    assert len(set(masked)) == len(masked)                       # no two cases merge
    assert not any(KEY in m or OTHER in m for m in masked)
    assert all(m.startswith("t.py::test_x[") and m.endswith("]") for m in masked)
    assert all(m == n for m, n in zip(masked, nodeids) if MASK not in m and not secret)
