"""Heads on a frozen SmolLM2 base: exact parameter accounting, cached features == naive loop."""

import numpy as np
import pandas as pd
import pytest

from lmgate.core.cache import RunCache
from lmgate.data import LabeledData
from lmgate.models.load import load_model
from lmgate.methods.heads import (base_features, predict_head,
                                 train_classification_head)
from lmgate.core.config import TrainConfig

pytestmark = pytest.mark.all_cores

MODEL = "smollm2-135m-instruct"
SMOLLM2_PARAMETERS = 134_515_008
SMOLLM2_HIDDEN = 576


@pytest.fixture(scope="module")
def cache(_test_cache_dir):
    return RunCache(_test_cache_dir)


def test_classification_head_adds_hidden_times_labels(cache):
    frozen = load_model(MODEL, "frozen-head", cache, task="classification", labels=("neg", "pos"))
    p = frozen.parameters
    assert p["added_by_head"] == SMOLLM2_HIDDEN * 2 == frozen.expected_head_parameters() == 1152
    # As Llama-3.2-1B goes 1,235,814,400 -> 1,235,818,496 (tied embeddings count once).
    assert (p["base"], p["total"]) == (SMOLLM2_PARAMETERS, SMOLLM2_PARAMETERS + 1152)
    assert p["trainable"] == 1152 and frozen.head.bias is None


def test_qa_head_adds_two_times_hidden_plus_one(cache):
    frozen = load_model(MODEL, "frozen-head", cache, task="qa")
    assert frozen.parameters["added_by_head"] == 2 * (SMOLLM2_HIDDEN + 1) == 1154
    assert frozen.parameters["trainable"] == 1154 == frozen.expected_head_parameters()
    assert frozen.parameters["total"] == SMOLLM2_PARAMETERS + 1154


def test_training_on_cached_features_equals_the_naive_loop(cache):
    texts = ["good fun", "awful, boring and long", "a great film", "bad", "lovely acting",
             "terrible script", "wonderful", "dull and slow plot", "brilliant", "weak"] * 2
    data = LabeledData(pd.DataFrame({"text": texts, "label": [1, 0] * 10}), ("neg", "pos"), "t")
    config = TrainConfig(epochs=2, learning_rate=1e-2, batch_size=4, max_length=32)
    runs = []
    for cached in (True, False):
        frozen = load_model(MODEL, "frozen-head", cache, task="classification", labels=data.labels, seed=3)
        feats = base_features(frozen, data.texts, max_length=32, batch_size=3) if cached else None
        history = train_classification_head(frozen, data, data, config, seed=5,
                                            train_features=feats, eval_features=feats)
        runs.append((history, frozen.head.weight.detach().clone(),
                     predict_head(frozen, data, 32)))
    (h1, w1, p1), (h2, w2, p2) = runs
    assert [r["train_loss"] for r in h1] == pytest.approx([r["train_loss"] for r in h2], rel=1e-4)
    np.testing.assert_allclose(w1.numpy(), w2.numpy(), rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(p1, p2)


def test_bf16_features_are_keyed_apart_and_close_to_float32(cache):
    from lmgate.core.device import inference_dtype
    from lmgate.core.device import autocast
    from lmgate.methods.heads import cached_features
    from lmgate.core.errors import ConfigError

    data = LabeledData(pd.DataFrame({"text": ["a great film", "dull and slow plot"],
                                     "label": [1, 0]}), ("neg", "pos"), "t")
    frozen = load_model(MODEL, "frozen-head", cache, task="classification", labels=data.labels)
    fp32 = cached_features(frozen, data, cache, max_length=16, device="cpu")
    bf16 = cached_features(frozen, data, cache, max_length=16, device="cpu", dtype="bfloat16")
    assert not np.array_equal(fp32, bf16)       # a different cache entry, really bf16
    cosine = (fp32 * bf16).sum(1) / np.linalg.norm(fp32, axis=1) / np.linalg.norm(bf16, axis=1)
    assert cosine.min() > 0.99
    # CUDA runs frozen bases in bf16; this CPU class stays float32 (benchmarks/README.md).
    assert (inference_dtype("cuda"), inference_dtype("cpu")) == ("bfloat16", "float32")
    with pytest.raises(ConfigError, match="float32 or bfloat16"):
        autocast("cpu", "float16")


@pytest.mark.parametrize("native", [True, False])
def test_span_head_features_are_bf16_only_where_the_cpu_computes_bf16(native, monkeypatch):
    from lmgate.core import device

    monkeypatch.setattr(device, "cpu_has_native_bf16", lambda: native)
    assert device.span_feature_dtype("cpu") == ("bfloat16" if native else "float32")
    assert device.span_feature_dtype("cuda") == "bfloat16"
    assert ("span-head token features in bfloat16" in device.precision_summary("cpu")) == native


@pytest.fixture(scope="module")
def me5(cache):
    """multilingual-e5-small frozen with a seeded 2-label head (tests that train it must not
    depend on its head's weights)."""
    return load_model("me5-small", "frozen-head", cache, labels=("neg", "pos"), seed=1)


def test_head_features_are_bf16_only_for_models_that_opt_in_on_a_cpu_with_bf16(cache, me5,
                                                                              monkeypatch):
    from lmgate.core import device
    from lmgate.methods.heads import train_frozen_head
    from lmgate.models.store.registry import get_model_spec

    # Measured per model (benchmarks/p9_bf16_features.py, benchmarks/README.md): Gemma's and
    # e5's heads keep their predictions, SmolLM2's do not.
    assert get_model_spec("gemma3-270m").cpu_bf16_features
    assert get_model_spec("me5-small").cpu_bf16_features
    assert not get_model_spec("smollm2-135m-instruct").cpu_bf16_features
    data = LabeledData(pd.DataFrame({"text": ["a lovely film", "a dull film"] * 4,
                                     "label": [1, 0] * 4}), ("neg", "pos"), "t")
    config = TrainConfig(epochs=1, learning_rate=1e-2, batch_size=4, max_length=16)
    for native in (True, False):
        monkeypatch.setattr(device, "cpu_has_native_bf16", lambda: native)
        assert device.head_feature_dtype("cpu") == "float32"
        assert device.head_feature_dtype("cpu", cpu_bf16=True) == (
            "bfloat16" if native else "float32")
        assert device.head_feature_dtype("cuda") == "bfloat16"
        assert ("head features in bfloat16 for models that opt in"
                in device.precision_summary("cpu")) == native
        for opted_in in (False, True):
            monkeypatch.setattr(me5, "cpu_bf16_features", opted_in)
            run = train_frozen_head("me5-small", data, data, config, cache=cache, seed=1,
                                    frozen=me5)
            assert run.result.info["features_dtype"] == (
                "bfloat16" if native and opted_in else "float32")


def test_encoder_head_reads_mean_pooled_features_and_predicts_new_data(cache, me5):
    """multilingual-e5-small frozen: a bias-free hidden x labels head on the mean of the tokens;
    cached features give the naive forward's logits; `predict` scores data it never saw."""
    import torch

    from lmgate.methods.heads import base_features, train_frozen_head

    frozen = me5
    assert frozen.pooling == "mean" and frozen.head.bias is None
    assert frozen.parameters["added_by_head"] == 384 * 2 == frozen.parameters["trainable"]
    texts = ["un film magnifique", "ein schrecklicher Film", "a lovely, warm story", "فيلم سيء"]
    feats = base_features(frozen, texts, max_length=32, batch_size=3)
    enc = frozen.tokenizer(texts, padding=True, return_tensors="pt")
    with torch.inference_mode():
        naive = frozen.model(**enc).logits.numpy()
    np.testing.assert_allclose(frozen.head(torch.as_tensor(feats)).detach().numpy(), naive,
                               rtol=1e-4, atol=1e-5)
    data = LabeledData(pd.DataFrame({"text": texts * 3, "label": [1, 0, 1, 0] * 3}),
                       ("neg", "pos"), "t")
    run = train_frozen_head("me5-small", data, data, TrainConfig(
        epochs=20, learning_rate=1e-2, batch_size=4, max_length=32), cache=cache, seed=1)
    other = LabeledData(pd.DataFrame({"text": ["quel beau film", "what a dull film"],
                                      "label": [1, 0]}), ("neg", "pos"), "other")
    result = run.predict(other, name="probe", lang="mixed")
    assert result.params == {"model": "me5-small", "system": "frozen-base head", "lang": "mixed"}
    assert len(result.y_pred) == 2 and run.result.metrics["accuracy"] == 1.0


def test_a_from_scratch_encoder_is_no_frozen_base(cache):
    from lmgate.core.errors import ConfigError

    with pytest.raises(ConfigError, match="built from scratch"):
        load_model("tiny-encoder", "frozen-head", cache, labels=("neg", "pos"))
