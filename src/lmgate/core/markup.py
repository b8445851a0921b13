"""Text from data made inert where lmgate writes it: Markdown table cells and spreadsheet cells."""

from __future__ import annotations

from typing import Any

#: A cell starting with one of these is run as a formula by Excel, LibreOffice and Sheets
#: (OWASP, "CSV Injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")


def md_cell(value: Any) -> str:
    """`value` as the text of one Markdown table cell: pipes escaped, line breaks flattened."""
    text = str(value)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def spreadsheet_safe(value: Any) -> Any:
    """A string cell that a spreadsheet would evaluate, prefixed with `'` so it is shown as
    text; numbers and other values unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
