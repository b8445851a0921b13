"""Results: what every method returns and every report, assertion and gate reads.

`Result` is the protocol (name, params, info, metrics, n, per-example predictions);
`EvalResult` is the classification result. Generation (lmgate.metrics.generation) and
extractive QA (lmgate.qa) results implement the same protocol. This module sits below the
metrics' statistics and the report layer: methods return results without importing either.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol, runtime_checkable

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

    def __post_init__(self) -> None:
        self.labels = tuple(self.labels)
        self.y_true = np.asarray(self.y_true, dtype=np.int64)
        self.y_pred = np.asarray(self.y_pred, dtype=np.int64)
        if not self.metrics:
            self.metrics = classification_metrics(self.y_true, self.y_pred, self.labels)

    @property
    def n(self) -> int:
        return len(self.y_true)

    def __getitem__(self, metric: str) -> float:
        return self.metrics[metric]

    def predictions(self) -> dict[str, Any]:
        return {"y_true": self.y_true.tolist(), "y_pred": self.y_pred.tolist()}
