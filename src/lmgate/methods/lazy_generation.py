"""Translations and generative QA answers produced lazily: only for the examples a sequential
claim asks for, each output cached on its own, so that a claim that stops early saves the
model's work and a later run resumes from the cache."""

from __future__ import annotations

import time
from typing import Any, Callable, Sequence, TypeVar

import numpy as np

from lmgate.core.cache import RunCache
from lmgate.data.squad import Question
from lmgate.methods.lazy import LazySystem, Produced
from lmgate.methods.qa_zero_shot import qa_prompt, zero_shot_answers
from lmgate.methods.translation import (POSTPROCESSING, Pair, TranslationPrompt, check_pairs,
                                        translate)
from lmgate.metrics.qa import best_over_golds, exact_match, token_f1
from lmgate.models.engines.engine import encode_prompts
from lmgate.models.engines.language_model import LanguageModel
from lmgate.results.generation import GenerationResult
from lmgate.results.qa import QAResult

T = TypeVar("T")

#: Per-question scores a lazy QA system gives, each in [0, 1].
QA_SCORES = {"f1": token_f1, "exact": exact_match}


class _Counting:
    """The LM as `translate` and `zero_shot_answers` call it: every `generate` passes through
    to the model, its prompts and raw outputs kept so that their tokens can be counted."""

    def __init__(self, lm: LanguageModel) -> None:
        self.lm = lm
        self.prompts: list[Any] = []
        self.outputs: list[str] = []

    def generate(self, prompts: Sequence[Any], **kwargs: Any) -> list[str]:
        outputs = self.lm.generate(prompts, **kwargs)
        self.prompts.extend(prompts)
        self.outputs.extend(outputs)
        return outputs


def generated(lm: LanguageModel, run: Callable[[Any], list[T]]) -> Produced[T]:
    """`run(lm)`'s outputs with what they cost: model seconds, and tokens as the server
    reported them (its `usage()` before and after) or, in process, the prompts and the
    generated text counted by the model's tokenizer (none where neither is known)."""
    usage = getattr(lm, "usage", None)
    before = usage() if callable(usage) else None
    counting = _Counting(lm)
    start = time.perf_counter()
    outputs = run(counting)
    seconds = time.perf_counter() - start
    tokens: dict[str, int] = {}
    if before is not None:
        # What this call's answers reported (calls sharing the client must not overlap it).
        tokens = (usage() - before).token_counts()
    elif getattr(lm, "tokenizer", None) is not None and counting.prompts:
        tok = lm.tokenizer  # type: ignore[attr-defined]
        tokens = {"input_tokens": sum(len(ids) for ids in
                                      encode_prompts(tok, counting.prompts)["input_ids"]),
                  "output_tokens": sum(len(tok(o, add_special_tokens=False)["input_ids"])
                                       for o in counting.outputs)}
    return Produced(outputs, seconds, tokens)


class LazyTranslation(LazySystem[str]):
    """A translation system translated only on the examples a sequential claim asks for,
    each hypothesis cached per example (a later run resumes from the cache):
    `assert_better(LazyTranslation(lm, pairs, cache=cache), baseline, "sentence_chrf",
    sequential=True)`. Per-example scores are sentence chrF / 100, as GenerationResult's
    `sentence_chrf`; `evaluate()` translates the rest (from the cache where it can) into the
    full GenerationResult."""

    cache_kind, output_field, scale = "translation-example", "hypothesis", 100.0

    def __init__(self, lm: LanguageModel, pairs: Sequence[Pair], name: str | None = None,
                 prompt: TranslationPrompt = TranslationPrompt(), max_new_tokens: int = 64, *,
                 cache: RunCache | None = None, batch_size: int = 64) -> None:
        name = name or f"{lm.name}/translation (lazy)"
        checked = check_pairs(pairs, name)
        super().__init__(name, cache, getattr(lm, "spec", None))
        self.lm, self.prompt = lm, prompt
        self.max_new_tokens, self.batch_size = max_new_tokens, batch_size
        self.sources = [s for s, _ in checked]
        self.references = [t for _, t in checked]
        self._chrf: Any = None

    @property
    def n(self) -> int:
        return len(self.references)

    def examples_key(self) -> Any:
        return tuple(self.references)

    def _example_key(self, i: int) -> dict[str, Any]:
        return dict(model=self.lm.fingerprint, prompt=repr(self.prompt),
                    max_new_tokens=self.max_new_tokens, source=self.sources[i])

    def _produce(self, indices: list[int]) -> Produced[str]:
        sources = [self.sources[i] for i in indices]
        return generated(self.lm, lambda lm: translate(
            lm, sources, prompt=self.prompt, batch_size=self.batch_size,
            max_new_tokens=self.max_new_tokens))

    def hypotheses_for(self, index: Sequence[int]) -> list[str]:
        """The translations of the examples at `index` (memory, run cache, or the model)."""
        return self.outputs_for(index)

    def scores_for(self, metric: str, index: np.ndarray) -> np.ndarray:
        """Sentence chrF / 100 of the examples at `index` (GenerationResult's sentence_chrf)."""
        if metric != "sentence_chrf":
            raise ValueError(f"{self.name}: a lazily translated system gives per-example "
                             f"sentence_chrf only, not {metric} (corpus BLEU and chrF are not "
                             "means of per-sentence scores)")
        if self._chrf is None:
            from sacrebleu.metrics import CHRF

            self._chrf = CHRF()
        index = np.asarray(index, dtype=np.int64)
        return np.array([self._chrf.sentence_score(h, [self.references[i]]).score / 100
                         for h, i in zip(self.hypotheses_for(index), index.tolist())],
                        dtype=np.float64)

    def evaluate(self) -> GenerationResult:
        """The full GenerationResult (translates every example not translated yet)."""
        hypotheses = self.hypotheses_for(range(self.n))
        return GenerationResult(self.name, list(self.sources), hypotheses, list(self.references),
                                params={"model": self.lm.name, "system": self.name},
                                info={"postprocessing": POSTPROCESSING, "scored_lazily": True,
                                      **self.cost_info()})


class LazyQAAnswers(LazySystem[str]):
    """Generative zero-shot QA answers (`zero_shot_answers`) produced only for the questions a
    sequential claim asks for, each cached per question (a later run resumes from the cache):
    `assert_better(LazyQAAnswers(lm, questions, cache=cache), baseline, "f1",
    sequential=True)`. Per-question scores are token F1 or exact match in [0, 1], best over the
    gold answers as the SQuAD metrics compute them. Each question's passage is its cluster,
    so a sequential claim draws whole passages; it needs every passage to hold equally many
    questions (judge others with the fixed-n claim on `evaluate()`'s QAResult).
    `evaluate()` answers the rest (from the cache where it can) into the full QAResult."""

    cache_kind, output_field, scale = "qa-answer-example", "answer", 100.0

    def __init__(self, lm: LanguageModel, questions: Sequence[Question],
                 name: str | None = None, max_new_tokens: int = 16, *,
                 cache: RunCache | None = None, batch_size: int = 16) -> None:
        name = name or f"{lm.name}/zero-shot QA (lazy)"
        if not questions:
            raise ValueError(f"{name}: no questions")
        ids = [q.id for q in questions]
        if len(set(ids)) != len(ids):
            twice = next(i for i in ids if ids.count(i) > 1)
            raise ValueError(f"{name}: question id {twice!r} appears more than once; each "
                             "question needs its own id")
        super().__init__(name, cache, getattr(lm, "spec", None))
        self.lm, self.questions = lm, list(questions)
        self.max_new_tokens, self.batch_size = max_new_tokens, batch_size
        self.clusters = np.asarray([q.context for q in self.questions])

    @property
    def n(self) -> int:
        return len(self.questions)

    def examples_key(self) -> Any:
        return tuple(q.id for q in self.questions)

    def _example_key(self, i: int) -> dict[str, Any]:
        return dict(model=self.lm.fingerprint, prompt=qa_prompt(self.questions[i]),
                    max_new_tokens=self.max_new_tokens)

    def _produce(self, indices: list[int]) -> Produced[str]:
        asked = [self.questions[i] for i in indices]

        def answer(lm: Any) -> list[str]:
            answers = zero_shot_answers(lm, asked, max_new_tokens=self.max_new_tokens,
                                        batch_size=self.batch_size)
            return [answers[q.id] for q in asked]
        return generated(self.lm, answer)

    def answers_for(self, index: Sequence[int]) -> list[str]:
        """The answers to the questions at `index` ('' for unanswerable)."""
        return self.outputs_for(index)

    def scores_for(self, metric: str, index: np.ndarray) -> np.ndarray:
        """Per-question token F1 or exact match (0..1) of the questions at `index`."""
        if metric not in QA_SCORES:
            raise ValueError(f"{self.name}: lazily answered questions give per-question "
                             f"{' or '.join(QA_SCORES)}, not {metric}")
        score = QA_SCORES[metric]
        index = np.asarray(index, dtype=np.int64)
        return np.array([best_over_golds(score, a, list(self.questions[i].answers))
                         for a, i in zip(self.answers_for(index), index.tolist())],
                        dtype=np.float64)

    def evaluate(self) -> QAResult:
        """The full QAResult (answers every question not answered yet)."""
        answers = self.answers_for(range(self.n))
        return QAResult(self.name, self.questions,
                        {q.id: a for q, a in zip(self.questions, answers)},
                        params={"model": self.lm.name},
                        info={"scored_lazily": True, **self.cost_info()})
