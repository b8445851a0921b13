"""Seed 000: ideology and power of parliamentary speakers, fine-tuned encoder vs zero-shot LLM.

Data: Touché 2024 / ParlaMint speeches (`id, speaker, sex, text, text_en, label`), one file per
task and country (the study: Turkey). Ideology: 0 left, 1 right. Power: 0 governing,
1 opposition. Stratified 80/10/10 split, seeded; zero-shot on a balanced 50:50 subset of test.
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

from lmgate import assert_better
from lmgate.plugin import study_knobs
from lmgate.prompting import MODES, PromptTemplate, agreement
from lmgate.report.writers import markdown_table

TASKS = ("ideology", "power")
FIELDS = ("text", "text_en")
# One-word answers, pre-filled with "Answer:" so that small chat models answer instead of
# starting a sentence ("The speaker's party is..."). "government" rather than "governing":
# that is the word models use for it.
PROMPTS = {
    "ideology": PromptTemplate(
        "Read this speech from a parliamentary debate. Is the speaker's party on the political "
        "left or on the right? Answer with one word: left or right.",
        {"left": "left", "right": "right"}, input_name="Speech", response_prefix="Answer:"),
    "power": PromptTemplate(
        "Read this speech from a parliamentary debate. Does the speaker belong to a party in "
        "government or to the opposition? Answer with one word: government or opposition.",
        {"governing": "government", "opposition": "opposition"}, input_name="Speech",
        response_prefix="Answer:"),
}
#: The study's figures (macro F1): fine-tuned XLM-R on one field per task, zero-shot on both.
STUDY = {("ideology", "finetuned"): {"text_en": 0.88},
         ("power", "finetuned"): {"text": 0.86},
         ("ideology", "zero-shot"): {"text": 0.56, "text_en": 0.68},
         ("power", "zero-shot"): {"text": 0.76, "text_en": 0.66}}


def pytest_generate_tests(metafunc):
    knobs = study_knobs(metafunc.config, "parliament")
    for name, key in (("encoder", "encoders"), ("llm", "llms")):
        if name in metafunc.fixturenames:
            metafunc.parametrize(name, knobs[key])


def evaluate(task, field, encoder, llm, parliament_study, finetune, zero_shot):
    """Fine-tuned and zero-shot (both decoding modes) results on the same balanced test subset."""
    knobs = parliament_study.knobs
    splits = parliament_study.splits(task, field)
    subset = parliament_study.zero_shot_test(splits)
    run = finetune(encoder, splits, tokenizer_texts=splits.train.texts, **knobs["train"])
    factors = {"task": task, "field": field}
    finetuned = run.predict(subset, name=f"{encoder} fine-tuned", system="finetuned", **factors)
    prompted = zero_shot(llm, PROMPTS[task], splits.labels)
    zs = {mode: prompted.evaluate(subset, mode, name=f"{llm} zero-shot {mode}",
                                  system=f"zero-shot/{mode}", **factors) for mode in MODES}
    return finetuned, zs


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("task", TASKS)
def test_finetuned_encoder_beats_zero_shot_llm(task, field, encoder, llm, parliament_study,
                                                finetune, zero_shot, record):
    knobs = parliament_study.knobs
    finetuned, zs = evaluate(task, field, encoder, llm, parliament_study, finetune, zero_shot)
    modes_agree = agreement(zs["score"], zs["generate"])
    record(finetuned, *zs.values(), mode_agreement=modes_agree)
    failures = []
    for result in zs.values():
        try:
            assert_better(finetuned, result, metric="macro_f1", margin=knobs["margin"])
        except AssertionError as exc:
            failures.append(str(exc))
    invalid = zs["generate"]["invalid_rate"]
    if invalid > knobs["max_invalid_rate"]:
        failures.append(f"zero-shot invalid rate {invalid:.3f} > {knobs['max_invalid_rate']} "
                        f"(answers: {zs['generate'].info['answer_counts']})")
    if modes_agree <= 0.5:
        failures.append(f"score and generate agree on only {modes_agree:.3f} of the examples")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("task", TASKS)
def test_original_vs_english_difference_is_recorded(task, encoder, llm, parliament_study,
                                                    finetune, zero_shot, record):
    """Not a claim: the study saw English help ideology and hurt power. Runs are cached."""
    f1 = {}
    for field in FIELDS:
        finetuned, zs = evaluate(task, field, encoder, llm, parliament_study, finetune, zero_shot)
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
