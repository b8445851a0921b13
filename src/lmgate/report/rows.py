"""`ResultRow`: one recorded result of one test, the line results.jsonl holds for it.

`Recorder` builds the rows; the writers, plots, gate, trackers and exports read their fields.
A row read back from a file or from an xdist worker's report goes through
`ResultRow.from_json`, which says what is wrong with one lmgate did not write.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from lmgate.core.errors import ConfigError


def module_file(nodeid: str) -> str:
    """The file name of a test's module, from its node id (`evals/test_x.py::t` -> test_x.py)."""
    return Path(nodeid.split("::")[0]).name


@dataclass(frozen=True, kw_only=True)
class ResultRow:
    """One recorded result (or the loose scalars) of one test, as `record(...)` stored it.

    Its fields, in results.jsonl's key order:

    - `record_id`: the row's id, shared with its result's predictions.jsonl line;
    - `nodeid`: the test (without the seed id of a repeat); `group`: the node id that every
      seed of a repeated experiment shares; `test`: the test function's name;
    - `result`: the result's name (`"metrics"` for loose scalars);
    - `params`: the experimental factors (the test's parameters, the seed, the result's own);
    - `metrics`: the scalars (None where a value was not finite);
    - `info`: facts of the result (`n`, `<metric>_ci` as [low, high], data and model
      fingerprints, training history, token counts and costs);
    - `notes`: notes of the data and the result; `elapsed_s`: seconds from the test's start;
    - `provenance`: where the data came from, a `{"source", "what", "location"}` mapping per
      data set (`lmgate.data.Provenance.as_dict`);
    - `gate`: the test's `@pytest.mark.lmgate_gate` settings;
    - `verdict`: the test's outcome (passed, failed, xfailed, ...) once it has ended;
      `comparisons`: the claim comparisons in which this result was A or B;
    - `extra`: keys this lmgate does not know (a newer one wrote them), kept as they were.

    `to_json` leaves out a field at its default (rows written by hand or by an earlier lmgate
    lack `group`, `test`, `notes`, `elapsed_s` and `verdict`; `provenance`, `gate` and
    `comparisons` are written only when not empty), so a row read with `from_json` is written
    back as it was. The mappings are the row's own: read them, do not change them. Reading a
    results folder::

        from lmgate import read_results

        rows = read_results("lmgate-results")[0]       # list[ResultRow]
        best = max(rows, key=lambda row: row.metrics.get("macro_f1") or 0)
        print(best.nodeid, best.result, best.params.get("model"), best.ci("macro_f1"))
    """

    record_id: str
    nodeid: str
    group: str | None = None
    test: str | None = None
    result: str
    params: Mapping[str, Any] = field(default_factory=dict)
    metrics: Mapping[str, float | None] = field(default_factory=dict)
    info: Mapping[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] | None = None
    elapsed_s: float | None = None
    provenance: tuple[Mapping[str, Any], ...] = ()
    gate: Mapping[str, Any] = field(default_factory=dict)
    verdict: str | None = None
    comparisons: tuple[Mapping[str, Any], ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Sequences as tuples, whatever the caller passed: rows compare by value.
        for name in ("notes", "provenance", "comparisons"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, tuple):
                object.__setattr__(self, name, tuple(value))

    @property
    def group_id(self) -> str:
        """The test this row belongs to, the same for every seed: `group`, else `nodeid`."""
        return self.group or self.nodeid

    @property
    def study(self) -> str:
        """The study the row belongs to: its test module's file name."""
        return module_file(self.nodeid)

    def ci(self, metric: str) -> Any:
        """The recorded 95% CI of `metric` (`info["<metric>_ci"]`, [low, high]), or None."""
        return self.info.get(f"{metric}_ci")

    def cost(self) -> dict[str, float]:
        """The cost the result recorded in `info`: tokens, model seconds, money
        (`lmgate.stats.comparison.COST_KEYS`, as a claim sums them)."""
        from lmgate.stats.comparison import system_cost

        return {key: float(value) for key, value in system_cost(self).items()}

    def to_json(self) -> dict[str, Any]:
        """The row as results.jsonl holds it (a fresh dict; nested values are shared)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in _REQUIRED or (f.name != "extra" and value != _default(f)):
                out[f.name] = _plain(value)
        out.update(self.extra)
        return out

    @classmethod
    def from_json(cls, data: Any) -> "ResultRow":
        """The row of one results.jsonl object; ConfigError says what is wrong with it."""
        if not isinstance(data, dict):
            raise ConfigError("not a JSON object")
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name == "extra":
                continue
            kind, _ = _KINDS[f.name]
            if f.name not in data:
                if f.name in _REQUIRED:
                    raise ConfigError(f"{f.name!r} missing or not a {_kind_name(kind)}")
                continue
            values[f.name] = _checked(f.name, data[f.name])
        bad = [k for k, v in values["metrics"].items()
               if v is not None and not isinstance(v, (int, float))]
        if bad:
            raise ConfigError(f"metric(s) {bad} are not numbers")
        return cls(**values, extra={k: v for k, v in data.items() if k not in _KINDS})


#: Keys every row has: a line without one is no row lmgate wrote.
_REQUIRED = frozenset({"record_id", "nodeid", "result", "params", "metrics", "info"})
#: Per field: its JSON type, and the type of each item of a list.
_KINDS: dict[str, tuple[type | tuple[type, ...], type | None]] = {
    "record_id": (str, None), "nodeid": (str, None), "group": (str, None), "test": (str, None),
    "result": (str, None), "params": (dict, None), "metrics": (dict, None), "info": (dict, None),
    "notes": (list, str), "provenance": (list, dict), "elapsed_s": ((int, float), None),
    "gate": (dict, None), "verdict": (str, None), "comparisons": (list, dict)}


_ITEMS = {str: "strings", dict: "objects"}


def _kind_name(kind: type | tuple[type, ...]) -> str:
    return "number" if isinstance(kind, tuple) else kind.__name__


def _checked(name: str, value: Any) -> Any:
    """`value` of the key `name` in the field's type (lists as tuples); ConfigError if not."""
    kind, item = _KINDS[name]
    if not isinstance(value, kind) or isinstance(value, bool):
        what = "missing or not" if name in _REQUIRED else "is not"
        raise ConfigError(f"{name!r} {what} a {_kind_name(kind)}")
    if item is None:
        return value
    if not all(isinstance(v, item) for v in value):
        raise ConfigError(f"{name!r} must be a list of {_ITEMS[item]}")
    return tuple(value)


def _default(f: dataclasses.Field) -> Any:
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default


def _plain(value: Any) -> Any:
    """A field's value as JSON holds it: tuples as lists, mappings as dicts."""
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return dict(value)
    return value
