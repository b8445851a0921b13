"""Claims: assertions that one system beats, matches or is not worse than another (or a fixed
value), judged by a paired bootstrap, reported to the claim bus and failing with the numbers.

They take any comparable result (`lmgate.results.base.Comparable`): a classifier's macro F1, a
translation's BLEU, a QA system's HasAns F1 alike.
"""

from __future__ import annotations

import numpy as np

from lmgate.metrics.resampling import DEFAULT_RESAMPLES, Interval, interval
from lmgate.results.base import Comparable
from lmgate.stats.comparison import Comparison
from lmgate.stats.listeners import settle
from lmgate.stats.paired import check_clusters, paired_bootstrap


def assert_better(a: Comparable, b: Comparable, metric: str = "macro_f1",
                  margin: float = 0.0, confidence: float = 0.95, seed: int = 0) -> Comparison:
    """Assert A beats B: the difference exceeds `margin` and is significant (p < 1 - confidence).

    The failure message prints both scores, the difference with its CI, the margin and p.
    """
    cmp = paired_bootstrap(a, b, metric, margin, confidence=confidence, seed=seed)
    alpha = 1 - confidence
    held = cmp.diff.point > margin and cmp.p_value < alpha
    reason = ("difference not above the margin" if cmp.diff.point <= margin
              else f"not significant at {confidence:.0%}")
    return settle("better", cmp, held,
                  f"{a.name} is not better than {b.name} ({reason}): {cmp.describe()}")


def assert_above(result: Comparable, reference: float, reference_name: str = "reference",
                 metric: str = "macro_f1", confidence: float = 0.95, seed: int = 0) -> Comparison:
    """Assert a result's metric lies above a fixed `reference` value (e.g. the mean of several
    transfer scores): the lower end of its two-sided `confidence` bootstrap CI must exceed it.
    Reported like a comparison: A = the result, B = the reference, p = share of resamples at
    or below the reference."""
    clusters = check_clusters(getattr(result, "clusters", None), result.n)
    point, samples = result.resampled(metric, DEFAULT_RESAMPLES, seed, clusters)
    ci = interval(point, samples, confidence)
    cmp = Comparison(metric, result.name, reference_name, ci.point, float(reference),
                     Interval(ci.point - reference, ci.low - reference, ci.high - reference,
                              confidence), 0.0, float(np.mean(samples <= reference)), result.n)
    held = ci.low > reference
    return settle("above", cmp, held, f"{result.name} {metric} {ci} is not above "
                                      f"{reference_name} {reference:.4f}")


def assert_not_worse(a: Comparable, b: Comparable, metric: str = "macro_f1",
                     margin: float = 0.0, confidence: float = 0.95, seed: int = 0) -> Comparison:
    """Assert A is not worse than B beyond noise: fails only if the whole CI of A - B < -margin.

    This is lenient: it passes when the data cannot tell (a wide CI). For a claim that needs
    evidence, use non-inferiority (`assert_non_inferior`: the CI's low end above -margin) or
    equivalence (`assert_equivalent`)."""
    cmp = paired_bootstrap(a, b, metric, margin, confidence=confidence, seed=seed)
    return settle("not worse", cmp, not cmp.diff.high < -margin,
                  f"{a.name} is worse than {b.name} beyond noise and margin: {cmp.describe()}")


def assert_non_inferior(a: Comparable, b: Comparable, metric: str = "macro_f1",
                        margin: float = 0.02, confidence: float = 0.95,
                        seed: int = 0) -> Comparison:
    """Non-inferiority: A is at most `margin` worse than B, shown by the data (the one-sided
    lower bound of A - B at `confidence`, i.e. the two-sided (2 confidence - 1) CI's low end,
    lies above -margin). A wide CI fails: absence of evidence is not evidence."""
    cmp = paired_bootstrap(a, b, metric, margin, confidence=round(2 * confidence - 1, 12), seed=seed)
    held = cmp.diff.low > -margin
    return settle("non-inferior", cmp, held, f"{a.name} is not shown non-inferior to {b.name} "
                                             f"within {margin:.3f}: {cmp.describe()}")


def assert_equivalent(a: Comparable, b: Comparable, metric: str = "macro_f1",
                      margin: float = 0.02, confidence: float = 0.95, seed: int = 0) -> Comparison:
    """Equivalence by two one-sided tests (TOST) at level 1 - `confidence`: A - B lies within
    (-margin, +margin), shown by the two-sided (2 confidence - 1) CI (90% for the usual 5%)
    falling inside the margins. E.g. "LoRA on synthetic data is as good as on real data",
    "the quantised model matches". A wide CI fails."""
    if margin <= 0:
        raise ValueError("an equivalence margin must be > 0")
    cmp = paired_bootstrap(a, b, metric, margin, confidence=round(2 * confidence - 1, 12), seed=seed)
    held = -margin < cmp.diff.low and cmp.diff.high < margin
    return settle("equivalent", cmp, held, f"{a.name} and {b.name} are not shown equivalent "
                                           f"within ±{margin:.3f}: {cmp.describe()}")


def assert_better_bleu(a: Comparable, b: Comparable, margin: float = 0.0,
                       confidence: float = 0.95) -> Comparison:
    """`assert_better(a, b, metric="bleu", ...)`, kept for existing suites."""
    return assert_better(a, b, "bleu", margin, confidence)
