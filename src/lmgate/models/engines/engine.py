"""The in-process engine of a transformers causal LM: batched log-likelihoods of candidate
continuations and greedy generation.

Batches are length-sorted and left-padded, under `torch.inference_mode`. Log-likelihood scoring
keeps only the last positions' logits (the vocabulary is large), and can run the token prefix
that every row shares (chat header, system prompt, instruction, shots) once, reusing its KV
cache for every batch.
"""

from __future__ import annotations

import copy
import inspect
from typing import Any, Iterator, Sequence

import numpy as np

from lmgate.core.progress import progress_bar
from lmgate.models.engines.interface import InProcessLM
from lmgate.models.engines.screened_head import bf16_screened_head


def _as_text_start(tokenizer, texts: Sequence[str]) -> tuple[list[str], bool]:
    """`texts` without a BOS a chat template wrote, and whether the tokenizer adds its own."""
    bos = getattr(tokenizer, "bos_token", None)
    adds_bos = bos is not None and tokenizer.bos_token_id in tokenizer("")["input_ids"]
    if adds_bos:
        texts = [t[len(bos):] if t.startswith(bos) else t for t in texts]
    return list(texts), adds_bos


def encode_prompts(tokenizer, texts: Sequence[str], **kwargs: Any):
    """Tokenise prompts as the start of a text: with the BOS token where the tokenizer adds one
    (Gemma reads garbage without it; SmolLM2's adds none), never twice (a chat template may
    have written it already). Continuations are tokenised without special tokens."""
    texts, adds_bos = _as_text_start(tokenizer, texts)
    return tokenizer(texts, add_special_tokens=adds_bos, **kwargs)


def encode_prompt(tokenizer, text: str) -> list[int]:
    """The token ids of one prompt, as `encode_prompts` makes them."""
    (text,), adds_bos = _as_text_start(tokenizer, [text])
    return tokenizer(text, add_special_tokens=adds_bos)["input_ids"]


def continuation_ids(tokenizer, text: str) -> list[int]:
    """The token ids of `text` as a continuation on its own: the tail of it encoded as a text
    start beyond what an empty start encodes to (a BOS), so a label's tokens are the same
    after every context."""
    start = encode_prompt(tokenizer, "")
    full = encode_prompt(tokenizer, text)
    if full[:len(start)] != start:
        return tokenizer(text, add_special_tokens=False)["input_ids"]
    return full[len(start):]


def kv_cache_name(model: Any) -> str:
    """What a KV cache is called in forward()'s arguments and outputs: `cache` in recent
    transformers 5.x, `past_key_values` before."""
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def shared_prefix_length(rows: Sequence[Sequence[int]]) -> int:
    """How many leading tokens all rows share, leaving every row at least one token of its own
    (0 for fewer than two rows)."""
    if len(rows) < 2:
        return 0
    first, n = rows[0], max(min(map(len, rows)) - 1, 0)
    for row in rows[1:]:
        if row[:n] != first[:n]:   # the common case (equal prefixes) stays one C-level compare
            n = next(i for i in range(n) if row[i] != first[i])
    return n


def by_length(rows: Sequence[Sequence[int]], batch_size: int) -> list[np.ndarray]:
    """Indices of `rows` in batches of similar length, shortest first."""
    order = np.argsort([len(x) for x in rows], kind="stable")
    return [order[start:start + batch_size] for start in range(0, len(order), batch_size)]


def length_batches(rows: Sequence[Sequence[int]], batch_size: int, desc: str) -> Iterator[np.ndarray]:
    """`by_length`'s batches with a progress bar."""
    yield from progress_bar(by_length(rows, batch_size), desc=desc)


def prefix_groups(rows: Sequence[Sequence[int]], batch_size: int, *, beyond: int,
                  min_shared: int = 32) -> list[list[int]]:
    """Groups (at most `batch_size` rows) of rows that share at least `min_shared` leading
    tokens beyond the first `beyond` (e.g. several questions about one passage, the passage
    first): lexicographic neighbours, whose common prefix is the smallest of their adjacent
    ones. A row that shares so much with no other row is left out."""
    order = sorted(range(len(rows)), key=lambda i: tuple(rows[i]))
    groups: list[list[int]] = []
    run: list[int] = []
    for i in order:
        if run and (len(run) == batch_size
                    or shared_prefix_length([rows[run[-1]], rows[i]]) < beyond + min_shared):
            groups.append(run)
            run = []
        run.append(i)
    groups.append(run)
    return [g for g in groups if len(g) > 1]


def pad_left(lm: InProcessLM, rows: Sequence[list[int]]):
    """(input ids, attention mask) of `rows`, left-padded with the tokenizer's pad token."""
    import torch

    width = max(len(r) for r in rows)
    pad = lm.tokenizer.pad_token_id
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, width - len(r):] = torch.tensor(r)
        mask[i, width - len(r):] = 1
    return ids.to(lm.device), mask.to(lm.device)


def prefix_cache(lm: InProcessLM, model, prefix: list[int]):
    """The KV cache of `prefix` under `model`."""
    import torch

    ids = torch.tensor([prefix], device=lm.device)
    out = model(input_ids=ids, use_cache=True, logits_to_keep=1)
    return getattr(out, kv_cache_name(model))


def continuing(prefix, mask, prefix_len: int):
    """For a batch of rows (attention `mask`, left-padded) that continue a prefix's KV cache:
    a copy of the cache repeated per row, and the mask with the prefix's positions in front
    (padding then sits between the prefix and each row's own tokens, hidden by the mask)."""
    import torch

    past = copy.deepcopy(prefix)
    past.batch_repeat_interleave(len(mask))
    return past, torch.cat([mask.new_ones(len(mask), prefix_len), mask], dim=1)


def forward_logprobs(lm: InProcessLM, model, rows: Sequence[list[int]], keep: int,
                     prefix=None, prefix_len: int = 0):
    """Log-probabilities at the last `keep` positions only (the vocabulary is large).
    With `prefix` (a KV cache of `prefix_len` tokens), `rows` continue that prefix."""
    import torch

    ids, mask = pad_left(lm, rows)
    # Left padding: positions must count from each row's first real token.
    positions = (mask.cumsum(-1) - 1).clamp(min=0) + prefix_len
    extra: dict[str, Any] = {"use_cache": prefix is not None}
    if prefix is not None:
        extra[kv_cache_name(model)], mask = continuing(prefix, mask, prefix_len)
    logits = model(input_ids=ids, attention_mask=mask, position_ids=positions,
                   logits_to_keep=keep, **extra).logits
    return torch.log_softmax(logits[:, -keep:].float(), dim=-1)


def _prompt_batches(lm: InProcessLM, model, prompts: Sequence[list[int]], batch_size: int,
                    share_prefix: bool, desc: str):
    """(prompt indices, their tokens after the shared prefix, the prefix's `forward_logprobs`
    arguments) per length batch; with `share_prefix`, the prefix all prompts share runs once.
    Call inside `torch.inference_mode()`."""
    n = shared_prefix_length(prompts) if share_prefix else 0
    shared = {"prefix": prefix_cache(lm, model, prompts[0][:n]), "prefix_len": n} if n else {}
    for idx in length_batches(prompts, batch_size, desc):
        yield idx, [prompts[i][n:] for i in idx], shared


def continuation_scores(lm: InProcessLM, prompts: Sequence[list[int]],
                        candidates: Sequence[list[int]], *, batch_size: int = 16,
                        share_prefix: bool = True, model=None) -> tuple[np.ndarray, np.ndarray]:
    """(n, k) sums of log-probabilities of each of the k candidate continuations after each
    of the n prompts (token ids), under `model` (default `lm.model`, e.g. a bf16 copy's), and
    (n, k) whether greedy decoding would write that candidate.

    When every candidate is one token, one forward pass per batch scores all of them (the
    next-token distribution); otherwise all (prompt, candidate) rows go through one batched
    forward. With `share_prefix`, the prefix all prompts share runs once."""
    import torch

    model = lm.model if model is None else model
    k = len(candidates)
    scores = np.empty((len(prompts), k), dtype=np.float64)
    greedy = np.zeros((len(prompts), k), dtype=bool)
    single = all(len(c) == 1 for c in candidates)
    first = [c[0] for c in candidates]
    with torch.inference_mode():
        for idx, rows, shared in _prompt_batches(lm, model, prompts, batch_size, share_prefix,
                                                 "score"):
            if single:  # one forward scores every candidate: the next-token distribution
                logp = forward_logprobs(lm, model, rows, keep=1, **shared)[:, -1, :]
                scores[idx] = logp[:, first].cpu().numpy()
                greedy[idx] = (logp.argmax(-1)[:, None].cpu().numpy() == np.array(first))
                continue
            rows = [row + c for row in rows for c in candidates]
            logp = forward_logprobs(lm, model, rows, keep=1 + max(map(len, candidates)),
                                    **shared)
            for r in range(len(rows)):
                cand = candidates[r % k]
                # logits at position t predict token t+1; the candidate ends the row.
                steps = logp[r, -len(cand) - 1:-1, :]
                wanted = torch.tensor(cand, device=steps.device)
                scores[idx[r // k], r % k] = float(steps.gather(-1, wanted[:, None]).sum())
                greedy[idx[r // k], r % k] = bool((steps.argmax(-1) == wanted).all())
    return scores, greedy


def greedy_first_tokens(lm: InProcessLM, prompts: Sequence[list[int]], *, batch_size: int = 16,
                        share_prefix: bool = True, model=None) -> tuple[np.ndarray, np.ndarray]:
    """The token greedy decoding writes first after each prompt (token ids) under `model`
    (default `lm.model`, e.g. a bf16 copy's), and its margin: how many nats its
    log-probability lies above the runner-up's. One forward per length batch, keeping the last
    position's logits; with `share_prefix`, the prefix all prompts share runs once."""
    import torch

    model = lm.model if model is None else model
    tokens = np.empty(len(prompts), dtype=np.int64)
    margins = np.empty(len(prompts), dtype=np.float64)
    with torch.inference_mode():
        for idx, rows, shared in _prompt_batches(lm, model, prompts, batch_size, share_prefix,
                                                 "first token"):
            top = forward_logprobs(lm, model, rows, keep=1, **shared)[:, -1, :].topk(2, dim=-1)
            tokens[idx] = top.indices[:, 0].cpu().numpy()
            margins[idx] = (top.values[:, 0] - top.values[:, 1]).cpu().numpy()
    return tokens, margins


def loglikelihood(lm: InProcessLM, requests: Sequence[tuple[str, str]], *,
                  batch_size: int = 16, max_context_tokens: int | None = None,
                  share_prefix: bool = True) -> list[tuple[float, bool]]:
    """For each (context, continuation) text pair: the sum of the continuation's token
    log-probabilities after the context, and whether greedy decoding would write it.

    The context is tokenised as the start of a text (`encode_prompt`: BOS where the tokenizer
    adds one; its last `max_context_tokens` tokens kept); the continuation on its own, without
    special tokens, so a label's tokens are the same after every context. Contexts that ask for
    the same continuations (a classifier's labels) are scored together: one forward per batch
    for one-token continuations, the prefix all their contexts share run once."""
    tok = lm.tokenizer
    cont_ids: dict[str, list[int]] = {}
    for _, continuation in requests:
        if continuation not in cont_ids:
            ids = continuation_ids(tok, continuation)
            if not ids:
                raise ValueError(f"{lm.name}: the continuation {continuation!r} has no tokens")
            cont_ids[continuation] = ids
    # A row: a run of consecutive requests with one context (a classifier asks each prompt
    # for every label in turn). Rows that ask for the same continuations are scored together,
    # in their order: duplicates stay rows of their own, so batches are what they would be.
    rows: list[tuple[str, list[int]]] = []
    for i, (context, _) in enumerate(requests):
        if rows and rows[-1][0] == context and \
                requests[i][1] not in {requests[j][1] for j in rows[-1][1]}:
            rows[-1][1].append(i)
        else:
            rows.append((context, [i]))
    groups: dict[tuple[str, ...], list[tuple[str, list[int]]]] = {}
    for context, members in rows:
        groups.setdefault(tuple(requests[j][1] for j in members), []).append((context, members))
    out: list[tuple[float, bool]] = [(0.0, False)] * len(requests)
    for continuations, members in groups.items():
        prompts = [encode_prompt(tok, context) for context, _ in members]
        if max_context_tokens:
            prompts = [ids[-max_context_tokens:] for ids in prompts]
        scores, greedy = continuation_scores(lm, prompts, [cont_ids[c] for c in continuations],
                                             batch_size=batch_size, share_prefix=share_prefix)
        for row, (_, indices) in enumerate(members):
            for column, index in enumerate(indices):
                out[index] = (float(scores[row, column]), bool(greedy[row, column]))
    return out


def generate_from_ids(lm: InProcessLM, prompts: Sequence[list[int]], *, max_new_tokens: int,
                      batch_size: int = 16, stop_ids: Sequence[int] | None = None,
                      share_prefix: bool = True) -> list[str]:
    """Greedy continuations (decoded, special tokens dropped) of prompts given as token ids,
    ending at `stop_ids` (default: the model's EOS tokens). With `share_prefix`, the token
    prefix every prompt shares runs once and each batch continues a copy of its KV cache
    (the zero-shot classifier's prompts share most of their tokens); prompts that share a
    longer prefix among themselves (`prefix_groups`: questions about one passage) form batches
    that continue that prefix's cache instead."""
    import torch

    answers: list[str] = [""] * len(prompts)
    tok = lm.tokenizer
    stops = list(_eos_ids(lm.model) if stop_ids is None else stop_ids)
    n_all = shared_prefix_length(prompts) if share_prefix else 0
    groups = prefix_groups(prompts, batch_size, beyond=n_all) if share_prefix else []
    grouped = {i for g in groups for i in g}
    rest = [i for i in range(len(prompts)) if i not in grouped]
    batches = [(g, shared_prefix_length([prompts[i] for i in g])) for g in groups] + \
        [([rest[j] for j in b], n_all) for b in by_length([prompts[i] for i in rest], batch_size)]
    with torch.inference_mode(), bf16_screened_head(lm.model, lm.device) as screen:
        common = prefix_cache(lm, lm.model, prompts[0][:n_all]) if n_all else None
        for idx, n in progress_bar(batches, desc="generate"):
            prefix = common if n == n_all else prefix_cache(lm, lm.model, prompts[idx[0]][:n])
            ids, mask = pad_left(lm, [prompts[i][n:] for i in idx])
            past = None
            if prefix is not None:   # generate() counts positions from the mask
                past, mask = continuing(prefix, mask, n)
                head = torch.tensor([prompts[idx[0]][:n]], device=ids.device).expand(len(idx), n)
                ids = torch.cat([head, ids], 1)
            new = _generate_batch(lm, ids, mask, past, max_new_tokens=max_new_tokens,
                                  stops=stops, screen=screen)
            for j, i in enumerate(idx):
                answers[i] = tok.decode(new[j], skip_special_tokens=True)
    return answers


#: A batch is generated `PRUNE_EVERY` new tokens at a time, and the rows that have finished
#: leave it (and its KV cache) in between, so later steps compute only the rows still being
#: written: whole-batch decoding spends many row-steps on rows that have finished
#: (benchmarks/p13_pruned_generation.py). A pause costs one `generate` call's set-up.
PRUNE_EVERY = 4


def _generate_batch(lm: InProcessLM, ids, mask, past, *, max_new_tokens: int,
                    stops: Sequence[int], screen) -> list:
    """The greedy new tokens of each row of one left-padded batch (`past`: a KV cache of the
    first tokens of every row, or None), each up to and including its first stop token.
    Tokens are those of one uninterrupted `generate` call: a paused row resumes from its own
    KV cache, and rows do not interact."""
    import torch

    width = ids.shape[1]
    stop = torch.tensor(sorted(set(stops)), dtype=torch.long, device=ids.device)
    name = kv_cache_name(lm.model)
    new: list = [None] * len(ids)
    rows = list(range(len(ids)))
    left = max_new_tokens
    while True:
        extra = {} if past is None else {name: past}
        out = lm.model.generate(input_ids=ids, attention_mask=mask, do_sample=False,
                                max_new_tokens=min(PRUNE_EVERY, left), num_beams=1,
                                temperature=None, top_p=None, top_k=None,
                                eos_token_id=list(stops) or None,
                                pad_token_id=lm.tokenizer.pad_token_id,
                                return_dict_in_generate=True,
                                **extra, **screen.generate_kwargs(width, stops))
        seq = out.sequences
        left -= seq.shape[1] - ids.shape[1]
        finished = torch.isin(seq[:, width:], stop).any(dim=-1)
        if left <= 0 or bool(finished.all()):
            finished[:] = True
        for j in finished.nonzero().flatten().tolist():
            tail = seq[j, width:]
            hits = torch.isin(tail, stop).nonzero()
            new[rows[j]] = tail[:int(hits[0]) + 1] if len(hits) else tail
        if bool(finished.all()):
            return new
        keep = (~finished).nonzero().flatten()
        past = getattr(out, "cache", None)
        if past is None:
            past = out.past_key_values
        past.batch_select_indices(keep)
        mask = torch.cat([mask, mask.new_ones(len(mask), seq.shape[1] - ids.shape[1])], 1)[keep]
        ids, rows = seq[keep], [rows[k] for k in keep.tolist()]


def _eos_ids(model: Any) -> list[int]:
    """The token ids that end generation under `model`'s generation config."""
    eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    return [] if eos is None else [eos] if isinstance(eos, int) else list(eos)


def greedy_generate(lm: InProcessLM, prompts: Sequence[str], *, batch_size: int = 16,
                    max_new_tokens: int = 64, stop_at_newline: bool = True,
                    share_prefix: bool = True) -> list[str]:
    """Batched greedy continuations of raw prompts (`generate_from_ids`: left padding,
    length-sorted, the shared prefix run once), stopping at EOS or, by default, at the first
    newline. On a CPU with native bf16 the output layer is screened in bf16
    (`lmgate.models.engines.screened_head`): the float32 tokens, sooner (benchmarks/p11_generation.py)."""
    tok = lm.tokenizer
    stops = [tok.eos_token_id]
    if stop_at_newline:
        stops += tok("\n", add_special_tokens=False)["input_ids"][-1:]
    return generate_from_ids(lm, encode_prompts(tok, prompts)["input_ids"],
                             max_new_tokens=max_new_tokens, batch_size=batch_size,
                             stop_ids=stops, share_prefix=share_prefix)
