"""Data read as written or refused, naming where (issue 30, "data read wrong"), and a fuzz of
data tables: every table is read correctly or refused with a DataError."""

import json

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from lmgate.core.errors import DataError
from lmgate.data.loaders import labeled, read_table

LABELS = ("negative", "positive")


def test_fractional_label_ids_are_refused_not_truncated():
    frame = pd.DataFrame({"text": ["a", "b"], "label": [0.7, 1.7]})
    with pytest.raises(DataError, match=r"label id 0.7 \(row 0\) is not an integer"):
        labeled(frame, LABELS, label_ids={0: "negative", 1: "positive"})
    with pytest.raises(DataError, match="not in the declared label set"):
        labeled(frame, LABELS)
    ok = labeled(pd.DataFrame({"text": ["a", "b"], "label": [1.0, 0.0]}), LABELS,
                 label_ids={0: "negative", 1: "positive"})
    assert list(ok.frame["label"]) == [1, 0]


@pytest.mark.parametrize("value", [5, 2.5, ["a", "list"], {"a": 1}, None])
def test_texts_that_are_not_strings_are_refused(tmp_path, value):
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps({"text": "fine", "label": 0}) + "\n"
                    + json.dumps({"text": value, "label": 1}) + "\n")
    with pytest.raises(DataError, match=r"text\(s\) are not strings \(first: row 1"):
        labeled(read_table(path), LABELS)


@pytest.mark.parametrize("content, line", [
    ("text,label\nhello,world,1\nfoo,0\n", 2),      # pandas took this for an index column
    ("text,label\nhello,1\nfoo,bar,0\n", 3),
    ("text,label\nhello,1\nfoo\n", 3),
])
def test_a_csv_row_with_the_wrong_number_of_fields_is_refused(tmp_path, content, line):
    path = tmp_path / "d.csv"
    path.write_text(content)
    with pytest.raises(DataError, match=f"line {line}: [0-9] fields, but the header has 2"):
        read_table(path)


def test_quoted_separators_and_line_breaks_are_one_field(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text('text,label\n"hello, world",1\n"two\nlines",0\n')
    frame = read_table(path)
    assert list(frame["text"]) == ["hello, world", "two\nlines"]


cells = st.one_of(st.text(max_size=8), st.integers(-3, 3), st.floats(allow_nan=True),
                  st.none(), st.lists(st.integers(), max_size=2))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(st.fixed_dictionaries({"text": cells, "label": cells}), min_size=1,
                     max_size=6),
       fmt=st.sampled_from(["jsonl", "csv"]))
def test_fuzz_any_table_is_read_right_or_refused(tmp_path_factory, rows, fmt):
    path = tmp_path_factory.mktemp("fuzz") / f"d.{fmt}"
    if fmt == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        pd.DataFrame(rows).to_csv(path, index=False)
    try:
        data = labeled(read_table(path), LABELS)
    except DataError:
        return
    # Accepted: every text is a string and every label is one of the declared ones, by the
    # name or by its integer id, in the file's order.
    frame = data.frame
    assert len(frame) == len(rows)
    assert all(isinstance(t, str) for t in frame["text"])
    for row, label in zip(rows, frame["label"]):
        written = str(row["label"])
        assert written in (LABELS[label], str(label))
