"""Zero-shot extractive QA: the causal LM answers each question from its context greedily."""

from __future__ import annotations

import re
from typing import Sequence

from lmgate.data.squad import Question
from lmgate.models.engines.language_model import LanguageModel

_LEADIN = re.compile(r"^(?:the answer is\s*:?\s*)+", re.IGNORECASE)


def qa_prompt(question: Question) -> str:
    """The zero-shot QA prompt of one question: instruction, context, question."""
    return ("Answer the question with a short span copied from the context. If the context "
            f"does not answer it, reply unanswerable.\nContext: {question.context}\n"
            f"Question: {question.question}\nAnswer:")


def zero_shot_answers(lm: "LanguageModel", questions: Sequence[Question], *, max_new_tokens: int = 16,
                      batch_size: int = 16) -> dict[str, str]:
    """Greedy generative QA with a prompt; 'unanswerable' maps to ''. (Batches of 16, finished
    rows leaving them: benchmarks/p13_pruned_generation.py --task squad.)"""
    prompts = [qa_prompt(q) for q in questions]
    outputs = lm.generate(prompts, max_new_tokens=max_new_tokens, stop=("\n",),
                          batch_size=batch_size)
    # Small chat models preface answers ("The answer is: Melbourne"): keep the answer itself.
    answers = [_LEADIN.sub("", o.strip()).strip().rstrip(".") for o in outputs]
    return {q.id: "" if "unanswerable" in a.lower() else a for q, a in zip(questions, answers)}
