"""Greedy decoding's output layer screened in bf16, without changing a token.

On a small LM the output layer is most of a decoding step (Gemma 3 270M: 168M of its 268M
parameters are the 262k x 640 vocabulary matrix; SmolLM2-135M: 28M of 135M). On a CPU with
native bf16, that matrix product is much faster in bf16, but bf16 logits change greedy choices.
Screening keeps the float32 choice: the bf16 logits, with a bound on their error, rule out every
token that cannot be the float32 argmax, and the few that remain get exact float32 logits.

The bound, per row h and token j: rounding h and w_j to bf16 (unit roundoff u = 2^-8) changes
each product by at most (2u + u^2)|h_i w_ji|, so the dot product by at most
(2u + u^2) ||h|| ||w_j|| (Cauchy-Schwarz); rounding the float32 sum to bf16 adds u |logit|. With
E the largest such error in the row, a token whose bf16 logit is more than 2E below the bf16
maximum is below the float32 logit of that maximum's token, so it is not the argmax. Tokens
inside 2E are re-scored in float32 (a gather of their rows); a row with too many is scored in
float32 whole. Non-candidates keep their bf16 logits, which only greedy argmax reads.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator, Sequence

from lmgate.core.device import cpu_has_native_bf16, is_cuda

BF16_UNIT = 2.0 ** -8
#: A row's top k bf16 logits are re-scored in float32 by gathering their rows, at the first k
#: that holds all its candidates; a row with more is scored in float32 whole (Gemma 3
#: translation rows: 2-28 while a sentence is being written, thousands after its end).
CANDIDATES = (64, 4096)


def screening_applies(model: Any, device: str) -> bool:
    """Whether to screen: float32 weights on a CPU with native bf16, a bias-free output layer."""
    import torch

    head = model.get_output_embeddings()
    weight = getattr(head, "weight", None)

    return (not is_cuda(device) and cpu_has_native_bf16() and weight is not None
            and weight.dtype == torch.float32 and getattr(head, "bias", None) is None)


def screened_logits(hidden, weight, low, max_row_norm: float, done=None):
    """Logits of `hidden` (..., d) under `weight` (V, d) whose argmax over V is the float32
    one: exact float32 at every candidate, bf16 (`low` = weight in bf16) elsewhere. Rows in
    `done` (a bool mask over the flattened rows: finished sequences, whose next token the
    generator replaces by padding) keep their bf16 logits."""
    import torch

    flat = hidden.reshape(-1, hidden.shape[-1]).float()
    approx = (flat.to(torch.bfloat16) @ low.T).float()
    error = ((2 * BF16_UNIT + BF16_UNIT ** 2) * flat.norm(dim=-1) * max_row_norm
             + BF16_UNIT * approx.abs().max(dim=-1).values * (1 + BF16_UNIT))
    error = error * 1.001 + 1e-5   # float32 accumulation (d terms) and the bound's own rounding
    # The candidates are a row's top `count` bf16 logits: re-score the top k of each row
    # (counting inside them is cheap; a comparison over the whole vocabulary is not), then the
    # rows with more candidates at a larger k, and the rest in float32 whole (which reads the
    # whole matrix, even for one row).
    rows = torch.arange(len(flat), device=flat.device)
    if done is not None and done.shape == rows.shape:
        rows = rows[~done]
    out = approx
    for k in CANDIDATES:
        if len(rows) == 0:
            break
        k = min(k, approx.shape[-1])
        values, index = approx[rows].topk(k, dim=-1)
        counts = (values >= (values[:, :1] - 2 * error[rows, None])).sum(dim=-1)
        exact = torch.einsum("nd,nkd->nk", flat[rows], weight[index])
        out[rows] = approx[rows].scatter(-1, index, exact)
        rows = rows[counts >= k]   # candidates may lie beyond this row's top k
    if len(rows):
        out[rows] = flat[rows] @ weight.T
    return out.reshape(*hidden.shape[:-1], weight.shape[0])


class Screen:
    """The screened output layer of one model while a block runs (`bf16_screened_head`), and
    which rows of the batch being generated have finished (seen through a stopping
    criterion that never stops anything itself)."""

    def __init__(self, head: Any) -> None:
        import torch

        self.weight = head.weight.detach()
        self.low = self.weight.to(torch.bfloat16)
        self.max_row_norm = float(self.weight.norm(dim=1).max())
        self.done = None

    def __call__(self, hidden):
        return screened_logits(hidden, self.weight, self.low, self.max_row_norm, self.done)

    def generate_kwargs(self, prompt_width: int, stop_ids: Sequence[int]) -> dict[str, Any]:
        """What `model.generate` needs for this batch: a criterion that marks the rows that
        wrote a stop token after the prompt (`prompt_width` tokens, padding included)."""
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList

        screen = self
        stops = torch.tensor(sorted({i for i in stop_ids if i is not None}), dtype=torch.long)
        screen.done = None

        class MarkFinished(StoppingCriteria):
            def __call__(self, input_ids, scores, **kwargs):
                screen.done = torch.isin(input_ids[:, prompt_width:], stops).any(dim=-1)
                return torch.zeros(len(input_ids), dtype=torch.bool, device=input_ids.device)

        return {"stopping_criteria": StoppingCriteriaList([MarkFinished()])}


class _Unscreened:
    def generate_kwargs(self, prompt_width: int, stop_ids: Sequence[int]) -> dict[str, Any]:
        return {}


@contextmanager
def bf16_screened_head(model: Any, device: str) -> Iterator[Screen | _Unscreened]:
    """Inside this block `model`'s output layer screens in bf16 (see the module docstring)
    where `screening_applies`. For greedy decoding only (logits of tokens that cannot win are
    approximate); pass `generate_kwargs(...)` of what it yields to each `generate` call."""
    if not screening_applies(model, device):
        yield _Unscreened()
        return
    head = model.get_output_embeddings()
    screen = Screen(head)
    head.forward = screen
    try:
        yield screen
    finally:
        del head.forward   # the class's own forward again
