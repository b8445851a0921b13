"""The language-model interface that prompting, generation, QA and LoRA use, and lmgate's
in-process transformers implementation of it (`CausalLM`, loaded by `lmgate.models.load`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from lmgate.models.registry import ModelSpec


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
