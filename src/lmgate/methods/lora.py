"""LoRA fine-tuning of a causal LM for translation (the prompt and the translating are in
`lmgate.methods.translation`).

Training uses peft's LoraConfig on transformers' Trainer; the loss covers the target tokens
only (prompt positions are labelled -100). Batches are padded on the left, so every row's target
sits at the end and the output layer is applied to the last positions only (`logits_to_keep`):
for a 262k-entry vocabulary (Gemma 3) the logits of the prompt positions were most of a step's
cost (benchmarks/p10_lora_target_logits.py). Position ids follow the attention mask, so padding
does not move a row's positions. The adapter (safetensors + JSON config) is stored in
the run cache and reloaded onto the base model, so a cached run reproduces its translations.
"""

from __future__ import annotations

import time
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

from lmgate.core.cache import Entry, RunCache
from lmgate.core.config import LoraSettings
from lmgate.core.device import trainer_flags
from lmgate.core.progress import training_progress
from lmgate.methods.launch import fit_lora_distributed
from lmgate.methods.trainer import epoch_history, run_trainer
from lmgate.methods.translation import Pair, TranslationPrompt, check_pairs
from lmgate.models.engines.autocast_weights import frozen_output_layer_cast
from lmgate.models.engines.engine import encode_prompt
from lmgate.models.engines.language_model import CausalLM
from lmgate.models.heads.frozen import count_parameters


#: Part of every adapter's cache key: a change in how training batches are built or scored
#: must not reuse adapters trained the old way.
RECIPE = "left-padded batches, loss from target-position logits"


def lora_trainer_flags(device: str) -> dict[str, Any]:
    """Trainer precision flags of LoRA runs: bf16 mixed precision on CUDA and on CPUs with
    native bf16 (the same losses: benchmarks/p10_lora_target_logits.py)."""
    return trainer_flags(device, cpu_bf16=True)


def lora_precision(device: str) -> str:
    """What `lora_trainer_flags` chose, for cache keys and results: another precision trains
    another adapter."""
    return "bf16 mixed" if lora_trainer_flags(device).get("bf16") else "float32"


def _encode(tokenizer, prompt: TranslationPrompt, pairs: Sequence[Pair], max_length: int):
    from datasets import Dataset

    rows = {"input_ids": [], "attention_mask": [], "labels": []}
    eos = [tokenizer.eos_token_id]
    for src, tgt in pairs:
        context = encode_prompt(tokenizer, prompt(src))
        target = tokenizer(" " + tgt + "\n", add_special_tokens=False)["input_ids"] + eos
        ids = (context + target)[:max_length]
        labels = ([-100] * len(context) + target)[:max_length]
        rows["input_ids"].append(ids)
        rows["attention_mask"].append([1] * len(ids))
        rows["labels"].append(labels)
    return Dataset.from_dict(rows)


@dataclass
class LoraRun:
    key: str
    entry: Entry
    cache_hit: bool
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def history(self) -> list[dict[str, float]]:
        return self.entry.meta["history"]

    @property
    def adapter_dir(self) -> Path:
        return self.entry.path


def train_lora(lm: CausalLM, train: Sequence[Pair], validation: Sequence[Pair],
               settings: LoraSettings, *, seed: int, cache: RunCache,
               prompt: TranslationPrompt = TranslationPrompt()) -> LoraRun:
    """Train (or fetch from the cache) a LoRA adapter on `lm` for the prompt's translation."""
    train, validation = check_pairs(train, "train pairs"), check_pairs(validation, "validation pairs")
    key_parts = dict(base=lm.fingerprint, train=train, validation=validation,
                     settings=settings.to_dict(), prompt=asdict(prompt), seed=seed,
                     recipe=RECIPE, precision=lora_precision(lm.device))
    memo = cache.memo("lora", key_parts, lambda: _fit_lora(lm, train, validation, settings,
                                                             seed=seed, prompt=prompt,
                                                             cache=cache),
                      _save_adapter, lambda entry: entry)
    return LoraRun(memo.key, memo.entry, memo.hit, dict(memo.entry.meta["info"]))


def _save_adapter(fitted: tuple[Any, dict[str, Any]], folder: Path) -> dict[str, Any]:
    adapter_weights, meta = fitted
    for name, content in adapter_weights.items():
        (folder / name).write_bytes(content)
    return meta


def _fit_lora(lm: CausalLM, train: list[Pair], validation: list[Pair], settings: LoraSettings,
              *, seed: int, prompt: TranslationPrompt,
              cache: RunCache) -> tuple[dict[str, bytes], dict[str, Any]]:
    """Train an adapter; returns its saved files (name -> bytes) and the run's metadata."""
    if settings.processes > 1:
        with cache.scratch("lora") as workdir:
            return fit_lora_distributed(lm, train, validation, settings, seed=seed,
                                        prompt=prompt, workdir=workdir)
    start = time.perf_counter()
    model = new_adapter(lm.model, settings, seed)
    try:
        with cache.scratch("lora") as workdir:
            trainer = run_lora_training(model, lm.tokenizer, train, validation, settings,
                                        seed=seed, prompt=prompt, device=lm.device,
                                        name=lm.name, workdir=workdir)
        with cache.scratch("adapter") as folder:
            return adapter_output(model, trainer, time.perf_counter() - start, len(train),
                                  folder)
    finally:
        # Give the base model back without the adapter layers, for the next run.
        lm.model = model.unload() if hasattr(model, "unload") else lm.model
        lm.tokenizer.padding_side = "left"


def new_adapter(model, settings: LoraSettings, seed: int):
    """`model` wrapped with a freshly initialised (seeded) LoRA adapter."""
    from peft import LoraConfig, get_peft_model
    from transformers import set_seed

    set_seed(seed)
    return get_peft_model(model, LoraConfig(
        r=settings.r, lora_alpha=settings.alpha, lora_dropout=settings.dropout,
        task_type="CAUSAL_LM",
        target_modules=list(settings.target_modules) if settings.target_modules else None))


def target_loss(model, batch: dict[str, Any]):
    """Mean cross-entropy over the target tokens of a left-padded batch, computing logits only
    for the positions that predict them (the loss transformers computes, without the prompt's
    logits)."""
    import torch

    labels = batch["labels"]
    span = int((labels != -100).sum(-1).max())   # the longest target, at the end of every row
    mask = batch["attention_mask"]
    position_ids = (mask.long().cumsum(-1) - 1).clamp(min=0)
    logits = model(input_ids=batch["input_ids"], attention_mask=mask, position_ids=position_ids,
                   logits_to_keep=span + 1).logits[:, :-1]
    return torch.nn.functional.cross_entropy(logits.float().reshape(-1, logits.shape[-1]),
                                             labels[:, labels.shape[1] - span:].reshape(-1),
                                             ignore_index=-100)


def _target_loss_trainer():
    from transformers import Trainer

    class TargetLossTrainer(Trainer):
        """Trainer whose loss is `target_loss` (a per-batch mean, so gradient accumulation
        divides it as usual)."""

        loss_is_scaled_for_ga = False

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            loss = target_loss(model, inputs)
            return (loss, {"loss": loss}) if return_outputs else loss

    return TargetLossTrainer


def run_lora_training(model, tokenizer, train: Sequence[Pair], validation: Sequence[Pair],
                      settings: LoraSettings, *, seed: int, prompt: TranslationPrompt,
                      device: str, name: str, workdir: str | Path):
    """Train the adapter of the peft `model` (loss on target tokens only); returns the Trainer."""
    import torch
    from transformers import DataCollatorForSeq2Seq, TrainingArguments

    tokenizer.padding_side = "left"
    args = TrainingArguments(
        output_dir=str(workdir), num_train_epochs=settings.epochs,
        learning_rate=settings.learning_rate, per_device_train_batch_size=settings.batch_size,
        per_device_eval_batch_size=settings.batch_size, eval_strategy="epoch",
        logging_strategy="epoch", save_strategy="no", lr_scheduler_type="linear",
        prediction_loss_only=True, seed=seed, data_seed=seed, report_to="none",
        **lora_trainer_flags(device))
    trainer = _target_loss_trainer()(model=model, args=args,
                      train_dataset=_encode(tokenizer, prompt, train, settings.max_length),
                      eval_dataset=_encode(tokenizer, prompt, validation, settings.max_length),
                      data_collator=DataCollatorForSeq2Seq(tokenizer, padding=True,
                                                           label_pad_token_id=-100),
                      callbacks=[training_progress(f"LoRA training of {name}")])
    # Under bf16 mixed precision the frozen output layer is cast once, not at every step.
    with frozen_output_layer_cast(model, torch.bfloat16) if args.bf16 else nullcontext():
        run_trainer(trainer)
    return trainer


def adapter_output(model, trainer, seconds: float, n_train: int,
                   folder: Path) -> tuple[dict[str, bytes], dict[str, Any]]:
    """Save the adapter into `folder`; its files (name -> bytes) and the run's metadata."""
    params = count_parameters(model)
    info = {"train_s": round(seconds, 2), "n_train": n_train,
            "training_precision": "bf16 mixed" if trainer.args.bf16 else "float32",
            "trainable_parameters": params["trainable"], "total_parameters": params["total"],
            "trainable_share": params["trainable"] / params["total"]}
    model.save_pretrained(folder)
    files = {p.name: p.read_bytes() for p in Path(folder).iterdir() if p.is_file()}
    return files, {"history": epoch_history(trainer.state.log_history), "info": info}


@contextmanager
def adapter(lm: CausalLM, run: LoraRun) -> Iterator[CausalLM]:
    """`lm` with the run's cached adapter loaded; the bare base is restored on exit."""
    from peft import PeftModel

    model = PeftModel.from_pretrained(lm.model, str(run.adapter_dir)).eval()
    try:
        yield CausalLM(lm.spec, model, lm.tokenizer, lm.device, f"{lm.fingerprint}+{run.key[:16]}",
                       lm.source)
    finally:
        lm.model = model.unload()
