"""Claims: assertions that one system beats, matches or is not worse than another (or a fixed
value), each a one-sided hypothesis test whose p decides, reported to the claim bus and failing
with `ClaimFailed` and the numbers.

They take any comparable result (`lmgate.results.base.Comparable`): a classifier's macro F1, a
translation's BLEU, a QA system's HasAns F1 alike. What each tests (`docs`: "What a claim
means"):

=====================  =========================  ==========================  ===============
claim                  H0 it must reject          decided by                  level
=====================  =========================  ==========================  ===============
assert_better          A - B <= margin            bootstrap p (exact McNemar  1 - confidence
                                                  for accuracy, margin 0)
assert_non_inferior    A - B <= -margin           bootstrap p                 1 - confidence
assert_equivalent      |A - B| >= margin (TOST)   max of two bootstrap p's    1 - confidence
assert_above           metric <= reference        bootstrap p (exact binomial (1 - conf.) / 2
                                                  for accuracy)
assert_not_worse       fails when H0 A - B >=     bootstrap p                 (1 - conf.) / 2
                       -margin is rejected
=====================  =========================  ==========================  ===============

Every claim needs enough independent units (examples, or clusters where the results carry
them) for any test to reject at its level: at least `min_units(alpha)`, the smallest n at
which an exact sign test can (5 at 5%). `assert_better` counts only the units in which A's and
B's predictions differ (where they are known). Below that a claim fails as "too few to judge",
never passes. Where every paired resample gives the same difference (each unit differs alike)
p is at least the exact sign test's 0.5 ** units; a bootstrap with no spread cannot bound a
difference or a value, so non-inferiority, equivalence and `assert_above` then fail as
"cannot judge". Bootstrap p-values are (1 + resamples not beyond the bound) / (R + 1), never
0.
"""

from __future__ import annotations

import functools
import math
from dataclasses import replace
from typing import Any, Callable, TypeVar

import numpy as np

from lmgate.metrics.resampling import DEFAULT_RESAMPLES, Interval, bootstrap_p, interval
from lmgate.results.base import Comparable
from lmgate.stats.comparison import Comparison, judging
from lmgate.stats.listeners import settle
from lmgate.stats.sequential import Hypothesis, SequentialPolicy, as_policy, min_units
from lmgate.stats.sequential_claims import sequential_claim
from lmgate.stats.paired import (TINY_P, check_clusters, mcnemar_arrays, paired_comparison,
                                  resampling_units)


def _check_confidence(confidence: float) -> None:
    if isinstance(confidence, bool) or not (isinstance(confidence, (int, float))
                                            and 0.5 < confidence < 1):
        raise ValueError(f"confidence must be in (0.5, 1), got {confidence!r}")


def _check_number(value: float, what: str = "a claim's margin") -> None:
    if isinstance(value, bool) or not (isinstance(value, (int, float))
                                       and math.isfinite(value)):
        raise ValueError(f"{what} must be a finite number, got {value!r}")


def _check_margin(margin: float) -> None:
    """A paired claim's margin: a finite number >= 0 (a negative one turns the claim into
    another: "better by at least -0.3" is non-inferiority, "non-inferior within -0.3" is
    superiority)."""
    _check_number(margin)
    if margin < 0:
        raise ValueError(f"a claim's margin must be >= 0, got {margin}; say the claim you mean "
                         "(assert_better, assert_non_inferior, assert_equivalent) with a "
                         "margin >= 0")


def _cannot_judge(units: int, alpha: float, samples: np.ndarray, what: str = "examples",
                  label: str | None = None) -> str | None:
    """Why the data cannot judge a claim at `alpha` (too few units; a fixed-value claim whose
    bootstrap shows no spread), or None."""
    needed = min_units(alpha)
    if units < needed:
        return (f"too few {label or what} to judge (n = {units}; at least {needed} needed at "
                f"alpha {alpha:g})")
    if samples.size and np.ptp(samples) == 0:
        return (f"cannot judge: every bootstrap resample gives the same value "
                f"({float(samples[0]):+.4f}), so the data bound nothing (a constant outcome or "
                "identical outputs on "
                f"{units} {what})")
    return None


def _differing_units(a: Any, b: Any, clusters: Any, metric: str) -> int | None:
    """How many units (examples or clusters) A's and B's outputs differ in: a classifier's
    predictions, a QA system's answers, a translation's hypotheses (`unit_outputs`); None
    where a result exposes neither."""
    if hasattr(a, "unit_outputs") and hasattr(b, "unit_outputs"):
        (out_a, groups), (out_b, _) = a.unit_outputs(metric), b.unit_outputs(metric)
        differ = np.array([x != y for x, y in zip(out_a, out_b, strict=True)], dtype=bool)
    elif getattr(a, "y_pred", None) is not None and getattr(b, "y_pred", None) is not None:
        differ, groups = np.asarray(a.y_pred) != np.asarray(b.y_pred), clusters
    else:
        return None
    if groups is None:
        return int(np.count_nonzero(differ))
    return int(np.unique(np.asarray(groups)[differ]).size)


def _unjudgeable_numbers(*values: Any) -> str | None:
    """Why NaN or infinite scores leave nothing to judge, or None."""
    if all(np.all(np.isfinite(np.asarray(v, dtype=np.float64))) for v in values):
        return None
    return ("cannot judge: the scores hold NaN or infinite values (a resample containing "
            "them has no value to compare)")


def _paired(a: Comparable, b: Comparable, metric: str, margin: float, seed: int,
            ci_confidence: float, p_value: Callable[[np.ndarray], float], hypothesis: str,
            alpha: float) -> tuple[Comparison, np.ndarray, Any]:
    """`paired_comparison`, with the sign test's floor where every resample gives one
    difference: every unit differs alike, which a bootstrap cannot weigh, while the exact
    sign test with all units on one side can (p = 0.5 ** units)."""
    cmp, diffs, clusters = paired_comparison(a, b, metric, margin, p_value, hypothesis, alpha,
                                             ci_confidence, DEFAULT_RESAMPLES, seed)
    if np.ptp(diffs) == 0 and 0.5 ** cmp.units > cmp.p_value:
        cmp = replace(cmp, p_value=0.5 ** cmp.units,
                      method=f"sign test (all {cmp.units} units alike)")
    return cmp, diffs, clusters


Claim = TypeVar("Claim", bound=Callable[..., Comparison])


def _with_cost(claim: Claim) -> Claim:
    """The claim's comparison carries the cost of the systems it judges (its first two
    arguments that are results or lazily scored systems)."""
    @functools.wraps(claim)
    def judged(*args: Any, **kwargs: Any) -> Comparison:
        given = (*args[:2], *(kwargs.get(k) for k in ("a", "b", "result")))
        with judging(*(x for x in given if hasattr(x, "name"))):
            return claim(*args, **kwargs)
    return judged  # type: ignore[return-value]


@_with_cost
def assert_better(a: Comparable, b: Comparable, metric: str = "macro_f1",
                  margin: float = 0.0, confidence: float = 0.95, seed: int = 0,
                  sequential: bool | SequentialPolicy = False) -> Comparison:
    """Assert A beats B by more than `margin`: H0: A - B <= margin is rejected at level
    1 - `confidence` (one-sided). p is the bootstrap's, (1 + resamples with A - B <= margin) /
    (R + 1); for accuracy of two classifiers with no margin and no clusters it is exact
    McNemar's (one-sided binomial on the discordant examples). Prints the two-sided
    `confidence` CI of A - B.

    `sequential=True` (or a `SequentialPolicy`) tests the same H0 anytime-validly on a
    seeded random order of the examples and stops once settled (`lmgate.stats.sequential`)."""
    _check_confidence(confidence)
    _check_margin(margin)
    alpha = round(1 - confidence, 12)
    policy = as_policy(sequential)
    if policy is not None:
        return sequential_claim("better", a, b, metric, margin, alpha, policy,
                           [Hypothesis("above", margin)], lambda low, high: high <= margin,
                           f"H0: A - B <= {margin:+.4f}")
    cmp, diffs, clusters = _paired(a, b, metric, margin, seed, confidence,
                                   lambda d: bootstrap_p(d, margin),
                                   f"H0: A - B <= {margin:+.4f}", alpha)
    units = cmp.units
    exact = (metric == "accuracy" and margin == 0 and clusters is None
             and getattr(a, "y_true", None) is not None and getattr(b, "y_pred", None) is not None)
    if exact:
        test = mcnemar_arrays(a.y_true, a.y_pred, b.y_pred, alternative="greater")
        cmp = replace(cmp, p_value=test.p_value,
                       method=f"exact McNemar, one-sided ({test.a_only} vs {test.b_only} "
                              "discordant)")
    differing = _differing_units(a, b, clusters, metric)
    why = (_unjudgeable_numbers(cmp.a, cmp.b, diffs)
           or _cannot_judge(units, alpha, np.empty(0)))
    if why is None and differing is not None:
        why = _cannot_judge(differing, alpha, np.empty(0), "examples",
                            "examples where A and B differ"
                            + (" (clusters)" if clusters is not None else ""))
    if why is not None:
        return settle("better", cmp, False, f"{a.name} vs {b.name}: {why}: {cmp.describe()}")
    held = cmp.p_value < alpha and cmp.diff.point > margin
    reason = (f"difference not above the margin {margin:+.4f}" if cmp.diff.point <= margin
              else f"H0: A - B <= {margin:+.4f} not rejected at {alpha:g}")
    return settle("better", cmp, held,
                  f"{a.name} is not better than {b.name} ({reason}): {cmp.describe()}")


@_with_cost
def assert_above(result: Comparable, reference: float, reference_name: str = "reference",
                 metric: str = "macro_f1", confidence: float = 0.95, seed: int = 0) -> Comparison:
    """Assert a result's metric lies above a fixed `reference` value (e.g. the mean of several
    transfer scores): H0: metric <= reference is rejected at (1 - `confidence`) / 2, i.e. the
    two-sided `confidence` interval's low end lies above it. Bootstrap p, or for a
    classifier's accuracy (no clusters) the exact binomial test with a Clopper-Pearson
    interval. Reported like a comparison: A = the result, B = the reference."""
    _check_confidence(confidence)
    _check_number(reference, "assert_above's reference")
    alpha = round((1 - confidence) / 2, 12)
    clusters = check_clusters(getattr(result, "clusters", None), result.n)
    units = resampling_units(result, metric, clusters)
    y_true, y_pred = getattr(result, "y_true", None), getattr(result, "y_pred", None)
    if (metric == "accuracy" and clusters is None and y_true is not None and y_pred is not None
            and 0 < reference < 1):
        from scipy.stats import binomtest

        right = int(np.count_nonzero(np.asarray(y_true) == np.asarray(y_pred)))
        test = binomtest(right, result.n, reference, alternative="greater")
        ci = test.proportion_ci(confidence, method="exact")
        point = right / result.n
        ci = Interval(point, float(ci.low), float(ci.high), confidence)
        p = max(float(test.pvalue), TINY_P)
        method, samples = "exact binomial, one-sided", np.empty(0)
    else:
        point, samples = result.resampled(metric, DEFAULT_RESAMPLES, seed, clusters)
        ci = interval(point, samples, confidence)
        p = bootstrap_p(samples, reference)
        method = f"bootstrap ({DEFAULT_RESAMPLES} resamples)"
    cmp = Comparison(metric, result.name, reference_name, ci.point, float(reference),
                     Interval(ci.point - reference, ci.low - reference, ci.high - reference,
                              confidence), 0.0, p, result.n, method,
                     f"H0: {metric} <= {reference:.4f}", alpha, units)
    why = _unjudgeable_numbers(point, samples) or _cannot_judge(units, alpha, samples)
    if why is not None:
        return settle("above", cmp, False, f"{result.name} vs {reference_name}: {why}: "
                                           f"{cmp.describe()}")
    return settle("above", cmp, p < alpha, f"{result.name} {metric} {ci} is not above "
                                           f"{reference_name} {reference:.4f}: {cmp.describe()}")


@_with_cost
def assert_not_worse(a: Comparable, b: Comparable, metric: str = "macro_f1",
                     margin: float = 0.0, confidence: float = 0.95, seed: int = 0) -> Comparison:
    """Assert A is not worse than B beyond noise: fails only when H0: A - B >= -margin is
    rejected at (1 - `confidence`) / 2 (the whole two-sided CI below -margin), or when the
    data are too few to judge at all.

    This is lenient: it passes when the data cannot tell (a wide CI). For a claim that needs
    evidence, use non-inferiority (`assert_non_inferior`: the CI's low end above -margin) or
    equivalence (`assert_equivalent`)."""
    _check_confidence(confidence)
    _check_margin(margin)
    alpha = round((1 - confidence) / 2, 12)
    cmp, diffs, _ = _paired(a, b, metric, margin, seed, confidence,
                            lambda d: bootstrap_p(d, -margin, "less"),
                            f"H0: A - B >= {-margin:+.4f}", alpha)
    why = (_unjudgeable_numbers(cmp.a, cmp.b, diffs)
           or _cannot_judge(cmp.units, alpha, np.empty(0)))
    if why is not None:
        return settle("not worse", cmp, False, f"{a.name} vs {b.name}: {why}: {cmp.describe()}")
    return settle("not worse", cmp, not cmp.p_value < alpha,
                  f"{a.name} is worse than {b.name} beyond noise and margin: {cmp.describe()}")


@_with_cost
def assert_non_inferior(a: Comparable, b: Comparable, metric: str = "macro_f1",
                        margin: float = 0.02, confidence: float = 0.95, seed: int = 0,
                        sequential: bool | SequentialPolicy = False) -> Comparison:
    """Non-inferiority: A is at most `margin` worse than B, shown by the data: H0: A - B <=
    -margin is rejected at 1 - `confidence` (one-sided; the printed two-sided
    (2 confidence - 1) CI's low end lies above -margin). A wide CI fails: absence of
    evidence is not evidence. `sequential`: as for `assert_better`."""
    _check_confidence(confidence)
    _check_margin(margin)
    alpha = round(1 - confidence, 12)
    policy = as_policy(sequential)
    if policy is not None:
        return sequential_claim("non-inferior", a, b, metric, margin, alpha, policy,
                           [Hypothesis("above", -margin)], lambda low, high: high <= -margin,
                           f"H0: A - B <= {-margin:+.4f}")
    cmp, diffs, _ = _paired(a, b, metric, margin, seed, round(2 * confidence - 1, 12),
                            lambda d: bootstrap_p(d, -margin), f"H0: A - B <= {-margin:+.4f}",
                            alpha)
    why = _unjudgeable_numbers(cmp.a, cmp.b, diffs) or _cannot_judge(cmp.units, alpha, diffs)
    if why is not None:
        return settle("non-inferior", cmp, False,
                      f"{a.name} vs {b.name}: {why}: {cmp.describe()}")
    return settle("non-inferior", cmp, cmp.p_value < alpha,
                  f"{a.name} is not shown non-inferior to {b.name} within {margin:.3f}: "
                  f"{cmp.describe()}")


@_with_cost
def assert_equivalent(a: Comparable, b: Comparable, metric: str = "macro_f1",
                      margin: float = 0.02, confidence: float = 0.95, seed: int = 0,
                      sequential: bool | SequentialPolicy = False) -> Comparison:
    """Equivalence by two one-sided tests (TOST) at level 1 - `confidence`: both H0: A - B <=
    -margin and H0: A - B >= +margin are rejected; p is the larger of the two. The printed
    two-sided (2 confidence - 1) CI (90% for the usual 5%) then lies inside the margins.
    E.g. "LoRA on synthetic data is as good as on real data", "the quantised model
    matches". A wide CI fails. `sequential`: as for `assert_better` (both nulls tested by
    their own e-process, each at alpha)."""
    _check_confidence(confidence)
    _check_margin(margin)
    if margin <= 0:
        raise ValueError("an equivalence margin must be > 0")
    alpha = round(1 - confidence, 12)
    policy = as_policy(sequential)
    if policy is not None:
        return sequential_claim("equivalent", a, b, metric, margin, alpha, policy,
                           [Hypothesis("above", -margin), Hypothesis("below", margin)],
                           lambda low, high: high <= -margin or low >= margin,
                           f"H0: |A - B| >= {margin:.4f} (TOST)")
    cmp, diffs, _ = _paired(
        a, b, metric, margin, seed, round(2 * confidence - 1, 12),
        lambda d: max(bootstrap_p(d, -margin), bootstrap_p(d, margin, "less")),
        f"H0: |A - B| >= {margin:.4f} (TOST)", alpha)
    why = _unjudgeable_numbers(cmp.a, cmp.b, diffs) or _cannot_judge(cmp.units, alpha, diffs)
    if why is not None:
        return settle("equivalent", cmp, False, f"{a.name} vs {b.name}: {why}: {cmp.describe()}")
    return settle("equivalent", cmp, cmp.p_value < alpha,
                  f"{a.name} and {b.name} are not shown equivalent within ±{margin:.3f}: "
                  f"{cmp.describe()}")


@_with_cost
def assert_better_bleu(a: Comparable, b: Comparable, margin: float = 0.0,
                       confidence: float = 0.95) -> Comparison:
    """`assert_better(a, b, metric="bleu", ...)`, kept for existing suites."""
    return assert_better(a, b, "bleu", margin, confidence)
