"""Parameter accounting: total, trainable, and what a task head adds to its base."""

from __future__ import annotations


def count_parameters(model) -> dict[str, int]:
    """{'total', 'trainable', 'base', 'added_by_head'} for a transformers model with a head."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    base_model = getattr(model, "base_model", model)
    base = sum(p.numel() for p in base_model.parameters()) if base_model is not model else total
    return {"total": total, "trainable": trainable, "base": base, "added_by_head": total - base}
