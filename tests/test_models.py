import pytest

from lmgate.core.errors import ConfigError, ModelUnavailable
from lmgate.models import ModelSpec, count_parameters, get_model_spec, register_model, resolve_model
from lmgate.models.store.registry import register_from_pyproject


def test_unknown_model_lists_known_names():
    with pytest.raises(ConfigError, match=r"unknown model 'bert-xxl'.*'mdistilbert'.*'xlmr'"):
        get_model_spec("bert-xxl")


def test_spec_validation():
    with pytest.raises(ConfigError, match="unknown kind"):
        ModelSpec("x", "vision")
    with pytest.raises(ConfigError, match="needs a hub_id"):
        ModelSpec("x", "causal-lm")


def test_register_refuses_silent_override():
    register_model(ModelSpec("unit-model", "causal-lm", hub_id="org/a"))
    with pytest.raises(ConfigError, match="already registered"):
        register_model(ModelSpec("unit-model", "causal-lm", hub_id="org/b"))
    register_model(ModelSpec("unit-model", "causal-lm", hub_id="org/b"), replace=True)
    assert get_model_spec("unit-model").hub_id == "org/b"


def test_pyproject_registration(tmp_path):
    path = tmp_path / "pyproject.toml"
    path.write_text('[tool.lmgate.models.my-bert]\nhub_id = "org/my-bert"\n'
                    'kind = "encoder-classifier"\nmax_length = 256\n')
    (spec,) = register_from_pyproject(path)
    assert get_model_spec("my-bert") == spec and spec.max_length == 256
    path.write_text('[tool.lmgate.models.bad]\nhub = "x"\nkind = "causal-lm"\n')
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['hub'\]"):
        register_from_pyproject(path)


def test_resolution_order(tmp_path):
    spec = ModelSpec("resolve-me", "encoder-classifier", hub_id="org/not-cached-anywhere")
    (tmp_path / "models" / "resolve-me").mkdir(parents=True)
    env = {"LMGATE_MODEL_DIR": str(tmp_path / "models"), "HF_HUB_OFFLINE": "1"}
    assert resolve_model(spec, tmp_path, env).source == "model-dir"
    explicit = ModelSpec("resolve-me", "encoder-classifier", path=str(tmp_path))
    assert resolve_model(explicit, tmp_path, env).source == "path"
    assert resolve_model(get_model_spec("tiny-encoder"), tmp_path, {}).source == "embedded"


def test_unavailable_model_says_what_was_tried(tmp_path):
    spec = ModelSpec("ghost", "encoder-classifier", hub_id="org/ghost")
    with pytest.raises(ModelUnavailable) as err:
        resolve_model(spec, tmp_path, {"HF_HUB_OFFLINE": "1"})
    msg = str(err.value)
    assert "ghost" in msg and "LMGATE_MODEL_DIR" in msg and "org/ghost" in msg


def test_parameter_accounting_of_a_head():
    from lmgate.models.store.tiny import tiny_encoder_classifier, train_tokenizer

    tok = train_tokenizer(["a b c d", "e f g h"] * 20, vocab_size=60)
    model = tiny_encoder_classifier(tok, num_labels=3, max_length=16, seed=0)
    counts = count_parameters(model)
    hidden = model.config.hidden_size
    # BERT's head: pooler (hidden x hidden + hidden) is part of the base; classifier adds W + b.
    assert counts["added_by_head"] == hidden * 3 + 3
    assert counts["total"] == counts["trainable"] == counts["base"] + counts["added_by_head"]


def test_load_model_dispatches_on_kind_and_refuses_a_mismatch(tmp_path):
    from lmgate.core.cache import RunCache
    from lmgate.core.errors import ConfigError
    from lmgate.models.load import load_model

    cache = RunCache(tmp_path)
    with pytest.raises(ConfigError, match="model 'tiny-encoder' is a encoder-classifier; the "
                                          "prompting regime needs one of"):
        load_model("tiny-encoder", "prompting", cache)
    loaded = load_model("tiny-encoder", "classifier", cache, labels=("a", "b"), max_length=32,
                        tokenizer_texts=["a b c d", "e f g h"] * 20)
    assert loaded.model.config.num_labels == 2 and len(loaded.fingerprint) == 16
