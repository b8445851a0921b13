"""A study's `unpowered` knob: the named claims run and assert, failures are xfailed with the
measured reason, passes are XPASS, and everything else keeps its outcome."""

import json
from types import SimpleNamespace

import pytest
from hypothesis import given, strategies as st

from lmgate.core.config import DATA_SOURCES

SUITE = '''
import pytest
from lmgate import assert_claim
pytestmark = pytest.mark.study("s")

@pytest.mark.parametrize("lang", ["en", "hi"])
def test_in_language(lang):
    assert_claim(lang == "en", f"{lang}: in-language 0.37 is not above transfer 0.38")

@pytest.mark.parametrize("lang", ["hi"])
def test_code_check(lang):
    assert 2 * 3 == 7, "a plain assert checks the code: never an expected failure"

@pytest.mark.parametrize("lang", ["hi"])
def test_held(lang):
    pass

@pytest.mark.parametrize("lang", ["hi"])
def test_broken(lang):
    raise ValueError("a shape error is a bug, not a claim")
'''


def _project(pytester, unpowered: str) -> None:
    pytester.makepyfile(test_study=SUITE)
    pytester.makefile(".toml", pyproject=f'''
[tool.lmgate.profiles.smoke.studies.s]
unpowered = {unpowered}
''')


def test_listed_failure_is_xfailed_with_reason_and_pass_is_xpass(pytester):
    _project(pytester, '{ "test_in_language[hi]" = "the study measured 0.401 vs 0.387", '
                       '"test_held[hi]" = "small effect", "test_broken" = "not a claim", '
                       '"test_code_check" = "a code check listed by mistake" }')
    result = pytester.runpytest("-rxX")
    result.assert_outcomes(passed=1, xfailed=1, xpassed=1, failed=2)
    assert "a plain assert checks the code" in result.stdout.str()   # not hidden as XFAIL
    out = result.stdout.str()
    assert "unpowered in profile 'smoke': the study measured 0.401 vs 0.387" in out
    assert "hi: in-language 0.37 is not above transfer 0.38" in out   # the measured numbers
    assert "ValueError" in out                                         # errors still fail


def test_unlisted_cases_keep_failing(pytester):
    _project(pytester, '{ "test_in_language[fr]" = "another language" }')
    pytester.runpytest().assert_outcomes(passed=2, failed=3)


@pytest.mark.parametrize("key, problem", [
    ("test_in_langauge[hi]", "names no test of study 's'"),
    ("test_in_language[fr]", "matches no collected case of test_in_language")])
def test_a_key_that_names_nothing_is_warned_about(pytester, key, problem):
    _project(pytester, f'{{ "{key}" = "a reason" }}')
    result = pytester.runpytest("-k", "held")   # deselection does not hide what was collected
    result.assert_outcomes(passed=1, deselected=4)
    out = result.stdout.str()
    assert f"PytestConfigWarning: profile 'smoke', studies.s.unpowered: '{key}' {problem}" in out


def test_keys_that_match_warn_nothing(pytester):
    _project(pytester, '{ "test_in_language[hi]" = "a reason", "test_held" = "a reason" }')
    result = pytester.runpytest("-k", "held")
    assert "PytestConfigWarning" not in result.stdout.str()


@pytest.mark.parametrize("table", ['"all"', '{ "test_in_language[hi]" = "" }',
                                   '{ "test_in_language[hi]" = 3 }'])
def test_malformed_table_is_an_error(pytester, table):
    _project(pytester, table)
    result = pytester.runpytest()
    assert result.ret != 0
    assert "knob unpowered must be a table" in result.stdout.str() + result.stderr.str()


SOURCED_SUITE = '''
import pytest
from lmgate import Provenance, assert_claim
pytestmark = pytest.mark.study("s")

@pytest.mark.parametrize("source", ["embedded", "local", "unrecorded", "only-a-note"])
def test_in_language(source, record):
    if source == "only-a-note":   # the provenance line as text, without the provenance
        record(notes=[Provenance("local", "sentiment").note], macro_f1=0.37)
    elif source != "unrecorded":
        record(provenance=[Provenance(source, "sentiment")], notes=["another note"],
               macro_f1=0.37)
    assert_claim(False, f"{source}: in-language 0.37 is not above transfer 0.38")
'''

SOURCED_TABLE = '''
[tool.lmgate.profiles.smoke.studies.s]
unpowered = { "test_in_language" = { reason = "power 0.20 on the full data", sources = ["local", "hub"] } }
'''


def test_an_entry_measured_on_some_sources_applies_only_to_data_from_them(pytester):
    """Power is measured per data pool: the claim is unpowered where the test's results came
    from a listed source, a plain claim on other data, where no source was recorded, and where
    a note's text names a source that no provenance records."""
    pytester.makepyfile(test_study=SOURCED_SUITE)
    pytester.makefile(".toml", pyproject=SOURCED_TABLE)
    result = pytester.runpytest("-rfxX")
    result.assert_outcomes(failed=3, xfailed=1)
    result.stdout.fnmatch_lines([
        "*XFAIL*test_in_language[[]local[]]*unpowered in profile 'smoke' on data from local: "
        "power 0.20 on the full data; measured: local: in-language 0.37*"])
    out = result.stdout.str()
    assert "FAILED test_study.py::test_in_language[embedded]" in out
    assert "FAILED test_study.py::test_in_language[unrecorded]" in out
    assert "FAILED test_study.py::test_in_language[only-a-note]" in out


PROVENANCE_SUITE = '''
import pandas as pd
import pytest
from lmgate import Provenance, assert_claim, labeled, train_val_test
from lmgate.methods.baselines import majority_class
pytestmark = pytest.mark.study("s")

@pytest.mark.parametrize("source", ["embedded", "local", "none"])
def test_in_language(source, record):
    table = pd.DataFrame({"text": [f"text {i}" for i in range(40)],
                          "label": [i % 2 for i in range(40)]})
    data = labeled(table, ("neg", "pos"), name="reviews")
    if source != "none":
        data = data.with_provenance(Provenance(source, "reviews", f"/data/{source}/reviews.csv"))
    splits = train_val_test(data.balanced(20, by=("label",)), seed=0)
    record(majority_class(splits.train, splits.test))
    assert_claim(False, f"{source}: in-language 0.37 is not above transfer 0.38")
'''


def test_provenance_of_the_data_reaches_the_rows_and_decides_the_expected_failure(pytester,
                                                                                   tmp_path):
    """Data loaded with provenance carries it through sampling, splitting and a method into
    its result, its results.jsonl row, and the `unpowered` decision; data without none."""
    pytester.makepyfile(test_study=PROVENANCE_SUITE)
    pytester.makefile(".toml", pyproject=SOURCED_TABLE)
    out = tmp_path / "results"
    result = pytester.runpytest("-rfxX", "--lmgate-results-dir", str(out))
    result.assert_outcomes(failed=2, xfailed=1)
    result.stdout.fnmatch_lines(["*XFAIL*test_in_language[[]local[]]*on data from local*"])
    rows = {row["params"]["source"]: row for row in map(
        json.loads, (out / "results.jsonl").read_text().splitlines())}
    assert rows["local"]["provenance"] == [
        {"source": "local", "what": "reviews", "location": "/data/local/reviews.csv"}]
    assert rows["embedded"]["provenance"] == [
        {"source": "embedded", "what": "reviews", "location": "/data/embedded/reviews.csv"}]
    assert "data source of reviews: local copy ($LMGATE_DATA_DIR)" in rows["local"]["notes"]
    assert "provenance" not in rows["none"]


@pytest.mark.parametrize("entry, problem", [
    ('{ reason = "r", sources = ["shared"] }', "sources from"),
    ('{ reason = "r", sources = [] }', "sources from"),
    ('{ reason = "r", sources = [{ a = 1 }] }', "sources from"),
    ('{ reason = "r" }', "sources from"),
    ('{ reason = "r", sources = ["local"], when = "x" }', "sources from"),
    ('{ sources = ["local"] }', "has no reason"),
    ('{ reason = " ", sources = ["local"] }', "has no reason")])
def test_a_malformed_sourced_entry_is_an_error(pytester, entry, problem):
    _project(pytester, f'{{ "test_in_language[hi]" = {entry} }}')
    result = pytester.runpytest()
    assert result.ret != 0
    out = result.stdout.str() + result.stderr.str()
    assert "knob unpowered must be a table" in out and problem in out


@given(source=st.sampled_from(DATA_SOURCES), what=st.text(min_size=1),
       others=st.lists(st.text()))
def test_sources_are_read_from_provenance_never_from_notes(source, what, others):
    from lmgate.data import Provenance
    from lmgate.plugin.claims import recorded_sources
    from lmgate.plugin.recording import RECORDER
    from lmgate.report.records import Recorder

    def sources(**recorded) -> set[str]:
        recorder = Recorder("t.py::t", "t")
        recorder(**recorded, m=1.0)
        return recorded_sources(SimpleNamespace(stash={RECORDER: recorder}))

    provenance = Provenance(source, what)
    assert sources(provenance=[provenance], notes=others) == {source}
    assert sources(notes=[*others, provenance.note]) == set()
