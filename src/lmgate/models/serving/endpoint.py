"""OpenAI-compatible endpoints as a language model: vLLM, SGLang, llama.cpp's server,
`transformers serve`, or a hosted API, declared like any model::

    [tool.lmgate.models.qwen-served]
    kind = "causal-lm"
    endpoint = { base_url = "http://127.0.0.1:8000/v1", model = "Qwen/Qwen2.5-32B-Instruct",
                 api = "completions", api_key_env = "MY_KEY" }

`generate` sends greedy requests to `/completions` (a plain prompt) or `/chat/completions`
(messages; the server applies the chat template). `loglikelihood` scores a continuation
through `/completions` with `echo` and `logprobs` (prompt log-probabilities, as vLLM, SGLang
and llama.cpp return them); `supports_loglikelihood` probes for it once, so a caller can refuse
label scoring before any work on a server that cannot do it. `usage` sums the tokens the
server reported for the model's answers.

The requests go through `lmgate.models.serving.client` (bounded concurrency, deadlines,
retries, checked and cached answers, the API key only in a header), whose names this module
re-exports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from lmgate.core.cache import RunCache, content_key
from lmgate.core.errors import ConfigError
from lmgate.core.extras import require
from lmgate.models.serving.answers import (EndpointError, choice_text, continuation_score,
                                           listed_models, prompt_logprobs)
from lmgate.models.serving.client import (APIS, ENDPOINT_FIELD_TYPES, CacheWriteWarning,
                                          Endpoint, EndpointClient, Usage, display_url)

__all__ = ["APIS", "ENDPOINT_FIELD_TYPES", "PROBE", "CacheWriteWarning", "Endpoint",
           "EndpointClient", "EndpointError", "EndpointLM", "Usage", "connect", "display_url",
           "unscorable"]


@dataclass
class EndpointLM:
    """A served causal LM behind an OpenAI-compatible API (`lmgate.models.load` returns one
    for a spec with an `endpoint`)."""

    spec: Any
    endpoint: Endpoint
    client: EndpointClient
    server_model: str                 # the id the server lists for `endpoint.model`
    fingerprint: str = ""
    device: str = "remote"
    _supports_loglikelihood: bool | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.fingerprint:
            self.fingerprint = content_key(endpoint=self.endpoint.url, api=self.endpoint.api,
                                           model=self.endpoint.model, served=self.server_model)

    @property
    def name(self) -> str:
        return self.spec.name

    def usage(self) -> Usage:
        """The token usage the server reported for this model's answers so far."""
        return self.client.usage()

    @property
    def chat(self) -> bool:
        """Prompts go as messages (the server applies the chat template)."""
        return self.endpoint.api == "chat"

    def describe(self) -> dict[str, Any]:
        """What a result records about where its predictions came from (no credentials)."""
        return {"engine": "openai-compatible endpoint", "endpoint": self.endpoint.url,
                "api": self.endpoint.api, "served_model": self.server_model}

    # ---- generation ----------------------------------------------------------------------------
    def generate(self, prompts: Sequence[str | Sequence[Mapping[str, str]]], *,
                 max_new_tokens: int, stop: Sequence[str] = (),
                 batch_size: int | None = None) -> list[str]:
        """Greedy continuations: plain prompts over `/completions`, message lists over
        `/chat/completions` (whichever `api` the endpoint declares). `batch_size` is the
        in-process engine's knob: here up to `max_concurrency` requests run at once."""
        route = "chat/completions" if self.chat else "completions"
        bodies = []
        for prompt in prompts:
            if self.chat != (not isinstance(prompt, str)):
                raise ConfigError(f"{self.name}: api {self.endpoint.api!r} takes "
                                  f"{'messages' if self.chat else 'plain-text prompts'}")
            body: dict[str, Any] = {"model": self.endpoint.model, "max_tokens": max_new_tokens,
                                    "temperature": 0.0, "seed": 0}
            body["messages" if self.chat else "prompt"] = (
                [dict(m) for m in prompt] if self.chat else prompt)
            if stop:
                body["stop"] = list(stop)
            bodies.append(body)
        chat = self.chat
        return self.client.map(route, bodies, server_model=self.server_model, desc="generate",
                               parse=[lambda where, a: choice_text(where, a, chat)] * len(bodies))

    # ---- log-likelihoods -----------------------------------------------------------------------
    def supports_loglikelihood(self) -> bool:
        """Whether the server returns prompt log-probabilities (`echo` + `logprobs` on
        `/completions`); probed once."""
        if self._supports_loglikelihood is None:
            if self.chat:
                self._supports_loglikelihood = False
            else:
                try:
                    block = self.client.post("completions", _echo_body(self.endpoint.model,
                                                                       PROBE),
                                             server_model=self.server_model,
                                             parse=lambda w, a: prompt_logprobs(w, a, PROBE))
                    self._supports_loglikelihood = block is not None
                except EndpointError:
                    self._supports_loglikelihood = False
        return self._supports_loglikelihood

    def loglikelihood(self, pairs: Sequence[tuple[str, str]], *, batch_size: int = 16,
                      max_context_tokens: int | None = None) -> list[tuple[float, bool]]:
        """For each (context, continuation): the sum of the continuation's token
        log-probabilities after the context, and whether greedy decoding would produce it.
        Requests go out concurrently (the endpoint's `max_concurrency`, not `batch_size`); the
        server tokenises, so `max_context_tokens` is its own context limit, not lmgate's."""
        if not self.supports_loglikelihood():
            raise ConfigError(unscorable(self))
        bodies = [_echo_body(self.endpoint.model, context + continuation)
                  for context, continuation in pairs]
        parse = [lambda where, a, c=context, t=continuation: continuation_score(where, a, c + t,
                                                                                len(c))
                 for context, continuation in pairs]
        return self.client.map("completions", bodies, server_model=self.server_model,
                               desc="score", parse=parse)


def unscorable(lm: EndpointLM) -> str:
    return (f"{lm.name}: {lm.endpoint.url} (api {lm.endpoint.api!r}) returns no prompt "
            "log-probabilities, so labels cannot be scored; use decoding mode 'generate' "
            "(a greedy answer parsed back to a label), or serve the model with vLLM, SGLang "
            "or llama.cpp and api = 'completions'")


#: The prompt that asks a server whether it returns prompt log-probabilities.
PROBE = "Hello world"


def _echo_body(model: str, text: str) -> dict[str, Any]:
    return {"model": model, "prompt": text, "max_tokens": 1, "temperature": 0.0, "echo": True,
            "logprobs": 1}


def connect(spec: Any, cache: RunCache | None = None) -> EndpointLM:
    """An `EndpointLM` for `spec.endpoint`, or for the engine `spec.serve` starts, checked
    before any work: httpx is installed (else MissingExtra), the server answers `/models` and
    lists the declared model."""
    require("httpx", f"model {spec.name!r}")
    endpoint: Endpoint = spec.endpoint or _started(spec, cache)
    client = EndpointClient(endpoint, cache)
    try:
        served = client.get("models", listed_models)
    except EndpointError as error:
        client.close()
        raise EndpointError(f"model {spec.name!r}: {error}") from None
    match = next((m for m in served if m.get("id") == endpoint.model), None)
    if match is None:
        client.close()
        raise ConfigError(f"model {spec.name!r}: {endpoint.url} does not serve "
                          f"{endpoint.model!r}; it lists {sorted(str(m.get('id')) for m in served)}")
    # vLLM names the weights a served name stands for in `root`: part of the identity.
    server_model = str(match.get("root") or match["id"])
    return EndpointLM(spec, endpoint, client, server_model)


def _started(spec: Any, cache: RunCache | None) -> Endpoint:
    """The endpoint of the engine server `spec.serve` asks for, started if not running
    (`lmgate.models.load` has made its `model` concrete: `lmgate.models.serve_model`)."""
    import tempfile
    from pathlib import Path

    from lmgate.models.serving.serve import start

    serve = spec.serve
    logs = (cache.root if cache is not None else Path(tempfile.gettempdir())) / "serve-logs"
    running = start(serve, logs)
    served_name = serve.args.get("served_model_name", serve.model)
    return Endpoint(running.base_url, str(served_name), api=serve.api)
