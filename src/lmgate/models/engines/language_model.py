"""lmgate's in-process transformers implementation of the language-model interface
(`CausalLM`, loaded by `lmgate.models.load`); the interface itself is in
`lmgate.models.engines.interface` (re-exported here)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from lmgate.core.errors import ConfigError
from lmgate.models.engines.engine import greedy_generate, loglikelihood
from lmgate.models.engines.interface import InProcessLM, LanguageModel
from lmgate.models.store.registry import ModelSpec

__all__ = ["CausalLM", "InProcessLM", "LanguageModel"]


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
        if set(stop) - {"\n"}:
            raise ConfigError(f"{self.name}: the in-process engine stops at EOS or a newline, "
                              f"not at {sorted(set(stop) - {chr(10)})}")
        return greedy_generate(self, prompts, batch_size=batch_size,
                               max_new_tokens=max_new_tokens, stop_at_newline="\n" in stop)

    def loglikelihood(self, requests: Sequence[tuple[str, str]], *, batch_size: int = 16,
                      max_context_tokens: int | None = None,
                      share_prefix: bool = True) -> list[tuple[float, bool]]:
        """For each (context, continuation): the continuation's summed log-probability and
        whether it is the greedy one (`lmgate.models.engines.engine.loglikelihood`: batched,
        shared-prefix KV reuse unless `share_prefix` is off, one forward for one-token
        continuations)."""
        return loglikelihood(self, requests, batch_size=batch_size,
                             max_context_tokens=max_context_tokens, share_prefix=share_prefix)
