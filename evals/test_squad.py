"""Seed 001, question answering: a span head on a frozen causal-LM base vs zero-shot generation.

Data: SQuAD v2.0 JSON (here the first 5 dev articles), split by article so no context is shared
between train and test. The base (Llama-3.2-1B in the paper, SmolLM2 in smoke) is frozen; a
span head (start/end logits, 2 x (hidden + 1) parameters) trains on its cached token features.
Metrics: SQuAD v2 (exact, f1, HasAns/NoAns, best thresholds), BLEU, ROUGE-1/2/L, METEOR.
Claim: the trained head beats the same model answering zero-shot on token F1, resampling
whole paragraphs (questions about one context are not independent). A head that "wins" by
answering nothing (most test questions are unanswerable, which zero-shot generation never says)
has not done the task: that is reported as an expected failure with its numbers, not a pass.
"""

import pandas as pd
import pytest

from lmgate import (ClaimFailed, QAResult, assert_better, degenerate_reason, markdown_table,
                    zero_shot_answers)

KEY_METRICS = ("exact", "f1", "HasAns_f1", "NoAns_f1", "best_f1", "HasAns_bleu",
               "HasAns_rouge1", "HasAns_rouge2", "HasAns_rougeL", "HasAns_meteor")
pytestmark = [pytest.mark.study("squad"), pytest.mark.knob_params(base="bases")]


def test_span_head_beats_zero_shot_generation(base, squad_split, knobs, frozen_span_head,
                                              causal_lm, record):
    train, test, provenance = squad_split
    run = frozen_span_head(base, train, test, knobs.train_config("head_train"),
                           max_length=knobs.max_length, stride=knobs.stride)
    head, params = run.result, run.frozen.parameters
    assert params["added_by_head"] == run.frozen.expected_head_parameters() == params["trainable"], \
        f"span head parameters {params} != 2 x (hidden {run.frozen.hidden_size} + 1)"
    zero_shot = QAResult(f"{base} zero-shot", test, zero_shot_answers(causal_lm(base), test),
                         params={"model": base, "system": "zero-shot generation"})
    record(head, zero_shot, provenance=provenance, head_parameters=params["added_by_head"],
           head_abstain_rate=head.abstain_rate)
    record.section("SQuAD: frozen base + span head vs zero-shot", markdown_table(pd.DataFrame(
        {"metric": KEY_METRICS, "zero-shot": [zero_shot.metrics.get(k) for k in KEY_METRICS],
         "span head": [head.metrics.get(k) for k in KEY_METRICS]})))
    degenerate = degenerate_reason(head)
    try:   # SQuAD's token F1 (0-100), resampling whole paragraphs
        assert_better(head, zero_shot, metric="f1")
    except ClaimFailed as failed:
        if not degenerate:
            raise
        claim = str(failed)
    else:
        claim = "the span head beats zero-shot on F1"
    if degenerate:
        pytest.xfail(f"degenerate win: {degenerate}; HasAns F1 {head['HasAns_f1']:.2f} vs "
                     f"zero-shot {zero_shot['HasAns_f1']:.2f}, NoAns F1 "
                     f"{head.metrics.get('NoAns_f1', float('nan')):.2f}; {claim}")
