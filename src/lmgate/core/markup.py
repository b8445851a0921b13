"""Text from data made inert where lmgate writes it: one sanitiser per output kind.

Names, example texts, exception messages and versions come from data, models and servers;
every writer passes them through the sanitiser of its output, never its own escaping (and
the terminal and XML sanitisers mask secrets first, `lmgate.core.redact`):

- `xml_text`: JUnit XML property names and values (characters XML 1.0 forbids shown escaped);
- `terminal_text`: lines for a terminal (control characters and escape sequences shown, not run);
- `md_inline` / `md_cell`: one line of Markdown (summary.md, a CI job summary) that renders as
  exactly the text given: no HTML, link, image, autolink, code span, emphasis or table column;
- report.html: rendered from summary.md and cleaned by nh3 (`lmgate.report.html`);
- `csv_cell` / `csv_header`: results.csv cells and column names (controls shown escaped, as
  `terminal_text` and `xml_text` show them, and formulas defused, `spreadsheet_safe`).
"""

from __future__ import annotations

import re
from typing import Any

from lmgate.core.redact import redact

#: A cell starting with one of these is run as a formula by Excel, LibreOffice and Sheets
#: (OWASP, "CSV Injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")

#: What XML 1.0 does not allow in a document (Char production), even as a reference.
_XML_INVALID = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
#: What a terminal runs instead of showing: C0 and C1 controls (ESC, CSI, OSC, BEL, ...),
#: DEL, and the bidirectional overrides that reorder what is shown.
_TERMINAL_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f"
                              "\u202a-\u202e\u2066-\u2069]")
_LINE_BREAKS = re.compile("\r\n|[\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
#: Markdown characters escaped with a backslash (both CommonMark and Python-Markdown read it).
_BACKSLASHED = set("\\`*|")
#: A bracket that would close a link or image (`[x](url)`, `[x][ref]`, `[x]: url`).
_LINK_CLOSE = re.compile(r"\](?=\s*[(\[:])")
#: Characters written as a numeric reference: HTML (<, >, &), GFM strikethrough (~).
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "~": "&#126;"}
#: GFM's extended autolinks: a URL scheme, www. and e-mail addresses.
_AUTOLINK = re.compile(r"(?<=:)//|(?<=www)\.|@(?=[\w-]+\.)", re.I)
#: A line start that Markdown reads as a heading, list item, numbered item, rule or link
#: definition: its last character is escaped.
_BLOCK_START = re.compile(r"^(\s*)(#|[-+](?=\s|$|-)|\d{1,9}[.)](?=\s|$)|\[)")


def _shown(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}" if code <= 0xFFFF \
        else f"\\U{code:08x}"


def xml_text(value: Any) -> str:
    """`value` as text an XML 1.0 parser accepts: each forbidden character (controls, lone
    surrogates, U+FFFE/U+FFFF) shown as a `\\x1b`-style escape."""
    return _XML_INVALID.sub(lambda m: _shown(m.group()), redact(str(value)))


def terminal_text(value: Any) -> str:
    """`value` as text a terminal shows as it is: control characters, escape sequences (ESC,
    CSI, OSC 8 links, BEL) and bidi overrides shown as `\\x1b`-style escapes. Line breaks and
    tabs stay."""
    return _TERMINAL_UNSAFE.sub(lambda m: _shown(m.group()), redact(str(value)))


def terminal_line(value: Any) -> str:
    """`value` as one line of terminal text: `terminal_text` with line breaks shown escaped
    too, so a name read from a file cannot print a line of its own."""
    return _LINE_BREAKS.sub(lambda m: "".join(map(_shown, m.group())), terminal_text(value))


def md_inline(value: Any) -> str:
    """`value` as one line of Markdown that renders as its text: line breaks flattened,
    controls shown escaped, HTML, links, images, autolinks, code spans, emphasis and table
    pipes defused (GitHub's renderer and Python-Markdown alike)."""
    text = terminal_text(_LINE_BREAKS.sub(" ", str(value)).replace("\t", " "))
    text = _XML_INVALID.sub(lambda m: _shown(m.group()), text)
    out = []
    for i, char in enumerate(text):
        if char in _BACKSLASHED:
            out.append("\\" + char)
        elif char in _ENTITIES:
            out.append(_ENTITIES[char])
        elif char == "_" and not (0 < i < len(text) - 1 and text[i - 1].isalnum()
                                  and text[i + 1].isalnum()):
            out.append("\\_")   # an underscore inside a word never starts emphasis
        else:
            out.append(char)
    text = _LINK_CLOSE.sub(r"\\]", "".join(out))
    text = _AUTOLINK.sub(lambda m: "&#47;&#47;" if m.group() == "//" else
                         "&#46;" if m.group() == "." else "&#64;", text)
    return _BLOCK_START.sub(lambda m: m.group(1) + m.group(2)[:-1] + "\\" + m.group(2)[-1],
                            text, count=1)


def md_cell(value: Any) -> str:
    """`value` as the text of one Markdown table cell (`md_inline`: pipes escaped, one line)."""
    return md_inline(value)


def spreadsheet_safe(value: Any) -> Any:
    """A string cell that a spreadsheet would evaluate, prefixed with `'` so it is shown as
    text; numbers and other values unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_cell(value: Any) -> Any:
    """A results.csv cell: text with its control characters, escape sequences and characters
    XML forbids shown escaped (line breaks and tabs stay: the cell is quoted) and a formula
    start defused; numbers and other values unchanged."""
    if not isinstance(value, str):
        return value
    return spreadsheet_safe(_XML_INVALID.sub(lambda m: _shown(m.group()), terminal_text(value)))


def csv_header(value: Any) -> str:
    """A results.csv column name (`params.<key>`, `metrics.<name>`): `csv_cell` on one line,
    its line breaks and tabs shown escaped too."""
    return csv_cell(re.sub("[\t\n]", lambda m: _shown(m.group()), str(value)))
