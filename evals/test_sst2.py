"""Seed 001, classification: GLUE SST-2 with a causal LM, zero-shot vs a head on a frozen base.

Zero-shot: the LM is asked for the sentiment in one word, decoded two ways (label scoring and
greedy generation), on a balanced sample of the GLUE validation set: the real-text check of the
prompting layer (accuracy, invalid-answer rate, speed).
Head: SST-2 train split 80:20 (stratified, seed 1); every base parameter frozen; a
classification head (hidden x 2, no bias) trained on the base's cached features (epochs: the
profile's knob). The study's base, Llama-3.2-1B, is not instruction-tuned: asked zero-shot such
a model mostly answers something other than a label, so its label-scoring accuracy is recorded
beside (not asserted).
Claim: the trained head beats the same model's zero-shot answers on accuracy and macro F1.
"""

import pandas as pd
import pytest

from lmgate import (LazyZeroShot, PromptTemplate, agreement, assert_better, assert_claim,
                    markdown_table)
from lmgate.methods.zero_shot import MODES

PROMPT = PromptTemplate(
    "Is the sentiment of this movie review positive or negative? Answer with one word: "
    "positive or negative.", {"negative": "negative", "positive": "positive"},
    input_name="Review", response_prefix="Answer:")
# The study's Llama-3.2-1B is a base model without a chat template: the same prompt is then
# rendered as plain text ending in "Answer:".
pytestmark = [pytest.mark.study("sst2"), pytest.mark.knob_params(llm="llms", base="bases")]


def test_zero_shot_llm_answers_validly(llm, sst2_test, zero_shot, record):
    prompted = zero_shot(llm, PROMPT, sst2_test.labels)
    results = {mode: prompted.evaluate(sst2_test, mode, name=f"{llm} zero-shot {mode}",
                                       system=f"zero-shot/{mode}") for mode in MODES}
    modes_agree = agreement(results["score"], results["generate"])
    record(*results.values(), mode_agreement=modes_agree)
    generated = results["generate"]
    assert_claim(generated["invalid_rate"] <= 0.25,
                 f"{generated['invalid_rate']:.3f} of answers are not a label: "
                 f"{generated.info['answer_counts']}")
    assert_claim(modes_agree > 0.5, f"score and generate agree on only {modes_agree:.3f}")


def test_frozen_base_head_beats_zero_shot(base, sst2_split, knobs, frozen_head, zero_shot,
                                          record):
    train, evaluation = sst2_split
    run = frozen_head(base, train, evaluation, knobs.train_config("head_train"))
    head, params = run.result, run.frozen.parameters
    assert params["added_by_head"] == run.frozen.expected_head_parameters() == params["trainable"], \
        f"head parameters {params} != hidden {run.frozen.hidden_size} x {len(train.labels)} labels"
    prompted = zero_shot(base, PROMPT, train.labels)
    before = prompted.evaluate(evaluation, "generate", name=f"{base} zero-shot",
                               system="zero-shot/generate")
    scored = prompted.evaluate(evaluation, "score", name=f"{base} zero-shot, label scoring",
                               system="zero-shot/score")
    record(head, before, scored, head_parameters=params["added_by_head"],
           total_parameters=params["total"])
    record.section("SST-2: frozen base + classification head, per epoch",
                   markdown_table(pd.DataFrame(run.history)))
    keys = ("accuracy", "macro_precision", "macro_recall", "macro_f1")
    record.section("SST-2: before (zero-shot) and after (trained head)", markdown_table(
        pd.DataFrame({"metric": keys, "before (zero-shot)": [before[k] for k in keys],
                      "zero-shot, label scoring (not asserted)": [scored[k] for k in keys],
                      "after (head)": [head[k] for k in keys]})))
    assert_better(head, before, metric="accuracy")
    assert_better(head, before, metric="macro_f1")
    # The accuracy claim again, sequentially: zero-shot answers produced only as far as the
    # claim needs (anytime-valid, so stopping early keeps its level); the verdict must agree.
    lazy = LazyZeroShot(prompted, evaluation, "generate", name=f"{base} zero-shot, sequential")
    sequential = assert_better(head, lazy, metric="accuracy", sequential=True)
    record(sequential_examples_used=sequential.examples_used,
           sequential_model_s=lazy.seconds, fixed_n_model_s=before.info["seconds"])
