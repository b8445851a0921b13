"""Measurements: every recorded metric of every result of every test, with its seeds and its
bootstrap CI, from the rows and predictions a run recorded."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from lmgate.core.errors import ConfigError
from lmgate.metrics.classification import RESAMPLABLE
from lmgate.metrics.registry import declared_direction, metric_info
from lmgate.metrics.resampling import bootstrap_ci
from lmgate.report.rows import ResultRow


def higher_is_better(metric: str) -> bool | None:
    """The declared direction (lmgate.metrics.registry); None when nobody declared it."""
    info = metric_info(metric)
    return None if info is None else info.higher_is_better


#: What a per-document scores line (`lmgate.results.scored.ScoredResult`) gives the gate.
SCORED_FIELDS = ("ids", "scores", "hashes", "clusters")


def _recorded_only(metric: str) -> bool:
    """Declared as not a quality metric (timings, counts): stored nowhere in baselines."""
    info = metric_info(metric)
    return info is not None and not info.gated


@dataclass
class Measurement:
    """One metric of one result of one test: its value(s) over seeds and its noise."""

    key: str
    value: float
    values: list[float]
    seeds: list[Any]
    ci: list[float] | None = None          # bootstrap CI of the (first seed's) value
    n: int | None = None
    higher_is_better: bool | None = True
    data_fingerprint: str | None = None
    model_fingerprint: str | None = None

    @property
    def ci_sigma(self) -> float | None:
        if not self.ci:
            return None
        return (self.ci[1] - self.ci[0]) / (2 * 1.959964)


def measurements(rows: Sequence[ResultRow],
                 predictions: Iterable[Mapping[str, Any]] = ()) -> tuple[dict[str, Measurement],
                                                                         dict[str, list[dict]]]:
    """Measurements keyed `group::result::metric`, and per-example predictions keyed
    `group::result` (one entry per seed), from recorded rows."""
    preds = {p["record_id"]: p for p in predictions}
    grouped: dict[str, list[tuple[Any, float, ResultRow]]] = defaultdict(list)
    examples: dict[str, list[dict]] = defaultdict(list)
    for row in sorted(rows, key=lambda r: (r.group_id, r.result, str(r.params.get("seed")))):
        base = f"{row.group_id}::{row.result}"
        seed = row.params.get("seed")
        pred = preds.get(row.record_id)
        if pred is not None and "y_true" in pred:  # classification; generation/QA keep their own
            examples[base].append({"seed": seed, "labels": len(row.info.get("labels", [])),
                                   "label_names": list(row.info.get("labels", [])),
                                   "y_true": pred["y_true"], "y_pred": pred["y_pred"],
                                   **({"clusters": pred["clusters"]} if pred.get("clusters")
                                      else {}),
                                   **({"examples": pred["examples"]} if pred.get("examples")
                                      else {})})
        elif pred is not None and isinstance(pred.get("scores"), dict):   # per-document scores
            examples[base].append({"seed": seed, **{k: pred[k] for k in SCORED_FIELDS
                                                    if pred.get(k) is not None}})
        for metric, value in row.metrics.items():
            if value is None or _recorded_only(metric) or isinstance(value, bool):
                continue
            grouped[f"{base}::{metric}"].append((seed, float(value), row))
    out = {}
    for key, items in grouped.items():
        metric = key.rsplit("::", 1)[1]
        seeds, values, first = [s for s, _, _ in items], [v for _, v, _ in items], items[0][2]
        info = first.info
        ci = None
        base = key.rsplit("::", 1)[0]
        if metric in RESAMPLABLE and examples.get(base) and "y_true" in examples[base][0]:
            ex = examples[base][0]
            interval = bootstrap_ci(np.asarray(ex["y_true"]), np.asarray(ex["y_pred"]),
                                    ex["labels"], metric, clusters=ex.get("clusters"))
            ci = [interval.low, interval.high]
        elif _finite_pair(info.get(f"{metric}_ci")):
            # The result's own bootstrap CI (QA F1 over paragraphs, BLEU over sentences).
            ci = [float(v) for v in info[f"{metric}_ci"]]
        out[key] = Measurement(key, float(np.mean(values)), values, seeds, ci, _count(first),
                               declared_direction(metric, info), info.get("data_fingerprint"),
                               info.get("model_fingerprint") or info.get("run_key"))
    return out, dict(examples)


def _count(row: ResultRow) -> int | None:
    """The examples a row's result was measured on (`info["n"]`), or None where it says
    none; ConfigError naming the row where it is no count (a results.jsonl edited by hand)."""
    n = row.info.get("n")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 0):
        raise ConfigError(f"result {row.result!r} of {row.nodeid}: info 'n' must be a "
                          f"count of examples, got {n!r}")
    return n


def _finite_pair(value: Any) -> bool:
    return (isinstance(value, (list, tuple)) and len(value) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                    and np.isfinite(v) for v in value) and value[0] <= value[1])


def of_tests(key: str, tests: Iterable[str]) -> bool:
    return any(key.startswith(f"{t}::") for t in tests)
