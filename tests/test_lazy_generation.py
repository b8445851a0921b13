"""Translations and QA answers produced lazily on the real tiny instruct LM (SmolLM2-135M):
a sequential claim asks the model only for what it consumes, a second run resumes from the
run cache, a budget stops it inconclusive, and `evaluate()` equals the non-lazy method."""

import numpy as np
import pytest
from test_prompting import lm  # noqa: F401  (the real tiny instruct LM, module-scoped)

from lmgate import GenerationResult, LazyQAAnswers, LazyTranslation, QAResult, assert_better
from lmgate.core.cache import RunCache
from lmgate.data.squad import Question
from lmgate.methods.qa_zero_shot import zero_shot_answers
from lmgate.methods.translation import TranslationPrompt, evaluate_translation
from lmgate.stats.listeners import ClaimInconclusive
from lmgate.stats.sequential import CostBudget, SequentialPolicy

pytestmark = pytest.mark.all_cores

# Copying English: the tiny model copies these (nearly) verbatim, so a claim settles early.
COPY = TranslationPrompt("English", "English")
SENTENCES = [f"{who} sleeps at home." for who in ("The man", "My sister", "Our teacher",
                                                  "The old woman")] \
    + [f"{who} {does}" for who, does in (
        ("The old woman", "reads a book."), ("The old woman", "walks to school."),
        ("The old woman", "sings a song."), ("My sister", "reads a book."),
        ("My sister", "sings a song."), ("Our teacher", "reads a book."))]
PAIRS = [(s, s) for s in SENTENCES]
PEOPLE = [("Anna", "Paris", "bread"), ("Tom", "Berlin", "apples"), ("Maria", "Rome", "fish"),
          ("Omar", "Cairo", "rice"), ("Lena", "Vienna", "cheese"), ("Kenji", "Tokyo", "noodles"),
          ("Sara", "Madrid", "soup"), ("Ivan", "Moscow", "eggs"),
          ("Ali", "Tehran", "dates")]


def _questions() -> list[Question]:
    """Two questions about each passage (sequential claims need equal clusters), with a short
    and a long gold span each (the tiny model often answers in a whole clause)."""
    out = []
    for i, (who, city, food) in enumerate(PEOPLE):
        ctx = f"{who} lives in {city}. Every morning {who} eats {food}."
        golds = [(city, f"{who} lives in {city}"), (food, f"{who} eats {food}")]
        out += [Question(f"p{i}{part}", question, ctx, gold, tuple(ctx.index(g) for g in gold))
                for part, question, gold in
                (("a", f"In which city does {who} live?", golds[0]),
                 ("b", f"What does {who} eat every morning?", golds[1]))]
    return out


def _counting_generate(lm, monkeypatch) -> list[int]:
    """The sizes of the LM's generate calls from now on."""
    calls: list[int] = []
    original = lm.generate
    monkeypatch.setattr(lm, "generate",
                        lambda prompts, **k: calls.append(len(prompts)) or original(prompts, **k))
    return calls


def test_a_lazy_translation_translates_only_what_a_sequential_claim_consumes(
        lm, tmp_path, monkeypatch):
    policy = SequentialPolicy(batch_size=8, min_examples=8)
    bad = GenerationResult("dots", SENTENCES, ["..."] * len(PAIRS), SENTENCES)
    lazy = LazyTranslation(lm, PAIRS, prompt=COPY, max_new_tokens=10,
                           cache=RunCache(tmp_path))
    cmp = assert_better(lazy, bad, "sentence_chrf", sequential=policy)
    assert cmp.stopped == "settled: held" and lazy.scored == cmp.examples_used < len(PAIRS)
    assert cmp.cost["input_tokens"] > 0 and cmp.cost["output_tokens"] > 0
    assert 0 < cmp.a <= 100                                   # chrF's own scale, as precomputed
    # The non-lazy method on every sentence: the same hypotheses, the same metrics.
    full = evaluate_translation(lm, PAIRS, lazy.name, prompt=COPY, max_new_tokens=10)
    scored = sorted(lazy._pred)
    assert lazy.hypotheses_for(scored) == [full.hypotheses[i] for i in scored]
    np.testing.assert_allclose(lazy.scores_for("sentence_chrf", np.array(scored)),
                               np.array(full.sentence_chrf)[scored] / 100)
    # Resumed from the cache: the claim asks the model for nothing.
    calls = _counting_generate(lm, monkeypatch)
    again = LazyTranslation(lm, PAIRS, prompt=COPY, max_new_tokens=10,
                            cache=RunCache(tmp_path))
    assert assert_better(again, bad, "sentence_chrf",
                         sequential=policy).examples_used == cmp.examples_used
    assert calls == [] and again.spent().tokens == 0
    # evaluate() translates only the rest, and equals the non-lazy result.
    result = again.evaluate()
    assert calls == [len(PAIRS) - cmp.examples_used]
    assert result.hypotheses == full.hypotheses and result.metrics == full.metrics
    assert result.info["scored_lazily"] and result.info["input_tokens"] > 0
    with pytest.raises(ValueError, match="sentence_chrf only"):
        again.scores_for("bleu", np.arange(2))


def test_lazy_qa_answers_draw_whole_passages_and_resume_from_the_cache(
        lm, tmp_path, monkeypatch):
    questions = _questions()
    policy = SequentialPolicy(batch_size=8, min_examples=8)
    silent = QAResult("always unanswerable", questions, {q.id: "" for q in questions})
    lazy = LazyQAAnswers(lm, questions, max_new_tokens=6, cache=RunCache(tmp_path))
    cmp = assert_better(lazy, silent, "f1", sequential=policy)
    assert cmp.stopped == "settled: held" and lazy.scored == cmp.examples_used < len(questions)
    assert cmp.examples_used % 2 == 0                          # whole passages
    assert cmp.cost["input_tokens"] > 0
    full_answers = zero_shot_answers(lm, questions, max_new_tokens=6)
    full = QAResult(lazy.name, questions, full_answers)
    scored = sorted(lazy._pred)
    assert lazy.answers_for(scored) == [full_answers[questions[i].id] for i in scored]
    np.testing.assert_allclose(lazy.scores_for("f1", np.array(scored)),
                               full.per_question_f1[scored])
    calls = _counting_generate(lm, monkeypatch)
    again = LazyQAAnswers(lm, questions, max_new_tokens=6, cache=RunCache(tmp_path))
    assert assert_better(again, silent, "f1", sequential=policy).examples_used \
        == cmp.examples_used
    assert calls == []
    result = again.evaluate()
    assert calls == [len(questions) - cmp.examples_used]
    assert result.metrics == full.metrics
    exact = again.scores_for("exact", np.arange(len(questions)))
    assert 100 * exact.mean() == pytest.approx(full.metrics["exact"])
    with pytest.raises(ValueError, match="f1 or exact"):
        again.scores_for("HasAns_f1", np.arange(2))


def test_a_token_budget_stops_a_lazy_claim_inconclusive_keeping_what_it_produced(
        lm, tmp_path):
    questions = _questions()
    policy = SequentialPolicy(batch_size=2, min_examples=100, cost_budget=CostBudget(tokens=1))
    lazy = LazyQAAnswers(lm, questions, max_new_tokens=6, cache=RunCache(tmp_path))
    silent = QAResult("silent", questions, {q.id: "" for q in questions})
    with pytest.raises(ClaimInconclusive, match=r"budget spent \([\d,]+ of 1 tokens\)"):
        assert_better(lazy, silent, "f1", sequential=policy)
    assert lazy.scored == 4 and lazy.spent().tokens > 0      # two passages, then stopped
    cache = RunCache(tmp_path)
    assert all(cache.lookup(lazy.cache_kind, lazy._example_key(i)) is not None
               for i in lazy._pred)
