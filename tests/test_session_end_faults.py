"""What a session's end must survive: a plotting library's warnings and bugs, pytest's junitxml
plugin switched off, a baseline lock that cannot be taken (inner pytest sessions)."""

import json

import pytest

SUITE = '''
import numpy as np
from lmgate import EvalResult, assert_better

def test_{test}(record):
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 200)
    a = EvalResult({a!r}, {labels!r}, y, np.where(rng.random(200) < 0.9, y, 1 - y))
    b = EvalResult({b!r}, {labels!r}, y, np.where(rng.random(200) < 0.6, y, 1 - y))
    record(a, b)
    assert_better(a, b, metric="accuracy")
'''
#: Names and labels in scripts that plotting fonts lack (matplotlib warns of missing glyphs).
CJK = SUITE.format(test="u", a="modèle ✓ 日本", b="基线", labels=("négatif", "позитив"))
CLAIM = SUITE.format(test="claim", a="A", b="B", labels=("neg", "pos"))


def test_library_warnings_while_plotting_are_not_raised_under_filterwarnings_error(pytester):
    pytester.makepyfile(test_u=CJK)
    pytester.makeini("[pytest]\nfilterwarnings = error\n")
    result = pytester.runpytest("--lmgate-results-dir", "out", "--lmgate-plots=on")
    assert result.ret == 0, result.stdout.str()
    assert (pytester.path / "out" / "results.jsonl").is_file()
    assert list((pytester.path / "out" / "plots").rglob("*.png"))


def test_a_plotting_failure_costs_no_results(pytester, monkeypatch):
    import lmgate.report.plots

    def broken(*args, **kwargs):   # any bug in a plotting library (in-process inner session)
        raise RuntimeError("renderer exploded")

    monkeypatch.setattr(lmgate.report.plots, "plots_by_study", broken)
    pytester.makepyfile(test_u=CJK)
    result = pytester.runpytest("--lmgate-results-dir", "out", "--lmgate-plots=on")
    assert result.ret == 0, result.stdout.str()
    out = pytester.path / "out"
    assert len((out / "results.jsonl").read_text().splitlines()) == 2
    summary = (out / "summary.md").read_text()
    assert "The plots could not be drawn (RuntimeError: renderer exploded)" in summary
    assert not (out / "plots").exists()


def test_recording_works_without_the_junitxml_plugin(pytester):
    pytester.makepyfile(test_a=CLAIM)
    result = pytester.runpytest("-p", "no:junitxml", "--lmgate-results-dir", "out")
    result.assert_outcomes(passed=1)
    rows = [json.loads(line) for line in
            (pytester.path / "out" / "results.jsonl").read_text().splitlines()]
    assert {r["result"] for r in rows} == {"A", "B"}


RECORDS = '''
import os
import numpy as np
from lmgate import EvalResult

def test_one(record):
    if os.environ.get("LOCK_AS_FOLDER"):   # the lock path changes while the tests run
        os.mkdir("base.json.lock")
    y = np.random.default_rng(0).integers(0, 2, 100)
    record(EvalResult("m", ("a", "b"), y, y))
'''


@pytest.mark.parametrize("kind", ["symlink", "folder"])
def test_a_baseline_lock_that_is_no_file_is_a_usage_error_before_any_test(pytester, kind):
    pytester.makepyfile(test_h=RECORDS)
    pytester.makeini("[pytest]\n")
    lock = pytester.path / "base.json.lock"
    if kind == "symlink":
        lock.symlink_to(pytester.path / "outside" / "victim.txt")
    else:
        lock.mkdir()
    result = pytester.runpytest("--lmgate-baseline", "base.json", "--lmgate-update-baseline")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"lock file {lock}" in result.stderr.str()
    assert "test_one" not in result.stdout.str()
    assert not (pytester.path / "outside").exists() and not (pytester.path / "base.json").exists()


def test_a_lock_that_cannot_be_taken_at_session_end_is_one_error_line(pytester, monkeypatch):
    pytester.makepyfile(test_h=RECORDS)
    pytester.makeini("[pytest]\n")
    monkeypatch.setenv("LOCK_AS_FOLDER", "1")
    result = pytester.runpytest("--lmgate-baseline", "base.json", "--lmgate-update-baseline")
    assert result.ret == pytest.ExitCode.INTERNAL_ERROR
    result.stdout.fnmatch_lines(["*the baseline *base.json was not updated: its lock file "
                                 "could not be taken*"])
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    assert not (pytester.path / "base.json").exists()
