"""Bootstrap confidence intervals and paired A-vs-B comparisons on per-example predictions."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Callable, Iterator

import numpy as np

from lmgate.metrics.classification import (metric_from_confusions, resampled_confusions,
                                           weighted_confusions)

if TYPE_CHECKING:
    from lmgate.results import EvalResult

DEFAULT_RESAMPLES = 1000

#: Callbacks told of every claim comparison (`assert_better`, `assert_not_worse`, ...): the
#: pytest plugin listens during a test so results know which comparison judged them.
_LISTENERS: list[Callable[[dict], None]] = []


@contextmanager
def comparisons_to(callback: Callable[[dict], None]) -> Iterator[None]:
    """Send each claim comparison made inside the block to `callback` (as a dict)."""
    _LISTENERS.append(callback)
    try:
        yield
    finally:
        _LISTENERS.remove(callback)


def report_comparison(claim: str, cmp: "Comparison", held: bool) -> None:
    """Tell the listeners that `claim` ("better", "not worse", "non-inferior", "equivalent",
    "above") was checked with `cmp`."""
    for callback in list(_LISTENERS):
        callback({"claim": claim, "held": held, **cmp.to_dict()})


def settle(claim: str, cmp: "Comparison", held: bool, failure: str) -> "Comparison":
    """Report the checked `claim` to the listeners, then fail with `failure` unless it held."""
    report_comparison(claim, cmp, held)
    if not held:
        raise AssertionError(failure)
    return cmp


@dataclass(frozen=True)
class Interval:
    """A point estimate with a two-sided bootstrap percentile interval."""

    point: float
    low: float
    high: float
    confidence: float

    def __str__(self) -> str:
        return f"{self.point:.4f} [{self.low:.4f}, {self.high:.4f}] ({self.confidence:.0%} CI)"


@dataclass(frozen=True)
class Comparison:
    """Paired bootstrap comparison of A and B on the same examples."""

    metric: str
    a_name: str
    b_name: str
    a: float
    b: float
    diff: Interval          # A - B
    margin: float
    p_value: float          # share of resamples where A - B <= 0 (one-sided)
    n: int

    def to_dict(self) -> dict:
        d = asdict(self)
        d["diff"] = asdict(self.diff)
        return d

    def describe(self) -> str:
        return (f"{self.metric}: {self.a_name} = {self.a:.4f} vs {self.b_name} = {self.b:.4f}; "
                f"difference {self.diff} on n={self.n}; margin {self.margin:+.4f}; "
                f"one-sided p = {self.p_value:.4f}")


def comparison_in_words(c: dict) -> str:
    """'A 0.77 vs B 0.68 macro_f1, +0.09 [0.05, 0.13], p = 0.001' from a reported comparison."""
    diff = c["diff"]
    margin = f", margin {c['margin']:+.2f}" if c.get("margin") else ""
    if c.get("claim") in ("equivalent", "non-inferior"):   # judged on a (2 conf - 1) CI
        bound = "±" if c["claim"] == "equivalent" else "-"
        margin = (f", {c['claim']} margin {bound}{c['margin']:.2f} on the "
                  f"{diff.get('confidence', 0.9):.0%} CI")
    return (f"{c['a_name']} {c['a']:.3f} vs {c['b_name']} {c['b']:.3f} {c['metric']}, "
            f"{diff['point']:+.3f} [{diff['low']:+.3f}, {diff['high']:+.3f}], "
            f"p = {c['p_value']:.3g}{margin} (n = {c['n']})")


def _index(n: int, n_resamples: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n, size=(n_resamples, n))


def cluster_weights(clusters, n_resamples: int, seed: int) -> np.ndarray:
    """(R, n) example weights of a cluster bootstrap: each resample draws as many clusters as
    there are, with replacement, and every example counts as often as its cluster was drawn
    (examples of one article, speaker or language rise and fall together)."""
    _, inverse = np.unique(np.asarray(clusters), return_inverse=True)
    n_clusters = int(inverse.max()) + 1
    if n_clusters < 2:
        raise ValueError("a cluster bootstrap needs at least 2 clusters")
    counts = np.random.default_rng(seed).multinomial(
        n_clusters, np.full(n_clusters, 1 / n_clusters), size=n_resamples)
    return counts[:, inverse]


def _check_clusters(clusters, n: int):
    if clusters is None:
        return None
    clusters = np.asarray(clusters)
    if clusters.shape != (n,):
        raise ValueError(f"clusters must give one id per example: {clusters.shape} for n={n}")
    return clusters


def _resampled_metric(y_true: np.ndarray, y_pred: np.ndarray, n_labels: int, metric: str,
                      n_resamples: int, seed: int, clusters=None) -> np.ndarray:
    """The metric on R resamples: examples (the same draws as `_index`), or whole clusters."""
    if clusters is None:
        cms = resampled_confusions(y_true, y_pred, n_labels, _index(len(y_true), n_resamples,
                                                                    seed))
    else:
        cms = weighted_confusions(y_true, y_pred, n_labels,
                                  cluster_weights(clusters, n_resamples, seed))
    return metric_from_confusions(cms, metric)


def _interval(point: float, samples: np.ndarray, confidence: float) -> Interval:
    alpha = (1 - confidence) / 2
    low, high = np.quantile(samples, [alpha, 1 - alpha])
    return Interval(float(point), float(low), float(high), confidence)


def bootstrap_mean_ci(scores, n_resamples: int = DEFAULT_RESAMPLES, confidence: float = 0.95,
                      seed: int = 0, clusters=None, scale: float = 1.0) -> Interval:
    """Percentile bootstrap CI of the mean of per-example scores (e.g. QA token F1), over
    examples or whole clusters; `scale` multiplies point and bounds (100 for SQuAD's 0-100)."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 1 or scores.size == 0:
        raise ValueError(f"need a non-empty 1-d array of scores, got shape {scores.shape}")
    means = _resampled_means(scores, n_resamples, seed, clusters)
    return _interval(scale * float(scores.mean()), scale * means, confidence)


def _resampled_means(scores: np.ndarray, n_resamples: int, seed: int, clusters=None) -> np.ndarray:
    """The mean of `scores` on R resamples of examples, or of whole clusters."""
    clusters = _check_clusters(clusters, scores.size)
    if clusters is None:
        return scores[_index(scores.size, n_resamples, seed)].mean(axis=1)
    weights = cluster_weights(clusters, n_resamples, seed)
    return (weights @ scores) / np.maximum(weights.sum(axis=1), 1)


def bootstrap_ci(y_true, y_pred, n_labels: int, metric: str = "macro_f1",
                 n_resamples: int = DEFAULT_RESAMPLES, confidence: float = 0.95,
                 seed: int = 0, clusters=None) -> Interval:
    """Percentile bootstrap CI of a classification metric over examples (vectorised), or
    over whole clusters when `clusters` gives each example's cluster id."""
    point, samples = _point_and_resamples(y_true, y_pred, n_labels, metric, n_resamples, seed,
                                          clusters)
    return _interval(point, samples, confidence)


def _point_and_resamples(y_true, y_pred, n_labels: int, metric: str, n_resamples: int, seed: int,
                         clusters=None) -> tuple[float, np.ndarray]:
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    clusters = _check_clusters(clusters, len(y_true))
    full = np.arange(len(y_true))[None, :]
    point = metric_from_confusions(resampled_confusions(y_true, y_pred, n_labels, full), metric)[0]
    return float(point), _resampled_metric(y_true, y_pred, n_labels, metric, n_resamples, seed,
                                           clusters)


def shared_clusters(a, b):
    """The cluster ids two paired results share (None when neither has any)."""
    ca, cb = getattr(a, "clusters", None), getattr(b, "clusters", None)
    if ca is not None and cb is not None and not np.array_equal(ca, cb):
        raise ValueError(f"cannot pair {a.name} and {b.name}: their cluster ids differ")
    return ca if ca is not None else cb


def paired_bootstrap(a: "EvalResult", b: "EvalResult", metric: str = "macro_f1",
                     margin: float = 0.0, n_resamples: int = DEFAULT_RESAMPLES,
                     confidence: float = 0.95, seed: int = 0) -> Comparison:
    """Resample the same example indices (or clusters, when the results carry cluster ids)
    for A and B and bootstrap A - B."""
    if a.labels != b.labels:
        raise ValueError(f"cannot compare {a.name} and {b.name}: label sets differ "
                         f"({a.labels} vs {b.labels})")
    if a.y_true.shape != b.y_true.shape or not np.array_equal(a.y_true, b.y_true):
        raise ValueError(f"cannot pair {a.name} and {b.name}: they were not scored on the same "
                         f"examples in the same order (n={len(a.y_true)} vs n={len(b.y_true)})")
    k, n = len(a.labels), len(a.y_true)
    clusters = _check_clusters(shared_clusters(a, b), n)
    full = np.arange(n)[None, :]

    def point(res: "EvalResult") -> float:
        return metric_from_confusions(resampled_confusions(res.y_true, res.y_pred, k, full),
                                      metric)[0]

    point_a, point_b = point(a), point(b)
    diffs = (_resampled_metric(a.y_true, a.y_pred, k, metric, n_resamples, seed, clusters)
             - _resampled_metric(b.y_true, b.y_pred, k, metric, n_resamples, seed, clusters))
    return Comparison(metric, a.name, b.name, float(point_a), float(point_b),
                      _interval(point_a - point_b, diffs, confidence), margin,
                      float(np.mean(diffs <= 0)), n)


def assert_better(a: "EvalResult", b: "EvalResult", metric: str = "macro_f1",
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


def assert_above(result: "EvalResult", reference: float, reference_name: str = "reference",
                 metric: str = "macro_f1", confidence: float = 0.95, seed: int = 0) -> Comparison:
    """Assert a result's metric lies above a fixed `reference` value (e.g. the mean of several
    transfer scores): the lower end of its two-sided `confidence` bootstrap CI must exceed it.
    Reported like a comparison: A = the result, B = the reference, p = share of resamples at
    or below the reference."""
    point, samples = _point_and_resamples(result.y_true, result.y_pred, len(result.labels),
                                          metric, DEFAULT_RESAMPLES, seed, result.clusters)
    ci = _interval(point, samples, confidence)
    cmp = Comparison(metric, result.name, reference_name, ci.point, float(reference),
                     Interval(ci.point - reference, ci.low - reference, ci.high - reference,
                              confidence), 0.0, float(np.mean(samples <= reference)), result.n)
    held = ci.low > reference
    return settle("above", cmp, held, f"{result.name} {metric} {ci} is not above "
                                      f"{reference_name} {reference:.4f}")


def assert_not_worse(a: "EvalResult", b: "EvalResult", metric: str = "macro_f1",
                     margin: float = 0.0, confidence: float = 0.95, seed: int = 0) -> Comparison:
    """Assert A is not worse than B beyond noise: fails only if the whole CI of A - B < -margin.

    This is lenient: it passes when the data cannot tell (a wide CI). For a claim that needs
    evidence, use non-inferiority (`assert_non_inferior`: the CI's low end above -margin) or
    equivalence (`assert_equivalent`)."""
    cmp = paired_bootstrap(a, b, metric, margin, confidence=confidence, seed=seed)
    return settle("not worse", cmp, not cmp.diff.high < -margin,
                  f"{a.name} is worse than {b.name} beyond noise and margin: {cmp.describe()}")


@dataclass(frozen=True)
class McNemar:
    """Exact McNemar test on the discordant pairs of two classifiers scored on the same examples."""

    a_only: int      # examples A gets right and B gets wrong
    b_only: int
    p_value: float   # two-sided exact binomial p on the discordant pairs


def mcnemar(a: "EvalResult", b: "EvalResult") -> McNemar:
    """McNemar's exact test of A vs B correctness (the standard paired test for accuracy)."""
    if a.y_true.shape != b.y_true.shape or not np.array_equal(a.y_true, b.y_true):
        raise ValueError(f"cannot pair {a.name} and {b.name}: different examples")
    return mcnemar_arrays(a.y_true, a.y_pred, b.y_pred)


def mcnemar_arrays(y_true, pred_a, pred_b) -> McNemar:
    """McNemar's exact test on plain arrays (A and B predictions for the same `y_true`)."""
    from scipy.stats import binomtest

    y_true = np.asarray(y_true)
    right_a, right_b = np.asarray(pred_a) == y_true, np.asarray(pred_b) == y_true
    a_only, b_only = int(np.sum(right_a & ~right_b)), int(np.sum(~right_a & right_b))
    n = a_only + b_only
    p = 1.0 if n == 0 else float(binomtest(a_only, n, 0.5).pvalue)
    return McNemar(a_only, b_only, p)


@dataclass(frozen=True)
class SeedSummary:
    """Mean, sample standard deviation and t-interval of one metric over seeds."""

    values: tuple[float, ...]
    mean: float
    std: float
    ci: tuple[float, float]

    @property
    def repeatability_limit(self) -> float:
        """≈ 2.8 σ: the largest difference expected between two runs at 95% (ISO 5725)."""
        return 1.96 * np.sqrt(2) * self.std


def summarise_seeds(values, confidence: float = 0.95) -> SeedSummary:
    """Aggregate one metric over repeated runs with different seeds."""
    from scipy.stats import t

    vals = np.asarray(list(values), dtype=np.float64)
    if vals.size == 0:
        raise ValueError("no values to summarise")
    mean = float(vals.mean())
    if vals.size == 1:
        return SeedSummary(tuple(vals.tolist()), mean, 0.0, (mean, mean))
    std = float(vals.std(ddof=1))
    half = float(t.ppf(0.5 + confidence / 2, vals.size - 1) * std / np.sqrt(vals.size))
    return SeedSummary(tuple(vals.tolist()), mean, std, (mean - half, mean + half))


def paired_diff_sigma(y_true, old_pred, new_pred, n_labels: int, metric: str,
                      n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0,
                      clusters=None) -> float:
    """Bootstrap standard deviation of metric(new) - metric(old) over the same examples
    (or clusters)."""
    y_true = np.asarray(y_true)
    clusters = _check_clusters(clusters, len(y_true))
    diffs = (_resampled_metric(y_true, np.asarray(new_pred), n_labels, metric, n_resamples,
                               seed, clusters)
             - _resampled_metric(y_true, np.asarray(old_pred), n_labels, metric, n_resamples,
                                 seed, clusters))
    return float(diffs.std(ddof=1))


def paired_bootstrap_means(a_scores, b_scores, a_name: str, b_name: str, metric: str,
                           margin: float = 0.0, n_resamples: int = DEFAULT_RESAMPLES,
                           seed: int = 0, clusters=None) -> Comparison:
    """Paired bootstrap of mean(A) - mean(B) for per-example scores (e.g. QA token F1),
    resampling whole clusters (e.g. SQuAD paragraphs) when `clusters` is given."""
    a, b = np.asarray(a_scores, dtype=np.float64), np.asarray(b_scores, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or a.size == 0:
        raise ValueError(f"cannot pair {a_name} and {b_name}: shapes {a.shape} and {b.shape}")
    diffs = _resampled_means(a - b, n_resamples, seed, clusters)
    point = float(a.mean() - b.mean())
    return Comparison(metric, a_name, b_name, float(a.mean()), float(b.mean()),
                      _interval(point, diffs, 0.95), margin, float(np.mean(diffs <= 0)), a.size)


def assert_non_inferior(a: "EvalResult", b: "EvalResult", metric: str = "macro_f1",
                        margin: float = 0.02, confidence: float = 0.95,
                        seed: int = 0) -> Comparison:
    """Non-inferiority: A is at most `margin` worse than B, shown by the data (the one-sided
    lower bound of A - B at `confidence`, i.e. the two-sided (2 confidence - 1) CI's low end,
    lies above -margin). A wide CI fails: absence of evidence is not evidence."""
    cmp = paired_bootstrap(a, b, metric, margin, confidence=round(2 * confidence - 1, 12), seed=seed)
    held = cmp.diff.low > -margin
    return settle("non-inferior", cmp, held, f"{a.name} is not shown non-inferior to {b.name} "
                                             f"within {margin:.3f}: {cmp.describe()}")


def assert_equivalent(a: "EvalResult", b: "EvalResult", metric: str = "macro_f1",
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
