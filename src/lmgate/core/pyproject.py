"""The one reader of a project's pyproject.toml: its `[tool.lmgate]` table, parsed once."""

from __future__ import annotations

import copy
import functools
import sys
from pathlib import Path
from typing import Any

from lmgate.core.bounded_json import check_limits
from lmgate.core.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def lmgate_table(pyproject: str | Path | None) -> dict[str, Any]:
    """`[tool.lmgate]` of `pyproject` ({} when the file or the table is absent); a file that is
    not valid TOML is a ConfigError naming it."""
    if pyproject is None:
        return {}
    path = Path(pyproject)
    try:
        stat = path.stat()
    except OSError:
        return {}
    return copy.deepcopy(_read(str(path.resolve()), stat.st_mtime_ns, stat.st_size))


@functools.lru_cache(maxsize=8)
def _read(path: str, mtime_ns: int, size: int) -> dict[str, Any]:
    with open(path, "rb") as f:
        try:
            doc = tomllib.load(f)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}") from None
        except (ValueError, RecursionError):   # an integer of thousands of digits, deep nesting
            raise ConfigError(f"{path}: TOML lmgate cannot hold (an integer of more than 4300 "
                              "digits, or arrays nested too deep)") from None
    tool = doc.get("tool", {})
    table = tool.get("lmgate", {}) if isinstance(tool, dict) else {}
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.lmgate] must be a table, not {table!r}")
    try:
        check_limits(table)
    except ValueError as exc:
        raise ConfigError(f"{path}: [tool.lmgate] is beyond what lmgate reads: {exc}") from None
    return table


def section(pyproject: str | Path | None, name: str) -> dict[str, Any]:
    """One sub-table of `[tool.lmgate]` (`profiles`, `models`), {} when absent."""
    value = lmgate_table(pyproject).get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{pyproject}: [tool.lmgate] {name} must be a table of tables, "
                          f"not {value!r}")
    return value
