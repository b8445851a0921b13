"""A paired claim judged sequentially: per-example scores (given, or produced on demand by a
lazily scored system) checked, then consumed by the anytime-valid e-processes of
`lmgate.stats.sequential` until the claim is settled or the examples run out."""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from lmgate.metrics.resampling import Interval
from lmgate.results.base import Comparable
from lmgate.stats.comparison import Comparison
from lmgate.stats.listeners import ClaimInconclusive, settle
from lmgate.stats.sequential import (Hypothesis, SequentialPolicy, Spend, min_units,
                                     per_example_scores, run_sequential)


def sequential_claim(claim: str, a: Comparable, b: Comparable, metric: str, margin: float,
                alpha: float, policy: SequentialPolicy, nulls: list[Hypothesis],
                fails_when: Callable[[float, float], bool], hypothesis: str) -> Comparison:
    """A paired claim judged by anytime-valid e-processes on per-example scores, stopping
    once settled; inconclusive when the examples or the budget run out first."""
    from lmgate.stats.paired import check_pair

    if any(hasattr(r, "scores_for") for r in (a, b)):   # scored on demand: pair by examples
        if a.examples_key() != b.examples_key():
            raise ValueError(f"cannot pair {a.name} and {b.name}: they were not scored on "
                             f"the same examples in the same order (n={a.n} vs n={b.n})")
    else:
        check_pair(a, b)

    score_a, clusters_a, scale, n_a = _per_example(a, metric)
    score_b, clusters_b, _, n_b = _per_example(b, metric)
    if n_a != n_b:
        raise ValueError(f"cannot pair {a.name} and {b.name}: {n_a} vs {n_b} per-example "
                         f"{metric} scores")
    if clusters_a is not None and clusters_b is not None \
            and not np.array_equal(clusters_a, clusters_b):
        raise ValueError(f"cannot pair {a.name} and {b.name}: their cluster ids differ")
    clusters = clusters_a if clusters_a is not None else clusters_b
    if clusters is None:
        units, sizes, members = n_a, None, None

        def diff_of(index: np.ndarray) -> np.ndarray:
            return score_a(index) - score_b(index)
    else:
        _, inverse = np.unique(clusters, return_inverse=True)
        sizes = np.bincount(inverse)
        if sizes.min() != sizes.max():
            # An e-process over clusters weighs each alike: with unequal sizes it would test
            # the mean of cluster means, not the metric. Refused rather than misread.
            raise ValueError(f"{a.name} vs {b.name}: a sequential claim needs clusters of "
                             f"equal size (sizes {sizes.min()}..{sizes.max()}); judge {metric} "
                             "with the fixed-n claim (sequential=False), which resamples "
                             "whole clusters")
        units = sizes.size
        members = [np.flatnonzero(inverse == c) for c in range(units)]

        def diff_of(index: np.ndarray) -> np.ndarray:
            rows = np.concatenate([members[c] for c in index])
            return (score_a(rows) - score_b(rows)).reshape(len(index), -1).mean(axis=1)
    needed = min_units(alpha)
    scaled = [Hypothesis(h.side, h.bound / scale) for h in nulls]
    if units < needed:
        out = None
    else:
        out = run_sequential(diff_of, units, sizes, scaled,
                             lambda low, high: fails_when(low * scale, high * scale), alpha,
                             policy, _spending(a, b))
    used = out.units_used if out else 0
    order = np.random.default_rng(policy.seed).permutation(units)[:used]
    taken = order if members is None else np.concatenate([members[c] for c in order] or
                                                         [np.empty(0, dtype=np.int64)])
    point_a, point_b = ((scale * float(score_a(taken).mean()),
                         scale * float(score_b(taken).mean()))
                        if taken.size else (float("nan"), float("nan")))
    low, high = (out.cs_low, out.cs_high) if out else (-1.0, 1.0)
    cmp = Comparison(metric, a.name, b.name, point_a, point_b,
                     Interval(point_a - point_b, scale * low, scale * high, 1 - alpha), margin,
                     out.p_value if out else 1.0, n_a,
                     "betting e-process (anytime-valid; confidence sequence printed)",
                     hypothesis, alpha, units, out.examples_used if out else 0,
                     out.reason if out else "too few examples")
    if out is None:
        return settle(claim, cmp, False, f"{a.name} vs {b.name}: too few examples to judge "
                                         f"(n = {units}; at least {needed} needed at alpha "
                                         f"{alpha:g}): {cmp.describe()}")
    if out.held is None:
        message = (f"{a.name} vs {b.name}: {claim} claim inconclusive ({out.reason} after "
                   f"{out.examples_used} of {n_a} examples): {cmp.describe()}")
        return settle(claim, cmp, False, message,
                      ClaimInconclusive(message, cmp, policy.on_inconclusive == "skip"))
    return settle(claim, cmp, out.held, f"{a.name} vs {b.name}: {claim} claim settled as not "
                                        f"holding: {cmp.describe()}")


def _spending(*systems: Any) -> Callable[[], Spend] | None:
    """What the lazily scored systems among `systems` have spent so far, summed (None when
    none is scored on demand: precomputed results spend nothing more)."""
    spenders = [s.spent for s in systems if callable(getattr(s, "spent", None))]
    if not spenders:
        return None
    return lambda: sum((spend() for spend in spenders), Spend())


def _per_example(result: Any, metric: str
                 ) -> tuple[Callable[[np.ndarray], np.ndarray], np.ndarray | None, float, int]:
    """(scores of the examples at an index, in [0, 1]; cluster ids or None; the metric's
    scale; how many examples) of a result scored in advance or on demand, every score and id
    checked before a claim leans on it."""
    if hasattr(result, "scores_for"):   # a system scored on demand (lmgate.methods.lazy)
        n = int(result.n)
        # The scale its metric is reported in (QA F1 and chrF: 0-100, as precomputed results).
        scale = result.metric_scale(metric) if hasattr(result, "metric_scale") else 1.0
        clusters = getattr(result, "clusters", None)

        def scores(index: np.ndarray) -> np.ndarray:
            return _checked_scores(result, metric, result.scores_for(metric, index), len(index))
    else:
        given, clusters, scale = per_example_scores(result, metric)
        # A result's own per_example scores one per example; a QA subset metric fewer.
        given = _checked_scores(result, metric, given,
                                result.n if hasattr(result, "per_example") else None)
        n = given.size

        def scores(index: np.ndarray) -> np.ndarray:
            return given[index]
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) \
            or not math.isfinite(scale) or scale <= 0:
        raise ValueError(f"{result.name}: the scale of {metric} must be a positive number, "
                         f"got {scale!r}")
    if clusters is not None:
        clusters = np.asarray([str(c) for c in clusters])
        if clusters.shape != (n,):
            raise ValueError(f"{result.name}: {clusters.size} cluster ids for {n} per-example "
                             f"{metric} scores")
    return scores, clusters, float(scale), n


def _checked_scores(result: Any, metric: str, scores: Any, expected: int | None) -> np.ndarray:
    """Per-example scores as floats in [0, 1], one per example asked for; ValueError naming
    the result otherwise (a NaN, a score on another scale, a missing one)."""
    try:
        values = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{result.name}: per-example {metric} scores must be numbers") from None
    if values.ndim != 1 or (expected is not None and values.size != expected) \
            or values.size == 0:
        raise ValueError(f"{result.name}: expected {expected or 'some'} per-example {metric} "
                         f"scores in one row, got shape {values.shape}")
    if not np.all(np.isfinite(values)) or values.min() < 0 or values.max() > 1:
        raise ValueError(f"{result.name}: per-example {metric} scores must be finite and within "
                         "[0, 1] (the metric's scale is given apart), got values from "
                         f"{np.nanmin(values):g} to {np.nanmax(values):g}"
                         + (" and NaN" if np.isnan(values).any() else ""))
    return values
