"""results.csv shows every name and value as text: control characters and escape sequences
in a params key, a metric name or a value are shown escaped (as in the terminal and JUnit
XML), while results.jsonl keeps them exactly."""

import csv
import json
import re

from hypothesis import HealthCheck, given, settings, strategies as st

from lmgate.report.rows import ResultRow
from lmgate.report.writers import write_results

RUNNABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _row(params, metrics):
    return ResultRow(nodeid="t.py::test_m", result="m", record_id="r1", params=params,
                     metrics=metrics, info={"n": 50})


def _written(tmp_path, row):
    write_results([row], [], tmp_path)
    raw = (tmp_path / "results.csv").read_text(encoding="utf-8")
    with open(tmp_path / "results.csv", newline="", encoding="utf-8") as f:
        header, *cells = list(csv.reader(f))
    back = json.loads((tmp_path / "results.jsonl").read_text())
    return raw, header, cells, back


def test_controls_in_names_and_values_are_shown_escaped(tmp_path):
    row = _row({"k\x0b\x00<&\x1b[2J": "v\x0c\x1b]0;t\x07"},
               {"acc\x1b[2J\x00|x": 0.5, "f1\n![i](http://t.example/x.png)": 0.7})
    raw, header, cells, back = _written(tmp_path, row)
    assert not RUNNABLE.search(raw)
    assert "params.k\\x0b\\x00<&\\x1b[2J" in header and "metrics.f1\\x0a![i](http://t.example/x.png)" in header
    assert "v\\x0c\\x1b]0;t\\x07" in cells[0]
    assert back == row.to_json()                         # results.jsonl: exact


KEY = st.text(min_size=1, max_size=8).filter(lambda k: "." not in k)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(params=st.dictionaries(KEY, st.text(max_size=8), max_size=3),
       metrics=st.dictionaries(KEY, st.floats(allow_nan=False), min_size=1, max_size=3))
def test_any_names_make_a_one_line_header_without_controls(params, metrics, tmp_path_factory):
    row = _row(params, metrics)
    raw, header, cells, back = _written(tmp_path_factory.mktemp("csv"), row)
    assert back == row.to_json()
    assert not RUNNABLE.search(raw)
    assert next(csv.reader([raw.split("\n", 1)[0]])) == header   # the header is one line
    assert len(cells) == 1 and len(cells[0]) == len(header)
