"""Classification heads on a frozen base (a causal LM or an encoder), trained on cached base
features.

Because the base never changes, its features are computed once (and cached) and the head
trains on them: the same numbers as a forward pass through the base every epoch
(tests/test_heads.py), many times faster. The model with its head is
`lmgate.models.heads.frozen.FrozenBaseModel`, loaded by `lmgate.models.load`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from lmgate.core.cache import RunCache, cache_arrays
from lmgate.core.config import TrainConfig
from lmgate.core.device import autocast, head_feature_dtype
from lmgate.core.errors import ConfigError
from lmgate.core.progress import progress_bar
from lmgate.data.types import LabeledData, Provenance, carried_info
from lmgate.methods.trainer import linear_schedule
from lmgate.metrics.classification import classification_metrics
from lmgate.models.heads.frozen import FrozenBaseModel
from lmgate.models.load import load_frozen_base
from lmgate.results.classification import EvalResult

def base_features(frozen: FrozenBaseModel, texts: Sequence[str], *, max_length: int,
                  batch_size: int = 32, device: str = "cpu", dtype: str = "float32") -> np.ndarray:
    """What the classification head reads: the base's hidden state at each text's last
    non-padding token (a causal LM) or its mean over the tokens (an encoder; `frozen.pooling`).
    Length-sorted batches with dynamic (right) padding."""
    import torch

    from lmgate.models.heads.pooled import mean_pool

    tok = frozen.tokenizer
    enc = tok(list(texts), truncation=True, max_length=max_length)["input_ids"]
    order = np.argsort([len(x) for x in enc], kind="stable")
    out = np.empty((len(texts), frozen.hidden_size), dtype=np.float32)
    base = frozen.model.base_model.to(device)
    with torch.inference_mode(), autocast(device, dtype):
        for start in progress_bar(range(0, len(order), batch_size), desc="base features"):
            idx = order[start:start + batch_size]
            batch = tok.pad({"input_ids": [enc[i] for i in idx]}, return_tensors="pt")
            mask = batch["attention_mask"].to(device)
            hidden = base(input_ids=batch["input_ids"].to(device),
                          attention_mask=mask).last_hidden_state
            if frozen.pooling == "mean":
                pooled = mean_pool(hidden.float(), mask)
            else:
                pooled = hidden[torch.arange(len(idx)), mask.sum(-1) - 1]
            out[idx] = pooled.float().cpu().numpy()
    return out


def cached_features(frozen: FrozenBaseModel, data: LabeledData, cache: RunCache, *,
                    max_length: int, device: str, dtype: str = "float32",
                    known: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """The base's features of `data`, computed once per (base, data, max_length, dtype).

    `known` (text -> features, filled here) lets runs on overlapping subsets of one pool compute
    each text once: on a cache miss only the texts it lacks go through the base.
    """
    key = dict(base=frozen.fingerprint, data=data.fingerprint(), max_length=max_length)
    if dtype != "float32":   # float32 entries keep the keys they had before dtypes existed
        key["dtype"] = dtype
    if frozen.pooling != "last":
        key["pooling"] = frozen.pooling
    known = {} if known is None else known

    def compute() -> np.ndarray:
        missing = list(dict.fromkeys(t for t in data.texts if t not in known))
        if missing:
            known.update(zip(missing, base_features(frozen, missing, max_length=max_length,
                                                    device=device, dtype=dtype)))
        return np.stack([known[t] for t in data.texts]) if len(data) else \
            np.empty((0, frozen.hidden_size), dtype=np.float32)

    features = cache_arrays(cache, "features", key, compute)
    known.update(zip(data.texts, features))
    return features


def train_classification_head(frozen: FrozenBaseModel, train: LabeledData, evaluation: LabeledData,
                              config: TrainConfig, *, seed: int, device: str = "cpu",
                              train_features: np.ndarray | None = None,
                              eval_features: np.ndarray | None = None) -> list[dict[str, float]]:
    """Train the head with AdamW + linear warm-up/decay; per-epoch metrics on `evaluation`.

    With features given, the head reads them; without, every batch goes through the frozen base
    (the naive way). Same seed, same batches, same updates: the results agree within float
    tolerance.
    """
    import torch
    import torch.nn.functional as F

    if frozen.task != "classification":
        raise ConfigError("train_classification_head needs a classification head")
    head = frozen.head.to(device)
    cached = train_features is not None
    optimizer = torch.optim.AdamW(head.parameters(), lr=config.learning_rate,
                                  weight_decay=config.weight_decay)
    steps = config.epochs * math.ceil(len(train) / config.batch_size)
    scheduler = linear_schedule(optimizer, steps, config.warmup_ratio)
    y = torch.tensor(train.y)   # a copy: the labels array may be read-only (cached)
    texts = train.texts
    history = []
    for epoch in range(config.epochs):
        order = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed + epoch))
        losses = []
        for start in range(0, len(order), config.batch_size):
            idx = order[start:start + config.batch_size]
            if cached:
                logits = head(torch.as_tensor(train_features[idx.numpy()]).to(device))
            else:
                logits = _forward_logits(frozen, [texts[i] for i in idx], config.max_length, device)
            loss = F.cross_entropy(logits, y[idx].to(device))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            losses.append(loss.item())
        pred = predict_head(frozen, evaluation, config.max_length, device, eval_features)
        scores = classification_metrics(evaluation.y, pred, evaluation.labels)
        history.append({"epoch": epoch + 1, "train_loss": float(np.mean(losses)),
                        **{k: scores[k] for k in ("accuracy", "macro_precision", "macro_recall",
                                                  "macro_f1")}})
    return history


def _forward_logits(frozen: FrozenBaseModel, texts: Sequence[str], max_length: int, device: str):
    enc = frozen.tokenizer(list(texts), truncation=True, max_length=max_length, padding=True,
                           return_tensors="pt")
    return frozen.model.to(device)(**{k: v.to(device) for k, v in enc.items()}).logits


def predict_head(frozen: FrozenBaseModel, data: LabeledData, max_length: int, device: str = "cpu",
                 features: np.ndarray | None = None, batch_size: int = 64,
                 head=None) -> np.ndarray:
    """Argmax labels of `data`: `head` (default: the base's own) on `features` when given,
    otherwise a forward pass through the whole model."""
    import torch

    head = frozen.head if head is None else head
    preds = []
    with torch.inference_mode():
        for start in range(0, len(data), batch_size):
            if features is not None:
                logits = head(torch.as_tensor(features[start:start + batch_size]).to(device))
            else:
                logits = _forward_logits(frozen, data.texts[start:start + batch_size], max_length,
                                         device)
            preds.append(logits.argmax(-1).cpu().numpy())
    return np.concatenate(preds)


@dataclass
class HeadRun:
    """A classification head trained on a frozen base: the model, its history and its result
    on the evaluation split; `predict` scores any other data (features cached)."""

    frozen: FrozenBaseModel
    config: TrainConfig
    history: list[dict[str, float]]
    result: EvalResult
    cache: RunCache | None = None
    device: str = "cpu"
    known: dict[str, np.ndarray] | None = None
    notes: tuple[str, ...] = ()
    head: Any = None       # this run's trained head (the base may be shared with other runs)
    provenance: tuple[Provenance, ...] = ()   # where the training data came from

    def predict(self, data: LabeledData, name: str | None = None, **params) -> EvalResult:
        """Score `data`; the result's params include the model and any factors given here."""
        if data.labels != self.result.labels:
            raise ValueError(f"{data.name} has labels {data.labels}; the head was trained on "
                             f"{self.result.labels}")
        if self.cache is None:
            raise ConfigError("this head run has no cache to compute features through")
        features = cached_features(self.frozen, data, self.cache, max_length=self.config.max_length,
                                   device=self.device, dtype=self.result.info["features_dtype"],
                                   known=self.known)
        predictions = predict_head(self.frozen, data, self.config.max_length, self.device,
                                   features, head=self.head)
        return EvalResult(name or self.result.name, data.labels, data.y, predictions,
                          params={**self.result.params, **params},
                          info={**self.result.info, **carried_info(data, notes=self.notes,
                                                                   provenance=self.provenance)},
                          examples=data.texts, clusters=data.clusters)


def train_frozen_head(base: str, train: LabeledData, evaluation: LabeledData,
                      config: TrainConfig, *, cache: RunCache, device: str = "cpu",
                      seed: int = 0, known: dict[str, np.ndarray] | None = None,
                      frozen: FrozenBaseModel | None = None) -> HeadRun:
    """Load `base` with a seeded classification head, freeze the base, train the head on the
    base's cached features of `train`, and evaluate it on `evaluation`.

    Runs on one data pool can share `known` (text -> features; see `cached_features`) and an
    already loaded `frozen` base, whose head the caller has set to its seeded initial weights.
    """
    import copy

    if frozen is None:
        frozen = load_frozen_base(base, cache, labels=train.labels, seed=seed)
    dtype = head_feature_dtype(device, frozen.cpu_bf16_features)
    known = {} if known is None else known
    features = {split.name: cached_features(frozen, split, cache, max_length=config.max_length,
                                            device=device, dtype=dtype, known=known)
                for split in (train, evaluation)}
    history = train_classification_head(frozen, train, evaluation, config, seed=seed,
                                        device=device, train_features=features[train.name],
                                        eval_features=features[evaluation.name])
    predictions = predict_head(frozen, evaluation, config.max_length, device,
                               features[evaluation.name])
    result = EvalResult(f"{base} frozen + head", train.labels, evaluation.y, predictions,
                        params={"model": base, "system": "frozen-base head"},
                        info={"parameters": frozen.parameters, "history": history,
                              "features_dtype": dtype, "pooling": frozen.pooling,
                              **carried_info(train, evaluation)},
                        examples=evaluation.texts, clusters=evaluation.clusters)
    return HeadRun(frozen, config, history, result, cache, device, known, train.notes,
                   copy.deepcopy(frozen.head), train.provenance)
