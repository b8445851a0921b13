"""The extractive-QA result: answers to SQuAD questions, with SQuAD v2 and text metrics."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Hashable, Sequence

import numpy as np

from lmgate.data.squad import Question
from lmgate.metrics.qa import best_over_golds, squad_v2, text_metrics, token_f1
from lmgate.metrics.resampling import Interval, bootstrap_mean_ci, resampled_means

#: Metrics that are means of per-question token F1 (0-100), and the questions each averages.
MEAN_F1 = {"f1": lambda q: True, "HasAns_f1": lambda q: bool(q.answers),
           "NoAns_f1": lambda q: not q.answers}


@dataclass
class QAResult:
    """Answers of one system to SQuAD questions, with the full metric set."""

    name: str
    questions: Sequence[Question]
    answers: dict[str, str]
    na_probs: dict[str, float] | None = None
    params: dict[str, Any] | None = None
    info: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        self.params, self.info = dict(self.params or {}), dict(self.info or {})
        golds = {q.id: list(q.answers) for q in self.questions}
        if len(golds) != len(self.questions):   # answers are keyed by id: one per question
            twice = [i for i, k in Counter(q.id for q in self.questions).items() if k > 1]
            raise ValueError(f"{self.name}: question id {twice[0]!r} appears more than once; "
                             "each question needs its own id")
        self.metrics = squad_v2(self.answers, golds, self.na_probs)
        answerable = [q for q in self.questions if q.answers]
        if answerable:
            texts = text_metrics([self.answers[q.id] for q in answerable],
                                 [q.answers[0] for q in answerable])
            self.metrics.update({f"HasAns_{k}": v for k, v in texts.items()})
        self.per_question_f1 = np.array([best_over_golds(token_f1, self.answers[q.id], golds[q.id])
                                         for q in self.questions])
        self.info.setdefault("meteor_note", "METEOR without WordNet synonyms (not available "
                                            "offline): exact and stem matches only")

    @property
    def n(self) -> int:
        return len(self.questions)

    @property
    def abstain_rate(self) -> float:
        """Share of questions answered with nothing (predicted unanswerable)."""
        return sum(not self.answers[q.id].strip() for q in self.questions) / max(1, self.n)

    def __getitem__(self, metric: str) -> float:
        return self.metrics[metric]

    def _subset(self, metric: str) -> tuple[np.ndarray, list[str] | None]:
        """The per-question F1 that `metric` averages, and their paragraphs as clusters
        (None when they share one paragraph)."""
        if metric not in MEAN_F1:
            raise ValueError(f"{self.name}: {metric!r} cannot be resampled; use one of "
                             f"{sorted(MEAN_F1)}")
        keep = np.asarray([MEAN_F1[metric](q) for q in self.questions], dtype=bool)
        contexts = [q.context for q, k in zip(self.questions, keep) if k]
        return self.per_question_f1[keep], contexts if len(set(contexts)) > 1 else None

    def resampling_units(self, metric: str) -> int:
        """How many independent units a claim on `metric` rests on: the paragraphs of its
        questions (questions about one passage rise and fall together)."""
        return len({q.context for q in self.questions if MEAN_F1[metric](q)})

    def unit_outputs(self, metric: str) -> tuple[list[str], list[str]]:
        """The answers `metric` scores, with each one's paragraph: where two systems differ."""
        keep = [q for q in self.questions if MEAN_F1[metric](q)]
        return [self.answers[q.id] for q in keep], [q.context for q in keep]

    def intervals(self) -> dict[str, Interval]:
        """Bootstrap 95% CIs of F1, HasAns F1 and NoAns F1 (0-100), resampling whole
        paragraphs: questions about one context are not independent."""
        out = {}
        for metric in MEAN_F1:
            scores, contexts = self._subset(metric)
            if scores.size:
                out[metric] = bootstrap_mean_ci(scores, scale=100, clusters=contexts)
        return out

    def examples_key(self) -> Hashable:
        return tuple(q.id for q in self.questions)

    def resampled(self, metric: str, n_resamples: int, seed: int,
                  clusters: Any = None) -> tuple[float, np.ndarray]:
        """F1, HasAns_f1 or NoAns_f1 (0-100) on all its questions and on resamples of whole
        paragraphs (`clusters` is ignored: a question's paragraph is its cluster)."""
        scores, contexts = self._subset(metric)
        if not scores.size:
            raise ValueError(f"{self.name}: no questions for {metric}")
        return 100 * float(scores.mean()), 100 * resampled_means(scores, n_resamples, seed,
                                                                 contexts)

    def predictions(self) -> dict[str, Any]:
        return {"ids": [q.id for q in self.questions],
                "answers": [self.answers[q.id] for q in self.questions],
                "golds": [list(q.answers) for q in self.questions]}
