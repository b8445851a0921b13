"""The language-model interface that prompting, generation, QA and LoRA use, and lmgate's
in-process transformers implementation of it (`CausalLM`, loaded by `lmgate.models.load`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, Sequence, runtime_checkable

from lmgate.core.errors import ConfigError
from lmgate.models.registry import ModelSpec


@runtime_checkable
class LanguageModel(Protocol):
    """What every causal LM offers, in this process or behind a server
    (`lmgate.models.endpoint.EndpointLM`): a name, an identity for caching, what ran it, and
    batched greedy generation. Label scoring has one way per kind: token-level for
    `InProcessLM` (`lmgate.models.engine`), `loglikelihood` requests for a served model."""

    fingerprint: str

    @property
    def name(self) -> str: ...

    def describe(self) -> dict[str, Any]:
        """What a result records about the engine that ran the model."""
        ...

    def generate(self, prompts: Sequence[Any], *, max_new_tokens: int,
                 stop: Sequence[str] = (), batch_size: int = 16) -> list[str]:
        """Greedy continuations, in order."""
        ...


@runtime_checkable
class InProcessLM(LanguageModel, Protocol):
    """A causal LM in this process: the transformers model, its tokenizer (left padding for
    batched prompting) and the device. `CausalLM` is one; a model with an adapter another."""

    model: Any
    tokenizer: Any
    device: str


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

    def describe(self) -> dict[str, Any]:
        return {"engine": "transformers (in-process)"}

    def generate(self, prompts: Sequence[str], *, max_new_tokens: int,
                 stop: Sequence[str] = (), batch_size: int = 16) -> list[str]:
        """Batched greedy continuations of plain prompts, ending at EOS or at a newline when
        `stop` is ("\\n",), the one stop string the in-process engine supports."""
        from lmgate.models.engine import greedy_generate

        if set(stop) - {"\n"}:
            raise ConfigError(f"{self.name}: the in-process engine stops at EOS or a newline, "
                              f"not at {sorted(set(stop) - {chr(10)})}")
        return greedy_generate(self, prompts, batch_size=batch_size,
                               max_new_tokens=max_new_tokens, stop_at_newline="\n" in stop)
