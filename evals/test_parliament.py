"""Seed 000: ideology and power of parliamentary speakers, fine-tuned encoder vs zero-shot LLM.

Data: Touché 2024 / ParlaMint speeches (`id, speaker, sex, text, text_en, label`), one file per
task and country (the study: Turkey). Ideology: 0 left, 1 right. Power: 0 governing,
1 opposition. Stratified 80/10/10 split, seeded; zero-shot on a balanced 50:50 subset of test.
Speeches of one speaker are not independent: CIs and comparisons resample speakers.
Encoder: XLM-RoBERTa base fine-tuned (paper: batch 32, 3 epochs, AdamW 2e-5, 10% warm-up,
linear decay, weight decay 0.01, early stopping patience 3, max_length 512). LLM: Llama 3.1 8B
Instruct prompted zero-shot, greedy, one new token. Both on the original text and on its
English translation.
Claims: the fine-tuned encoder beats the zero-shot LLM on macro F1; the LLM's answers are mostly
valid, and scoring the labels agrees with generating them. The original-vs-English difference
is recorded, not asserted: the study found it goes opposite ways for the two tasks.
"""

import pandas as pd
import pytest

from lmgate import ClaimFailed, agreement, assert_better, assert_claim, markdown_table

TASKS = ("ideology", "power")
FIELDS = ("text", "text_en")
#: The study's figures (macro F1): fine-tuned XLM-R on one field per task, zero-shot on both.
STUDY = {("ideology", "finetuned"): {"text_en": 0.88},
         ("power", "finetuned"): {"text": 0.86},
         ("ideology", "zero-shot"): {"text": 0.56, "text_en": 0.68},
         ("power", "zero-shot"): {"text": 0.76, "text_en": 0.66}}
pytestmark = [pytest.mark.study("parliament"),
              pytest.mark.knob_params(encoder="encoders", llm="llms")]


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("task", TASKS)
def test_finetuned_encoder_beats_zero_shot_llm(task, field, encoder, llm, knobs,
                                                evaluate_parliament, record):
    finetuned, zs = evaluate_parliament(task, field, encoder, llm)
    modes_agree = agreement(zs["score"], zs["generate"])
    record(finetuned, *zs.values(), mode_agreement=modes_agree)
    failures = []
    for result in zs.values():
        try:
            assert_better(finetuned, result, metric="macro_f1", margin=knobs.margin)
        except ClaimFailed as exc:
            failures.append(str(exc))
    invalid = zs["generate"]["invalid_rate"]
    if invalid > knobs.max_invalid_rate:
        failures.append(f"zero-shot invalid rate {invalid:.3f} > {knobs.max_invalid_rate} "
                        f"(answers: {zs['generate'].info['answer_counts']})")
    if modes_agree <= 0.5:
        failures.append(f"score and generate agree on only {modes_agree:.3f} of the examples")
    assert_claim(not failures, "\n".join(failures))


@pytest.mark.parametrize("task", TASKS)
def test_original_vs_english_difference_is_recorded(task, encoder, llm, evaluate_parliament,
                                                    record):
    """Not a claim: the study saw English help ideology and hurt power. Runs are cached."""
    f1 = {}
    for field in FIELDS:
        finetuned, zs = evaluate_parliament(task, field, encoder, llm)
        f1[("finetuned", field)] = finetuned["macro_f1"]
        f1[("zero-shot", field)] = zs["generate"]["macro_f1"]
    rows, diffs = [], {}
    for system, model in (("finetuned", encoder), ("zero-shot", llm)):
        diff = diffs[f"{system}_en_minus_orig_macro_f1"] = f1[(system, "text_en")] - f1[(system, "text")]
        study = STUDY[(task, system)]
        rows.append({"task": task, "system": system, "model": model,
                     "text": f1[(system, "text")], "text_en": f1[(system, "text_en")],
                     "en - orig": diff, "study text": study.get("text"),
                     "study text_en": study.get("text_en")})
    record(**diffs)
    record.section("Parliament: original text vs English translation (macro F1)",
                   markdown_table(pd.DataFrame(rows)))
