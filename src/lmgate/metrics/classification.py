"""Classification metrics from confusion counts, vectorised over resamples; point values equal
scikit-learn's.

Every metric is computed over the *declared* label set (labels=range(k), zero_division=0), so a
class missing from a sample or a resample still counts in the macro average instead of silently
shrinking it. A prediction may be INVALID (-1: a zero-shot answer that could not be parsed): it
counts as wrong (accuracy, and recall of its true class) and as no class's prediction, as
scikit-learn treats predictions outside `labels`.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

#: Predicted label id of an answer that maps to no label.
INVALID = -1

#: Metrics that `bootstrap_ci`/`paired_bootstrap` can resample (all derived from confusion counts).
RESAMPLABLE = ("accuracy", "macro_precision", "macro_recall", "macro_f1",
               "weighted_precision", "weighted_recall", "weighted_f1")


def classification_metrics(y_true: Sequence[int], y_pred: Sequence[int],
                           labels: Sequence[str]) -> dict[str, float]:
    """Accuracy, macro/weighted precision, recall and F1, and per-class P/R/F1 (`f1/<label>`),
    all from one confusion count (scikit-learn's values to the bit, tests/test_metrics.py; far
    cheaper than three scikit-learn calls, which per-epoch histories of small heads notice)."""
    y_true, y_pred = _check(y_true, y_pred, len(labels))
    cm = resampled_confusions(y_true, y_pred, len(labels), np.arange(len(y_true))[None, :])
    out = {metric: float(metric_from_confusions(cm, metric)[0]) for metric in RESAMPLABLE}
    per_class = _per_class(cm.astype(np.float64))
    for i, name in enumerate(labels):
        out.update({f"{kind}/{name}": float(per_class[kind][0, i])
                    for kind in ("precision", "recall", "f1")})
    return out


def confusion(y_true: Sequence[int], y_pred: Sequence[int], n_labels: int) -> list[list[int]]:
    """Confusion matrix (rows = true, columns = predicted) over all declared labels."""
    y_true, y_pred = _check(y_true, y_pred, n_labels)
    counts = resampled_confusions(y_true, y_pred, n_labels, np.arange(len(y_true))[None, :])
    return counts[0, :, :n_labels].tolist()     # INVALID predictions are no class's


def _cells(y_true: np.ndarray, y_pred: np.ndarray, k: int) -> np.ndarray:
    """Each example's cell of a k x (k + 1) confusion matrix (INVALID -> the last column)."""
    pred = np.where(np.asarray(y_pred) == INVALID, k, y_pred)
    return np.asarray(y_true) * (k + 1) + pred


def resampled_confusions(y_true: np.ndarray, y_pred: np.ndarray, n_labels: int,
                         index: np.ndarray) -> np.ndarray:
    """Confusion counts of many resamples at once: `index` is (R, n) -> (R, k, k + 1).

    The last column counts INVALID predictions of each true class.
    """
    k, cols = n_labels, n_labels + 1
    cells = _cells(y_true, y_pred, k)[index] + (np.arange(index.shape[0])[:, None] * k * cols)
    return np.bincount(cells.ravel(), minlength=index.shape[0] * k * cols).reshape(-1, k, cols)


def weighted_confusions(y_true: np.ndarray, y_pred: np.ndarray, n_labels: int,
                        weights: np.ndarray) -> np.ndarray:
    """Confusion counts of R weighted resamples: `weights` is (R, n) -> (R, k, k + 1)."""
    k, cols = n_labels, n_labels + 1
    cells = _cells(y_true, y_pred, k)
    onehot = np.zeros((len(cells), k * cols))
    onehot[np.arange(len(cells)), cells] = 1.0
    return (weights @ onehot).reshape(-1, k, cols)


def metric_from_confusions(cm: np.ndarray, metric: str) -> np.ndarray:
    """One metric for each confusion matrix of a (R, k, k) stack, matching scikit-learn."""
    if metric not in RESAMPLABLE:
        raise ValueError(f"metric {metric!r} cannot be resampled; choose one of {RESAMPLABLE}")
    cm = cm.astype(np.float64)
    k = cm.shape[-2]
    true_sum, total = cm.sum(axis=-1), cm.sum(axis=(-2, -1))
    if metric == "accuracy":
        return np.diagonal(cm[..., :k], axis1=-2, axis2=-1).sum(axis=-1) / total
    per_class = _per_class(cm)[metric.split("_", 1)[1]]
    if metric.startswith("macro"):
        return per_class.mean(axis=-1)
    return (per_class * true_sum).sum(axis=-1) / total


def _per_class(cm: np.ndarray) -> dict[str, np.ndarray]:
    """Per-class precision, recall and F1 of a (R, k, k + 1) float stack (zero_division=0)."""
    k = cm.shape[-2]
    tp = np.diagonal(cm[..., :k], axis1=-2, axis2=-1)
    true_sum, pred_sum = cm.sum(axis=-1), cm[..., :k].sum(axis=-2)
    return {"precision": _safe_div(tp, pred_sum), "recall": _safe_div(tp, true_sum),
            "f1": _safe_div(2 * tp, true_sum + pred_sum)}


def metric_function(metric: str, n_labels: int) -> Callable[[np.ndarray, np.ndarray], float]:
    """A plain `f(y_true, y_pred) -> float` for a resamplable metric name."""
    def fn(y_true: np.ndarray, y_pred: np.ndarray) -> float:
        index = np.arange(len(y_true))[None, :]
        cm = resampled_confusions(np.asarray(y_true), np.asarray(y_pred), n_labels, index)
        return float(metric_from_confusions(cm, metric)[0])
    return fn


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(num, den, out=np.zeros_like(num, dtype=np.float64), where=den > 0)


def _check(y_true: Sequence[int], y_pred: Sequence[int], n_labels: int) -> tuple[np.ndarray, np.ndarray]:
    y_true, y_pred = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise ValueError(f"y_true and y_pred must be 1-D and equally long, got {y_true.shape} "
                         f"and {y_pred.shape}")
    if len(y_true) == 0:
        raise ValueError("cannot score zero examples")
    for name, arr, low in (("y_true", y_true, 0), ("y_pred", y_pred, INVALID)):
        if arr.min() < low or arr.max() >= n_labels:
            raise ValueError(f"{name} holds label id {arr.max() if arr.max() >= n_labels else arr.min()}"
                             f" outside {low}..{n_labels - 1}")
    return y_true, y_pred
