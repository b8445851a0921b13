"""Extractive QA with a span head on a frozen causal-LM base (seed 001, SQuAD).

Preprocessing: question first, then context (a causal base only lets context tokens see what
came before them), long contexts in windows with a stride, answers mapped to token spans via
offset mappings, unanswerable questions (and windows without the answer) labelled (0, 0).
The base's per-token features are computed once; the `qa_outputs` head trains on them.
Post-processing: n-best start/end pairs inside the context, a maximum answer length, back to
the context's characters; '' when the null score wins (SQuAD v2).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from lmgate.cache import RunCache, cache_arrays
from lmgate.errors import DataError
from lmgate.models.causal import LanguageModel, inference_dtype
from lmgate.models.heads import FrozenBaseModel, base_autocast, linear_schedule
from lmgate.settings import TrainConfig
from lmgate.progress import progress_bar


_LEADIN = re.compile(r"^(?:the answer is\s*:?\s*)+", re.IGNORECASE)


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    context: str
    answers: tuple[str, ...]            # () when unanswerable
    starts: tuple[int, ...]
    article: str = ""


def read_squad(path: str | Path) -> list[Question]:
    """SQuAD v1.1/v2.0 JSON (`data[].paragraphs[].qas[]`) as a flat list of questions."""
    doc = json.loads(Path(path).read_text())
    if "data" not in doc:
        raise DataError(f"{path}: not SQuAD JSON (no 'data' key)")
    out = []
    for article in doc["data"]:
        for para in article["paragraphs"]:
            for qa in para["qas"]:
                answers = [] if qa.get("is_impossible") else qa.get("answers", [])
                for a in answers:
                    if para["context"][a["answer_start"]:a["answer_start"] + len(a["text"])] != a["text"]:
                        raise DataError(f"{path}: question {qa['id']}: answer {a['text']!r} is not "
                                        f"at offset {a['answer_start']} of its context")
                out.append(Question(qa["id"], qa["question"], para["context"],
                                    tuple(a["text"] for a in answers),
                                    tuple(a["answer_start"] for a in answers),
                                    article.get("title", "")))
    return out


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
    with torch.inference_mode(), base_autocast(device, dtype):
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


def zero_shot_answers(lm: "LanguageModel", questions: Sequence[Question], *, max_new_tokens: int = 16,
                      batch_size: int = 8) -> dict[str, str]:
    """Greedy generative QA with a prompt; 'unanswerable' maps to ''."""
    from lmgate.prompting import greedy_generate

    prompts = [("Answer the question with a short span copied from the context. If the context "
                f"does not answer it, reply unanswerable.\nContext: {q.context}\n"
                f"Question: {q.question}\nAnswer:") for q in questions]
    outputs = greedy_generate(lm, prompts, batch_size=batch_size, max_new_tokens=max_new_tokens)
    # Small chat models preface answers ("The answer is: Melbourne"): keep the answer itself.
    answers = [_LEADIN.sub("", o.strip()).strip().rstrip(".") for o in outputs]
    return {q.id: "" if "unanswerable" in a.lower() else a for q, a in zip(questions, answers)}


@dataclass
class QAResult:
    """Answers of one system to SQuAD questions, with the full metric set."""

    name: str
    questions: Sequence[Question]
    answers: dict[str, str]
    na_probs: dict[str, float] | None = None
    params: dict[str, Any] | None = None
    info: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        from lmgate.metrics.qa import best_over_golds, squad_v2, text_metrics, token_f1

        self.params, self.info = dict(self.params or {}), dict(self.info or {})
        golds = {q.id: list(q.answers) for q in self.questions}
        self.metrics = squad_v2(self.answers, golds, self.na_probs)
        answerable = [q for q in self.questions if q.answers]
        if answerable:
            texts = text_metrics([self.answers[q.id] for q in answerable],
                                 [q.answers[0] for q in answerable])
            self.metrics.update({f"HasAns_{k}": v for k, v in texts.items()})
        self.per_question_f1 = np.array([best_over_golds(token_f1, self.answers[q.id], golds[q.id])
                                         for q in self.questions])
        self.info.setdefault("meteor_note", "METEOR without WordNet synonyms (not available "
                                            "offline): exact and stem matches only")

    @property
    def n(self) -> int:
        return len(self.questions)

    @property
    def abstain_rate(self) -> float:
        """Share of questions answered with nothing (predicted unanswerable)."""
        return sum(not self.answers[q.id].strip() for q in self.questions) / max(1, self.n)

    def __getitem__(self, metric: str) -> float:
        return self.metrics[metric]

    def intervals(self) -> dict[str, Any]:
        """Bootstrap 95% CIs of F1, HasAns F1 and NoAns F1 (0-100), resampling whole
        paragraphs: questions about one context are not independent."""
        from lmgate.metrics.stats import bootstrap_mean_ci

        out = {}
        subsets = {"f1": [True] * self.n, "HasAns_f1": [bool(q.answers) for q in self.questions],
                   "NoAns_f1": [not q.answers for q in self.questions]}
        for metric, keep in subsets.items():
            keep = np.asarray(keep)
            contexts = [q.context for q, k in zip(self.questions, keep) if k]
            if keep.any():
                out[metric] = bootstrap_mean_ci(self.per_question_f1[keep], scale=100,
                                                clusters=contexts if len(set(contexts)) > 1 else None)
        return out

    def predictions(self) -> dict[str, Any]:
        return {"ids": [q.id for q in self.questions],
                "answers": [self.answers[q.id] for q in self.questions],
                "golds": [list(q.answers) for q in self.questions]}


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
    from lmgate.models.load import load_model

    frozen = load_model(base, "frozen-head", cache, task="qa", seed=seed)
    windows = {name: make_windows(frozen.tokenizer, qs, max_length=max_length, stride=stride)
               for name, qs in (("train", train), ("test", test))}
    dtype = inference_dtype(device)
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
