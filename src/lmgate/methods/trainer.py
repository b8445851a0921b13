"""Trainer helpers shared by fine-tuning, LoRA and the distributed ranks: the configured
classifier Trainer, the per-epoch history kept for plots, and the linear warm-up/decay schedule
of the hand-written head loops.

We use transformers' Trainer rather than a hand-written loop: it already gives AdamW with
linear warm-up/decay, per-epoch evaluation, early stopping, best-checkpoint restore, length
grouping, bf16/TF32 and progress bars, all tested upstream. Our part is the configuration,
dynamic padding and the history.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

from lmgate.core.config import TrainConfig
from lmgate.core.device import is_cuda, trainer_flags
from lmgate.core.progress import training_progress
from lmgate.data.types import DataSplits, LabeledData
from lmgate.metrics.classification import classification_metrics


def encode_classification(tokenizer, data: LabeledData, config: TrainConfig):
    from datasets import Dataset

    padding = "max_length" if config.pad_to_max_length else False
    enc = tokenizer(data.texts, truncation=True, max_length=config.max_length, padding=padding)
    columns = dict(enc)
    columns["labels"] = data.y.tolist()
    # Precomputed lengths let the length-grouped sampler skip a pass over the data.
    columns["length"] = [len(ids) for ids in enc["input_ids"]]
    return Dataset.from_dict(columns)


def train_classifier(model, tokenizer, data: DataSplits, config: TrainConfig, *, seed: int,
                     device: str, workdir: str | Path) -> list[dict[str, float]]:
    """Fine-tune in place, checkpoints in `workdir`; returns the per-epoch history (train loss,
    eval loss, eval macro F1)."""
    trainer = classifier_trainer(model, tokenizer, data, config, seed=seed, device=device,
                                 workdir=workdir)
    run_trainer(trainer)
    return epoch_history(trainer.state.log_history)


def run_trainer(trainer) -> None:
    """`trainer.train()` with the objects that existed before it kept out of the garbage
    collector's walks (`gc.freeze`): Trainer starts with accelerate's `free_memory`, a full
    `gc.collect()` over the whole heap, whose cost grows with every model the session holds.
    Unfrozen afterwards, so
    nothing that is garbage stays uncollected."""
    import gc

    gc.freeze()
    try:
        trainer.train()
    finally:
        gc.unfreeze()


def classifier_trainer(model, tokenizer, data: DataSplits, config: TrainConfig, *, seed: int,
                       device: str, workdir: str | Path):
    """The configured (not yet run) Trainer behind `train_classifier`."""
    from transformers import (DataCollatorWithPadding, EarlyStoppingCallback, Trainer,
                              TrainingArguments)

    labels = data.labels

    def compute_metrics(pred) -> dict[str, float]:
        logits = pred.predictions[0] if isinstance(pred.predictions, tuple) else pred.predictions
        scores = classification_metrics(pred.label_ids, logits.argmax(-1), labels)
        return {"accuracy": scores["accuracy"], "macro_f1": scores["macro_f1"]}

    args = TrainingArguments(
        output_dir=str(workdir), num_train_epochs=config.epochs,
        learning_rate=config.learning_rate, weight_decay=config.weight_decay,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.eval_batch_size,
        lr_scheduler_type="linear", warmup_steps=config.warmup_ratio,
        eval_strategy="epoch", save_strategy="epoch", logging_strategy="epoch",
        load_best_model_at_end=True, metric_for_best_model="eval_loss",
        greater_is_better=False, save_total_limit=1, save_only_model=True,
        train_sampling_strategy="group_by_length" if config.group_by_length else "random",
        seed=seed, data_seed=seed, report_to="none",
        # Sequence classifiers take **kwargs, so Trainer believes their loss is normalised by
        # the global token count and multiplies it by the world size; their loss is a local
        # mean, so under DDP that doubled the gradients and the logged losses (measured:
        # tests/test_distributed.py). DDP's gradient averaging of local means is what we want.
        average_tokens_across_devices=False, **trainer_flags(device))
    cuda = is_cuda(device)
    return Trainer(
        model=model, args=args, processing_class=tokenizer,
        train_dataset=encode_classification(tokenizer, data.train, config),
        eval_dataset=encode_classification(tokenizer, data.validation, config),
        data_collator=DataCollatorWithPadding(tokenizer, pad_to_multiple_of=8 if cuda else None),
        compute_metrics=compute_metrics,
        callbacks=[EarlyStoppingCallback(config.early_stopping_patience),
                   training_progress(f"training on {data.name}")])


def epoch_history(log: Sequence[dict[str, Any]]) -> list[dict[str, float]]:
    by_epoch: dict[float, dict[str, float]] = {}
    for entry in log:
        if "epoch" not in entry:
            continue
        row = by_epoch.setdefault(round(float(entry["epoch"]), 3), {"epoch": round(float(entry["epoch"]), 3)})
        for k in ("loss", "eval_loss", "eval_accuracy", "eval_macro_f1"):
            if k in entry:
                row["train_loss" if k == "loss" else k] = float(entry[k])
    return [r for r in by_epoch.values() if len(r) > 1]


def linear_schedule(optimizer, total: int, warmup_ratio: float):
    """Linear warm-up over `warmup_ratio` of `total` steps, then linear decay to 0."""
    import torch

    warmup = int(math.ceil(total * warmup_ratio))

    def factor(step: int) -> float:  # linear warm-up then linear decay, as transformers does
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(1, total - warmup))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
