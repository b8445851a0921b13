"""Task heads on a frozen causal-LM base, and training them on cached base features.

The heads are transformers' own: `AutoModelForSequenceClassification` (a bias-free `score`
layer applied at the last non-padding token, hidden x labels parameters) and
`AutoModelForQuestionAnswering` (`qa_outputs`, a Linear(hidden, 2) with bias: 2 x (hidden + 1)).
Everything in the base is frozen. Because the base never changes, its features are computed
once (and cached) and the head trains on them: the same numbers as a forward pass through the
base every epoch (tests/test_heads.py), many times faster.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from lmgate.cache import RunCache, cache_arrays
from lmgate.data.types import LabeledData
from lmgate.errors import ConfigError
from lmgate.metrics.classification import classification_metrics
from lmgate.models.causal import inference_dtype, prepare_tokenizer, resolve_plain
from lmgate.models.fingerprint import model_fingerprint
from lmgate.models.params import count_parameters
from lmgate.results import EvalResult
from lmgate.settings import TrainConfig
from lmgate.progress import progress_bar

TASKS = ("classification", "qa")


@dataclass
class FrozenBaseModel:
    """A transformers model with a task head whose base is frozen, plus its accounting."""

    name: str
    task: str
    model: Any
    tokenizer: Any
    fingerprint: str
    parameters: dict[str, int] = field(default_factory=dict)

    @property
    def head(self):
        return self.model.score if self.task == "classification" else self.model.qa_outputs

    @property
    def hidden_size(self) -> int:
        return self.model.config.hidden_size

    def expected_head_parameters(self) -> int:
        """hidden x labels (no bias) for classification; 2 x (hidden + 1) for span QA."""
        if self.task == "classification":
            return self.hidden_size * self.model.config.num_labels
        return 2 * (self.hidden_size + 1)


def load_frozen_base(model: str, task: str, cache: RunCache, *, labels: Sequence[str] = (),
                     seed: int = 0) -> FrozenBaseModel:
    """Load `model` with a fresh, seeded head for `task`; freeze the base; count parameters."""
    import torch
    from transformers import (AutoModelForQuestionAnswering, AutoModelForSequenceClassification,
                              AutoTokenizer)

    if task not in TASKS:
        raise ConfigError(f"unknown head task {task!r}; use one of {TASKS}")
    resolved = resolve_plain(model, cache)
    tokenizer = prepare_tokenizer(AutoTokenizer.from_pretrained(resolved.location,
                                                                **resolved.load_kwargs),
                                  padding_side="right")
    torch.manual_seed(seed)
    if task == "classification":
        if len(labels) < 2:
            raise ConfigError("a classification head needs at least 2 labels")
        net = AutoModelForSequenceClassification.from_pretrained(
            resolved.location, num_labels=len(labels), id2label=dict(enumerate(labels)),
            label2id={n: i for i, n in enumerate(labels)}, dtype=torch.float32,
            **resolved.load_kwargs)
    else:
        net = AutoModelForQuestionAnswering.from_pretrained(resolved.location, dtype=torch.float32,
                                                            **resolved.load_kwargs)
    net.config.pad_token_id = tokenizer.pad_token_id
    for p in net.base_model.parameters():
        p.requires_grad_(False)
    frozen = FrozenBaseModel(resolved.spec.name, task, net.eval(), tokenizer,
                             model_fingerprint(resolved))
    frozen.parameters = count_parameters(net)
    return frozen


def base_autocast(device: str, dtype: str):
    """The context a frozen base runs in: bf16 autocast when `dtype` is "bfloat16" (CUDA's
    default, see `inference_dtype`), plain float32 otherwise."""
    import torch

    if dtype not in ("float32", "bfloat16"):
        raise ConfigError(f"feature dtype must be float32 or bfloat16, not {dtype!r}")
    return torch.autocast("cuda" if device.startswith("cuda") else "cpu", dtype=torch.bfloat16,
                          enabled=dtype == "bfloat16")


def last_token_features(frozen: FrozenBaseModel, texts: Sequence[str], *, max_length: int,
                        batch_size: int = 32, device: str = "cpu",
                        dtype: str = "float32") -> np.ndarray:
    """The base's hidden state at each text's last non-padding token: what the classification
    head reads. Length-sorted batches with dynamic (right) padding."""
    import torch

    tok = frozen.tokenizer
    enc = tok(list(texts), truncation=True, max_length=max_length)["input_ids"]
    order = np.argsort([len(x) for x in enc], kind="stable")
    out = np.empty((len(texts), frozen.hidden_size), dtype=np.float32)
    base = frozen.model.base_model.to(device)
    with torch.inference_mode(), base_autocast(device, dtype):
        for start in progress_bar(range(0, len(order), batch_size), desc="base features"):
            idx = order[start:start + batch_size]
            batch = tok.pad({"input_ids": [enc[i] for i in idx]}, return_tensors="pt")
            hidden = base(input_ids=batch["input_ids"].to(device),
                          attention_mask=batch["attention_mask"].to(device)).last_hidden_state
            last = batch["attention_mask"].sum(-1) - 1
            out[idx] = hidden[torch.arange(len(idx)), last.to(device)].float().cpu().numpy()
    return out


def cached_features(frozen: FrozenBaseModel, data: LabeledData, cache: RunCache, *,
                    max_length: int, device: str, dtype: str = "float32") -> np.ndarray:
    """The base's last-token features of `data`, computed once per (base, data, max_length,
    dtype)."""
    key = dict(base=frozen.fingerprint, data=data.fingerprint(), max_length=max_length)
    if dtype != "float32":   # float32 entries keep the keys they had before dtypes existed
        key["dtype"] = dtype
    return cache_arrays(cache, "features", key,
                        lambda: last_token_features(frozen, data.texts, max_length=max_length,
                                                    device=device, dtype=dtype))


def linear_schedule(optimizer, total: int, warmup_ratio: float):
    import torch

    warmup = int(math.ceil(total * warmup_ratio))

    def factor(step: int) -> float:  # linear warm-up then linear decay, as transformers does
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(1, total - warmup))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


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
                 features: np.ndarray | None = None, batch_size: int = 64) -> np.ndarray:
    import torch

    preds = []
    with torch.inference_mode():
        for start in range(0, len(data), batch_size):
            if features is not None:
                logits = frozen.head(torch.as_tensor(features[start:start + batch_size]).to(device))
            else:
                logits = _forward_logits(frozen, data.texts[start:start + batch_size], max_length,
                                         device)
            preds.append(logits.argmax(-1).cpu().numpy())
    return np.concatenate(preds)


@dataclass
class HeadRun:
    """A classification head trained on a frozen base: the model, its history and its result."""

    frozen: FrozenBaseModel
    config: TrainConfig
    history: list[dict[str, float]]
    result: EvalResult


def train_frozen_head(base: str, train: LabeledData, evaluation: LabeledData,
                      config: TrainConfig, *, cache: RunCache, device: str = "cpu",
                      seed: int = 0) -> HeadRun:
    """Load `base` with a seeded classification head, freeze the base, train the head on the
    base's cached features of `train`, and evaluate it on `evaluation`."""
    from lmgate.models.load import load_model

    frozen = load_model(base, "frozen-head", cache, labels=train.labels, seed=seed)
    dtype = inference_dtype(device)
    features = {split.name: cached_features(frozen, split, cache, max_length=config.max_length,
                                            device=device, dtype=dtype)
                for split in (train, evaluation)}
    history = train_classification_head(frozen, train, evaluation, config, seed=seed,
                                        device=device, train_features=features[train.name],
                                        eval_features=features[evaluation.name])
    predictions = predict_head(frozen, evaluation, config.max_length, device,
                               features[evaluation.name])
    result = EvalResult(f"{base} frozen + head", train.labels, evaluation.y, predictions,
                        params={"model": base, "system": "frozen-base head"},
                        info={"parameters": frozen.parameters, "history": history,
                              "features_dtype": dtype,
                              "notes": list(dict.fromkeys([*train.notes, *evaluation.notes]))},
                        examples=evaluation.texts, clusters=evaluation.clusters)
    return HeadRun(frozen, config, history, result)
