"""Bootstrap resampling: index draws over examples or whole clusters, percentile intervals,
and the resampled values of confusion-matrix metrics and of means. Results use these for
their CIs (`intervals`) and `resampled`; `lmgate.stats` pairs two results' resamples.

The same (n, n_resamples, seed) always gives the same draws, so two results scored on the same
examples are resampled identically: that is what makes a comparison paired.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from lmgate.metrics.classification import (metric_from_confusions, resampled_confusions,
                                           weighted_confusions)

DEFAULT_RESAMPLES = 1000


@dataclass(frozen=True)
class Interval:
    """A point estimate with a two-sided bootstrap percentile interval."""

    point: float
    low: float
    high: float
    confidence: float

    def __str__(self) -> str:
        return f"{self.point:.4f} [{self.low:.4f}, {self.high:.4f}] ({self.confidence:.0%} CI)"


def resample_index(n: int, n_resamples: int, seed: int) -> np.ndarray:
    """(R, n) example indices drawn with replacement."""
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


def check_clusters(clusters, n: int):
    """`clusters` as an array of one id per example (None stays None)."""
    if clusters is None:
        return None
    clusters = np.asarray(clusters)
    if clusters.shape != (n,):
        raise ValueError(f"clusters must give one id per example: {clusters.shape} for n={n}")
    return clusters


def count_units(clusters, n: int) -> int:
    """How many independent units a bootstrap resamples: clusters where given, else examples."""
    return n if clusters is None else int(np.unique(np.asarray(clusters)).size)


def bootstrap_p(samples: np.ndarray, threshold: float, alternative: str = "greater") -> float:
    """One-sided bootstrap p of H0: theta <= threshold ("greater") or theta >= threshold
    ("less"): (1 + resamples not beyond the threshold) / (R + 1). Never 0: R resamples cannot
    show a p below 1/(R + 1)."""
    samples = np.asarray(samples, dtype=np.float64)
    if alternative not in ("greater", "less"):
        raise ValueError(f"alternative must be 'greater' or 'less', not {alternative!r}")
    # A hair of tolerance: a resample equal to the threshold up to rounding supports H0.
    slack = 1e-12 * max(1.0, abs(threshold))
    if alternative == "greater":
        against = np.count_nonzero(samples <= threshold + slack)
    else:
        against = np.count_nonzero(samples >= threshold - slack)
    return float((1 + against) / (samples.size + 1))


def interval(point: float, samples: np.ndarray, confidence: float) -> Interval:
    """The percentile interval of `samples` around `point`."""
    alpha = (1 - confidence) / 2
    low, high = np.quantile(samples, [alpha, 1 - alpha])
    return Interval(float(point), float(low), float(high), confidence)


#: The last few stacks of resampled confusion matrices, by content: a result's metrics
#: (accuracy, macro/weighted precision, recall, F1) are all read off one stack. At most 16
#: stacks and 256 MiB (a stack of 1,000 resamples of 100 labels is 80 MB).
_CONFUSIONS: OrderedDict[bytes, np.ndarray] = OrderedDict()
_CONFUSIONS_KEPT, _CONFUSIONS_BYTES = 16, 256 * 2**20


def _content_key(*parts) -> bytes:
    digest = hashlib.blake2b(digest_size=16)
    for part in parts:
        if isinstance(part, np.ndarray):
            digest.update(f"{part.dtype.str}{part.shape}".encode())
            digest.update(np.ascontiguousarray(part).tobytes())
        else:
            digest.update(repr(part).encode())
        digest.update(b"|")
    return digest.digest()


def resampled_confusion_stack(y_true: np.ndarray, y_pred: np.ndarray, n_labels: int,
                              n_resamples: int, seed: int, clusters=None) -> np.ndarray:
    """(R, k, k + 1) confusion counts of R resamples of examples, or of whole clusters;
    computed once per content (read-only: callers get the shared array)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    key = _content_key(y_true, y_pred, n_labels, n_resamples, seed,
                       None if clusters is None else np.asarray(clusters).astype(str))
    if key in _CONFUSIONS:
        _CONFUSIONS.move_to_end(key)
        return _CONFUSIONS[key]
    if clusters is None:
        cms = resampled_confusions(y_true, y_pred, n_labels,
                                   resample_index(len(y_true), n_resamples, seed))
    else:
        cms = weighted_confusions(y_true, y_pred, n_labels,
                                  cluster_weights(clusters, n_resamples, seed))
    cms.setflags(write=False)
    _CONFUSIONS[key] = cms
    while len(_CONFUSIONS) > 1 and (len(_CONFUSIONS) > _CONFUSIONS_KEPT or sum(
            stack.nbytes for stack in _CONFUSIONS.values()) > _CONFUSIONS_BYTES):
        _CONFUSIONS.popitem(last=False)
    return cms


def resampled_metric(y_true: np.ndarray, y_pred: np.ndarray, n_labels: int, metric: str,
                     n_resamples: int, seed: int, clusters=None) -> np.ndarray:
    """A classification metric on R resamples: of examples, or of whole clusters."""
    return metric_from_confusions(resampled_confusion_stack(y_true, y_pred, n_labels,
                                                            n_resamples, seed, clusters), metric)


def point_and_resamples(y_true, y_pred, n_labels: int, metric: str, n_resamples: int, seed: int,
                        clusters=None) -> tuple[float, np.ndarray]:
    """A classification metric on all examples and on R resamples."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    clusters = check_clusters(clusters, len(y_true))
    full = np.arange(len(y_true))[None, :]
    point = metric_from_confusions(resampled_confusions(y_true, y_pred, n_labels, full), metric)[0]
    return float(point), resampled_metric(y_true, y_pred, n_labels, metric, n_resamples, seed,
                                          clusters)


def bootstrap_ci(y_true, y_pred, n_labels: int, metric: str = "macro_f1",
                 n_resamples: int = DEFAULT_RESAMPLES, confidence: float = 0.95,
                 seed: int = 0, clusters=None) -> Interval:
    """Percentile bootstrap CI of a classification metric over examples (vectorised), or
    over whole clusters when `clusters` gives each example's cluster id."""
    point, samples = point_and_resamples(y_true, y_pred, n_labels, metric, n_resamples, seed,
                                         clusters)
    return interval(point, samples, confidence)


def resampled_means(scores: np.ndarray, n_resamples: int, seed: int, clusters=None) -> np.ndarray:
    """The mean of `scores` on R resamples of examples, or of whole clusters."""
    clusters = check_clusters(clusters, scores.size)
    if clusters is None:
        return scores[resample_index(scores.size, n_resamples, seed)].mean(axis=1)
    weights = cluster_weights(clusters, n_resamples, seed)
    return (weights @ scores) / np.maximum(weights.sum(axis=1), 1)


def bootstrap_mean_ci(scores, n_resamples: int = DEFAULT_RESAMPLES, confidence: float = 0.95,
                      seed: int = 0, clusters=None, scale: float = 1.0) -> Interval:
    """Percentile bootstrap CI of the mean of per-example scores (e.g. QA token F1), over
    examples or whole clusters; `scale` multiplies point and bounds (100 for SQuAD's 0-100)."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 1 or scores.size == 0:
        raise ValueError(f"need a non-empty 1-d array of scores, got shape {scores.shape}")
    means = resampled_means(scores, n_resamples, seed, clusters)
    return interval(scale * float(scores.mean()), scale * means, confidence)
