"""Seed 003: cross-language sentiment with a multilingual encoder, on balanced data.

Data: the multilingual-sentiments sources (negative / neutral / positive, mapped by name), six
languages. Every training set holds exactly N examples per (language, class); short cells
(Malay neutral) are resampled with replacement and the warning is recorded.
Model: distilbert-base-multilingual-cased fine-tuned in the paper profile (5 epochs, lr 2e-5,
batch 32, max_length 128). Smoke keeps a multilingual pretrained encoder in CPU minutes by
dropping the fine-tuning: multilingual-e5-small frozen, a classification head trained on its
mean-pooled features (knob `method`; `method = "finetune"` fine-tunes the model instead).
Claims: (1) more data helps: the largest N beats the smallest on most languages; (2) training in the test
language beats transferring from another; (3) one joint model is not worse than six; and, in the
shape of seed 000 on this data, (4) the encoder trained on English beats an instruction-tuned LLM
prompted zero-shot, judged sequentially (the LLM scores test examples only until the claim is
settled), with the fixed-n verdict on every example beside it.
Macro F1 is the real F1 (the study's notebook reported macro recall under that name).
Hindi in-language is asserted everywhere; in smoke, on the full data (a local copy or the hub),
a failure is an expected one (knob `unpowered`): the study's own run found no Hindi advantage
(in-language 0.401 vs mean transfer 0.387), and the smoke design's power there is 0.20.
"""

import statistics

import pytest

from lmgate import (ClaimFailed, EvalResult, LazyZeroShot, PromptTemplate, assert_above,
                    assert_better, assert_claim, assert_not_worse)

LANGUAGES = ("en", "fr", "ar", "hi", "ja", "ms")
pytestmark = [pytest.mark.study("sentiment"), pytest.mark.knob_params(model="model")]
all_languages = pytest.mark.parametrize("languages", [LANGUAGES], ids=["all"])
PROMPT = PromptTemplate(
    "What is the sentiment of this text? Answer with one word: negative, neutral or positive.",
    {"negative": "negative", "neutral": "neutral", "positive": "positive"},
    input_name="Text", response_prefix="Answer:")


@all_languages
def test_learning_curves_rise_on_most_languages(model, languages, sentiment, fit, record):
    gains = {}
    for lang in sentiment.languages:
        test = sentiment.test(lang)
        curve = [fit(model, lang, n).predict(test, name=f"{lang}@n={n}", lang=lang, n_per_class=n)
                 for n in sentiment.sizes]
        record(*curve)
        try:
            gains[lang] = assert_better(curve[-1], curve[0], metric="macro_f1", margin=0.05)
        except ClaimFailed as failure:
            gains[lang] = failure
    risen = [lang for lang, gain in gains.items() if not isinstance(gain, ClaimFailed)]
    record(languages_with_significant_gain=len(risen), languages=len(gains))
    assert_claim(len(risen) > len(gains) / 2, "learning curves rose on too few languages:\n"
                 + "\n".join(f"  {lang}: {gain}" for lang, gain in gains.items()))


@pytest.mark.parametrize("train_lang", LANGUAGES)
def test_in_language_beats_transfer(model, train_lang, sentiment, fit, record):
    run = fit(model, train_lang, sentiment.sizes[-1])
    row = {test_lang: run.predict(sentiment.test(test_lang), name=f"{train_lang}->{test_lang}",
                                  train_lang=train_lang, test_lang=test_lang)
           for test_lang in sentiment.languages}
    in_language = row[train_lang]
    transfer = statistics.mean(r["macro_f1"] for lang, r in row.items() if lang != train_lang)
    record(*row.values(), mean_transfer_macro_f1=transfer)
    # The in-language macro F1's 95% CI lies wholly above the mean transfer macro F1.
    assert_above(in_language, transfer, f"mean transfer from {train_lang}", metric="macro_f1")


@all_languages
def test_joint_model_not_worse_than_per_language(model, languages, sentiment, fit, record):
    n = sentiment.sizes[-1]
    joint = fit(model, sentiment.languages, n)
    joint_parts, single_parts = [], []
    for lang in sentiment.languages:
        test = sentiment.test(lang)
        joint_parts.append(joint.predict(test, name=f"joint@{lang}", lang=lang, regime="joint"))
        single_parts.append(fit(model, lang, n).predict(test, name=f"single@{lang}", lang=lang,
                                                        regime="per-language"))
    pooled = [EvalResult(name, parts[0].labels,
                         [y for p in parts for y in p.y_true], [y for p in parts for y in p.y_pred],
                         params={"regime": name, "model": model})
              for name, parts in (("joint", joint_parts), ("per-language", single_parts))]
    record(*joint_parts, *single_parts, *pooled)
    assert_not_worse(pooled[0], pooled[1], metric="macro_f1", margin=0.02)


@pytest.mark.knob_params(llm="llms")
def test_trained_encoder_beats_zero_shot_llm_sequentially(model, llm, sentiment, fit, zero_shot,
                                                          record):
    sentiment.available(["en"])
    run = fit(model, "en", sentiment.sizes[-1])      # the in-language claim's run (cached)
    test = sentiment.test("en")
    encoder = run.predict(test, name=f"{model} trained on en")
    lazy = LazyZeroShot(zero_shot(llm, PROMPT, test.labels), test, "score",
                        name=f"{llm} zero-shot")
    sequential = assert_better(encoder, lazy, metric="accuracy", sequential=True)
    settled_s = lazy.seconds
    everything = lazy.evaluate(system="zero-shot/score")   # the rest, for the fixed-n verdict
    record(encoder, everything, sequential_examples_used=sequential.examples_used,
           examples_available=len(test), sequential_model_s=settled_s,
           fixed_n_model_s=lazy.seconds)
    assert_better(encoder, everything, metric="accuracy")
