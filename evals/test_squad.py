"""Seed 001, question answering: a span head on a frozen causal-LM base vs zero-shot generation.

Data: SQuAD v2.0 JSON (here the first 5 dev articles), split by article so no context is shared
between train and test. The base (Llama-3.2-1B in the paper, SmolLM2 in smoke) is frozen; a
span head (start/end logits, 2 x (hidden + 1) parameters) trains on its cached token features.
Metrics: SQuAD v2 (exact, f1, HasAns/NoAns, best thresholds), BLEU, ROUGE-1/2/L, METEOR.
Claim: the trained head beats the same model answering zero-shot on token F1.
"""

import pandas as pd
import pytest

from lmgate import TrainConfig
from lmgate.cache import content_key, save_arrays
from lmgate.data.loaders import data_dir
from lmgate.metrics.stats import paired_bootstrap_means
from lmgate.models.heads import load_frozen_base
from lmgate.plugin import study_knobs
from lmgate.qa import (QAResult, make_windows, predict_spans, read_squad, token_features,
                       train_span_head, zero_shot_answers)
from lmgate.report.writers import markdown_table

KEY_METRICS = ("exact", "f1", "HasAns_f1", "NoAns_f1", "best_f1", "HasAns_bleu",
               "HasAns_rouge1", "HasAns_rouge2", "HasAns_rougeL", "HasAns_meteor")


def pytest_generate_tests(metafunc):
    if "base" in metafunc.fixturenames:
        metafunc.parametrize("base", study_knobs(metafunc.config, "squad")["bases"])


@pytest.fixture(scope="module")
def squad_split(lmgate_settings):
    knobs = lmgate_settings.profile.study("squad")
    questions = read_squad(data_dir("squad") / "dev-v2.0-5articles.json")
    articles = list(dict.fromkeys(q.article for q in questions))
    train = [q for q in questions if q.article != articles[-1]]
    test = [q for q in questions if q.article == articles[-1]]
    return train[:knobs["train_questions"]], test[:knobs["test_questions"]]


def features(frozen, windows, questions, cache, device):
    key = content_key(kind="qa-features", base=frozen.fingerprint, ids=[q.id for q in questions],
                      windows=[len(x) for x in windows.input_ids])
    entry = cache.get("features", key)
    if entry is None:
        feats = token_features(frozen, windows, device=device)
        entry = cache.put("features", key, lambda folder: save_arrays(folder, x=feats), meta={})
    return entry.arrays()["x"]


def test_span_head_beats_zero_shot_generation(base, squad_split, causal_lm, run_cache, device,
                                              lmgate_settings, lmgate_seed, record):
    knobs = lmgate_settings.profile.study("squad")
    train, test = squad_split
    frozen = load_frozen_base(base, "qa", run_cache, seed=lmgate_seed)
    params = frozen.parameters
    assert params["added_by_head"] == frozen.expected_head_parameters() == params["trainable"], \
        f"span head parameters {params} != 2 x (hidden {frozen.hidden_size} + 1)"
    windows = {name: make_windows(frozen.tokenizer, qs, max_length=knobs["max_length"],
                                  stride=knobs["stride"]) for name, qs in (("train", train),
                                                                           ("test", test))}
    feats = {name: features(frozen, windows[name], qs, run_cache, device)
             for name, qs in (("train", train), ("test", test))}
    config = TrainConfig(**knobs["head_train"])
    history = train_span_head(frozen, windows["train"], feats["train"], config, seed=lmgate_seed)
    answers, na_probs = predict_spans(frozen, test, windows["test"], feats["test"])
    head = QAResult(f"{base} frozen + span head", test, answers, na_probs,
                    params={"model": base, "system": "frozen-base span head"},
                    info={"parameters": params, "history": history,
                          "windows": len(windows["train"].input_ids)})
    zero_shot = QAResult(f"{base} zero-shot", test, zero_shot_answers(causal_lm(base), test),
                         params={"model": base, "system": "zero-shot generation"})
    cmp = paired_bootstrap_means(head.per_question_f1, zero_shot.per_question_f1, head.name,
                                 zero_shot.name, "token_f1")
    record(head, zero_shot, head_parameters=params["added_by_head"],
           token_f1_difference=cmp.diff.point)
    record.section("SQuAD: frozen base + span head vs zero-shot", markdown_table(pd.DataFrame(
        {"metric": KEY_METRICS, "zero-shot": [zero_shot.metrics.get(k) for k in KEY_METRICS],
         "span head": [head.metrics.get(k) for k in KEY_METRICS]})))
    assert cmp.diff.point > 0 and cmp.p_value < 0.05, \
        f"the span head does not beat zero-shot on token F1: {cmp.describe()}"
