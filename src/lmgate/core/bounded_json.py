"""Reading JSON that someone else wrote (a baseline from another branch, a results folder from
another machine): once, bounded, and strict.

Every JSON input lmgate reads from a user goes through `read_json_bounded` (one document) or
`read_jsonl_bounded` (one document per line). Each refuses, with the error class the caller
names and a message naming the file: what is not a regular file (a folder, a FIFO or process
substitution, a device), more than `max_bytes`, invalid UTF-8 or JSON, nesting deeper than
`max_depth`, integers of more than `max_int_digits` digits, numbers that are not finite
(`NaN`, `Infinity`, `1e999`) and an object with the same key twice (JSON leaves its meaning
open; Python would keep the last silently).
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
from pathlib import Path
from typing import Any

from lmgate.core.errors import ConfigError, LmgateError

MAX_BYTES = 256 * 2**20
MAX_DEPTH = 64
#: Enough for any count, seed or 64-bit id; a float converts without overflow.
MAX_INT_DIGITS = 20


class _Refused(ValueError):
    """Raised from the decoder's hooks; turned into the caller's error with the file's name."""


def read_bytes_bounded(path: str | os.PathLike, *, what: str, max_bytes: int = MAX_BYTES,
                       error: type[LmgateError] = ConfigError) -> bytes:
    """The bytes of the regular file `path`, read once. FileNotFoundError passes through (the
    caller says how to create the file); anything else not readable is `error`."""
    path = Path(path)
    try:
        # O_NONBLOCK: opening a FIFO without a writer must not hang before it is refused.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise
    except IsADirectoryError:
        raise error(f"{what} {path} is a folder, not a file") from None
    except OSError as exc:
        raise error(f"{what} {path} cannot be read ({exc.strerror or exc})") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise error(f"{what} {path} is a folder, not a file")
        if not stat.S_ISREG(info.st_mode):
            kind = "a FIFO or pipe (e.g. a process substitution)" if stat.S_ISFIFO(
                info.st_mode) else "not a regular file"
            raise error(f"{what} {path} is {kind}; lmgate reads only regular files: save it "
                        "to a file first")
        if info.st_size > max_bytes:
            raise error(f"{what} {path} has {info.st_size} bytes, more than the {max_bytes} bytes "
                        "lmgate reads")
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(max_bytes + 1)
    except OSError as exc:
        raise error(f"{what} {path} cannot be read ({exc.strerror or exc})") from None
    finally:
        os.close(fd)
    if len(data) > max_bytes:   # grew while being read
        raise error(f"{what} {path} has more than the {max_bytes} bytes lmgate reads")
    return data


def loads_bounded(text: str, *, max_depth: int = MAX_DEPTH,
                  max_int_digits: int = MAX_INT_DIGITS, nonfinite: bool = False) -> Any:
    """`json.loads(text)` within the limits; ValueError (a plain message) otherwise.
    `nonfinite`: let NaN and infinities through, for a caller whose schema check names the
    field that holds one."""

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in items:
            if key in out:
                raise _Refused(f"the key {_short(key)} appears twice in one object")
            out[key] = value
        return out

    def integer(digits: str) -> int:
        if len(digits.lstrip("-")) > max_int_digits:
            raise _Refused(f"an integer of {len(digits.lstrip('-'))} digits (at most "
                           f"{max_int_digits})")
        return int(digits)

    def number(digits: str) -> float:
        value = float(digits)
        if not nonfinite and not math.isfinite(value):
            raise _Refused(f"the number {_short(digits)} is out of range")
        return value

    def constant(name: str) -> Any:
        if nonfinite:
            return float(name)
        raise _Refused(f"{name} is not a number")

    try:
        doc = json.loads(text, object_pairs_hook=pairs, parse_int=integer, parse_float=number,
                         parse_constant=constant)
    except _Refused as exc:
        raise ValueError(str(exc)) from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc})") from None
    except RecursionError:
        raise ValueError(f"nested more than {max_depth} levels deep") from None
    _check_walk(doc, max_depth, strings=_SURROGATE.search(text) is not None)
    return doc


#: A \uD800-\uDFFF escape: half of a pair, or a lone surrogate no file can hold as UTF-8.
_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")


def _check_walk(doc: Any, max_depth: int, strings: bool) -> None:
    """Depth within `max_depth`; with `strings`, every string encodable as UTF-8 (a lone
    surrogate would fail later, when a report that quotes it is written)."""
    stack = [(doc, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, (dict, list)):
            if depth > max_depth:
                raise ValueError(f"nested more than {max_depth} levels deep")
            if isinstance(value, dict):
                stack.extend((k, depth) for k in value)
            stack.extend((v, depth + 1) for v in (value.values() if isinstance(value, dict)
                                                  else value))
        elif strings and isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError(f"the string {_short(value)} holds a lone surrogate escape, "
                                 "which is not text") from None


def check_limits(doc: Any, *, max_depth: int = MAX_DEPTH,
                 max_int_digits: int = MAX_INT_DIGITS) -> None:
    """The limits of `read_json_bounded` on an already parsed document (a TOML table):
    ValueError saying which is exceeded."""
    stack = [(doc, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            value = list(value.values())
        if isinstance(value, (list, tuple)):
            if depth > max_depth:
                raise ValueError(f"nested more than {max_depth} levels deep")
            stack.extend((v, depth + 1) for v in value)
        elif isinstance(value, int) and not isinstance(value, bool) and \
                abs(value) >= 10 ** max_int_digits:
            raise ValueError(f"an integer of more than {max_int_digits} digits")


def _short(text: str, limit: int = 40) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _text(data: bytes, path: Path, what: str, error: type[LmgateError]) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise error(f"{what} {path}, line {line} (byte {exc.start}): not valid UTF-8; save "
                    "it as UTF-8") from None


def read_json_bounded(path: str | os.PathLike, *, what: str, max_bytes: int = MAX_BYTES,
                      max_depth: int = MAX_DEPTH, max_int_digits: int = MAX_INT_DIGITS,
                      nonfinite: bool = False, error: type[LmgateError] = ConfigError) -> Any:
    """The JSON document in the regular file `path`, read once within the limits.

    >>> read_json_bounded("baseline.json", what="baseline")    # doctest: +SKIP
    """
    path = Path(path)
    text = _text(read_bytes_bounded(path, what=what, max_bytes=max_bytes, error=error), path,
                 what, error)
    try:
        return loads_bounded(text, max_depth=max_depth, max_int_digits=max_int_digits,
                             nonfinite=nonfinite)
    except ValueError as exc:
        raise error(f"{what} {path}: {exc}") from None


def read_jsonl_bounded(path: str | os.PathLike, *, what: str, max_bytes: int = MAX_BYTES,
                       max_depth: int = MAX_DEPTH, max_int_digits: int = MAX_INT_DIGITS,
                       nonfinite: bool = False,
                       error: type[LmgateError] = ConfigError) -> list[tuple[int, Any]]:
    """(line number, document) of each non-blank line of the regular file `path`, read once."""
    path = Path(path)
    text = _text(read_bytes_bounded(path, what=what, max_bytes=max_bytes, error=error), path,
                 what, error)
    out = []
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            out.append((number, loads_bounded(line, max_depth=max_depth,
                                              max_int_digits=max_int_digits,
                                              nonfinite=nonfinite)))
        except ValueError as exc:
            raise error(f"{what} {path}, line {number}: malformed ({exc})") from None
    return out
