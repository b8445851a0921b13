"""What every lazily produced system shares: per-example outputs kept in memory and in the
run cache, produced by the model only for the examples a sequential claim asks for, and the
cost of producing them (`spent()`, `cost_info()`). `LazyZeroShot`, `LazyTranslation` and
`LazyQAAnswers` build on it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, Hashable, Mapping, Sequence, TypeVar

import numpy as np

from lmgate.core.cache import RunCache, content_key
from lmgate.models.store.registry import cost_usd
from lmgate.stats.sequential import Spend

T = TypeVar("T")


@dataclass
class Produced(Generic[T]):
    """One batch of outputs from the model, in the order asked, with what it cost: model
    seconds and the token counts (`input_tokens`/`output_tokens`; empty when not known)."""

    outputs: list[T]
    seconds: float
    tokens: Mapping[str, int] = field(default_factory=dict)


class LazySystem(Generic[T]):
    """A system whose per-example outputs are produced on demand and cached per example.
    Subclasses say what identifies an example's output (`_example_key`), how a batch is
    produced (`_produce`) and how outputs are scored (`scores_for`); an output is kept in its
    cache entry's metadata under `output_field`."""

    name: str
    clusters: np.ndarray | None = None
    #: The run-cache kind of one example's entry, and the metadata field holding its output.
    cache_kind: str = ""
    output_field: str = "output"
    #: The scale the metrics are reported in (per-example scores are in [0, 1]).
    scale: float = 1.0

    def __init__(self, name: str, cache: RunCache | None, spec: Any) -> None:
        self.name, self._cache, self._spec = name, cache, spec
        self._pred: dict[int, T] = {}
        self.seconds = 0.0
        self.input_tokens = self.output_tokens = 0
        self._counted = False      # whether the model's tokens are known (served: if reported)

    # ---- what subclasses say ---------------------------------------------------------------
    @property
    def n(self) -> int:
        raise NotImplementedError

    def examples_key(self) -> Hashable:
        """What a paired system must have been scored on (same examples, same order)."""
        raise NotImplementedError

    def _example_key(self, i: int) -> dict[str, Any]:
        raise NotImplementedError

    def _produce(self, indices: list[int]) -> Produced[T]:
        raise NotImplementedError

    def _save(self, value: T) -> dict[str, Any]:
        return {self.output_field: value}

    def _load(self, meta: Mapping[str, Any]) -> T:
        return meta[self.output_field]

    def scores_for(self, metric: str, index: np.ndarray) -> np.ndarray:
        """Per-example scores in [0, 1] of `metric` for the examples at `index`."""
        raise NotImplementedError

    def metric_scale(self, metric: str) -> float:
        """The scale `metric` is reported in (QA F1 and chrF: 0-100, as precomputed results)."""
        return self.scale

    # ---- shared --------------------------------------------------------------------------------
    @property
    def scored(self) -> int:
        """How many examples the model has been asked about (or read from the cache)."""
        return len(self._pred)

    def outputs_for(self, index: Sequence[int]) -> list[T]:
        """The outputs of the examples at `index`: from memory, the run cache, or the model
        (one batch of the missing ones), each new one cached on its own."""
        cache = self._cache
        missing = list(dict.fromkeys(int(i) for i in index if int(i) not in self._pred))
        keys: dict[int, str] = {}
        if cache is not None:
            for i in list(missing):
                keys[i] = content_key(kind=self.cache_kind, **self._example_key(i))
                entry = cache.get(self.cache_kind, keys[i])
                if entry is not None:
                    self._pred[i] = self._load(entry.meta)
                    missing.remove(i)
        if missing:
            out = self._produce(missing)
            self.seconds += out.seconds
            if "input_tokens" in out.tokens:
                self._counted = True
                self.input_tokens += int(out.tokens["input_tokens"])
                self.output_tokens += int(out.tokens.get("output_tokens", 0))
            for i, value in zip(missing, out.outputs):
                self._pred[i] = value
                if cache is not None:   # looked up above: published without asking again
                    cache.put(self.cache_kind, keys[i], lambda folder: None, self._save(value))
        return [self._pred[int(i)] for i in index]

    def spent(self) -> Spend:
        """What producing outputs has cost in this run (examples read from the cache cost
        nothing): model seconds, tokens, and money where the model's spec declares a price."""
        usd = cost_usd(self._spec, self.input_tokens, self.output_tokens) \
            if self._counted else None
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
        """Every example's score (produces all that are missing): for fixed-n claims."""
        return (self.scores_for(metric, np.arange(self.n)), self.clusters,
                self.metric_scale(metric))
