"""A test's identity in results and baselines: its node id as collected, with only the
`@group` suffix xdist's loadgroup appends taken off, never part of the test's own id."""

import json

import pytest
from hypothesis import given, settings, strategies as st

from lmgate.plugin import selection

IDS = '''
import os
import numpy as np
import pytest
from lmgate import EvalResult

FR = float(os.environ.get("FR_ACC", "0.9"))

@pytest.mark.parametrize("lang", ["en", "fr"], ids=["xlmr@model-en", "xlmr@module-fr"])
def test_lang(lang, record):
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 400)
    acc = 0.9 if lang == "en" else FR
    record(EvalResult("model", ("neg", "pos"), y, np.where(rng.random(400) < acc, y, 1 - y)))
'''


def _nodeids(folder):
    return sorted(json.loads(line)["nodeid"] for line in
                  (folder / "results.jsonl").read_text().splitlines())


def test_ids_that_look_like_a_group_suffix_stay_apart_in_the_baseline(pytester, monkeypatch):
    pytester.makepyfile(test_g=IDS)
    pytester.makeini("[pytest]\n")
    assert pytester.runpytest("--lmgate-baseline", "base.json", "--lmgate-update-baseline",
                              "--lmgate-results-dir", "out").ret == 0
    assert _nodeids(pytester.path / "out") == ["test_g.py::test_lang[xlmr@model-en]",
                                              "test_g.py::test_lang[xlmr@module-fr]"]
    baseline = json.loads((pytester.path / "base.json").read_text())
    assert "test_g.py::test_lang[xlmr@module-fr]" in json.dumps(baseline)
    monkeypatch.setenv("FR_ACC", "0.5")   # only the fr case regresses: the gate sees it
    result = pytester.runpytest("--lmgate-baseline", "base.json", "--lmgate-results-dir", "o2")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert "xlmr@module-fr" in result.stdout.str()


def test_loadgroup_takes_off_only_its_own_suffix(pytester):
    pytest.importorskip("xdist")
    pytester.makepyfile(test_g=IDS)
    assert pytester.runpytest("-n", "2", "--dist", "loadgroup",
                              "--lmgate-results-dir", "x").ret == 0
    assert pytester.runpytest("-p", "no:xdist", "--lmgate-results-dir", "s").ret == 0
    assert _nodeids(pytester.path / "x") == _nodeids(pytester.path / "s") == [
        "test_g.py::test_lang[xlmr@model-en]", "test_g.py::test_lang[xlmr@module-fr]"]


@settings(max_examples=200, deadline=None)
@given(own=st.text(), groups=st.sets(st.text(min_size=1), min_size=1, max_size=3))
def test_only_the_appended_suffix_is_ever_stripped(own, groups):
    """A reported id maps back to the id as collected; an id never reported as changed (any
    text, `@model-x`, `@module-x` and all) stays exactly as it is."""
    nodeid = f"test_a.py::test_x[{own}]"
    suffixed = f"{nodeid}@{'_'.join(sorted(groups))}"   # what xdist's loadgroup reports
    saved = dict(selection._PLAIN_IDS)
    try:
        report = type("Report", (), {"nodeid": suffixed, "lmgate_nodeid": nodeid})()
        selection.pytest_runtest_logreport(report)
        assert selection.strip_group(suffixed) == nodeid
        for group in groups:
            lookalike = f"test_a.py::test_x[{own}@model-{group}]@module-{group}"
            assert selection.strip_group(nodeid) == nodeid
            assert selection.strip_group(lookalike) == lookalike
    finally:
        selection._PLAIN_IDS.clear()
        selection._PLAIN_IDS.update(saved)
