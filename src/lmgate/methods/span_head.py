"""Extractive QA (SQuAD-style questions) with a span head on a frozen causal-LM base.

Preprocessing: question first, then context (a causal base only lets context tokens see what
came before them), long contexts in windows with a stride, answers mapped to token spans via
offset mappings, unanswerable questions (and windows without the answer) labelled (0, 0).
The base's per-token features are computed once; the `qa_outputs` head trains on them.
Post-processing: n-best start/end pairs inside the context, a maximum answer length, back to
the context's characters; '' when the null score wins (SQuAD v2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from lmgate.core.cache import RunCache, cache_arrays
from lmgate.core.config import TrainConfig
from lmgate.core.device import autocast, span_feature_dtype
from lmgate.core.progress import progress_bar
from lmgate.data.squad import Question
from lmgate.methods.trainer import linear_schedule
from lmgate.models.heads.frozen import FrozenBaseModel
from lmgate.models.load import load_frozen_base
from lmgate.results.qa import QAResult


@dataclass
class Windows:
    """Tokenised (question, context window) features of a list of questions."""

    input_ids: list[list[int]]
    offsets: list[list[tuple[int, int] | None]]   # None outside the context
    question_index: list[int]
    start: np.ndarray
    end: np.ndarray


def make_windows(tokenizer, questions: Sequence[Question], *, max_length: int,
                 stride: int) -> Windows:
    enc = tokenizer([q.question for q in questions], [q.context for q in questions],
                    truncation="only_second", max_length=max_length, stride=stride,
                    return_overflowing_tokens=True, return_offsets_mapping=True)
    ids, offsets, qidx, starts, ends = [], [], [], [], []
    for w in range(len(enc["input_ids"])):
        qi = enc["overflow_to_sample_mapping"][w]
        seq = enc.sequence_ids(w)
        offs = [tuple(o) if s == 1 else None for o, s in zip(enc["offset_mapping"][w], seq)]
        start = end = 0
        q = questions[qi]
        if q.answers:
            a_start = q.starts[0]
            a_end = a_start + len(q.answers[0])
            inside = [i for i, o in enumerate(offs) if o is not None]
            if inside and offs[inside[0]][0] <= a_start and offs[inside[-1]][1] >= a_end:
                start = next(i for i in inside if offs[i][1] > a_start)
                end = next(i for i in reversed(inside) if offs[i][0] < a_end)
        ids.append(enc["input_ids"][w])
        offsets.append(offs)
        qidx.append(qi)
        starts.append(start)
        ends.append(end)
    return Windows(ids, offsets, qidx, np.array(starts), np.array(ends))


def token_features(frozen: FrozenBaseModel, windows: Windows, *, batch_size: int = 16,
                   device: str = "cpu", dtype: str = "float32") -> np.ndarray:
    """(windows, max_len, hidden) base features, zero beyond each window's length."""
    import torch

    width = max(len(x) for x in windows.input_ids)
    out = np.zeros((len(windows.input_ids), width, frozen.hidden_size), dtype=np.float32)
    base = frozen.model.base_model.to(device)
    with torch.inference_mode(), autocast(device, dtype):
        for s in progress_bar(range(0, len(out), batch_size), desc="base features"):
            rows = windows.input_ids[s:s + batch_size]
            batch = frozen.tokenizer.pad({"input_ids": rows}, return_tensors="pt")
            hidden = base(input_ids=batch["input_ids"].to(device),
                          attention_mask=batch["attention_mask"].to(device)).last_hidden_state
            for j, r in enumerate(rows):
                out[s + j, :len(r)] = hidden[j, :len(r)].float().cpu().numpy()
    return out


def _masked_logits(head, feats, lengths):
    import torch

    logits = head(feats)                                    # (B, L, 2)
    mask = torch.arange(feats.shape[1])[None, :] >= lengths[:, None]
    return logits.masked_fill(mask[..., None], -1e4)


def train_span_head(frozen: FrozenBaseModel, windows: Windows, features: np.ndarray,
                    config: TrainConfig, *, seed: int) -> list[dict[str, float]]:
    """AdamW + linear warm-up/decay on the head; start/end cross-entropy as transformers does."""
    import torch
    import torch.nn.functional as F

    head = frozen.head
    opt = torch.optim.AdamW(head.parameters(), lr=config.learning_rate,
                            weight_decay=config.weight_decay)
    n = len(features)
    sched = linear_schedule(opt, config.epochs * math.ceil(n / config.batch_size),
                            config.warmup_ratio)
    lengths = torch.tensor([len(x) for x in windows.input_ids])
    start, end = torch.as_tensor(windows.start), torch.as_tensor(windows.end)
    history = []
    for epoch in range(config.epochs):
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed + epoch))
        losses = []
        for s in range(0, n, config.batch_size):
            idx = order[s:s + config.batch_size]
            logits = _masked_logits(head, torch.as_tensor(features[idx.numpy()]), lengths[idx])
            loss = (F.cross_entropy(logits[..., 0], start[idx])
                    + F.cross_entropy(logits[..., 1], end[idx])) / 2
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
        history.append({"epoch": epoch + 1, "train_loss": float(np.mean(losses))})
    return history


def predict_spans(frozen: FrozenBaseModel, questions: Sequence[Question], windows: Windows,
                  features: np.ndarray, *, n_best: int = 20,
                  max_answer_tokens: int = 30) -> tuple[dict[str, str], dict[str, float]]:
    """Answer text per question id ('' when the null span wins) and a no-answer probability."""
    import torch

    lengths = torch.tensor([len(x) for x in windows.input_ids])
    with torch.inference_mode():
        logits = _masked_logits(frozen.head, torch.as_tensor(features), lengths).numpy()
    best: dict[int, tuple[float, str]] = {}
    null: dict[int, float] = {}
    for w, qi in enumerate(windows.question_index):
        s_log, e_log, offs = logits[w, :, 0], logits[w, :, 1], windows.offsets[w]
        null[qi] = min(null.get(qi, math.inf), float(s_log[0] + e_log[0]))
        for i in np.argsort(s_log)[::-1][:n_best]:
            for j in np.argsort(e_log)[::-1][:n_best]:
                if (offs[i] is None or offs[j] is None or j < i or j - i + 1 > max_answer_tokens):
                    continue
                score = float(s_log[i] + e_log[j])
                if qi not in best or score > best[qi][0]:
                    best[qi] = (score, questions[qi].context[offs[i][0]:offs[j][1]].strip())
    answers, na_probs = {}, {}
    for qi, q in enumerate(questions):
        score, text = best.get(qi, (-math.inf, ""))
        margin = null.get(qi, 0.0) - score
        answers[q.id] = "" if margin > 0 else text
        na_probs[q.id] = float(1 / (1 + math.exp(-max(min(margin, 50), -50))))
    return answers, na_probs


def cached_token_features(frozen: FrozenBaseModel, windows: Windows,
                          questions: Sequence[Question], cache: RunCache, *,
                          device: str = "cpu", dtype: str = "float32") -> np.ndarray:
    """`token_features` of the windows, computed once per (base, questions, windowing, dtype)."""
    key = dict(qa_features=frozen.fingerprint, ids=[q.id for q in questions],
               windows=[len(x) for x in windows.input_ids])
    if dtype != "float32":   # float32 entries keep the keys they had before dtypes existed
        key["dtype"] = dtype
    return cache_arrays(cache, "features", key,
                        lambda: token_features(frozen, windows, device=device, dtype=dtype))


@dataclass
class SpanHeadRun:
    """A span head trained on a frozen base, and its answers to the test questions."""

    frozen: FrozenBaseModel
    history: list[dict[str, float]]
    result: QAResult


def train_frozen_span_head(base: str, train: Sequence[Question], test: Sequence[Question],
                           config: TrainConfig, *, max_length: int, stride: int,
                           cache: RunCache, device: str = "cpu", seed: int = 0) -> SpanHeadRun:
    """Load `base` with a seeded span head, freeze the base, train the head on the base's
    cached token features of the train windows, and answer the test questions."""
    frozen = load_frozen_base(base, cache, task="qa", seed=seed)
    windows = {name: make_windows(frozen.tokenizer, qs, max_length=max_length, stride=stride)
               for name, qs in (("train", train), ("test", test))}
    dtype = span_feature_dtype(device)
    feats = {name: cached_token_features(frozen, windows[name], qs, cache, device=device,
                                         dtype=dtype)
             for name, qs in (("train", train), ("test", test))}
    history = train_span_head(frozen, windows["train"], feats["train"], config, seed=seed)
    answers, na_probs = predict_spans(frozen, test, windows["test"], feats["test"])
    result = QAResult(f"{base} frozen + span head", test, answers, na_probs,
                      params={"model": base, "system": "frozen-base span head"},
                      info={"parameters": frozen.parameters, "history": history,
                            "windows": len(windows["train"].input_ids), "features_dtype": dtype})
    return SpanHeadRun(frozen, history, result)
