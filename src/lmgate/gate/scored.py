"""The gate on per-document scores (an imported lm-eval or Inspect run): the paired noise of
a metric's difference, documents paired by id (their flips: `lmgate.gate.flips`).

Two runs pair only when they scored the same document ids: ids in one run only are reported
(the gate then falls back to both runs' own intervals, unpaired), never dropped in silence.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from lmgate.metrics.resampling import DEFAULT_RESAMPLES, resampled_means
from lmgate.results.scored import unpaired_ids


def is_scored(entries: Sequence[Mapping[str, Any]] | None) -> bool:
    """Whether a result's predictions are per-document scores (not classifier labels)."""
    return bool(entries) and isinstance(entries[0].get("scores"), dict)


def _per_id(entries: Sequence[Mapping[str, Any]], metric: str) -> dict[str, float] | None:
    """Each document's score of `metric`, averaged over the seeds that scored the same
    documents as the first; None where the first seed has no scores of it."""
    first = entries[0]
    if metric not in first["scores"]:
        return None
    same = [e for e in entries if e.get("ids") == first["ids"] and metric in e["scores"]]
    mean = np.mean([np.asarray(e["scores"][metric], dtype=np.float64) for e in same], axis=0)
    return dict(zip(map(str, first["ids"]), mean.tolist()))


def paired_sigma(old: Sequence[Mapping[str, Any]], new: Sequence[Mapping[str, Any]],
                 metric: str) -> tuple[float, str] | str | None:
    """(the paired bootstrap s.d. of new - old of `metric`, its basis), or what keeps the
    runs from pairing (ids in one only) in words, or None where either lacks scores of it."""
    before, after = _per_id(old, metric), _per_id(new, metric)
    if before is None or after is None:
        return None
    apart = unpaired_ids(list(before), list(after), "the baseline", "now")
    if apart is not None:
        return f"not paired: {apart}"
    ids = list(after)
    diff = np.array([after[i] - before[i] for i in ids])
    clusters = _shared_clusters(old[0], new[0], ids)
    sigma = float(resampled_means(diff, DEFAULT_RESAMPLES, 0, clusters).std(ddof=1))
    unit = (f"{len(set(clusters))} clusters of {len(ids)} documents" if clusters is not None
            else f"{len(ids)} documents")
    return sigma, f"paired bootstrap on {unit} paired by id"


def _shared_clusters(old: Mapping[str, Any], new: Mapping[str, Any],
                     ids: list[str]) -> np.ndarray | None:
    """The documents' cluster ids, in `ids` order, where both runs give the same ones."""
    maps = [dict(zip(map(str, e["ids"]), e["clusters"])) for e in (old, new)
            if e.get("clusters") is not None]
    if len(maps) != 2 or maps[0] != maps[1]:
        return None
    return np.asarray([str(maps[1][i]) for i in ids])
