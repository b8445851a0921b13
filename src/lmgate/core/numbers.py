"""Numbers written as text (options, ini values, command-line arguments): plain ASCII decimal.

Python's `int()` and `float()` also read other scripts' digits (`١٢` is 12) and underscores
(`1_000`): a value a log or a reviewer reads as something else, so lmgate refuses them.
`finite_real` says whether a value given in code is a number lmgate can compute with.
"""

from __future__ import annotations

import math
import re
from typing import Any

_INT = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
                    r"|[+-]?(?:inf|infinity|nan)", re.IGNORECASE)


def parse_decimal(text: str, kind: type = float) -> int | float:
    """`text` (surrounding whitespace aside) as an int or a float when it is written in ASCII
    decimal (a float may be `inf` or `nan`, for the caller to refuse by name); ValueError
    otherwise."""
    stripped = text.strip()
    if not (_INT if kind is int else _FLOAT).fullmatch(stripped):
        raise ValueError(f"not an ASCII decimal {'integer' if kind is int else 'number'}: "
                         f"{stripped!r}")
    return kind(stripped)


def finite_real(value: Any) -> bool:
    """An int or float (not a bool) that is finite as a float: an int past the float range is
    not (math.isfinite and float() raise OverflowError on one)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False
