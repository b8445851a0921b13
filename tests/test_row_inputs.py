"""A results.jsonl row that `ResultRow.from_json` reads has the right top-level types, but
its nested values are whatever the file holds: `lmgate compare` and `lmgate merge` judge such
rows, or say in one line which row holds what, never with a traceback."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from interop_support import lm_eval_output
from lmgate.cli import main

NUMBERS = st.one_of(st.integers(-10, 10**6), st.floats(allow_nan=False), st.booleans())
JSON_VALUES = st.recursive(st.one_of(st.none(), NUMBERS, st.text(max_size=4)),
                           lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.sampled_from(["tolerance", "ignore", "acc", "*"]),
                                             inner, max_size=3), max_leaves=6)
#: Where in a row the gate and the compare table read nested values.
PLACES = [("info", "n"), ("info", "acc_ci"), ("info", "higher_is_better"),
          ("info", "data_fingerprint"), ("gate",), ("params", "task"), ("metrics", "acc")]


@pytest.fixture(scope="module")
def baseline(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("rows")
    out = tmp / "baseline"
    assert main(["import", "lm-eval", str(lm_eval_output(tmp / "run", "t")), "--out",
                 str(out)]) == 0
    return out


@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(place=st.sampled_from(PLACES), value=JSON_VALUES)
def test_a_row_with_any_nested_value_is_compared_or_refused_in_one_line(
        baseline, tmp_path_factory, capsys, place, value):
    """`info.n` of "many" raised TypeError in the gate, a `gate` that is no marker's settings
    AttributeError: each now names the row and what it holds (exit 2)."""
    folder = tmp_path_factory.mktemp("edited") / "new"
    shutil.copytree(baseline, folder)
    row = json.loads((folder / "results.jsonl").read_text(encoding="utf-8"))
    target = row
    for key in place[:-1]:
        target = target[key]
    target[place[-1]] = value
    (folder / "results.jsonl").write_text(json.dumps(row) + "\n", encoding="utf-8")
    capsys.readouterr()
    code = main(["compare", str(baseline), str(folder)])
    err = capsys.readouterr().err
    assert code in (0, 1, 2)
    if code == 2:
        assert err.startswith("lmgate: error: ") and err.count("\n") == 1, err
