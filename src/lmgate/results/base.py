"""What every method returns and every report, claim and gate reads.

`Result` is the protocol (name, params, info, metrics, n, per-example predictions); a result
that can also be resampled (`Comparable`) can be compared in claims (`lmgate.assert_better`)
whatever its task. lmgate's results: `EvalResult` (classification), `GenerationResult`
(translation, BLEU/chrF) and `QAResult` (extractive QA, SQuAD v2).
"""

from __future__ import annotations

from typing import Any, Hashable, Mapping, Protocol, runtime_checkable

import numpy as np


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
    # plots show, and `record_info() -> dict`, task-specific facts a recorded row keeps (a
    # classifier's labels and confusion matrix).


@runtime_checkable
class Comparable(Result, Protocol):
    """A result that claims can compare with another scored on the same examples."""

    def examples_key(self) -> Hashable:
        """What identifies the examples it was scored on, in order: two results pair only
        when their keys are equal."""
        ...

    def resampled(self, metric: str, n_resamples: int, seed: int,
                  clusters: Any = None) -> tuple[float, np.ndarray]:
        """`metric` on all examples and on `n_resamples` bootstrap resamples: of examples, or
        of whole `clusters` (one id per example). The same arguments draw the same resamples
        for every result of the same examples."""
        ...


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
