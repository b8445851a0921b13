"""report.html: summary.md as one self-contained page (tables rendered, plots inlined)."""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path
from types import ModuleType
from typing import Collection

from lmgate.core.extras import require

STYLE = """
body { font: 15px/1.5 system-ui, sans-serif; max-width: 72rem; margin: 2rem auto; padding: 0 1rem;
       color: #1f2328; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; font-size: 13px; }
th, td { border: 1px solid #d0d7de; padding: 3px 8px; text-align: left; }
th { background: #f6f8fa; }
tr:nth-child(even) td { background: #fbfbfc; }
img { max-width: 100%; border: 1px solid #d0d7de; margin: 0.5rem 0; }
details > summary { cursor: pointer; font-weight: 600; margin: 0.5rem 0; }
th.sortable { cursor: pointer; }
code { background: #f6f8fa; padding: 0 3px; }
"""

_IMG_SRC = re.compile(r'src="([^":]+\.png)"')
_SRCLESS_IMG = re.compile(r"<img(?![^>]*\ssrc=)[^>]*>")
_ALIGN = re.compile(r"text-align: ?(left|right|center);?")

#: What lmgate's own Markdown renders to; everything else (links, scripts, raw HTML, styles,
#: event handlers) is dropped by the sanitiser, keeping only its text.
ALLOWED_TAGS = {"h1", "h2", "h3", "h4", "h5", "h6", "p", "br", "hr", "ul", "ol", "li", "em",
                "strong", "code", "pre", "blockquote", "table", "thead", "tbody", "tr", "th",
                "td", "img"}
_METRIC_TABLE = re.compile(r"<h([24])>((?:Results|All recorded metrics)[^<]*)</h\1>\s*"
                           r"(<table>.*?</table>)", re.S)

# Click a column header to sort (numbers numerically); the page reads fine without it.
SORT_SCRIPT = """
document.querySelectorAll("table").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (th, col) {
    th.classList.add("sortable");
    th.addEventListener("click", function () {
      var body = table.tBodies[0], rows = Array.from(body.rows);
      var asc = th.dataset.asc !== "1"; th.dataset.asc = asc ? "1" : "0";
      rows.sort(function (a, b) {
        var x = a.cells[col].textContent, y = b.cells[col].textContent;
        var nx = parseFloat(x), ny = parseFloat(y);
        var c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
        return asc ? c : -c;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
"""


def renderer_modules() -> tuple[ModuleType, ModuleType]:
    """markdown and nh3, or MissingExtra naming lmgate's report extra: without the sanitiser
    no page is written at all."""
    return require("markdown"), require("nh3")


def html_report(summary_md: str, out_dir: Path, images: Collection[Path] = ()) -> str:
    """Render `summary_md` to a standalone page; the PNGs in `images` (lmgate's own plots, whose
    links in the summary are relative to `out_dir`) are embedded as data URIs so the file can be
    mailed or attached alone. Nothing else from the summary becomes markup: names, texts and
    answers come from data and models, so links, raw HTML and any other image are reduced to
    their text by a sanitiser (nh3)."""
    markdown, nh3 = renderer_modules()

    renderer = markdown.Markdown(extensions=["tables"], output_format="html")
    renderer.preprocessors.deregister("html_block")
    renderer.inlinePatterns.deregister("html")
    own = {p.resolve() for p in images}

    def keep(tag: str, attribute: str, value: str) -> str | None:
        if tag == "img" and attribute == "src":
            return value if (out_dir / value).resolve() in own and ":" not in value else None
        if tag in ("th", "td") and attribute == "style":
            return value if _ALIGN.fullmatch(value.strip()) else None
        return value

    body = nh3.clean(renderer.convert(summary_md), tags=ALLOWED_TAGS,
                     attributes={"img": {"src", "alt"}, "th": {"style"}, "td": {"style"}},
                     attribute_filter=keep, url_schemes=set(), link_rel=None)
    body = _SRCLESS_IMG.sub("", body)

    def inline(match: re.Match) -> str:
        path = out_dir / html.unescape(match.group(1))
        if path.resolve() not in own or not path.is_file():
            return match.group(0)
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        return f'src="data:image/png;base64,{data}"'

    body = _IMG_SRC.sub(inline, body)
    # Each study's full metric table folds away under its claims: open it to read every number.
    body = _METRIC_TABLE.sub(lambda m: f"<details><summary>{m.group(2)} (click to open; click "
                             "a column to sort)</summary>\n" + m.group(3) + "\n</details>", body)
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>lmgate results</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}\n"
            f"<script>{SORT_SCRIPT}</script>\n</body>\n</html>\n")
