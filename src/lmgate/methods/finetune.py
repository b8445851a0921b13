"""Full fine-tuning of sequence classifiers: the cached run, and batched prediction.

The Trainer configuration lives in `lmgate.methods.trainer`; runs of several processes are
launched by `lmgate.methods.launch`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from lmgate.core.cache import Entry, RunCache, save_arrays
from lmgate.core.config import TrainConfig
from lmgate.core.device import autocast, inference_dtype
from lmgate.core.progress import progress_bar
from lmgate.data.types import DataSplits, LabeledData, Provenance, carried_info
from lmgate.methods.launch import train_distributed
from lmgate.methods.trainer import train_classifier
from lmgate.models.store.fingerprint import model_fingerprint
from lmgate.models.load import LoadedModel, load_classifier, resolve
from lmgate.models.heads.frozen import count_parameters
from lmgate.models.store.registry import ModelSpec, get_model_spec
from lmgate.results.classification import EvalResult


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
    with torch.inference_mode(), autocast(device, inference_dtype(device)):
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
    data_provenance: tuple[Provenance, ...] = ()   # where the training data came from, too

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
                          info={**info, **carried_info(data, notes=self.data_notes,
                                                       provenance=self.data_provenance)},
                          examples=data.texts, clusters=data.clusters)


def finetune(model: str | ModelSpec, data: DataSplits, *, config: TrainConfig, seed: int,
             device: str, cache: RunCache, tokenizer_texts: Sequence[str] | None = None) -> TrainedRun:
    """Full fine-tuning of a sequence classifier, cached by content.

    `tokenizer_texts` is needed by embedded models that train their tokenizer (pass every text
    the experiment will see, so all its runs share one vocabulary).
    """
    spec = get_model_spec(model) if isinstance(model, str) else model
    resolved = resolve(spec, "classifier", cache)
    config = config if spec.max_length >= config.max_length else config.replace(max_length=spec.max_length)
    loaded: list[LoadedModel] = []   # set on a miss: the trained model stays in memory

    def compute() -> list[dict[str, float]]:
        model = load_classifier(resolved, cache, labels=data.labels, seed=seed,
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
                      memo.hit, model, tokenizer, {**entry.meta["info"], "run": data.name}, notes,
                      data.provenance)
