"""LoRA on SmolLM2: exact trainable-parameter accounting, target-only loss, cached adapters
reproduce their translations; the output layer's bf16 cast on a tiny stand-in."""

import pytest
import torch

from lmgate.core.cache import RunCache
from lmgate.core.device import cpu_has_native_bf16
from lmgate.methods.lora import (LoraSettings, TranslationPrompt, _encode, adapter, target_loss,
                                 train_lora)
from lmgate.methods.translation import translate
from lmgate.models.engines.autocast_weights import frozen_output_layer_cast
from lmgate.models.load import load_model

pytestmark = pytest.mark.all_cores

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


def _batch(tokenizer, rows, side):
    from transformers import DataCollatorForSeq2Seq

    tokenizer.padding_side = side
    try:
        return DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=-100)(rows)
    finally:
        tokenizer.padding_side = "left"


def test_target_loss_is_the_models_own_loss_and_gradient(lm):
    """The left-padded, target-logits-only loss equals transformers' loss on the same rows
    padded on the right (prompts and targets of different lengths), and so do the gradients."""
    import torch

    pairs = [("Ein Hund läuft schnell über die große Wiese.", "Un chien."),
             ("Ja.", "Oui, bien sûr, je viens demain matin avec mes amis."),
             ("Zwei Katzen schlafen.", "Deux chats dorment.")]
    rows = list(_encode(lm.tokenizer, TranslationPrompt(), pairs, 64))
    right, left = _batch(lm.tokenizer, rows, "right"), _batch(lm.tokenizer, rows, "left")
    assert right["input_ids"].shape[1] > min(len(r["input_ids"]) for r in rows)  # padding happens
    weight = lm.model.get_input_embeddings().weight

    def loss_and_grad(compute):
        lm.model.zero_grad()
        loss = compute()
        loss.backward()
        grad = weight.grad.clone()
        lm.model.zero_grad()
        return loss.detach(), grad

    weight.requires_grad_(True)
    try:
        reference, ref_grad = loss_and_grad(lambda: lm.model(**right).loss)
        ours, our_grad = loss_and_grad(lambda: target_loss(lm.model, left))
    finally:
        weight.requires_grad_(False)
        weight.grad = None
    torch.testing.assert_close(ours, reference, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(our_grad, ref_grad, rtol=1e-3, atol=1e-5)


def test_cached_adapter_reproduces_translations(lm, tmp_path):
    cache = RunCache(tmp_path)
    first = train_lora(lm, PAIRS, PAIRS[:4], SETTINGS, seed=0, cache=cache)
    # q_proj 576->576 and v_proj 576->192 in 30 layers, rank 4: r x (in + out) each.
    assert first.info["trainable_parameters"] == 30 * 4 * ((576 + 576) + (576 + 192))
    # bf16 mixed precision where the CPU computes bf16 natively, and said in the results.
    assert first.info["training_precision"] == ("bf16 mixed" if cpu_has_native_bf16()
                                                else "float32")
    sources = [s for s, _ in PAIRS[:4]]
    with adapter(lm, first) as tuned:
        before = translate(tuned, sources, max_new_tokens=8)
    again = train_lora(lm, PAIRS, PAIRS[:4], SETTINGS, seed=0, cache=cache)
    assert again.cache_hit and not first.cache_hit and again.key == first.key
    with adapter(lm, again) as tuned:
        assert translate(tuned, sources, max_new_tokens=8) == before
    assert not hasattr(lm.model, "peft_config")   # the base is bare again
    # Training's bf16 copy of the output layer is gone: float32 and tied to the input again.
    out = lm.model.get_output_embeddings().weight
    assert out is lm.model.get_input_embeddings().weight and out.dtype == torch.float32


@pytest.fixture(scope="module")
def standin(_test_cache_dir):
    """A tiny random Llama with tied embeddings: exactness needs no trained weights, and bf16
    products are emulated (slow) on CPUs without native bf16."""
    return load_model("llama32-1b-standin", "prompting", RunCache(_test_cache_dir), device="cpu")


def test_the_output_layer_cast_once_computes_what_autocast_computes(standin):
    """Under bf16 autocast a bf16 copy of the frozen output layer gives the loss and LoRA
    gradients of the float32 weight bit for bit; the tied float32 weight is back afterwards,
    and a trainable output layer is left alone."""
    from peft import LoraConfig, get_peft_model

    lm = standin

    rows = list(_encode(lm.tokenizer, TranslationPrompt(), PAIRS[:3], 96))   # whole targets
    batch = _batch(lm.tokenizer, rows, "left")
    model = get_peft_model(lm.model, LoraConfig(r=4, lora_alpha=16, task_type="CAUSAL_LM"))
    weight = model.get_output_embeddings().weight

    def loss_and_grads():
        model.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = target_loss(model, batch)
        loss.backward()
        return loss.detach(), [p.grad.clone() for p in model.parameters() if p.requires_grad]

    try:
        reference = loss_and_grads()
        with frozen_output_layer_cast(model, torch.bfloat16):
            assert model.get_output_embeddings().weight.dtype == torch.bfloat16
            cast_once = loss_and_grads()
        assert model.get_output_embeddings().weight is weight is model.get_input_embeddings().weight
        assert torch.equal(cast_once[0], reference[0])
        assert all(torch.equal(a, b) for a, b in zip(cast_once[1], reference[1]))
        weight.requires_grad_(True)
        with frozen_output_layer_cast(model, torch.bfloat16):
            assert model.get_output_embeddings().weight is weight
    finally:
        weight.requires_grad_(False)
        lm.model = model.unload()
