"""report.html: one self-contained page from summary.md."""
import json

import base64

from lmgate.report.html import html_report

# A 1x1 PNG.
PIXEL = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwAD"
                         "hgGAWjR9awAAAABJRU5ErkJggg==")


def test_tables_render_and_plots_are_inlined(tmp_path):
    (tmp_path / "plots").mkdir()
    (tmp_path / "plots" / "curve.png").write_bytes(PIXEL)
    summary = ("# lmgate results\n\n| test | macro_f1 |\n|---|---|\n| a<b | 0.5000 |\n"
               "| <script>alert(1)</script> | 1.0 |\n\n<div>raw block</div>\n\n"
               "## Plots\n\n![curve](plots/curve.png)\n\n![gone](plots/missing.png)\n")
    page = html_report(summary, tmp_path)
    assert page.startswith("<!DOCTYPE html>") and "<h1>lmgate results</h1>" in page
    assert "<th>macro_f1</th>" in page and "<td>a&lt;b</td>" in page   # escaped, not markup
    assert f'src="data:image/png;base64,{base64.b64encode(PIXEL).decode()}"' in page
    # Raw HTML from data is shown as text; the only script is lmgate's own sorter.
    assert "<script>alert" not in page and page.count("<script>") == 1 and "&lt;script&gt;" in page
    assert "<div>" not in page and "&lt;div&gt;raw block" in page
    assert 'src="plots/missing.png"' in page           # a missing file stays a plain link
    assert 'src="plots/curve.png"' not in page


def test_claims_carry_verdicts_comparisons_and_reasons(pytester):
    pytester.makepyfile(test_study='''
"""A toy study.

Claim: the good model beats the bad one.
"""
import numpy as np
import pytest
from lmgate import EvalResult, assert_better

y = np.array([0, 1] * 100)
good = EvalResult("good", ("neg", "pos"), y, y)
bad = EvalResult("bad", ("neg", "pos"), y, np.where(np.arange(200) % 3 == 0, 1 - y, y))

def test_good_beats_bad(record):
    record(good, bad)
    assert_better(good, bad, metric="accuracy")

def test_bad_beats_good(record):
    record(good, bad)
    assert_better(bad, good, metric="accuracy")

def test_known_gap(record):
    record(bad)
    pytest.xfail("the bad model is degenerate")
''')
    result = pytester.runpytest("--results-dir", "out")
    result.assert_outcomes(passed=1, failed=1, xfailed=1)
    result.stdout.fnmatch_lines([
        "❌ FAILED test_bad_beats_good: bad 0.665 vs good 1.000 accuracy, -0.335 [[]*[]], p = 1 "
        "(n = 200); bad is not better than good (difference not above the margin)*",
        "✅ passed test_good_beats_bad: good 1.000 vs bad 0.665 accuracy, +0.335 [[]*[]], p = 0*",
        "⚠️ expected failure test_known_gap: the bad model is degenerate"])
    out = pytester.path / "out"
    summary = (out / "summary.md").read_text()
    assert summary.index("## Claims") < summary.index("## Results")
    assert "*Claim: the good model beats the bad one.*" in summary
    page = (out / "report.html").read_text()
    assert page.index("<h2>Claims</h2>") < page.index("<details><summary>All recorded metrics")
    assert "<script>" in page and "http" not in page.split("<script>")[1]   # no network
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    verdicts = {(r["test"], r["result"]): r["verdict"] for r in rows}
    assert verdicts[("test_good_beats_bad", "good")] == "passed"
    assert verdicts[("test_bad_beats_good", "bad")] == "failed"
    assert verdicts[("test_known_gap", "bad")] == "xfailed"
    compared = [r for r in rows if r["test"] == "test_good_beats_bad" and r["result"] == "good"][0]
    [comparison] = compared["comparisons"]
    assert comparison["a_name"] == "good" and comparison["held"] is True
    assert set(comparison["diff"]) == {"point", "low", "high", "confidence"}
