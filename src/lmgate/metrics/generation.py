"""Generation metrics with sacrebleu: per-sentence BLEU sufficient statistics and corpus BLEU
from them (what a bootstrap over sentences resamples, Koehn 2004), and per-sentence chrF
statistics and corpus chrF from them."""

from __future__ import annotations

from typing import Sequence

import numpy as np


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


def chrf_statistics(hypotheses: Sequence[str], references: Sequence[str]) -> np.ndarray:
    """(n, k) per-sentence character and word n-gram statistics of chrF."""
    from sacrebleu.metrics import CHRF

    return np.asarray(CHRF()._extract_corpus_statistics(list(hypotheses), [list(references)]))


def chrf_from_statistics(stats: np.ndarray) -> float:
    """Corpus chrF from summed per-sentence statistics (sacrebleu's own formula)."""
    from sacrebleu.metrics import CHRF

    return float(CHRF()._compute_score_from_stats(list(stats.sum(axis=0))).score)
