"""Fine-tuning sequence classifiers, batched prediction, and the cached run that ties them.

We use transformers' Trainer rather than a hand-written loop: it already gives AdamW with
linear warm-up/decay, per-epoch evaluation, early stopping, best-checkpoint restore, length
grouping, bf16/TF32 and progress bars, all tested upstream. Our part is the configuration,
dynamic padding, caching and the history we keep for plots.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from lmgate.cache import Entry, RunCache, save_arrays
from lmgate.data.types import DataSplits, LabeledData
from lmgate.distributed import train_distributed
from lmgate.metrics.classification import classification_metrics
from lmgate.models.fingerprint import model_fingerprint
from lmgate.models.load import load_model
from lmgate.models.loading import LoadedModel
from lmgate.models.params import count_parameters
from lmgate.models.registry import ModelSpec, get_model_spec
from lmgate.models.resolve import resolve_model
from lmgate.results import EvalResult
from lmgate.settings import TrainConfig
from lmgate.progress import progress_bar, training_progress


def _encode(tokenizer, data: LabeledData, config: TrainConfig):
    from datasets import Dataset

    padding = "max_length" if config.pad_to_max_length else False
    enc = tokenizer(data.texts, truncation=True, max_length=config.max_length, padding=padding)
    columns = dict(enc)
    columns["labels"] = data.y.tolist()
    # Precomputed lengths let the length-grouped sampler skip a pass over the data.
    columns["length"] = [len(ids) for ids in enc["input_ids"]]
    return Dataset.from_dict(columns)


def cuda_flags(device: str) -> dict[str, Any]:
    if not device.startswith("cuda"):
        return {"use_cpu": True}
    import torch

    if ":" in device:
        torch.cuda.set_device(int(device.split(":")[1]))
    major, _ = torch.cuda.get_device_capability()
    return {"bf16": torch.cuda.is_bf16_supported(), "tf32": major >= 8,
            "dataloader_pin_memory": True}


def train_classifier(model, tokenizer, data: DataSplits, config: TrainConfig, *, seed: int,
                     device: str, workdir: str | Path) -> list[dict[str, float]]:
    """Fine-tune in place, checkpoints in `workdir`; returns the per-epoch history (train loss,
    eval loss, eval macro F1)."""
    trainer = classifier_trainer(model, tokenizer, data, config, seed=seed, device=device,
                                 workdir=workdir)
    trainer.train()
    return epoch_history(trainer.state.log_history)


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
        average_tokens_across_devices=False, **cuda_flags(device))
    cuda = device.startswith("cuda")
    return Trainer(
        model=model, args=args, processing_class=tokenizer,
        train_dataset=_encode(tokenizer, data.train, config),
        eval_dataset=_encode(tokenizer, data.validation, config),
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


def predict_labels(model, tokenizer, texts: Sequence[str], *, batch_size: int,
                   max_length: int, device: str) -> np.ndarray:
    """Argmax labels, batched over length-sorted texts with dynamic padding, in eval mode."""
    import torch
    from transformers import DataCollatorWithPadding

    enc = tokenizer(list(texts), truncation=True, max_length=max_length)
    order = np.argsort([len(ids) for ids in enc["input_ids"]], kind="stable")
    collate = DataCollatorWithPadding(tokenizer)
    model.to(device).eval()
    preds = np.empty(len(texts), dtype=np.int64)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.startswith("cuda"))
    with torch.inference_mode(), autocast:
        for start in progress_bar(range(0, len(order), batch_size), desc="predict"):
            idx = order[start:start + batch_size]
            batch = collate([{k: enc[k][i] for k in enc.keys()} for i in idx])
            logits = model(**{k: v.to(device) for k, v in batch.items()}).logits
            preds[idx] = logits.argmax(-1).cpu().numpy()
    return preds


@dataclass
class TrainedRun:
    """A fine-tuned classifier: from the cache or freshly trained. Predictions are cached too."""

    key: str
    spec: ModelSpec
    labels: tuple[str, ...]
    config: TrainConfig
    device: str
    cache: RunCache
    entry: Entry
    cache_hit: bool
    model: Any = None
    tokenizer: Any = None
    info: dict[str, Any] = field(default_factory=dict)
    data_notes: tuple[str, ...] = ()   # warnings of the training data, carried into results

    @property
    def history(self) -> list[dict[str, float]]:
        return self.entry.meta["history"]

    def _ensure_model(self) -> None:
        if self.model is None:
            from transformers import AutoModelForSequenceClassification, AutoTokenizer

            self.tokenizer = AutoTokenizer.from_pretrained(self.entry.path)
            self.model = AutoModelForSequenceClassification.from_pretrained(self.entry.path)

    def predict(self, data: LabeledData, name: str | None = None, **params: Any) -> EvalResult:
        """Score `data`; the result's params include the model and any factors given here."""
        if data.labels != self.labels:
            raise ValueError(f"{data.name} has labels {data.labels}; the model was trained on "
                             f"{self.labels}")
        start = time.perf_counter()

        def compute() -> np.ndarray:
            self._ensure_model()
            return predict_labels(self.model, self.tokenizer, data.texts,
                                  batch_size=self.config.eval_batch_size,
                                  max_length=self.config.max_length, device=self.device)

        memo = self.cache.memo("predictions", dict(run=self.key, data=data.fingerprint(),
                                                   max_length=self.config.max_length),
                               compute, lambda y, folder: save_arrays(folder, y_pred=y),
                               lambda entry: entry.arrays()["y_pred"])
        y_pred, hit = memo.value, memo.hit
        info = {**self.info, "run_key": self.key[:16], "data_fingerprint": data.fingerprint(),
                "cache_hit": self.cache_hit and hit, "predict_s": round(time.perf_counter() - start, 3),
                "history": self.history}
        return EvalResult(name or self.spec.name, self.labels, data.y, y_pred,
                          params={"model": self.spec.name, **params},
                          info={**info, "notes": list(dict.fromkeys([*self.data_notes, *data.notes]))},
                          examples=data.texts, clusters=data.clusters)


def finetune(model: str | ModelSpec, data: DataSplits, *, config: TrainConfig, seed: int,
             device: str, cache: RunCache, tokenizer_texts: Sequence[str] | None = None) -> TrainedRun:
    """Full fine-tuning of a sequence classifier, cached by content.

    `tokenizer_texts` is needed by embedded models that train their tokenizer (pass every text
    the experiment will see, so all its runs share one vocabulary).
    """
    spec = get_model_spec(model) if isinstance(model, str) else model
    resolved = resolve_model(spec, cache.root.parent)
    config = config if spec.max_length >= config.max_length else config.replace(max_length=spec.max_length)
    loaded: list[LoadedModel] = []   # set on a miss: the trained model stays in memory

    def compute() -> list[dict[str, float]]:
        model = load_model(spec, "classifier", cache, labels=data.labels, seed=seed,
                           max_length=config.max_length, tokenizer_texts=tokenizer_texts)
        loaded.append(model)
        train = train_distributed if config.processes > 1 else train_classifier
        with cache.scratch("train") as workdir:
            return train(model.model, model.tokenizer, data, config, seed=seed, device=device,
                         workdir=workdir)

    def save(history: list[dict[str, float]], folder: Path) -> dict[str, Any]:
        model = loaded[0]
        model.model.save_pretrained(folder, safe_serialization=True)
        model.tokenizer.save_pretrained(folder)
        info = {"train_s": round(time.perf_counter() - start, 2), "n_train": len(data.train),
                "parameters": count_parameters(model.model), "source": resolved.source,
                "epochs_run": len(history)}
        return {"history": history, "info": info}

    start = time.perf_counter()
    memo = cache.memo("finetune", dict(
        regime="full", model=model_fingerprint(resolved, tokenizer_texts),
        data=data.fingerprint(), labels=data.labels, config=config.to_dict(), seed=seed,
        # Runs of several processes trained before the loss-scaling fix are not reused.
        **({"ddp_loss": "local mean"} if config.processes > 1 else {})),
        compute, save, lambda entry: entry)
    entry = memo.value
    model, tokenizer = (loaded[0].model, loaded[0].tokenizer) if loaded else (None, None)
    notes = tuple(dict.fromkeys([*data.notes, *data.train.notes, *data.validation.notes]))
    return TrainedRun(memo.key, spec, data.labels, config, device, cache, entry,
                      memo.hit, model, tokenizer, {**entry.meta["info"], "run": data.name}, notes)
