"""The generation result: hypotheses against references, with corpus BLEU and chrF."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Hashable

import numpy as np

from lmgate.metrics.generation import (_bleu, bleu_from_statistics, bleu_statistics,
                                       chrf_from_statistics, chrf_statistics)
from lmgate.metrics.resampling import DEFAULT_RESAMPLES, Interval, interval, resample_index

#: Corpus metrics and how to compute them from summed per-sentence statistics.
RESAMPLED = {"bleu": (bleu_statistics, bleu_from_statistics),
             "chrf": (chrf_statistics, chrf_from_statistics)}


@dataclass
class GenerationResult:
    """Hypotheses of one system against references, with corpus BLEU/chrF and per-sentence scores."""

    name: str
    sources: list[str]
    hypotheses: list[str]
    references: list[str]
    params: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from sacrebleu.metrics import CHRF

        if not (len(self.sources) == len(self.hypotheses) == len(self.references)) or not self.sources:
            raise ValueError(f"{self.name}: need equally many (>0) sources, hypotheses and "
                             f"references, got {len(self.sources)}/{len(self.hypotheses)}/"
                             f"{len(self.references)}")
        self.stats = bleu_statistics(self.hypotheses, self.references)
        chrf = CHRF()
        bleu = _bleu()
        corpus = bleu.corpus_score(self.hypotheses, [self.references])
        self.sentence_chrf = [chrf.sentence_score(h, [r]).score
                              for h, r in zip(self.hypotheses, self.references)]
        self.metrics = {"bleu": float(corpus.score),
                        "chrf": float(chrf.corpus_score(self.hypotheses, [self.references]).score),
                        **self.metrics}
        self.info.setdefault("bleu_signature", str(bleu.get_signature()))
        self.info.setdefault("chrf_signature", str(chrf.get_signature()))

    @property
    def n(self) -> int:
        return len(self.hypotheses)

    def __getitem__(self, metric: str) -> float:
        return self.metrics[metric]

    def predictions(self) -> dict[str, Any]:
        return {"sources": self.sources, "hypotheses": self.hypotheses,
                "references": self.references, "sentence_chrf": self.sentence_chrf}

    def examples_key(self) -> Hashable:
        return tuple(self.references)

    def unit_outputs(self, metric: str) -> tuple[list[str], None]:
        """The hypotheses every metric scores (sentences are the units): where two systems
        differ."""
        return list(self.hypotheses), None

    def resampled(self, metric: str, n_resamples: int, seed: int,
                  clusters: Any = None) -> tuple[float, np.ndarray]:
        """Corpus BLEU or chrF on all sentences and on resamples of sentences, from
        per-sentence statistics (what sacrebleu's own paired bootstrap resamples)."""
        if metric not in RESAMPLED:
            raise ValueError(f"{self.name}: {metric!r} cannot be resampled; use one of "
                             f"{sorted(RESAMPLED)}")
        if clusters is not None:
            raise ValueError(f"{self.name}: corpus {metric} is resampled over sentences only")
        extract, corpus = RESAMPLED[metric]
        stats = self.stats if metric == "bleu" else extract(self.hypotheses, self.references)
        samples = np.array([corpus(stats[i]) for i in resample_index(self.n, n_resamples, seed)])
        return self.metrics[metric], samples

    def bleu_ci(self, n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> Interval:
        return interval(*self.resampled("bleu", n_resamples, seed), 0.95)

    def chrf_ci(self, n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> Interval:
        return interval(*self.resampled("chrf", n_resamples, seed), 0.95)

    def intervals(self) -> dict[str, Interval]:
        """Bootstrap 95% CIs of corpus BLEU and chrF (resampling sentences)."""
        return {"bleu": self.bleu_ci(), "chrf": self.chrf_ci()}


