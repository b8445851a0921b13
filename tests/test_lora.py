"""LoRA on SmolLM2: exact trainable-parameter accounting, target-only loss, cached adapters
reproduce their translations."""

import pytest

from lmgate.core.cache import RunCache
from lmgate.methods.lora import LoraSettings, TranslationPrompt, _encode, adapter, train_lora
from lmgate.methods.translation import translate
from lmgate.models.load import load_model

PAIRS = [("Ein Hund läuft.", "Un chien court."), ("Zwei Katzen schlafen.", "Deux chats dorment."),
         ("Ein Mann liest.", "Un homme lit."), ("Eine Frau singt.", "Une femme chante.")] * 4
SETTINGS = LoraSettings(r=4, alpha=16, dropout=0.0, learning_rate=1e-3, epochs=1, batch_size=8,
                        max_length=32)


@pytest.fixture(scope="module")
def lm(_test_cache_dir):
    return load_model("smollm2-135m-instruct", "prompting", RunCache(_test_cache_dir), device="cpu")


def test_loss_covers_target_tokens_only(lm):
    prompt = TranslationPrompt()
    row = _encode(lm.tokenizer, prompt, PAIRS[:1], 64)[0]
    n_context = len(lm.tokenizer(prompt(PAIRS[0][0]), add_special_tokens=False)["input_ids"])
    assert row["labels"][:n_context] == [-100] * n_context
    target = lm.tokenizer.decode(row["input_ids"][n_context:], skip_special_tokens=True)
    assert target == " Un chien court.\n"
    assert row["labels"][n_context:] == row["input_ids"][n_context:]


def test_cached_adapter_reproduces_translations(lm, tmp_path):
    cache = RunCache(tmp_path)
    first = train_lora(lm, PAIRS, PAIRS[:4], SETTINGS, seed=0, cache=cache)
    # q_proj 576->576 and v_proj 576->192 in 30 layers, rank 4: r x (in + out) each.
    assert first.info["trainable_parameters"] == 30 * 4 * ((576 + 576) + (576 + 192))
    sources = [s for s, _ in PAIRS[:4]]
    with adapter(lm, first) as tuned:
        before = translate(tuned, sources, max_new_tokens=8)
    again = train_lora(lm, PAIRS, PAIRS[:4], SETTINGS, seed=0, cache=cache)
    assert again.cache_hit and not first.cache_hit and again.key == first.key
    with adapter(lm, again) as tuned:
        assert translate(tuned, sources, max_new_tokens=8) == before
    assert not hasattr(lm.model, "peft_config")   # the base is bare again
