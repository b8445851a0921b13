"""The recorder that turns results (lmgate.results.classification) into exportable rows.

Nothing here knows about pytest: a notebook can build `EvalResult`s and call the writers.
"""

from __future__ import annotations

import hashlib
import math
import time
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from lmgate.data.types import Provenance
from lmgate.report.rows import ResultRow
from lmgate.results.base import Result


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


class Recorder:
    """Collects rows (one per recorded result) and per-example predictions for one test."""

    def __init__(self, nodeid: str, test: str, params: Mapping[str, Any] | None = None,
                 on_row: Callable[[ResultRow], None] | None = None,
                 group: str | None = None) -> None:
        self.nodeid, self.test = nodeid, test
        self.group = group or nodeid     # the same for every seed of a repeated experiment
        self._on_row = on_row
        self.params = {k: _jsonable(v) for k, v in (params or {}).items()}
        self.rows: list[ResultRow] = []
        self.predictions: list[dict[str, Any]] = []
        self.sections: list[dict[str, str]] = []
        self.comparisons: list[dict[str, Any]] = []   # claim comparisons made in this test
        self.composite: list[dict[str, Any]] = []     # `assert_claim` verdicts of this test
        self.study: dict[str, str] = {}                # the test module and its docstring
        self.gate: dict[str, Any] = {}                 # its lmgate_gate marker's settings
        self._started = time.perf_counter()

    def __call__(self, *results: Result, notes: Sequence[str] = (),
                 provenance: Sequence[Provenance] = (), **metrics: float) -> None:
        """Record results (with their predictions) and/or loose scalar metrics; `notes` and
        `provenance` (where data the results do not carry came from) go in each row."""
        notes = [*notes, *(p.note for p in provenance)]
        given = [p.as_dict() for p in provenance]
        for result in results:
            self._add_result(result, notes, given)
        if metrics:
            self._add_row("metrics", {}, {k: float(v) for k, v in metrics.items()}, {}, notes,
                          given)

    def on_claim(self, claim: dict[str, Any]) -> None:
        """The claim bus's listener: comparisons (A vs B) and composite claims."""
        (self.comparisons if "a_name" in claim else self.composite).append(claim)

    @property
    def claimed(self) -> bool:
        """Whether this test checked any claim (a test that only records is no claim)."""
        return bool(self.comparisons or self.composite)

    def section(self, title: str, markdown: str) -> None:
        """Add a Markdown block to summary.md under `title` (blocks with one title are merged)."""
        self.sections.append({"title": title, "nodeid": self.nodeid, "markdown": markdown})

    def _check_identity(self, name: str, metrics: Mapping[str, float]) -> None:
        """One result name, one measurement: a name recorded twice in one test (en and fr
        both as "model") would merge into one baseline entry whose mean hides a drop."""
        for row in self.rows:
            if row.result != name:
                continue
            if name != "metrics":
                raise ValueError(f"{self.nodeid}: a result named {name!r} was already recorded "
                                 "in this test; give each result its own name (e.g. "
                                 "name=f\"{model}-{lang}\")")
            again = sorted(set(row.metrics) & set(metrics))
            if again:
                raise ValueError(f"{self.nodeid}: metric(s) {again} were already recorded in "
                                 "this test; record each scalar once")

    def _add_result(self, result: Any, notes: Sequence[str],
                    provenance: Sequence[Mapping[str, Any]]) -> None:
        if not isinstance(result, Result):
            raise TypeError(f"record() takes results (lmgate.Result: EvalResult, "
                            f"GenerationResult, QAResult) and name=value scalars, not "
                            f"{type(result).__name__}")
        # The notes of every dataset that fed the result (warnings, provenance) go in the row.
        notes = list(dict.fromkeys([*notes, *result.info.get("notes", [])]))
        provenance = [*provenance, *(p for p in result.info.get("provenance", [])
                                     if p not in provenance)]
        info = {**result.info, "n": result.n}
        intervals = getattr(result, "intervals", None)   # optional in the Result protocol
        if intervals is not None:
            info.update({f"{metric}_ci": [ci.low, ci.high] for metric, ci in intervals().items()})
        record_info = getattr(result, "record_info", None)  # optional: task-specific facts
        if record_info is not None:
            info.update(record_info())
        row = self._add_row(result.name, result.params, result.metrics, info, notes, provenance)
        self.predictions.append({"record_id": row.record_id, **result.predictions()})

    def _add_row(self, name: str, params: Mapping[str, Any], metrics: Mapping[str, float],
                 info: Mapping[str, Any], notes: Sequence[str],
                 provenance: Sequence[Mapping[str, Any]] = ()) -> ResultRow:
        self._check_identity(name, metrics)
        record_id = hashlib.sha256(f"{self.nodeid}\0{name}\0{len(self.rows)}".encode()).hexdigest()[:16]
        row = ResultRow(
            record_id=record_id, nodeid=self.nodeid, group=self.group, test=self.test,
            result=name, params={**self.params, **_jsonable(dict(params))},
            metrics=_jsonable(dict(metrics)), info=_jsonable(dict(info)), notes=tuple(notes),
            elapsed_s=round(time.perf_counter() - self._started, 3),
            # where the data came from: {"source", "what", "location"} each
            provenance=tuple(_jsonable(list(provenance))),
            gate=self.gate)   # the test's @pytest.mark.lmgate_gate settings
        self.rows.append(row)
        if self._on_row is not None:
            self._on_row(row)
        return row
