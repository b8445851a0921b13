"""The language-model interface every use of a causal LM goes through (prompting,
generation, QA, translation, the synthetic-data teacher), in this process or behind a server."""

from __future__ import annotations

from typing import Any, Protocol, Sequence, runtime_checkable


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
