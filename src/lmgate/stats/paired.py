"""Paired comparisons of two systems scored on the same examples: the paired bootstrap of any
comparable result (classification, generation, QA), McNemar's exact test, and the paired noise
the gate uses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from lmgate.metrics.resampling import (DEFAULT_RESAMPLES, bootstrap_p, check_clusters,
                                       count_units, interval, resampled_means, resampled_metric)
from lmgate.results.base import Comparable
from lmgate.stats.comparison import Comparison


def shared_clusters(a, b):
    """The cluster ids two paired results share (None when neither has any)."""
    ca, cb = getattr(a, "clusters", None), getattr(b, "clusters", None)
    if ca is not None and cb is not None and not np.array_equal(ca, cb):
        raise ValueError(f"cannot pair {a.name} and {b.name}: their cluster ids differ")
    return ca if ca is not None else cb


def check_pair(a: Comparable, b: Comparable) -> None:
    """Two results can be compared: both resample, on the same examples in the same order."""
    for r in (a, b):
        if not isinstance(r, Comparable):
            raise TypeError(f"{getattr(r, 'name', r)!r} cannot be compared: a claim needs a "
                            "result with examples_key() and resampled() (EvalResult, "
                            f"GenerationResult, QAResult), not {type(r).__name__}")
    if getattr(a, "labels", None) != getattr(b, "labels", None):
        raise ValueError(f"cannot compare {a.name} and {b.name}: label sets differ "
                         f"({a.labels} vs {b.labels})")
    if a.examples_key() != b.examples_key():
        raise ValueError(f"cannot pair {a.name} and {b.name}: they were not scored on the same "
                         f"examples in the same order (n={a.n} vs n={b.n})")


def paired_resamples(a: Comparable, b: Comparable, metric: str,
                     n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0
                     ) -> tuple[float, float, np.ndarray, np.ndarray | None]:
    """A's and B's `metric` on all examples, and A - B on the same `n_resamples` resamples of
    examples (or of whole clusters, when the results carry cluster ids), with the clusters."""
    check_pair(a, b)
    clusters = check_clusters(shared_clusters(a, b), a.n)
    point_a, samples_a = a.resampled(metric, n_resamples, seed, clusters)
    point_b, samples_b = b.resampled(metric, n_resamples, seed, clusters)
    return float(point_a), float(point_b), samples_a - samples_b, clusters


def resampling_units(result: Comparable, metric: str, clusters=None) -> int:
    """How many independent units a comparison of `result`'s `metric` rests on: what the
    result itself resamples (`resampling_units`, e.g. a QA result's paragraphs), else the
    clusters or examples."""
    own = getattr(result, "resampling_units", None)
    return int(own(metric)) if own is not None else count_units(clusters, result.n)


def paired_comparison(a: Comparable, b: Comparable, metric: str, margin: float,
                      p_value: Callable[[np.ndarray], float], hypothesis: str, alpha: float,
                      confidence: float = 0.95, n_resamples: int = DEFAULT_RESAMPLES,
                      seed: int = 0) -> tuple[Comparison, np.ndarray, np.ndarray | None]:
    """The paired bootstrap of A - B as a Comparison whose p is `p_value(resampled A - B)`
    for `hypothesis`, with its two-sided `confidence` interval; also the resampled
    differences and the clusters resampled (None: examples)."""
    point_a, point_b, diffs, clusters = paired_resamples(a, b, metric, n_resamples, seed)
    units = min(resampling_units(a, metric, clusters), resampling_units(b, metric, clusters))
    cmp = Comparison(metric, a.name, b.name, point_a, point_b,
                     interval(point_a - point_b, diffs, confidence), margin, p_value(diffs),
                     a.n, f"paired bootstrap ({n_resamples} resamples)", hypothesis, alpha,
                     units)
    return cmp, diffs, clusters


def paired_bootstrap(a: Comparable, b: Comparable, metric: str = "macro_f1",
                     margin: float = 0.0, n_resamples: int = DEFAULT_RESAMPLES,
                     confidence: float = 0.95, seed: int = 0) -> Comparison:
    """Resample the same examples (or clusters, when the results carry cluster ids; whole
    paragraphs for QA) for A and B and bootstrap A - B of `metric`: its two-sided
    `confidence` interval and the one-sided p of H0: A - B <= `margin`."""
    return paired_comparison(a, b, metric, margin, lambda diffs: bootstrap_p(diffs, margin),
                             f"H0: A - B <= {margin:+.4f}", round(1 - confidence, 12),
                             confidence, n_resamples, seed)[0]


def paired_bootstrap_bleu(a: Comparable, b: Comparable, margin: float = 0.0,
                          n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> Comparison:
    """Paired bootstrap of corpus BLEU(A) - BLEU(B) on the same sentences."""
    return paired_bootstrap(a, b, "bleu", margin, n_resamples, seed=seed)


def paired_bootstrap_means(a_scores, b_scores, a_name: str, b_name: str, metric: str,
                           margin: float = 0.0, n_resamples: int = DEFAULT_RESAMPLES,
                           seed: int = 0, clusters=None) -> Comparison:
    """Paired bootstrap of mean(A) - mean(B) for per-example scores (e.g. QA token F1),
    resampling whole clusters (e.g. SQuAD paragraphs) when `clusters` is given."""
    a, b = np.asarray(a_scores, dtype=np.float64), np.asarray(b_scores, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or a.size == 0:
        raise ValueError(f"cannot pair {a_name} and {b_name}: shapes {a.shape} and {b.shape}")
    diffs = resampled_means(a - b, n_resamples, seed, clusters)
    point = float(a.mean() - b.mean())
    return Comparison(metric, a_name, b_name, float(a.mean()), float(b.mean()),
                      interval(point, diffs, 0.95), margin, bootstrap_p(diffs, margin), a.size,
                      f"paired bootstrap ({n_resamples} resamples)",
                      f"H0: A - B <= {margin:+.4f}", 0.05, count_units(clusters, a.size))


#: The smallest p-value lmgate reports: an exact test's p below it underflowed, not 0.
TINY_P = float(np.finfo(np.float64).tiny)


@dataclass(frozen=True)
class McNemar:
    """Exact McNemar test on the discordant pairs of two classifiers scored on the same examples."""

    a_only: int      # examples A gets right and B gets wrong
    b_only: int
    p_value: float   # exact binomial p on the discordant pairs (two-sided unless asked)


def mcnemar(a, b) -> McNemar:
    """McNemar's exact test of A vs B correctness (the standard paired test for accuracy)."""
    if a.y_true.shape != b.y_true.shape or not np.array_equal(a.y_true, b.y_true):
        raise ValueError(f"cannot pair {a.name} and {b.name}: different examples")
    return mcnemar_arrays(a.y_true, a.y_pred, b.y_pred)


def mcnemar_arrays(y_true, pred_a, pred_b, alternative: str = "two-sided") -> McNemar:
    """McNemar's exact test on plain arrays (A and B predictions for the same `y_true`):
    two-sided, or "greater" (A right more often than B) for a one-sided claim."""
    from scipy.stats import binomtest

    y_true = np.asarray(y_true)
    right_a, right_b = np.asarray(pred_a) == y_true, np.asarray(pred_b) == y_true
    a_only, b_only = int(np.sum(right_a & ~right_b)), int(np.sum(~right_a & right_b))
    n = a_only + b_only
    p = 1.0 if n == 0 else float(binomtest(a_only, n, 0.5, alternative=alternative).pvalue)
    p = max(p, TINY_P)   # underflow is not certainty: an exact p is never printed as 0
    return McNemar(a_only, b_only, p)


def paired_diff_sigma(y_true, old_pred, new_pred, n_labels: int, metric: str,
                      n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0,
                      clusters=None) -> float:
    """Bootstrap standard deviation of metric(new) - metric(old) over the same examples
    (or clusters)."""
    y_true = np.asarray(y_true)
    clusters = check_clusters(clusters, len(y_true))
    diffs = (resampled_metric(y_true, np.asarray(new_pred), n_labels, metric, n_resamples,
                               seed, clusters)
             - resampled_metric(y_true, np.asarray(old_pred), n_labels, metric, n_resamples,
                                 seed, clusters))
    return float(diffs.std(ddof=1))
