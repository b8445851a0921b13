"""Seed 001, classification: GLUE SST-2 with a causal LM, zero-shot vs a head on a frozen base.

Zero-shot: the LM is asked for the sentiment in one word, decoded two ways (label scoring and
greedy generation), on a balanced sample of the GLUE validation set: the real-text check of the
prompting layer (accuracy, invalid-answer rate, speed).
Head: SST-2 train split 80:20 (stratified, seed 1); every base parameter frozen; a
classification head (hidden x 2, no bias) trained 3 epochs on the base's cached features.
Claim: the trained head beats the same model zero-shot on accuracy and macro F1.
"""

import pandas as pd
import pytest

from lmgate import EvalResult, TrainConfig, assert_better
from lmgate.data import split_off
from lmgate.data.sources import sst2
from lmgate.models.heads import (cached_features, load_frozen_base, predict_head,
                                 train_classification_head)
from lmgate.report.writers import markdown_table
from lmgate.plugin import study_knobs
from lmgate.prompting import MODES, PromptTemplate, agreement

PROMPT = PromptTemplate(
    "Is the sentiment of this movie review positive or negative? Answer with one word: "
    "positive or negative.", {"negative": "negative", "positive": "positive"},
    input_name="Review", response_prefix="Answer:")
# The study's Llama-3.2-1B is a base model without a chat template: the same prompt is then
# rendered as plain text ending in "Answer:".


def pytest_generate_tests(metafunc):
    knobs = study_knobs(metafunc.config, "sst2")
    for name, key in (("llm", "llms"), ("base", "bases")):
        if name in metafunc.fixturenames:
            metafunc.parametrize(name, knobs[key])


@pytest.fixture(scope="module")
def sst2_test(lmgate_settings):
    test = sst2("validation")
    cap = lmgate_settings.profile.study("sst2")["zero_shot_per_class"]
    return test.balanced(cap or min(test.label_counts().values()), by=("label",),
                         seed=lmgate_settings.seed)


def test_zero_shot_llm_answers_validly(llm, sst2_test, zero_shot, record):
    prompted = zero_shot(llm, PROMPT, sst2_test.labels)
    results = {mode: prompted.evaluate(sst2_test, mode, name=f"{llm} zero-shot {mode}",
                                       system=f"zero-shot/{mode}") for mode in MODES}
    modes_agree = agreement(results["score"], results["generate"])
    record(*results.values(), mode_agreement=modes_agree)
    generated = results["generate"]
    assert generated["invalid_rate"] <= 0.25, (
        f"{generated['invalid_rate']:.3f} of answers are not a label: "
        f"{generated.info['answer_counts']}")
    assert modes_agree > 0.5, f"score and generate agree on only {modes_agree:.3f}"


@pytest.fixture(scope="module")
def sst2_split(lmgate_settings):
    """Seed 001: GLUE SST-2 train (balanced sample in smoke), 80:20 stratified, seed 1."""
    pool = sst2("train")
    n = lmgate_settings.profile.study("sst2")["train_per_class"]
    if n is not None:
        pool = pool.balanced(n, by=("label",), seed=lmgate_settings.seed)
    return split_off(pool, 0.2, seed=1)


def test_frozen_base_head_beats_zero_shot(base, sst2_split, zero_shot, run_cache, device,
                                          lmgate_settings, lmgate_seed, record):
    train, evaluation = sst2_split
    config = TrainConfig(**lmgate_settings.profile.study("sst2")["head_train"])
    frozen = load_frozen_base(base, "classification", run_cache, labels=train.labels,
                              seed=lmgate_seed)
    params = frozen.parameters
    assert params["added_by_head"] == frozen.expected_head_parameters() == params["trainable"], \
        f"head parameters {params} != hidden {frozen.hidden_size} x {len(train.labels)} labels"
    features = {split.name: cached_features(frozen, split, run_cache, max_length=config.max_length,
                                            device=device) for split in (train, evaluation)}
    history = train_classification_head(frozen, train, evaluation, config, seed=lmgate_seed,
                                        device=device, train_features=features[train.name],
                                        eval_features=features[evaluation.name])
    head = EvalResult(f"{base} frozen + head", train.labels, evaluation.y,
                      predict_head(frozen, evaluation, config.max_length, device,
                                   features[evaluation.name]),
                      params={"model": base, "system": "frozen-base head"},
                      info={"parameters": params, "history": history})
    before = zero_shot(base, PROMPT, train.labels).evaluate(
        evaluation, "generate", name=f"{base} zero-shot", system="zero-shot/generate")
    record(head, before, head_parameters=params["added_by_head"], total_parameters=params["total"])
    record.section("SST-2: frozen base + classification head, per epoch",
                   markdown_table(pd.DataFrame(history)))
    keys = ("accuracy", "macro_precision", "macro_recall", "macro_f1")
    record.section("SST-2: before (zero-shot) and after (trained head)", markdown_table(
        pd.DataFrame({"metric": keys, "before (zero-shot)": [before[k] for k in keys],
                      "after (head)": [head[k] for k in keys]})))
    assert_better(head, before, metric="accuracy")
    assert_better(head, before, metric="macro_f1")
