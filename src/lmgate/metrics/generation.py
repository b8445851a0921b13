"""Generation metrics with sacrebleu: corpus BLEU/chrF (signatures recorded), per-sentence
scores, and paired bootstrap of corpus BLEU over per-sentence sufficient statistics (Koehn 2004).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from lmgate.metrics.stats import DEFAULT_RESAMPLES, Comparison, Interval, _index, _interval


def _bleu():
    from sacrebleu.metrics import BLEU

    return BLEU()


def bleu_statistics(hypotheses: Sequence[str], references: Sequence[str]) -> np.ndarray:
    """(n, 10) per-sentence BLEU statistics: 4 matches, 4 totals, hypothesis and reference length."""
    import logging

    bleu = _bleu()
    rows = []
    log = logging.getLogger("sacrebleu")
    level, log.level = log.level, logging.ERROR  # raw counts wanted: no effective-order advice
    try:
        for hyp, ref in zip(hypotheses, references):
            s = bleu.sentence_score(hyp, [ref])
            rows.append([*s.counts, *s.totals, s.sys_len, s.ref_len])
    finally:
        log.level = level
    return np.asarray(rows, dtype=np.int64).reshape(-1, 10)


def bleu_from_statistics(stats: np.ndarray) -> float:
    """Corpus BLEU from summed statistics: sacrebleu's own formula (exp smoothing)."""
    total = stats.sum(axis=0)
    return float(_bleu().compute_bleu(total[:4].tolist(), total[4:8].tolist(), int(total[8]),
                                      int(total[9]), smooth_method="exp").score)


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

    def bleu_ci(self, n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> Interval:
        index = _index(self.n, n_resamples, seed)
        samples = np.array([bleu_from_statistics(self.stats[i]) for i in index])
        return _interval(self.metrics["bleu"], samples, 0.95)

    def chrf_ci(self, n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> Interval:
        """Bootstrap CI of corpus chrF over sentences, from per-sentence character n-gram
        statistics (what sacrebleu's own paired bootstrap resamples)."""
        from sacrebleu.metrics import CHRF

        chrf = CHRF()
        stats = np.asarray(chrf._extract_corpus_statistics(self.hypotheses, [self.references]))
        samples = np.array([chrf._compute_score_from_stats(list(stats[i].sum(axis=0))).score
                            for i in _index(self.n, n_resamples, seed)])
        return _interval(self.metrics["chrf"], samples, 0.95)

    def intervals(self) -> dict[str, Interval]:
        """Bootstrap 95% CIs of corpus BLEU and chrF (resampling sentences)."""
        return {"bleu": self.bleu_ci(), "chrf": self.chrf_ci()}


def paired_bootstrap_bleu(a: GenerationResult, b: GenerationResult, margin: float = 0.0,
                          n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> Comparison:
    """Paired bootstrap of corpus BLEU(A) - BLEU(B) on the same sentences."""
    if a.references != b.references:
        raise ValueError(f"cannot pair {a.name} and {b.name}: different references")
    index = _index(a.n, n_resamples, seed)
    diffs = np.array([bleu_from_statistics(a.stats[i]) - bleu_from_statistics(b.stats[i])
                      for i in index])
    point = a["bleu"] - b["bleu"]
    return Comparison("bleu", a.name, b.name, a["bleu"], b["bleu"],
                      _interval(point, diffs, 0.95), margin, float(np.mean(diffs <= 0)), a.n)


def assert_better_bleu(a: GenerationResult, b: GenerationResult, margin: float = 0.0,
                       confidence: float = 0.95) -> Comparison:
    from lmgate.metrics.stats import settle

    cmp = paired_bootstrap_bleu(a, b, margin)
    held = cmp.diff.point > margin and cmp.p_value < 1 - confidence
    return settle("better", cmp, held, f"{a.name} is not better than {b.name} on BLEU: "
                                       f"{cmp.describe()}")
