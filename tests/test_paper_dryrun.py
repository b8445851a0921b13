"""The paper profile proven before a GPU is rented: stand-ins, the paper-dryrun profile, the plan."""

import re
from pathlib import Path

import pytest
from conftest import PLAN_STUDY

from lmgate.core.cache import RunCache
from lmgate.methods.lora import LoraSettings, train_lora
from lmgate.core.pyproject import section
from lmgate.models.load import load_model
from lmgate.models.store.registry import get_model_spec
from lmgate.models.store.standins import RECIPES, standin_name
from lmgate.core.profiles import load_profiles
from lmgate.methods.zero_shot import PromptTemplate, ZeroShotClassifier

ROOT = Path(__file__).resolve().parents[1]
MODEL_KNOBS = {"model", "encoders", "llms", "bases", "teacher"}
SIZE_KNOBS = {"train_sizes", "val_per_class", "test_per_class", "zero_shot_per_class",
              "train_per_class", "train_questions", "test_questions", "n_train", "n_validation",
              "n_test"}
#: This repository's paper models: its pyproject.toml registers them, each with a stand-in.
PAPER_MODELS = sorted(section(ROOT / "pyproject.toml", "models"))
#: The transformers model_type of each stand-in family.
MODEL_TYPE = {"xlm-roberta": "xlm-roberta", "distilbert": "distilbert", "llama3-instruct": "llama",
              "llama3-base": "llama", "gpt-neo": "gpt_neo", "qwen2-chatml": "qwen2"}
PROMPT = PromptTemplate("Is this review positive or negative?",
                        {"negative": "negative", "positive": "positive"},
                        input_name="Review", response_prefix="Answer:")


def paper_model_tables(*names: str) -> str:
    """The `[tool.lmgate.models.<name>]` tables of `names` as this repository's pyproject.toml
    writes them: what a project in a pytester folder declares to use those models."""
    text = (ROOT / "pyproject.toml").read_text()
    tables = {m["name"]: m[0] for m in re.finditer(
        r'^\[tool\.lmgate\.models\.("?)(?P<name>[^"\]]+)\1\]\n(?:[^\[\n#].*\n)*', text, re.M)}
    return "\n".join(tables[name] for name in names)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return RunCache(tmp_path_factory.mktemp("standins"))


def test_dryrun_differs_from_paper_only_in_models_and_sizes():
    profiles = load_profiles(ROOT / "pyproject.toml")
    paper, dry = profiles["paper"], profiles["paper-dryrun"]
    assert dry.train == paper.train and dry.claims == "xfail" and paper.claims == "assert"
    assert set(dry.studies) == set(paper.studies)
    for study, knobs in dry.studies.items():
        real = paper.studies[study]
        for key in set(knobs) | set(real):
            if knobs.get(key) == real.get(key):
                continue
            assert key in MODEL_KNOBS | SIZE_KNOBS, f"{study}.{key} differs from paper"
            if key in MODEL_KNOBS:   # each model replaced by its own stand-in, nothing else
                expected = ([standin_name(m) for m in real[key]] if isinstance(real[key], list)
                            else standin_name(real[key]))
                assert knobs[key] == expected, f"{study}.{key}: {knobs[key]} != {expected}"


def test_every_standin_family_stands_in_for_a_paper_model():
    """So that the architecture checks below cover every recipe."""
    assert {get_model_spec(model).standin for model in PAPER_MODELS} == set(RECIPES)


@pytest.mark.parametrize("model", PAPER_MODELS)
def test_standin_has_the_real_architecture_and_tokenizer_conventions(model, cache):
    spec = get_model_spec(standin_name(model))
    assert spec.kind == get_model_spec(model).kind
    assert spec.max_length == get_model_spec(model).max_length
    recipe = RECIPES[get_model_spec(model).standin]
    if spec.kind == "encoder-classifier":
        loaded = load_model(spec, "classifier", cache, labels=("neg", "pos"))
        net, tok = loaded.model, loaded.tokenizer
    else:
        lm = load_model(spec, "prompting", cache)
        net, tok = lm.model, lm.tokenizer
        assert tok.padding_side == "left" and tok.pad_token_id is not None
        assert tok.eos_token == recipe.specials["eos_token"]
        if "pad_token" not in recipe.specials:   # Llama 3, GPT-Neo: none, so pad = eos
            assert tok.pad_token == tok.eos_token
        else:                                    # Qwen2.5 keeps its own pad token
            assert tok.pad_token == recipe.specials["pad_token"] != tok.eos_token
        assert net.generation_config.pad_token_id == tok.pad_token_id
    assert net.config.model_type == MODEL_TYPE[recipe.family]
    assert type(net.config).__name__ == recipe.config
    assert bool(tok.chat_template) == (recipe.chat_template is not None)


@pytest.mark.parametrize("model, marker", [("llama31-8b-instruct", "<|start_header_id|>assistant"),
                                           ("qwen25-32b-instruct", "<|im_start|>assistant"),
                                           ("llama32-1b", None), ("gpt-neo-1.3b", None)])
def test_chat_template_or_plain_prompt_is_chosen_per_model(model, marker, cache):
    lm = load_model(standin_name(model), "prompting", cache)
    prompt = ZeroShotClassifier(lm, PROMPT, ("negative", "positive")).prompt("A fine film.")
    if marker:
        assert marker in prompt and prompt.endswith("Answer:")
    else:   # a base model: the same prompt as plain text, no special tokens
        assert "<|" not in prompt and "A fine film." in prompt and prompt.endswith("\nAnswer:")


def test_llama_heads_add_the_published_parameter_counts(cache):

    name = standin_name("llama32-1b")
    hidden = load_model(name, "prompting", cache).model.config.hidden_size
    cls = load_model(name, "frozen-head", cache, task="classification", labels=("neg", "pos"))
    assert cls.parameters["added_by_head"] == hidden * 2 == cls.parameters["trainable"]  # no bias
    qa = load_model(name, "frozen-head", cache, task="qa")
    assert qa.parameters["added_by_head"] == 2 * (hidden + 1) == qa.parameters["trainable"]


def test_xlmr_head_and_max_length_512(cache):
    import torch

    loaded = load_model(standin_name("xlmr"), "classifier", cache, labels=("left", "right"),
                        max_length=512)
    net, tok = loaded.model, loaded.tokenizer
    hidden = net.config.hidden_size
    # RobertaClassificationHead: dense hidden x hidden (+bias), out_proj hidden x labels (+bias).
    head = sum(p.numel() for n, p in net.named_parameters() if n.startswith("classifier."))
    assert head == hidden * hidden + hidden + hidden * 2 + 2
    long_text = " ".join(["parliament"] * 2000)
    batch = tok([long_text], truncation=True, max_length=512, return_tensors="pt")
    assert batch["input_ids"].shape[1] == 512
    with torch.no_grad():   # positions 2..513 of 514: the padding_idx offset fits
        assert net(**batch).logits.shape == (1, 2)


def test_lora_trainable_parameters_of_gpt_neo_follow_from_its_config(cache):
    lm = load_model(standin_name("gpt-neo-1.3b"), "prompting", cache)
    config, r = lm.model.config, 4
    pairs = [(f"Hallo Welt {i}", f"Bonjour le monde {i}") for i in range(6)]
    run = train_lora(lm, pairs, pairs[:2], LoraSettings(r=r, epochs=1, batch_size=2,
                                                        max_length=32), seed=0, cache=cache)
    # peft's default targets for GPT-Neo: q_proj and v_proj, hidden -> hidden, in every layer.
    h = config.hidden_size
    assert run.info["trainable_parameters"] == config.num_layers * 2 * r * (h + h)


def test_dtype_selection_on_this_machine():
    from lmgate.core.device import inference_dtype
    from lmgate.core.device import trainer_flags

    assert inference_dtype("cpu") == "float32" and inference_dtype("cuda") == "bfloat16"
    assert trainer_flags("cpu") == {"use_cpu": True}


def test_plan_lists_every_paper_model_with_its_memory(pytester):
    pytester.makepyfile(test_study=PLAN_STUDY)
    pytester.makefile(".toml", pyproject=paper_model_tables("llama31-8b-instruct",
                                                            "qwen25-32b-instruct") + '''
[tool.lmgate.profiles.paper.studies.s]
llms = ["llama31-8b-instruct", "qwen25-32b-instruct"]
''')
    result = pytester.runpytest("--lmgate-profile", "paper", "--lmgate-plan", "--lmgate-device", "cuda")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED or result.ret == 0
    out = result.stdout.str()
    assert "llama31-8b-instruct" in out and "qwen25-32b-instruct" in out
    assert "8,030M" in out and "17.9" in out          # 8.03B x 2 bytes x 1.2 in GiB
    assert "MISSING here: hub meta-llama/Llama-3.1-8B-Instruct (gated" in out
    assert "a plan runs nothing" not in out


@pytest.mark.slow
def test_paper_dryrun_passes_offline(paper_dryrun_run):
    """`pytest evals --lmgate-profile paper-dryrun`: every paper code path on stand-ins, on CPU (a
    subprocess started when collection ended: tests/conftest.py, BACKGROUND_RUNS)."""
    code, output = paper_dryrun_run.wait(timeout=1500)
    tail = output[-3000:]
    assert code == 0, tail
    assert (paper_dryrun_run.results / "results.jsonl").exists()
    assert "xfailed" in tail and " failed" not in tail and "error" not in tail.lower()
