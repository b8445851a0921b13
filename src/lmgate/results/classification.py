"""Results: what every method returns and every report, assertion and gate reads.

`Result` is the protocol (name, params, info, metrics, n, per-example predictions);
`EvalResult` is the classification result. Generation (lmgate.metrics.generation) and
extractive QA (lmgate.methods.span_head) results implement the same protocol. This module sits below the
metrics' statistics and the report layer: methods return results without importing either.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Hashable, Sequence

import numpy as np

from lmgate.metrics.classification import classification_metrics, confusion
from lmgate.metrics.resampling import Interval, bootstrap_ci, point_and_resamples
from lmgate.results.base import excerpt


def one_class_note(name: str, y_true: np.ndarray, labels: Sequence[str]) -> str | None:
    """The note a result on a test set holding one class only must carry: its macro metrics
    average in the labels it lacks (scored 0), so macro F1 of a perfect classifier reads
    1/k, and a claim on it compares something else than the task."""
    present = np.unique(y_true)
    if len(labels) < 2 or present.size != 1 or not len(y_true):
        return None
    only = int(present[0])
    shown = labels[only] if 0 <= only < len(labels) else only
    return (f"{name}: the test set holds one class only ({shown!r}, {len(y_true)} examples): "
            f"macro metrics average in {len(labels) - 1} absent label(s) scored 0; judge it on "
            "accuracy or a test set with every class")


@dataclass
class EvalResult:
    """Per-example predictions of one system on one evaluation set, with its metrics.

    `params` are the experimental factors (model, languages, N...); `info` is provenance
    (fingerprints, parameter counts, timings, cache hits, training history).
    """

    name: str
    labels: tuple[str, ...]
    y_true: np.ndarray
    y_pred: np.ndarray
    params: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    #: One cluster id per example (article, speaker, language...): bootstrap CIs, paired
    #: tests and the gate then resample whole clusters. None: examples are independent.
    clusters: np.ndarray | None = None
    #: What each example says (a text excerpt or an id), for flip reports. None: not kept.
    examples: Sequence[str] | None = None

    def __post_init__(self) -> None:
        self.labels = tuple(self.labels)
        # Per-class metrics are keyed by the label's name: two classes of one name would share
        # one key and one class's metrics would vanish.
        names = [str(label) for label in self.labels]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"{self.name}: label names must differ, but {twice} name more than "
                             f"one class in {list(self.labels)}")
        self.y_true = np.asarray(self.y_true, dtype=np.int64)
        self.y_pred = np.asarray(self.y_pred, dtype=np.int64)
        if self.clusters is not None:
            self.clusters = np.asarray([str(c) for c in self.clusters])
            if self.clusters.shape != self.y_true.shape:
                raise ValueError(f"{self.name}: {len(self.clusters)} cluster ids for "
                                 f"{len(self.y_true)} examples")
        if self.examples is not None:
            self.examples = [excerpt(e) for e in self.examples]
            if len(self.examples) != len(self.y_true):
                raise ValueError(f"{self.name}: {len(self.examples)} example excerpts for "
                                 f"{len(self.y_true)} examples")
        if not self.metrics:
            self.metrics = classification_metrics(self.y_true, self.y_pred, self.labels)
        note = one_class_note(self.name, self.y_true, self.labels)
        if note is not None and note not in self.info.get("notes", ()):
            warnings.warn(note, stacklevel=3)
            self.info = {**self.info, "notes": [*self.info.get("notes", ()), note]}

    @property
    def n(self) -> int:
        return len(self.y_true)

    def __getitem__(self, metric: str) -> float:
        return self.metrics[metric]

    def predictions(self) -> dict[str, Any]:
        out = {"y_true": self.y_true.tolist(), "y_pred": self.y_pred.tolist()}
        if self.clusters is not None:
            out["clusters"] = self.clusters.tolist()
        if self.examples is not None:
            out["examples"] = list(self.examples)
        return out

    def intervals(self) -> dict[str, Interval]:
        """Bootstrap 95% CI of macro F1 (over clusters when the result has them)."""
        return {"macro_f1": bootstrap_ci(self.y_true, self.y_pred, len(self.labels), "macro_f1",
                                         clusters=self.clusters)}

    def record_info(self) -> dict[str, Any]:
        """The label names and the confusion matrix (rows: true, columns: predicted)."""
        return {"labels": list(self.labels),
                "confusion": confusion(self.y_true, self.y_pred, len(self.labels))}

    def examples_key(self) -> Hashable:
        return (self.labels, tuple(self.y_true.tolist()))

    def resampled(self, metric: str, n_resamples: int, seed: int,
                  clusters: Any = None) -> tuple[float, np.ndarray]:
        """A confusion-matrix metric (`RESAMPLABLE`) on all examples and on resamples."""
        return point_and_resamples(self.y_true, self.y_pred, len(self.labels), metric,
                                   n_resamples, seed, clusters)
