"""A test's own gate settings (`@pytest.mark.lmgate_gate`), validated, and what rows say of
their tests."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from lmgate.core.errors import ConfigError

if TYPE_CHECKING:  # the plugin validates markers at collection: lmgate.report loads pandas
    from lmgate.report.rows import ResultRow


def gate_settings(marker_kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Validate `@pytest.mark.lmgate_gate(tolerance=..., ignore=[...])`: tolerance is a number
    (every metric of the test) or {metric: number}; ignore lists metrics not to gate."""
    unknown = set(marker_kwargs) - {"tolerance", "ignore"}
    if unknown:
        raise ConfigError(f"lmgate_gate takes tolerance= and ignore=, not {sorted(unknown)}")
    out: dict[str, Any] = {}
    tolerance = marker_kwargs.get("tolerance")
    if tolerance is not None:
        items = tolerance.items() if isinstance(tolerance, Mapping) else [("*", tolerance)]
        try:
            if any(isinstance(v, bool) or not isinstance(v, (int, float)) for _, v in items):
                raise TypeError   # True is no tolerance, "0.1" no number
            out["tolerance"] = {str(k): float(v) for k, v in items}
        except (TypeError, ValueError):
            raise ConfigError(f"lmgate_gate tolerance must be a number or {{metric: number}}, "
                              f"not {tolerance!r}") from None
        if not all(math.isfinite(v) and v >= 0 for v in out["tolerance"].values()):
            raise ConfigError(f"lmgate_gate tolerance must be finite and >= 0, not "
                              f"{tolerance!r}")
    ignore = marker_kwargs.get("ignore", ())
    if not isinstance(ignore, (list, tuple, set, frozenset)) \
            or not all(isinstance(m, str) for m in ignore):
        raise ConfigError(f"lmgate_gate ignore must be a list of metric names, not {ignore!r}")
    if ignore:
        out["ignore"] = sorted(ignore)
    return out


def settings_by_result(rows: Sequence[ResultRow]) -> dict[str, dict[str, Any]]:
    """Per `group::result`, the gate settings its test declared (rows carry them), checked
    as the marker's are: a row read from a file may hold anything there."""
    out = {}
    for row in rows:
        if row.gate:
            try:
                out[f"{row.group_id}::{row.result}"] = gate_settings(row.gate)
            except ConfigError as exc:
                raise ConfigError(f"result {row.result!r} of {row.nodeid}: 'gate' holds "
                                  f"settings no test declared: {exc}") from None
    return out


def passed_tests_of(rows: Sequence[ResultRow]) -> set[str]:
    """The tests whose rows say they passed (for comparisons made from results folders)."""
    return {r.group_id for r in rows if r.verdict == "passed"}
