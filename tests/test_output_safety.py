"""Text from data stays text in every export (issues 30 and 51): spreadsheet formulas in
results.csv, Markdown and HTML in summary.md, control characters in junit.xml, escape sequences
in the terminal. report.html: tests/test_report.py."""

import csv
import html
import re
import xml.etree.ElementTree as ET

import markdown as python_markdown
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from markdown_it import MarkdownIt

from lmgate.core.markup import md_cell, md_inline, spreadsheet_safe, terminal_text, xml_text
from lmgate.gate.flips import Flips
from lmgate.gate.render import flips_markdown
from lmgate.report.html import html_report
from lmgate.report.rows import ResultRow
from lmgate.report.writers import markdown_table, summary_markdown, write_results

FORMULAS = ["=HYPERLINK(\"http://x\",\"y\")", "=cmd|' /C calc'!A0", "@SUM(A1:A9)", "+1+2",
            "-2+3", "\t=1", "\r=1"]


def test_results_csv_cells_a_spreadsheet_would_run_are_text(tmp_path):
    rows = [ResultRow(nodeid=f"t.py::test_{i}", result=name, record_id=str(i),
                      params={"model": name}, metrics={"accuracy": 1.0}, info={"n": 20},
                      notes=(name,)) for i, name in enumerate(FORMULAS)]
    write_results(rows, [], tmp_path)
    with open(tmp_path / "results.csv", newline="", encoding="utf-8") as f:
        table = list(csv.DictReader(f))
    assert len(table) == len(FORMULAS)
    for line in table:
        for value in line.values():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), value
    # A carriage return is shown escaped (\x0d), no longer a formula start to defuse.
    assert sorted(line["result"] for line in table) == sorted(
        "'" + f if not f.startswith("\r") else "\\x0d" + f[1:] for f in FORMULAS)
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


#: What an adversary puts in a result name or an example's text: terminal escapes (colour, an
#: OSC 8 link, BEL, CSI as one C1 byte), XML-forbidden controls, HTML and Markdown that
#: would render live on GitHub (a tracking image, links, autolinks, a code span).
PAYLOADS = ["\x1b[31mred\x1b[0m", "\x1b]8;;https://evil.example/\x07click\x1b]8;;\x07",
            "\x07\x9b2J",
            "\x00\x08\x0b\x1f\ufffe", "<img src=https://tracker.example/p.png>",
            "[win](http://evil.example)", "![x](https://tracker.example/i.png)",
            "<https://evil.example>", "https://evil.example/x", "www.evil.example",
            "me@evil.example", "`code` **bold** _it_ ~~gone~~", "a|b", "# heading", "1. item",
            "&lt;script&gt;", "\u202eevil"]
PIECES = st.sampled_from(PAYLOADS + list("ab1 _*`[]()!<>&|\\~#-+.:/@w=\n\r\t\x1b\x00\x85"))
#: Adversarial text: arbitrary unicode mixed with the payloads' pieces.
HOSTILE = st.one_of(st.text(max_size=30),
                    st.lists(PIECES | st.text(max_size=3), max_size=10).map("".join))

_MARKDOWN_IT = MarkdownIt("commonmark").enable(["table", "strikethrough"])
#: A rendered tag other than lmgate's own page structure (a link, image, raw HTML).
_LIVE = re.compile(r"<(?!/?(?:p|table|thead|tbody|tr|th|td|ul|ol|li|h\d|hr|br|strong|em|code)\b)"
                   r"[^>]*>", re.I)
#: Markup a text of its own must not produce either.
_MARKUP = re.compile(r"<(?:em|strong|code|del|s)>", re.I)


def _rendered(page: str) -> list[str]:
    """summary.md as GitHub-like (CommonMark + tables) and as report.html's renderer read it."""
    return [_MARKDOWN_IT.render(page),
            python_markdown.Markdown(extensions=["tables"], output_format="html").convert(page)]


def _inert(page: str, text_only: bool = False) -> None:
    """No link, image or raw HTML renders from `page` (`text_only`: no code span or emphasis
    either), and no GFM autolink (scheme://, www., e-mail) is left in its source."""
    for out in _rendered(page):
        assert not _LIVE.search(out), _LIVE.search(out).group()
        assert not (text_only and _MARKUP.search(out)), out
    for line in page.splitlines():
        assert not re.search(r"(?i)(https?|ftp)://|www\.|[\w.+-]@[\w-]+\.\w", line), line


@settings(max_examples=300, deadline=None)
@given(HOSTILE)
def test_md_inline_renders_as_exactly_its_text_and_nothing_live(text):
    """Both renderers show `md_inline(text)` as the text itself (line breaks as spaces,
    control characters as visible escapes), inside a line or starting a list item."""
    for page, prefix in ((f"x {md_inline(text)}", "x "), (f"- {md_inline(text)}", "")):
        _inert(page, text_only=True)
        shown = terminal_text(re.sub("\r\n|[\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029\t]", " ",
                                     prefix + text))
        shown = re.sub("[\ufffe\uffff\ud800-\udfff]", lambda m: f"\\u{ord(m.group()):04x}", shown)
        for out in _rendered(page):
            assert " ".join(html.unescape(re.sub("<[^>]+>", "", out)).split()) == \
                " ".join(shown.split())


@settings(max_examples=200, deadline=None)
@given(HOSTILE)
def test_xml_and_terminal_text_are_safe_for_any_text(text):
    element = ET.Element("property", name=xml_text(text), value=xml_text(text))
    assert ET.fromstring(ET.tostring(element, encoding="unicode")).get("name") == xml_text(text)
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]",
                         terminal_text(text))
    plain = "plain text, ünïcödé\tand\nlines"
    assert terminal_text(plain) == plain


def test_flip_excerpts_in_the_summary_render_no_image_or_link():
    """The README appends summary.md to $GITHUB_STEP_SUMMARY: a flipped example's text that
    is an <img> or a Markdown link must not render there (a tracking pixel, a disguised link)."""
    texts = ["<img src=https://tracker.example/p.png>", "[win](http://evil.example)",
             "see https://evil.example and www.evil.example", "![i](https://tracker.example/i)"]
    found = [Flips("t.py::test_x[<b>m</b>]::[r](http://x.example)", 3, 1, 0.3, 40,
                   [{"index": i, "text": t, "gold": "<i>pos</i>", "baseline": "`neg`",
                     "now": "[x](y)"} for i, t in enumerate(texts)])]
    page = "\n".join(flips_markdown(found))
    _inert(page, text_only=True)
    assert "https:&#47;&#47;tracker.example/p.png" in page   # the text is kept, shown


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=st.lists(HOSTILE, min_size=1, max_size=3), note=HOSTILE)
def test_summary_md_of_any_names_renders_nothing_live(names, note, tmp_path):
    rows = [ResultRow(nodeid=f"t.py::test_{i}", result=name, record_id=str(i),
                      params={"model": name}, metrics={"accuracy": 0.5}, info={"n": 20},
                      notes=(note,)) for i, name in enumerate(names)]
    claims = [{"nodeid": "t.py::test_0", "test": "test_0", "verdict": "failed", "reason": note,
               "comparisons": [], "module": names[0] or "t.py", "doc": ""}]
    page = summary_markdown(rows, {}, tmp_path, [], claims, {"profile": note, "device": names[0]})
    _inert(page)


STUDY = """
import numpy as np
from lmgate import EvalResult

NAMES = {names!r}

def test_hostile(record):
    y = np.array([0, 1] * 10)
    for name in NAMES:
        record(EvalResult(name, ("neg", "pos"), y, y))
    assert False, NAMES[0]
"""

HOSTILE_NAMES = ["\x1b[31mred\x1b]8;;https://evil.example/\x07link\x1b]8;;\x07\x07",
                 "ctl\x00\x01\x08\x0b\x1b\x7f\x9b", "[win](http://evil.example) <img src=x>"]


def _lmgate_lines(stdout: str) -> list[str]:
    """The lines of lmgate's own terminal sections (pytest's failure report is pytest's)."""
    mine, keep = [], False
    for line in stdout.splitlines():
        if line.startswith("="):
            keep = "lmgate" in line
        elif keep:
            mine.append(line)
    return mine


@pytest.mark.parametrize("family", ["xunit2", "xunit1"])
def test_hostile_result_names_keep_junit_well_formed_and_the_terminal_inert(pytester, family):
    pytester.makepyfile(test_hostile=STUDY.format(names=HOSTILE_NAMES))
    result = pytester.runpytest("-o", "lmgate_results_dir=out", "--junitxml", "junit.xml",
                                "-o", f"junit_family={family}", "-v")
    result.assert_outcomes(failed=1)
    root = ET.parse(pytester.path / "junit.xml").getroot()   # well-formed, or this raises
    names = [p.get("name") for p in root.iter("property")]
    assert len(names) >= 3 and all(not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f]", n)
                                   for n in names)
    assert any("\\x1b[31mred" in n for n in names)   # shown, not dropped
    lines = _lmgate_lines(result.stdout.str())
    assert any("FAIL test_hostile" in line for line in lines), lines
    assert not any(re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f]", line) for line in lines), lines
    assert any("\\x1b[31mred" in line for line in lines)   # the reason is shown, escaped
    _inert((pytester.path / "out" / "summary.md").read_text(encoding="utf-8"))
    page = (pytester.path / "out" / "report.html").read_text(encoding="utf-8")
    assert "<img src=x" not in page and "href" not in page
