"""Extractive QA metrics, offline: the official SQuAD v2 evaluation (exact, f1, HasAns/NoAns,
best thresholds) re-stated here because `evaluate.load("squad_v2")` needs the hub, plus BLEU
(sacrebleu), ROUGE-1/2/L (rouge-score) and METEOR (nltk) on answer texts.
"""

from __future__ import annotations

import collections
import re
import string
from typing import Mapping, Sequence

import numpy as np

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)


def normalize_answer(text: str) -> str:
    """Lower-case, drop punctuation and articles, squeeze whitespace (the official rule)."""
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, gold: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(gold))


def token_f1(prediction: str, gold: str) -> float:
    pred, ref = normalize_answer(prediction).split(), normalize_answer(gold).split()
    if not pred or not ref:  # no-answer: right only if both are empty
        return float(pred == ref)
    common = collections.Counter(pred) & collections.Counter(ref)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(ref)
    return 2 * precision * recall / (precision + recall)


def best_over_golds(metric, prediction: str, golds: Sequence[str]) -> float:
    """Max over gold answers, as the official script: golds that normalise to nothing are
    dropped, and a question left without one has the single gold answer ''."""
    return max(metric(prediction, g) for g in ([g for g in golds if normalize_answer(g)]
                                               or [""]))


def _best_threshold(scores: Mapping[str, float], na_probs: Mapping[str, float],
                    has_answer: Mapping[str, bool],
                    predictions: Mapping[str, str]) -> tuple[float, float]:
    """The official sweep: abstain when na_prob > threshold; best score over thresholds. Any
    non-empty prediction is an answer, even one that normalises to nothing ("the")."""
    current = sum(not has_answer[q] for q in scores)  # abstaining everywhere
    best, best_thresh = current, 0.0
    for qid in sorted(na_probs, key=lambda q: na_probs[q]):
        if qid not in scores:
            continue
        if has_answer[qid]:
            current += scores[qid]
        elif predictions[qid]:  # answered an unanswerable question: loses its point
            current -= 1
        if current > best:
            best, best_thresh = current, na_probs[qid]
    return 100.0 * best / len(scores), best_thresh


def squad_v2(predictions: Mapping[str, str], golds: Mapping[str, Sequence[str]],
             na_probs: Mapping[str, float] | None = None) -> dict[str, float]:
    """exact, f1, HasAns_*/NoAns_* and best_exact/best_f1 with thresholds (0-100 scale)."""
    missing = set(golds) - set(predictions)
    if missing:
        raise ValueError(f"{len(missing)} question(s) have no prediction, e.g. {sorted(missing)[0]}")
    has_answer = {q: bool(g) for q, g in golds.items()}
    em = {q: best_over_golds(exact_match, predictions[q], golds[q]) for q in golds}
    f1 = {q: best_over_golds(token_f1, predictions[q], golds[q]) for q in golds}
    out = {"exact": 100 * np.mean(list(em.values())), "f1": 100 * np.mean(list(f1.values())),
           "total": float(len(golds))}
    for name, want in (("HasAns", True), ("NoAns", False)):
        ids = [q for q in golds if has_answer[q] is want]
        if ids:
            out[f"{name}_exact"] = 100 * float(np.mean([em[q] for q in ids]))
            out[f"{name}_f1"] = 100 * float(np.mean([f1[q] for q in ids]))
            out[f"{name}_total"] = float(len(ids))
    na = na_probs or {q: 0.0 if predictions[q] else 1.0 for q in golds}
    out["best_exact"], out["best_exact_thresh"] = _best_threshold(em, na, has_answer, predictions)
    out["best_f1"], out["best_f1_thresh"] = _best_threshold(f1, na, has_answer, predictions)
    return {k: float(v) for k, v in out.items()}


class _NoWordNet:
    """Stands in for WordNet (not downloadable offline): METEOR keeps exact and stem matches."""

    @staticmethod
    def synsets(*_args, **_kwargs):
        return []


def text_metrics(predictions: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """BLEU (sacrebleu corpus), ROUGE-1/2/L F-measure and METEOR (mean) of answer texts."""
    import sacrebleu
    from nltk.translate.meteor_score import meteor_score
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    rouge = collections.defaultdict(list)
    meteor = []
    for pred, ref in zip(predictions, references):
        for key, score in scorer.score(ref, pred).items():
            rouge[key].append(score.fmeasure)
        meteor.append(meteor_score([ref.split()], pred.split(), wordnet=_NoWordNet()))
    return {"bleu": float(sacrebleu.corpus_bleu(list(predictions), [list(references)]).score),
            **{k: 100 * float(np.mean(v)) for k, v in rouge.items()},
            "meteor": 100 * float(np.mean(meteor))}
