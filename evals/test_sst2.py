"""GLUE SST-2 with a causal LM: the zero-shot baseline of seed 001, on real movie-review text.

Zero-shot: the instruction-tuned LM is asked for the sentiment in one word, decoded two ways
(label scoring and greedy generation), on a balanced sample of the GLUE validation set (the
usual test set). It is the baseline the trained head must beat, and the real-text check of the
prompting layer: its accuracy, invalid-answer rate and speed are recorded.
"""

import pytest

from lmgate.data.sources import sst2
from lmgate.plugin import study_knobs
from lmgate.prompting import MODES, PromptTemplate, agreement

PROMPT = PromptTemplate(
    "Is the sentiment of this movie review positive or negative? Answer with one word: "
    "positive or negative.", {"negative": "negative", "positive": "positive"},
    input_name="Review", response_prefix="Answer:")


def pytest_generate_tests(metafunc):
    if "llm" in metafunc.fixturenames:
        metafunc.parametrize("llm", study_knobs(metafunc.config, "sst2")["llms"])


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
