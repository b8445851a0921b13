"""`ResultRow`, the typed result row (issue 52, item 3): it reads and writes exactly the
results.jsonl schema, and says what is wrong with a row lmgate did not write."""

import json

import pytest
from hypothesis import given, settings, strategies as st

from lmgate.core.errors import ConfigError
from lmgate.report.records import Recorder
from lmgate.report.rows import ResultRow

TEXT = st.text(max_size=6)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                    st.floats(allow_nan=False, allow_infinity=False), TEXT)
JSON = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(TEXT, inner, max_size=3)), max_leaves=6)
NUMBERS = st.one_of(st.none(), st.integers(-100, 100),
                    st.floats(allow_nan=False, allow_infinity=False))
OBJECTS = st.dictionaries(TEXT, JSON, max_size=3)

rows = st.builds(
    ResultRow, record_id=TEXT, nodeid=TEXT, result=TEXT,
    group=st.none() | TEXT, test=st.none() | TEXT, params=OBJECTS,
    metrics=st.dictionaries(TEXT, NUMBERS, max_size=3), info=OBJECTS,
    notes=st.none() | st.lists(TEXT, max_size=3).map(tuple),
    provenance=st.lists(st.fixed_dictionaries({"source": TEXT, "what": TEXT,
                                               "location": TEXT}), max_size=2).map(tuple),
    elapsed_s=st.none() | st.floats(0, 1e6), gate=OBJECTS, verdict=st.none() | TEXT,
    comparisons=st.lists(OBJECTS, max_size=2).map(tuple),
    extra=st.dictionaries(st.sampled_from(["newer", "key"]), JSON, max_size=1))

#: A row as lmgate writes results.jsonl today (keys sorted, as json.dumps(sort_keys=True)).
disk_rows = st.fixed_dictionaries(
    {"record_id": TEXT, "nodeid": TEXT, "group": TEXT, "test": TEXT, "result": TEXT,
     "params": OBJECTS, "metrics": st.dictionaries(TEXT, NUMBERS, max_size=3), "info": OBJECTS,
     "notes": st.lists(TEXT, max_size=3), "elapsed_s": st.floats(0, 1e6),
     "verdict": st.sampled_from(["passed", "failed", "xfailed", "skipped", "error"])},
    optional={"gate": st.fixed_dictionaries({"tolerance": st.dictionaries(
        TEXT, st.floats(0, 1), min_size=1, max_size=2)}),
        "comparisons": st.lists(OBJECTS, min_size=1, max_size=2)},
).map(lambda row: dict(sorted(row.items())))


@settings(max_examples=200, deadline=None)
@given(row=rows)
def test_a_row_survives_its_json(row):
    assert ResultRow.from_json(row.to_json()) == row
    assert ResultRow.from_json(json.loads(json.dumps(row.to_json()))) == row


@settings(max_examples=200, deadline=None)
@given(line=disk_rows)
def test_todays_results_lines_read_and_write_back_byte_for_byte(line):
    text = json.dumps(line, sort_keys=True)
    assert json.dumps(ResultRow.from_json(json.loads(text)).to_json(), sort_keys=True) == text


def test_rows_an_earlier_lmgate_or_a_person_wrote_read_and_write_back_as_they_were():
    minimal = {"nodeid": "t.py::test_a", "result": "m", "record_id": "r1",
               "params": {"seed": 0}, "metrics": {"accuracy": 0.8}, "info": {"n": 20}}
    row = ResultRow.from_json(minimal)
    assert row.group is None and row.group_id == "t.py::test_a" and row.notes is None
    assert row.to_json() == minimal and row.study == "t.py"


def test_a_recorded_row_keeps_todays_key_order_and_values():
    recorder = Recorder("evals/test_s.py::test_a[x]", "test_a", {"lang": "en"})
    recorder(accuracy=0.5, notes=["from the embedded sample"])
    row = recorder.rows[0]
    assert list(row.to_json()) == ["record_id", "nodeid", "group", "test", "result", "params",
                                   "metrics", "info", "notes", "elapsed_s"]
    assert (row.result, dict(row.params), dict(row.metrics), row.notes) == (
        "metrics", {"lang": "en"}, {"accuracy": 0.5}, ("from the embedded sample",))
    assert row.study == "test_s.py" and row.group_id == "evals/test_s.py::test_a[x]"


@pytest.mark.parametrize("line, words", [
    ([1], "not a JSON object"),
    ({"nodeid": "t.py::a", "result": "m", "params": {}, "metrics": {}, "info": {}},
     "'record_id' missing or not a str"),
    ({"nodeid": "t.py::a", "result": "m", "record_id": "r", "params": {}, "metrics": {},
      "info": []}, "'info' missing or not a dict"),
    ({"nodeid": "t.py::a", "result": "m", "record_id": "r", "params": {},
      "metrics": {"accuracy": "high"}, "info": {}}, "metric(s) ['accuracy'] are not numbers"),
    ({"nodeid": "t.py::a", "result": "m", "record_id": "r", "params": {}, "metrics": {},
      "info": {}, "notes": "one"}, "'notes' is not a list"),
    ({"nodeid": "t.py::a", "result": "m", "record_id": "r", "params": {}, "metrics": {},
      "info": {}, "provenance": ["hub"]}, "'provenance' must be a list of objects"),
    ({"nodeid": "t.py::a", "result": "m", "record_id": "r", "params": {}, "metrics": {},
      "info": {}, "elapsed_s": True}, "'elapsed_s' is not a number"),
])
def test_a_malformed_row_says_what_is_wrong(line, words):
    with pytest.raises(ConfigError) as error:
        ResultRow.from_json(line)
    assert str(error.value) == words


def test_a_results_folder_names_the_file_and_line_of_a_malformed_row(tmp_path):
    from lmgate.report.writers import read_results

    good = {"nodeid": "t.py::a", "result": "m", "record_id": "r", "params": {},
            "metrics": {}, "info": {}}
    (tmp_path / "results.jsonl").write_text(
        json.dumps(good) + "\n" + json.dumps({**good, "verdict": 1}) + "\n")
    with pytest.raises(ConfigError) as error:
        read_results(tmp_path)
    assert str(error.value) == (f"{tmp_path / 'results.jsonl'}, line 2: 'verdict' is not a "
                                "str: not a row lmgate wrote")
