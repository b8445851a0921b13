"""Zero/few-shot classification with an instruction-tuned causal LM.

Two decoding modes, chosen per call:

* `score`: the log-likelihood of each label's verbaliser as the continuation of the prompt;
  argmax over labels. When every verbaliser is one token, one forward pass over the prompts
  scores all labels at once (the next-token distribution); otherwise all (prompt, candidate)
  pairs go through one batched forward. Never invalid.
* `generate`: greedy decoding (`do_sample=False`, `max_new_tokens=1` by default),
  the answer parsed back to a label; an unparseable answer is INVALID (-1), counts as wrong, and
  is reported as `invalid_rate`.

Prompts use the tokenizer's chat template when it has one and a plain "Answer:" template when
not. The model runs through `lmgate.models.engines.engine` (length-sorted, left-padded batches; in
`score` mode the token prefix all prompts share runs once and its KV cache is reused).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from lmgate.core.cache import Entry, RunCache, save_arrays
from lmgate.data.types import LabeledData, carried_info
from lmgate.core.errors import ConfigError
from lmgate.metrics.classification import INVALID, classification_metrics
from lmgate.models.engines.engine import (continuation_ids, encode_prompts, generate_from_ids,
                                  greedy_first_tokens, shared_prefix_length)
from lmgate.models.engines.language_model import InProcessLM, LanguageModel
from lmgate.models.store.registry import cost_usd
from lmgate.results.classification import EvalResult

__all__ = ["INVALID", "MODES", "PromptPredictions", "PromptTemplate", "ZeroShotClassifier",
           "agreement", "draw_shots", "shared_prefix_length"]

MODES = ("score", "generate")


@dataclass(frozen=True)
class PromptTemplate:
    """An instruction, the input's name, and one verbaliser (answer string) per label.

    `verbalizers` maps each label name of the data to the answer the model should give, e.g.
    `{"left": "0", "right": "1"}` (the study's 0/1 answers) or `{"left": "left", ...}`.
    """

    instruction: str
    verbalizers: Mapping[str, str]
    input_name: str = "Text"
    system: str | None = None
    answer_prefix: str = "Answer:"          # where the answer starts in plain prompts
    #: Chat prompts: text pre-filled at the start of the assistant's turn (e.g. "Answer:"), so
    #: that a chatty model answers in a word instead of starting a sentence. "" for none.
    response_prefix: str = ""

    def __post_init__(self) -> None:
        answers = [normalise_answer(v) for v in self.verbalizers.values()]
        if any(not a for a in answers):
            raise ConfigError(f"empty verbaliser in {dict(self.verbalizers)}")
        if len(set(answers)) != len(answers):
            raise ConfigError(f"verbalisers are not distinct: {dict(self.verbalizers)}")

    def answers(self, labels: Sequence[str]) -> list[str]:
        """Verbalisers in label-id order; the label set must match exactly."""
        if set(labels) != set(self.verbalizers):
            raise ConfigError(f"prompt verbalisers cover {sorted(self.verbalizers)} but the data's "
                              f"labels are {list(labels)}")
        return [self.verbalizers[name] for name in labels]

    def user_turn(self, text: str) -> str:
        return f"{self.instruction}\n\n{self.input_name}: {text}"


def normalise_answer(text: str) -> str:
    return re.sub(r"[^\w]+", " ", text).strip().lower()


@dataclass
class PromptPredictions:
    """Predicted label ids (INVALID = -1 where an answer could not be parsed) and raw answers;
    for a served model, the token usage its server reported for them
    (`lmgate.models.serving.client.Usage.token_counts`)."""

    y_pred: np.ndarray
    answers: list[str] | None = None
    scores: np.ndarray | None = None            # (n, k) log-likelihoods in score mode
    seconds: float = 0.0
    rechecked: float | None = None              # share re-scored at full precision (cascade)
    usage: dict[str, int] | None = None         # served: the server's token counts

    @property
    def invalid_rate(self) -> float:
        return float(np.mean(self.y_pred == INVALID)) if len(self.y_pred) else 0.0


@dataclass
class ZeroShotClassifier:
    """Prompt a causal LM to classify texts: one in this process (`CausalLM`: token-level
    scoring, shared-prefix KV reuse, the bf16-first cascade) or a served one
    (`lmgate.models.serving.endpoint.EndpointLM`: text requests to its server)."""

    lm: LanguageModel
    template: PromptTemplate
    labels: tuple[str, ...]
    shots: Sequence[tuple[str, int]] = ()        # (text, label id) in-context examples
    batch_size: int = 16
    max_length: int = 512
    cache: RunCache | None = None                # caches predictions by content
    #: Score mode: run the token prefix that every prompt shares (chat header, system prompt,
    #: instruction, shots) once and reuse its KV cache for every batch.
    share_prefix: bool = True
    #: Score mode (and generate mode with one new token): a low-precision copy of `lm` (bf16
    #: on a CPU that has native bf16) scores every example first; examples whose top two label
    #: scores (next tokens) lie within `recheck_margin` nats are scored again by `lm`, so the
    #: prediction is `lm`'s wherever the copy's error could have flipped it (the margin sits
    #: above the largest error benchmarks/p2_zero_shot.py measured; its results say by how much).
    fast: InProcessLM | None = None
    recheck_margin: float = 0.25
    _candidate_ids: list[list[int]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.labels = tuple(self.labels)
        self._answers = self.template.answers(self.labels)
        # A served model (lmgate.models.serving.endpoint) takes text and answers text: no token ids.
        self._served = not hasattr(self.lm, "tokenizer")
        if self._served:
            self._init_served()
            return
        self._chat = bool(getattr(self.lm.tokenizer, "chat_template", None))
        # The labels' tokens as `loglikelihood` scores them (for generate mode's checks).
        self._candidate_ids = [continuation_ids(self.lm.tokenizer, self._separator() + a)
                               for a in self._answers]
        if len({tuple(c) for c in self._candidate_ids}) != len(self._candidate_ids):
            raise ConfigError(f"verbalisers {self._answers} tokenise identically for "
                              f"{self.lm.name}; choose answers the model can tell apart")

    def _init_served(self) -> None:
        self._chat = self.lm.chat
        self._candidate_ids = []
        if self.fast is not None:
            raise ConfigError(f"{self.lm.name} is served: its server chooses the precision, "
                              "so there is no fast copy to score with first (pass fast=None)")
        if self._chat and self.template.response_prefix:
            raise ConfigError(f"{self.lm.name} is served over a chat API, which applies the chat "
                              "template itself: a response_prefix cannot be pre-filled. Use "
                              "api = 'completions' or a template without response_prefix")

    # ---- prompts -------------------------------------------------------------------------------
    def messages(self, text: str) -> list[dict[str, str]]:
        """The chat messages for one input: system prompt, shots, then the input."""
        t = self.template
        messages = [{"role": "system", "content": t.system}] if t.system else []
        for shot_text, shot_label in self.shots:
            messages += [{"role": "user", "content": t.user_turn(shot_text)},
                         {"role": "assistant", "content": self._answers[shot_label]}]
        messages.append({"role": "user", "content": t.user_turn(text)})
        return messages

    def prompt(self, text: str) -> str:
        """The full prompt for one input, ending where the answer starts."""
        t = self.template
        if self._chat:
            if self._served:
                raise ConfigError(f"{self.lm.name}: a chat API takes messages, not prompt text")
            messages = self.messages(text)
            return self.lm.tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=True) + t.response_prefix
        blocks = [t.system] if t.system else []
        blocks += [f"{t.user_turn(s)}\n{t.answer_prefix} {self._answers[y]}" for s, y in self.shots]
        blocks.append(f"{t.user_turn(text)}\n{t.answer_prefix}")
        return "\n\n".join(blocks)

    def _separator(self) -> str:
        return "" if self._chat and not self.template.response_prefix else " "

    def _encode_prompts(self, texts: Sequence[str]) -> list[list[int]]:
        tok = self.lm.tokenizer
        ids = encode_prompts(tok, [self.prompt(t) for t in texts])["input_ids"]
        # Keep the end of long prompts: the instruction's tail and the answer slot matter most.
        return [x[-self.max_length:] for x in ids]

    # ---- decoding ------------------------------------------------------------------------------
    def predict(self, texts: Sequence[str], mode: str = "score",
                max_new_tokens: int = 1) -> PromptPredictions:
        if mode not in MODES:
            raise ConfigError(f"unknown decoding mode {mode!r}; use one of {MODES}")
        if not texts:
            raise ValueError("no texts to classify")
        usage = getattr(self.lm, "usage", None) if self._served else None
        before = usage() if usage is not None else None
        start = time.perf_counter()
        out = self._score(texts) if mode == "score" else self._generate(texts, max_new_tokens)
        out.seconds = time.perf_counter() - start
        if before is not None:
            # What this call's answers reported (calls sharing the client must not overlap it).
            out.usage = (usage() - before).token_counts()
        return out

    def _score(self, texts: Sequence[str]) -> PromptPredictions:
        """Each label's answer as a continuation of each prompt, through the model's
        `loglikelihood`; with a fast copy, it scores first and `lm` re-scores the close calls."""
        if self._served and not self.lm.supports_loglikelihood():
            from lmgate.models.serving.endpoint import unscorable

            raise ConfigError(unscorable(self.lm))
        prompts = [self.prompt(t) for t in texts]
        if self.fast is None:
            scores = self._label_scores(self.lm, prompts)
            return PromptPredictions(scores.argmax(1), scores=scores)
        scores = self._label_scores(self.fast, prompts)
        top2 = np.sort(scores, axis=1)[:, -2:]
        close = np.flatnonzero(top2[:, 1] - top2[:, 0] < self.recheck_margin)
        if len(close):
            scores[close] = self._label_scores(self.lm, [prompts[i] for i in close])
        return PromptPredictions(scores.argmax(1), scores=scores,
                                 rechecked=len(close) / len(prompts))

    def _label_scores(self, lm: LanguageModel, prompts: Sequence[str]) -> np.ndarray:
        """(n, k) log-likelihoods of every label's answer after each prompt, under `lm`."""
        sep = self._separator()
        pairs = [(p, sep + a) for p in prompts for a in self._answers]
        # Prefix sharing is the in-process engine's lever; a server keeps its own cache.
        engine = {} if self._served else {"share_prefix": self.share_prefix}
        flat = lm.loglikelihood(pairs, batch_size=self.batch_size,
                                max_context_tokens=self.max_length, **engine)
        return np.array([score for score, _ in flat]).reshape(len(prompts), len(self._answers))

    def _generate(self, texts: Sequence[str], max_new_tokens: int) -> PromptPredictions:
        """Greedy answers parsed back to labels: from token ids in this process (the prompt
        truncated to `max_length` tokens), from messages or prompt text on a server."""
        if self._served:
            requests = [self.messages(t) if self._chat else self.prompt(t) for t in texts]
            answers = self.lm.generate(requests, max_new_tokens=max_new_tokens)
        else:
            heads = {tuple(c[:max_new_tokens]) for c in self._candidate_ids}
            if len(heads) < len(self._candidate_ids):
                raise ConfigError(f"with max_new_tokens={max_new_tokens}, the answers "
                                  f"{self._answers} start with the same tokens for "
                                  f"{self.lm.name}: a generated answer could not name one "
                                  "label. Raise max_new_tokens or change the verbalisers")
            if self.fast is not None and max_new_tokens == 1:
                return self._first_token_answers(texts)
            answers = generate_from_ids(self.lm, self._encode_prompts(texts),
                                        max_new_tokens=max_new_tokens,
                                        batch_size=self.batch_size,
                                        share_prefix=self.share_prefix)
        y = np.array([self.parse(a) for a in answers], dtype=np.int64)
        return PromptPredictions(y, answers=answers)

    def _first_token_answers(self, texts: Sequence[str]) -> PromptPredictions:
        """One-token greedy answers through the cascade: the fast copy picks each prompt's
        next token, and `lm` picks again where the copy's top two lie within
        `recheck_margin` nats (as label scoring re-scores its close calls)."""
        prompts = self._encode_prompts(texts)
        engine = dict(batch_size=self.batch_size, share_prefix=self.share_prefix)
        tokens, margins = greedy_first_tokens(self.fast, prompts, **engine)
        close = np.flatnonzero(margins < self.recheck_margin)
        if len(close):
            tokens[close], _ = greedy_first_tokens(self.lm, [prompts[i] for i in close], **engine)
        tok = self.lm.tokenizer
        answers = [tok.decode([int(t)], skip_special_tokens=True) for t in tokens]
        y = np.array([self.parse(a) for a in answers], dtype=np.int64)
        return PromptPredictions(y, answers=answers, rechecked=len(close) / len(prompts))

    def token_counts(self, texts: Sequence[str], mode: str, answers: Sequence[str] | None,
                     usage: Mapping[str, int] | None = None) -> dict[str, int]:
        """What classifying `texts` costs in tokens. In process, counted by the model's
        tokenizer: the prompts (truncated as they are scored) and, in score mode, every label's
        answer after each prompt as input; the generated answers as output. A served model's
        tokenizer is the server's: its `usage` as the server reported it
        (`PromptPredictions.usage`; no token counts where the server reported none)."""
        if self._served:
            return dict(usage or {})
        prompts = self._encode_prompts(texts)
        inputs = sum(len(p) for p in prompts)
        outputs = 0
        if mode == "score":
            inputs += len(prompts) * sum(len(c) for c in self._candidate_ids)
        elif answers is not None:
            tok = self.lm.tokenizer
            outputs = sum(len(tok(a, add_special_tokens=False)["input_ids"]) for a in answers)
        return {"input_tokens": int(inputs), "output_tokens": int(outputs)}

    def parse(self, answer: str) -> int:
        """The label whose verbaliser starts the answer (or that the answer starts, when
        generation stopped early); INVALID if none does or another label is named too."""
        got = normalise_answer(answer)
        if not got:
            return INVALID
        normed = [normalise_answer(v) for v in self._answers]
        hits = [i for i, norm in enumerate(normed)
                if got == norm or got.startswith(norm + " ") or norm.startswith(got)]
        if len(hits) != 1:
            return INVALID
        others = (n for j, n in enumerate(normed) if j != hits[0])
        if any(re.search(rf"\b{re.escape(n)}\b", got) for n in others):
            return INVALID  # "negative or positive": names more than one label
        return hits[0]

    # ---- results -------------------------------------------------------------------------------
    def _cached_predict(self, data: LabeledData, mode: str,
                        max_new_tokens: int) -> tuple[PromptPredictions, bool]:
        if self.cache is None:
            return self.predict(data.texts, mode, max_new_tokens), False
        def save(out: PromptPredictions, folder: Path) -> dict[str, Any]:
            save_arrays(folder, y_pred=out.y_pred,
                        **({"scores": out.scores} if out.scores is not None else {}))
            return {"answers": out.answers, "seconds": out.seconds, "rechecked": out.rechecked,
                    "usage": out.usage}

        def load(entry: Entry) -> PromptPredictions:
            arrays = entry.arrays()
            return PromptPredictions(arrays["y_pred"], entry.meta["answers"], arrays.get("scores"),
                                     entry.meta["seconds"], entry.meta.get("rechecked"),
                                     entry.meta.get("usage"))

        cascade = self.fast is not None and (mode == "score" or max_new_tokens == 1)

        memo = self.cache.memo(
            "zero-shot", dict(model=self.lm.fingerprint, template=repr(self.template),
                              labels=self.labels, shots=list(self.shots), data=data.fingerprint(),
                              mode=mode, max_new_tokens=max_new_tokens if mode == "generate" else 0,
                              max_length=self.max_length,
                              **({"fast": self.fast.fingerprint, "recheck": self.recheck_margin}
                                 if cascade else {})),
            lambda: self.predict(data.texts, mode, max_new_tokens), save, load)
        return memo.value, memo.hit


    def evaluate(self, data: LabeledData, mode: str = "score", name: str | None = None,
                 max_new_tokens: int = 1, **params: Any) -> EvalResult:
        """Classify `data` and return an EvalResult with `invalid_rate` among its metrics."""
        if data.labels != self.labels:
            raise ConfigError(f"{data.name} has labels {data.labels}; the prompt was built for "
                              f"{self.labels}")
        out, hit = self._cached_predict(data, mode, max_new_tokens)
        metrics = {**classification_metrics(data.y, out.y_pred, self.labels),
                   "invalid_rate": out.invalid_rate}
        info = {"decoding": mode, "max_new_tokens": max_new_tokens if mode == "generate" else None,
                "shots": len(self.shots), "chat_template": self._chat, "cache_hit": hit,
                "verbalizers": dict(self.template.verbalizers), "seconds": round(out.seconds, 3),
                "examples_per_s": round(len(data) / out.seconds, 3) if out.seconds else None,
                "model_fingerprint": self.lm.fingerprint, "data_fingerprint": data.fingerprint(),
                **self.lm.describe()}
        if out.rechecked is not None:
            first = str(getattr(self.fast.model, "dtype", "low precision")).replace("torch.", "")
            info["precision"] = (f"{first} first, "
                                 f"{out.rechecked:.1%} re-scored at full precision (margin < "
                                 f"{self.recheck_margin} nats)")
        if out.answers is not None:
            info["answer_counts"] = {str(a): int(c) for a, c in
                                     zip(*np.unique(out.answers, return_counts=True))}
        info.update(self.token_counts(data.texts, mode, out.answers, out.usage))
        cost = cost_usd(getattr(self.lm, "spec", None), info.get("input_tokens", 0),
                        info.get("output_tokens", 0))
        if cost is not None and "input_tokens" in info:
            info["cost_usd"] = round(cost, 6)
        return EvalResult(name or f"{self.lm.name}/{mode}", self.labels, data.y, out.y_pred,
                          params={"model": self.lm.name, "decoding": mode, **params},
                          info={**info, **carried_info(data)}, metrics=metrics,
                          examples=data.texts, clusters=data.clusters)


def draw_shots(train: LabeledData, k: int, seed: int) -> list[tuple[str, int]]:
    """k in-context examples drawn from `train` with a seed, spread over the labels."""
    if k <= 0:
        return []
    rng = np.random.default_rng(seed)
    by_label = [np.flatnonzero(train.y == i) for i in range(len(train.labels))]
    picks: list[int] = []
    for r in range(k):
        pool = [i for i in by_label[r % len(by_label)] if i not in picks]
        if pool:
            picks.append(int(rng.choice(pool)))
    rng.shuffle(picks)
    texts = train.texts
    return [(texts[i], int(train.y[i])) for i in picks]


def agreement(a: EvalResult, b: EvalResult) -> float:
    """Share of examples on which two systems predict the same label (INVALID counts as a label)."""
    if a.y_pred.shape != b.y_pred.shape:
        raise ValueError("agreement needs predictions on the same examples")
    return float(np.mean(a.y_pred == b.y_pred))
