"""Text from data stays text in every export (issue 30, "injection"): spreadsheet formulas in
results.csv, pipes in Markdown tables. report.html: tests/test_report.py."""

import csv
import re

import pandas as pd
from hypothesis import given, strategies as st

from lmgate.core.markup import md_cell, spreadsheet_safe
from lmgate.report.html import html_report
from lmgate.report.writers import markdown_table, write_results

FORMULAS = ["=HYPERLINK(\"http://x\",\"y\")", "=cmd|' /C calc'!A0", "@SUM(A1:A9)", "+1+2",
            "-2+3", "\t=1", "\r=1"]


def test_results_csv_cells_a_spreadsheet_would_run_are_text(tmp_path):
    rows = [{"nodeid": f"t.py::test_{i}", "result": name, "record_id": str(i),
             "params": {"model": name}, "metrics": {"accuracy": 1.0}, "info": {"n": 20},
             "notes": [name]} for i, name in enumerate(FORMULAS)]
    write_results(rows, [], tmp_path)
    with open(tmp_path / "results.csv", newline="", encoding="utf-8") as f:
        table = list(csv.DictReader(f))
    assert len(table) == len(FORMULAS)
    for line in table:
        for value in line.values():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), value
    assert sorted(line["result"] for line in table) == sorted("'" + f for f in FORMULAS)
    assert all(float(line["metrics.accuracy"]) == 1.0 for line in table)   # numbers unchanged


@given(st.text())
def test_spreadsheet_safe_keeps_the_text_and_never_starts_a_formula(text):
    safe = spreadsheet_safe(text)
    assert safe in (text, "'" + text) and not safe.startswith(("=", "+", "-", "@", "\t", "\r"))
    assert spreadsheet_safe(-1.5) == -1.5


@given(cells=st.lists(st.text(), min_size=1, max_size=4))
def test_any_text_in_a_markdown_table_keeps_its_columns(cells, tmp_path_factory):
    frame = pd.DataFrame([cells], columns=[f"c{i}" for i in range(len(cells))])
    page = html_report(markdown_table(frame), tmp_path_factory.getbasetemp())
    assert len(re.findall(r"<td[ >]", page)) == len(re.findall(r"<th[ >]", page)) == len(cells)
    assert "\n" not in md_cell("a\nb\r\nc") and md_cell("a|b") == "a\\|b"
