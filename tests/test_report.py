"""report.html: one self-contained page from summary.md."""
import json
import re

import base64

from lmgate.report.html import html_report
from lmgate.report.rows import ResultRow

# A 1x1 PNG.
PIXEL = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwAD"
                         "hgGAWjR9awAAAABJRU5ErkJggg==")


def test_tables_render_and_plots_are_inlined(tmp_path):
    (tmp_path / "plots").mkdir()
    (tmp_path / "plots" / "curve.png").write_bytes(PIXEL)
    summary = ("# lmgate results\n\n| test | macro_f1 |\n|---|---|\n| a<b | 0.5000 |\n"
               "| <script>alert(1)</script> | 1.0 |\n\n<div>raw block</div>\n\n"
               "## Plots\n\n![curve](plots/curve.png)\n\n![gone](plots/missing.png)\n")
    page = html_report(summary, tmp_path, [tmp_path / "plots" / n for n in ("curve.png",
                                                                          "missing.png")])
    assert page.startswith("<!DOCTYPE html>") and "<h1>lmgate results</h1>" in page
    assert "<th>macro_f1</th>" in page and "<td>a&lt;b</td>" in page   # escaped, not markup
    assert f'src="data:image/png;base64,{base64.b64encode(PIXEL).decode()}"' in page
    # Raw HTML from data is shown as text; the only script is lmgate's own sorter.
    assert "<script>alert" not in page and page.count("<script>") == 1 and "&lt;script&gt;" in page
    assert "<div>" not in page and "&lt;div&gt;raw block" in page
    assert 'src="plots/missing.png"' in page           # a missing file stays a plain link
    assert 'src="plots/curve.png"' not in page


def test_nothing_from_data_becomes_a_link_or_a_file_reference(tmp_path):
    """Names, texts and notes reach summary.md verbatim; in report.html they are only text."""
    (tmp_path / "plots").mkdir()
    (tmp_path / "plots" / "curve.png").write_bytes(PIXEL)
    (tmp_path / "secret.png").write_bytes(b"SECRET")
    summary = ("# lmgate results\n\n"
               "- [click](javascript:alert(1)) and <javascript:alert(2)>\n"
               "- ![x](javascript:alert(3)) ![y](secret.png) ![z](../secret.png)\n"
               "- ![d](data:image/png;base64,Zm9yZ2Vk) [home](https://example.org/x)\n"
               '- <img src=x onerror="alert(4)"> <a href="javascript:alert(5)">a</a>\n\n'
               "| name | v |\n|---|---|\n| [c](javascript:alert(6)) | 1 |\n\n"
               "![curve](plots/curve.png)\n")
    page = html_report(summary, tmp_path, [tmp_path / "plots" / "curve.png"])
    body = page[page.index("<body>") + 6:page.index("<script>")]
    tags = re.findall(r"<([a-z0-9]+)([^>]*)>", body)   # real tags; escaped text has no "<"
    assert {name for name, _ in tags} <= {"p", "ul", "li", "h1", "img", "table", "thead",
                                          "tbody", "tr", "th", "td"}
    assert not any("javascript" in attrs or "onerror" in attrs or "href" in attrs
                   for _, attrs in tags)
    images = re.findall(r"<img[^>]*>", body)
    assert len(images) == 1 and images[0].count("data:image/png;base64,") == 1   # lmgate's plot
    assert base64.b64encode(b"SECRET").decode() not in body and "Zm9yZ2Vk" not in body
    assert "click" in body and "home" in body                 # the text stays


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
    result = pytester.runpytest("--lmgate-results-dir", "out")
    result.assert_outcomes(passed=1, failed=1, xfailed=1)
    result.stdout.fnmatch_lines([   # the verdict first, failing claims first
        "scoreboard: 1 of 2 claims held; 1 failed; 1 test(s) recorded results without a "
        "claim; failing: test_bad_beats_good",
        "FAIL test_bad_beats_good: bad 0.665 vs good 1.000 accuracy, -0.335 [[]*[]], p = 1 "
        "(n = 200); bad is not better than good (difference not above the margin +0.0000)*",
        "XFAIL (expected failure) test_known_gap: the bad model is degenerate",
        "PASS test_good_beats_bad: good 1.000 vs bad 0.665 accuracy, +0.335 [[]*[]], p < 0.001*"])
    out = pytester.path / "out"
    summary = (out / "summary.md").read_text()
    assert summary.splitlines()[4] == ("**Scoreboard**: 1 of 2 claims held; 1 failed; 1 test(s) "
                                       "recorded results without a claim; failing: "
                                       "test_bad_beats_good")
    assert "*Claim: the good model beats the bad one.*" in summary
    # Run facts on top: the dtype is core.device's policy, said the same way on every CPU.
    from lmgate.core.device import precision_summary

    assert f"**device** cpu · **dtype** {precision_summary('cpu')} · **seed** 0" in summary
    # The study's metrics, with macro F1's 95% CI, under its claims; no second global table.
    assert summary.index("## Claims") < summary.index("#### All recorded metrics of test_study.py")
    assert "## Results" not in summary
    assert re.search(r"\| good \| 1\.0000 \| 1\.0000 \[1\.0000, 1\.0000\] \|", summary)
    assert re.search(r"\| bad \| 0\.6650 \| 0\.66\d\d \[0\.6\d\d\d, 0\.7\d\d\d\] \|", summary)
    page = (out / "report.html").read_text()
    assert page.index("<h2>Claims</h2>") < page.index(
        "<details><summary>All recorded metrics of test_study.py")
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


def _row(test, result, metrics, params=None, info=None):
    return ResultRow(record_id=f"{test}::{result}", nodeid=f"test_x.py::{test}", test=test,
                     result=result, params=params or {}, metrics=metrics, info=info or {})


def test_plots_show_cis_per_system_and_each_trained_run_once(tmp_path, monkeypatch):
    from lmgate.report import plots

    drawn = {}

    def capture(fig, out_dir, name):
        drawn[f"{name}.png"] = fig
        return out_dir / f"{name}.png"
    monkeypatch.setattr(plots, "_save", capture)
    monkeypatch.setattr(plots._pyplot(), "close", lambda fig: None)
    history = [{"epoch": e, "train_loss": 1 / e, "eval_loss": 1.1 / e, "eval_macro_f1": 0.3 * e}
               for e in (1, 2, 3)]
    rows = [
        _row("test_mt", "A base", {"bleu": 1.0, "chrf": 20.0}, {"system": "A base"},
             {"bleu_ci": [0.5, 1.6], "chrf_ci": [18.0, 22.0]}),
        _row("test_mt", "B real", {"bleu": 2.0, "chrf": 25.0}, {"system": "B real"},
             {"bleu_ci": [1.2, 2.9], "chrf_ci": [23.0, 27.0],
              "history": [{"epoch": 1, "train_loss": 2.0, "eval_loss": 2.2}]}),
        _row("test_qa", "head", {"f1": 40.0, "HasAns_f1": 5.0, "NoAns_f1": 90.0}, {},
             {"f1_ci": [30.0, 50.0], "HasAns_f1_ci": [1.0, 9.0], "NoAns_f1_ci": [80.0, 97.0]}),
        # One fine-tuned run predicting two test sets: one pair of curves, not two.
        *[_row("test_in_language", f"fr->{t}", {"macro_f1": 0.5},
               {"train_lang": "fr", "test_lang": t},
               {"run_key": "abc", "run": "sentiment-fr-n200", "history": history,
                "macro_f1_ci": [0.45, 0.55]}) for t in ("fr", "en")],
    ]
    paths = plots.all_plots(rows, tmp_path)
    assert {p.name for p in paths} >= {"generation_test_mt.png", "squad_test_qa.png",
                                       "training_curves.png", "transfer_model.png"}
    bleu_ax, chrf_ax = drawn["generation_test_mt.png"].axes
    assert [t.get_text() for t in bleu_ax.get_xticklabels()] == ["A base", "B real"]
    assert len(bleu_ax.containers) == 2 and bleu_ax.get_title() == "bleu"   # bars + CI whiskers
    assert [ax.get_title() for ax in drawn["squad_test_qa.png"].axes] == [
        "HasAns f1", "NoAns f1", "f1"]
    loss_ax, f1_ax = drawn["training_curves.png"].axes
    assert loss_ax.get_title() == "Training loss per epoch (2 run(s))"   # fr run + B real
    assert len(f1_ax.lines) == 1 and [t.get_text() for t in f1_ax.get_legend().get_texts()] \
        == ["B real", "sentiment-fr-n200"]
    cells = [t.get_text() for t in drawn["transfer_model.png"].axes[0].texts]
    assert "0.50\n[0.45, 0.55]" in cells                                  # each cell's CI


def test_a_claim_without_its_module_is_grouped_with_its_study_plots(tmp_path):
    from lmgate.report.claims import claims_markdown, study_of

    # Rows and claims from an older results folder carry no `module`: the file name of the
    # node id is the study, as plots are keyed (a path would leave the plots unattached).
    claim = {"nodeid": "evals/test_s.py::test_a", "verdict": "passed", "comparisons": []}
    assert study_of(claim) == study_of({"nodeid": "evals/test_s.py::test_b[x]"}) == "test_s.py"
    plot = tmp_path / "plots" / "curve.png"
    text = claims_markdown([claim], {"test_s.py": [plot]}, tmp_path)
    assert "plots/curve.png" in text and "### test_s.py" in text


def test_a_claim_of_many_comparisons_is_summed_up_and_listed():
    from lmgate.report.claims import claim_line, claims_markdown

    def comparison(lang, diff, held):
        return {"a_name": f"{lang}@200", "b_name": f"{lang}@30", "a": 0.5 + diff, "b": 0.5,
                "metric": "macro_f1", "diff": {"point": diff, "low": diff - 0.05,
                                               "high": diff + 0.05, "confidence": 0.95},
                "p_value": 0.01 if held else 0.3, "margin": 0.05, "n": 300, "held": held}
    claim = {"nodeid": "test_s.py::test_curves", "verdict": "failed", "module": "test_s.py",
             "reason": "learning curves rose on too few languages",
             "comparisons": [comparison("en", 0.1, True), comparison("fr", 0.0, False),
                             comparison("hi", -0.02, False)]}
    assert claim_line(claim, "compact") == (
        "FAIL test_curves: 1 of 3 held (macro_f1): en@200 vs en@30 +0.100 [held], fr@200 vs "
        "fr@30 +0.000 [not held], hi@200 vs hi@30 -0.020 [not held]; learning curves rose on too few languages")
    lines = claims_markdown([claim]).splitlines()
    assert "- FAIL test_curves: 1 of 3 held (macro_f1); learning curves rose on too few " \
           "languages" in lines
    assert [l.split("]")[0] + "]" for l in lines if l.startswith("    - ")] == [
        "    - [held]", "    - [not held]", "    - [not held]"]


def test_results_that_record_their_cost_get_a_cost_table(pytester):
    pytester.makepyfile(test_s='''
import numpy as np
from lmgate import EvalResult
y = np.array([0, 1] * 10)

def test_costed(record):
    record(EvalResult("api", ("n", "p"), y, y, info={"input_tokens": 1234, "output_tokens": 20,
                                                     "seconds": 1.5, "cost_usd": 0.0002}),
           EvalResult("free", ("n", "p"), y, y))
''')
    pytester.runpytest("--lmgate-results-dir", "out").assert_outcomes(passed=1)
    summary = (pytester.path / "out" / "summary.md").read_text()
    cost = summary.split("## Cost")[1]
    assert "| test_costed | api | 1234 | 20 | 1.5000 | 0.0002 |" in cost
    assert "| test_costed | free" not in cost
    # report.html shows the same table, cell by cell.
    page = (pytester.path / "out" / "report.html").read_text()
    table = page.split("<h2>Cost</h2>")[1].split("</table>")[0]
    cells = [re.sub(r"<[^>]+>", "", c).strip()
             for c in re.findall(r"<t[dh][^>]*>.*?</t[dh]>", table, re.S)]
    assert cells == ["test", "result", "input tokens", "output tokens", "model seconds",
                     "cost (USD)", "test_costed", "api", "1234", "20", "1.5000", "0.0002"]
