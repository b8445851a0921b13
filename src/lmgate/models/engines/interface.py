"""The language-model interface every use of a causal LM goes through (prompting,
generation, QA, translation, the synthetic-data teacher), in this process or behind a server."""

from __future__ import annotations

from typing import Any, Protocol, Sequence, runtime_checkable


@runtime_checkable
class LanguageModel(Protocol):
    """What every causal LM offers, in this process or behind a server
    (`lmgate.models.serving.endpoint.EndpointLM`): a name, an identity for caching, what ran it,
    batched greedy generation and log-likelihoods of continuations (as lm-evaluation-harness's
    `LM`). Prompting, label scoring, QA, translation and the teacher use only these."""

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

    def loglikelihood(self, requests: Sequence[tuple[str, str]], *, batch_size: int = 16,
                      max_context_tokens: int | None = None) -> list[tuple[float, bool]]:
        """For each (context, continuation): the continuation's summed log-probability after
        the context, and whether greedy decoding would write it."""
        ...


@runtime_checkable
class InProcessLM(LanguageModel, Protocol):
    """A causal LM in this process: the transformers model, its tokenizer (left padding for
    batched prompting) and the device. `CausalLM` is one; a model with an adapter another."""

    model: Any
    tokenizer: Any
    device: str
