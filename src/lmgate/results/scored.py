"""The scored result: per-document scores of one system, keyed by document id, whatever
produced them (an lm-evaluation-harness or Inspect run imported by `lmgate import`).

Each metric that is a mean of per-document scores keeps those scores, so claims, the gate and
`lmgate compare` pair two runs document by document; a metric the tool aggregated otherwise
(corpus BLEU, perplexity) is kept as the tool reported it, without per-document scores.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Hashable, Mapping, Sequence

import numpy as np

from lmgate.metrics.resampling import Interval, bootstrap_mean_ci, check_clusters, resampled_means


@dataclass
class ScoredResult:
    """Per-document scores (`scores[metric][i]` for document `ids[i]`) of one system.

    `metrics` holds every metric's value: the mean of its scores, or for a metric given
    without scores the value its tool reported. `hashes` (one per document, optional) say
    what each document held: two results pair only where ids and hashes agree.
    """

    name: str
    ids: Sequence[str]
    scores: Mapping[str, Sequence[float]]
    params: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    hashes: Sequence[str] | None = None
    #: One cluster id per document (a shared passage or source); None: independent.
    clusters: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.ids = tuple(str(i) for i in self.ids)
        if not self.ids:
            raise ValueError(f"{self.name}: no documents")
        if len(set(self.ids)) != len(self.ids):
            twice = sorted({i for i in self.ids if self.ids.count(i) > 1})
            raise ValueError(f"{self.name}: document id(s) {twice[:5]} appear more than once")
        scores = {}
        for metric, values in self.scores.items():
            array = np.asarray(values, dtype=np.float64)
            if array.shape != (len(self.ids),):
                raise ValueError(f"{self.name}: {metric} needs one finite score per document "
                                 f"({len(self.ids)}), got shape {array.shape}")
            if not np.all(np.isfinite(array)):
                first = self.ids[int(np.flatnonzero(~np.isfinite(array))[0])]
                raise ValueError(f"{self.name}: {metric} of document {first} is not finite")
            scores[metric] = array
        self.scores = scores
        for name, values in (("hashes", self.hashes), ("clusters", self.clusters)):
            if values is not None and len(values) != len(self.ids):
                raise ValueError(f"{self.name}: {len(values)} {name} for {len(self.ids)} "
                                 "documents")
        if self.hashes is not None:
            self.hashes = tuple(str(h) for h in self.hashes)
        if self.clusters is not None:
            self.clusters = np.asarray([str(c) for c in self.clusters])
        self.metrics = {**self.metrics,
                        **{m: float(s.mean()) for m, s in self.scores.items()}}

    @property
    def n(self) -> int:
        return len(self.ids)

    def __getitem__(self, metric: str) -> float:
        return self.metrics[metric]

    def predictions(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ids": list(self.ids),
                               "scores": {m: s.tolist() for m, s in self.scores.items()}}
        if self.hashes is not None:
            out["hashes"] = list(self.hashes)
        if self.clusters is not None:
            out["clusters"] = self.clusters.tolist()
        return out

    def examples_key(self) -> Hashable:
        return tuple(zip(self.ids, self.hashes)) if self.hashes is not None else self.ids

    def _scores(self, metric: str) -> np.ndarray:
        if metric not in self.scores:
            raise ValueError(f"{self.name}: {metric!r} has no per-document scores; those with "
                             f"them are {sorted(self.scores)}")
        return self.scores[metric]

    def resampled(self, metric: str, n_resamples: int, seed: int,
                  clusters: Any = None) -> tuple[float, np.ndarray]:
        """The mean of `metric`'s scores, and its means on resamples of documents (or of
        whole clusters)."""
        scores = self._scores(metric)
        clusters = check_clusters(self.clusters if clusters is None else clusters, self.n)
        return float(scores.mean()), resampled_means(scores, n_resamples, seed, clusters)

    def per_example(self, metric: str) -> tuple[np.ndarray, np.ndarray | None, float]:
        """For sequential claims: the scores (in [0, 1] for a claim to use them), the
        clusters and the scale 1."""
        return self._scores(metric), self.clusters, 1.0

    def unit_outputs(self, metric: str) -> tuple[list[float], np.ndarray | None]:
        """Each document's score: where two systems differ."""
        return self._scores(metric).tolist(), self.clusters

    def intervals(self) -> dict[str, Interval]:
        """Bootstrap 95% CIs of every metric with scores (over clusters where given)."""
        return {m: bootstrap_mean_ci(s, clusters=self.clusters) for m, s in self.scores.items()}


def unpaired_ids(a: Sequence[str], b: Sequence[str], first: str = "the first",
                 second: str = "the second") -> str | None:
    """What keeps two id lists from pairing one to one (the ids only in one), in words;
    None when they hold the same ids."""
    only_a, only_b = sorted(set(a) - set(b)), sorted(set(b) - set(a))
    if not only_a and not only_b:
        return None
    show = lambda ids: ", ".join(ids[:3]) + (", ..." if len(ids) > 3 else "")  # noqa: E731
    return "; ".join([*([f"{len(only_a)} document id(s) only in {first} ({show(only_a)})"]
                        if only_a else []),
                      *([f"{len(only_b)} only in {second} ({show(only_b)})"] if only_b else [])])
