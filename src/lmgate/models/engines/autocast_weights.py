"""Frozen weights that autocast would re-cast at every forward, cast once instead.

torch's autocast keeps a cast copy only of leaf weights that require gradients; a frozen
float32 weight is cast again in every forward. For a causal LM's output layer with a 262k-entry
vocabulary (Gemma 3) that is 168M values a step, which a bf16 copy made once spares; the
adapters trained are identical (tests/test_lora.py; the speed-up: benchmarks/p10_lora_target_logits.py).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator


@contextmanager
def frozen_output_layer_cast(model, dtype) -> Iterator[None]:
    """Inside the block, `model`'s output layer computes with a `dtype` copy of its weight, as
    autocast to `dtype` would cast it anyway (the same products, bit for bit); the original
    weight (tied to the input embeddings where it was) is back on exit. Nothing changes for a
    trainable output layer, one already in `dtype`, or a model without one."""
    import torch

    layer = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    weight = getattr(layer, "weight", None)
    if weight is None or weight.requires_grad or weight.dtype == dtype:
        yield
        return
    layer.weight = torch.nn.Parameter(weight.detach().to(dtype), requires_grad=False)
    try:
        yield
    finally:
        layer.weight = weight
