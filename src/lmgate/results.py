"""Results: what every method returns and every report, assertion and gate reads.

`Result` is the protocol (name, params, info, metrics, n, per-example predictions);
`EvalResult` is the classification result. Generation (lmgate.metrics.generation) and
extractive QA (lmgate.qa) results implement the same protocol. This module sits below the
metrics' statistics and the report layer: methods return results without importing either.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol, Sequence, runtime_checkable

import numpy as np

from lmgate.metrics.classification import classification_metrics


@runtime_checkable
class Result(Protocol):
    """One system's per-example outputs on one evaluation set, with its metrics.

    Example::

        result = run.predict(test)          # any method's result
        result["macro_f1"], result.n, result.params["model"]
    """

    name: str
    params: dict[str, Any]
    info: dict[str, Any]
    metrics: dict[str, float]

    @property
    def n(self) -> int: ...

    def __getitem__(self, metric: str) -> float: ...

    def predictions(self) -> Mapping[str, Any]:
        """Per-example outputs, JSON-ready, from which every metric can be recomputed."""
        ...

    # Optional: `intervals() -> {metric: Interval}`, the bootstrap 95% CIs that reports and
    # plots show (EvalResult: macro F1; generation: BLEU, chrF; QA: F1, HasAns/NoAns F1).


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

    def intervals(self) -> dict[str, Any]:
        """Bootstrap 95% CI of macro F1 (over clusters when the result has them)."""
        from lmgate.metrics.stats import bootstrap_ci

        return {"macro_f1": bootstrap_ci(self.y_true, self.y_pred, len(self.labels), "macro_f1",
                                         clusters=self.clusters)}


EXCERPT_CHARS = 80


def excerpt(text: Any, limit: int = EXCERPT_CHARS) -> str:
    """One line of at most `limit` characters: what a flip report shows of an example."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[:limit - 1] + "…"


def degenerate_reason(result: Any, max_class_share: float = 0.95,
                      max_abstain: float = 0.9) -> str | None:
    """Why a result is degenerate (it "wins" without doing the task), or None.

    A classifier that gives one label to `max_class_share` of the examples, or a QA system
    that abstains on `max_abstain` of the questions (`abstain_rate`), can beat a baseline on
    a metric while having learned nothing: such a win is reported as such, not passed.
    """
    abstain = getattr(result, "abstain_rate", None)
    if abstain is not None and abstain >= max_abstain:
        return f"{result.name} abstains (answers nothing) on {abstain:.0%} of the questions"
    y_pred = getattr(result, "y_pred", None)
    if y_pred is not None and len(y_pred):
        values, counts = np.unique(np.asarray(y_pred), return_counts=True)
        share = counts.max() / counts.sum()
        if share >= max_class_share:
            label = values[counts.argmax()]
            labels = getattr(result, "labels", ())
            name = labels[label] if 0 <= label < len(labels) else "an invalid answer"
            return f"{result.name} predicts {name!r} for {share:.0%} of the examples"
    return None
