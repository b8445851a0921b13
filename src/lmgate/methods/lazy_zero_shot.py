"""A zero-shot classifier scored lazily: only the examples a sequential claim asks for, each
prediction cached on its own, so that a claim that stops early saves the model's work and a
later run resumes from the cache."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from lmgate.core.errors import ConfigError
from lmgate.data.types import LabeledData, carried_info
from lmgate.metrics.classification import INVALID, classification_metrics
from lmgate.methods.lazy import LazySystem, Produced
from lmgate.methods.zero_shot import MODES
from lmgate.results.classification import EvalResult

if TYPE_CHECKING:
    from lmgate.methods.zero_shot import ZeroShotClassifier


class LazyZeroShot(LazySystem[int]):
    """A zero-shot system scored only on the examples a sequential claim asks for, in
    batches, each prediction cached per example (a later run resumes from the cache): what
    stopping a claim early saves. `assert_better(head, LazyZeroShot(clf, test), "accuracy",
    sequential=True)`; `evaluate()` scores the rest, from the cache where it can."""

    cache_kind, output_field = "zero-shot-example", "y_pred"

    def __init__(self, classifier: "ZeroShotClassifier", data: LabeledData, mode: str = "score",
                 name: str | None = None, max_new_tokens: int = 1) -> None:
        if mode not in MODES:
            raise ConfigError(f"unknown decoding mode {mode!r}; use one of {MODES}")
        if data.labels != classifier.labels:
            raise ConfigError(f"{data.name} has labels {data.labels}; the prompt was built for "
                              f"{classifier.labels}")
        super().__init__(name or f"{classifier.lm.name}/{mode} (lazy)", classifier.cache,
                         getattr(classifier.lm, "spec", None))
        self.classifier, self.data, self.mode = classifier, data, mode
        self.max_new_tokens = max_new_tokens if mode == "generate" else 1
        self.labels = classifier.labels
        self.y_true = np.asarray(data.y, dtype=np.int64)
        self.clusters = None if data.clusters is None else np.asarray(
            [str(c) for c in data.clusters])

    @property
    def n(self) -> int:
        return len(self.y_true)

    def examples_key(self) -> Any:
        return (self.labels, tuple(self.y_true.tolist()))

    def _example_key(self, i: int) -> dict[str, Any]:
        clf = self.classifier
        return dict(model=clf.lm.fingerprint, template=repr(clf.template), labels=clf.labels,
                    shots=list(clf.shots), mode=self.mode, max_new_tokens=self.max_new_tokens,
                    max_length=clf.max_length, text=self.data.texts[i],
                    **({"fast": clf.fast.fingerprint, "recheck": clf.recheck_margin}
                       if clf.fast is not None else {}))

    def _produce(self, indices: list[int]) -> Produced[int]:
        texts = [self.data.texts[i] for i in indices]
        out = self.classifier.predict(texts, self.mode, self.max_new_tokens)
        return Produced([int(y) for y in out.y_pred.tolist()], out.seconds,
                        self.classifier.token_counts(texts, self.mode, out.answers, out.usage))

    def _load(self, meta: Mapping[str, Any]) -> int:
        return int(meta["y_pred"])

    def predictions_for(self, index: Sequence[int]) -> np.ndarray:
        """Predicted label ids of the examples at `index`: from memory, the run cache, or the
        model (one batch of the missing ones), each new one cached on its own."""
        return np.array(self.outputs_for(index), dtype=np.int64)

    def scores_for(self, metric: str, index: np.ndarray) -> np.ndarray:
        """Per-example accuracy (1 right, 0 wrong) of the examples at `index`."""
        if metric != "accuracy":
            raise ValueError(f"{self.name}: a lazily scored classifier gives per-example "
                             f"accuracy only, not {metric}")
        index = np.asarray(index, dtype=np.int64)
        return (self.predictions_for(index) == self.y_true[index]).astype(np.float64)

    def evaluate(self, **params: Any) -> EvalResult:
        """The full EvalResult (scores every example not scored yet)."""
        y_pred = self.predictions_for(np.arange(self.n))
        metrics = {**classification_metrics(self.y_true, y_pred, self.labels),
                   "invalid_rate": float(np.mean(y_pred == INVALID))}
        return EvalResult(self.name, self.labels, self.y_true, y_pred,
                          params={"model": self.classifier.lm.name, "decoding": self.mode,
                                  **params},
                          info={"scored_lazily": True, **self.cost_info(),
                                **carried_info(self.data)},
                          metrics=metrics, examples=self.data.texts, clusters=self.data.clusters)
