"""A zero-shot classifier scored lazily: only the examples a sequential claim asks for, each
prediction cached on its own, so that a claim that stops early saves the model's work and a
later run resumes from the cache."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from lmgate.core.errors import ConfigError
from lmgate.data.types import LabeledData, carried_info
from lmgate.metrics.classification import INVALID, classification_metrics
from lmgate.methods.zero_shot import MODES
from lmgate.models.store.registry import cost_usd
from lmgate.results.classification import EvalResult
from lmgate.stats.sequential import Spend

if TYPE_CHECKING:
    from lmgate.methods.zero_shot import ZeroShotClassifier


class LazyZeroShot:
    """A zero-shot system scored only on the examples a sequential claim asks for, in
    batches, each prediction cached per example (a later run resumes from the cache): what
    stopping a claim early saves. `assert_better(head, LazyZeroShot(clf, test), "accuracy",
    sequential=True)`; `evaluate()` scores the rest, from the cache where it can."""

    def __init__(self, classifier: "ZeroShotClassifier", data: LabeledData, mode: str = "score",
                 name: str | None = None, max_new_tokens: int = 1) -> None:
        if mode not in MODES:
            raise ConfigError(f"unknown decoding mode {mode!r}; use one of {MODES}")
        if data.labels != classifier.labels:
            raise ConfigError(f"{data.name} has labels {data.labels}; the prompt was built for "
                              f"{classifier.labels}")
        self.classifier, self.data, self.mode = classifier, data, mode
        self.max_new_tokens = max_new_tokens if mode == "generate" else 1
        self.name = name or f"{classifier.lm.name}/{mode} (lazy)"
        self.labels = classifier.labels
        self.y_true = np.asarray(data.y, dtype=np.int64)
        self.clusters = None if data.clusters is None else np.asarray(
            [str(c) for c in data.clusters])
        self._pred: dict[int, int] = {}
        self.seconds = 0.0
        self.input_tokens = self.output_tokens = 0
        self._counted = False      # whether the model's tokens are known (served: if reported)

    @property
    def n(self) -> int:
        return len(self.y_true)

    @property
    def scored(self) -> int:
        """How many examples the model has been asked about (or read from the cache)."""
        return len(self._pred)

    def examples_key(self) -> Any:
        return (self.labels, tuple(self.y_true.tolist()))

    def _example_key(self, i: int) -> dict[str, Any]:
        clf = self.classifier
        return dict(model=clf.lm.fingerprint, template=repr(clf.template), labels=clf.labels,
                    shots=list(clf.shots), mode=self.mode, max_new_tokens=self.max_new_tokens,
                    max_length=clf.max_length, text=self.data.texts[i],
                    **({"fast": clf.fast.fingerprint, "recheck": clf.recheck_margin}
                       if clf.fast is not None else {}))

    def predictions_for(self, index: Sequence[int]) -> np.ndarray:
        """Predicted label ids of the examples at `index`: from memory, the run cache, or the
        model (one batch of the missing ones), each new one cached on its own."""
        cache = self.classifier.cache
        missing = [int(i) for i in index if int(i) not in self._pred]
        if cache is not None:
            for i in list(missing):
                entry = cache.lookup("zero-shot-example", self._example_key(i))
                if entry is not None:
                    self._pred[i] = int(entry.meta["y_pred"])
                    missing.remove(i)
        if missing:
            texts = [self.data.texts[i] for i in missing]
            out = self.classifier.predict(texts, self.mode, self.max_new_tokens)
            self.seconds += out.seconds
            counts = self.classifier.token_counts(texts, self.mode, out.answers)
            if "input_tokens" in counts:
                self._counted = True
                self.input_tokens += counts["input_tokens"]
                self.output_tokens += counts.get("output_tokens", 0)
            for i, y in zip(missing, out.y_pred.tolist()):
                self._pred[i] = int(y)
                if cache is not None:
                    cache.memo("zero-shot-example", self._example_key(i), lambda y=y: int(y),
                               lambda value, folder: {"y_pred": value},
                               lambda entry: int(entry.meta["y_pred"]))
        return np.array([self._pred[int(i)] for i in index], dtype=np.int64)

    def spent(self) -> Spend:
        """What scoring has cost in this run (examples read from the cache cost nothing):
        model seconds, tokens, and money where the model's spec declares a price."""
        usd = cost_usd(getattr(self.classifier.lm, "spec", None), self.input_tokens,
                       self.output_tokens) if self._counted else None
        return Spend(self.input_tokens + self.output_tokens, self.seconds, usd)

    def cost_info(self) -> dict[str, Any]:
        """The cost keys a result's info carries (token keys only where tokens were counted)."""
        spend = self.spent()
        info: dict[str, Any] = {"seconds": round(spend.seconds, 3)}
        if self._counted:
            info.update(input_tokens=self.input_tokens, output_tokens=self.output_tokens)
        if spend.usd is not None:
            info["cost_usd"] = round(spend.usd, 6)
        return info

    def per_example(self, metric: str) -> tuple[np.ndarray, Any, float]:
        """Every example's score (scores all that are missing): for fixed-n claims."""
        return self.scores_for(metric, np.arange(self.n)), self.clusters, 1.0

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
