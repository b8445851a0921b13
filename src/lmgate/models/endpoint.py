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
label scoring before any work on a server that cannot do it.

Requests run with bounded concurrency, a timeout, and retries with backoff on 429/5xx and
lost connections. Every response is cached by content (the request and the server's model
id) in the run cache, so a rerun sends nothing. The API key is read from the named
environment variable only, sent as a header and never written anywhere: not in a cache key,
a result, a log line or an error (errors show the base URL without credentials).
"""

from __future__ import annotations

import json
import os
import random
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence
from urllib.parse import urlsplit, urlunsplit

from lmgate.core.cache import RunCache, content_key
from lmgate.core.errors import ConfigError, LmgateError
from lmgate.core.progress import progress_bar

APIS = ("completions", "chat")
RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class EndpointError(LmgateError):
    """A server that answered with an error, or could not be reached after the retries."""


def display_url(url: str) -> str:
    """`url` without user, password, query or fragment: safe to print and to key a cache."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))


@dataclass(frozen=True)
class Endpoint:
    """Where a served model answers and how to talk to it (a model spec's `endpoint` table)."""

    base_url: str
    model: str
    api: str = "completions"
    api_key_env: str | None = None
    max_concurrency: int = 8
    timeout_s: float = 120.0
    max_retries: int = 5

    def __post_init__(self) -> None:
        where = f"endpoint {display_url(self.base_url)!r}"
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"{where}: base_url must be an http(s) URL such as "
                              "http://127.0.0.1:8000/v1")
        if parts.username or parts.password or parts.query:
            raise ConfigError(f"{where}: put no credentials or query in base_url; name the "
                              "environment variable that holds the key in api_key_env")
        if self.api not in APIS:
            raise ConfigError(f"{where}: api must be one of {APIS}, got {self.api!r}")
        if not isinstance(self.model, str) or not self.model.strip():
            raise ConfigError(f"{where}: model must name the served model")
        if self.api_key_env is not None and not _ENV_NAME.match(str(self.api_key_env)):
            raise ConfigError(f"{where}: api_key_env must be an environment variable's name, "
                              f"got {self.api_key_env!r} (the key itself never goes in a file)")
        for name, low in (("max_concurrency", 1), ("max_retries", 0)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ConfigError(f"{where}: {name} must be an integer >= {low}, got {value!r}")
        if not isinstance(self.timeout_s, (int, float)) or isinstance(self.timeout_s, bool) \
                or not 0 < self.timeout_s < float("inf"):
            raise ConfigError(f"{where}: timeout_s must be a positive number of seconds")

    @property
    def url(self) -> str:
        return display_url(self.base_url)

    def api_key(self) -> str | None:
        """The key from `api_key_env`; a named variable that is unset is an error."""
        if self.api_key_env is None:
            return None
        key = os.environ.get(self.api_key_env)
        if not key:
            raise ConfigError(f"endpoint {self.url}: the environment variable "
                              f"{self.api_key_env} that should hold its API key is not set")
        return key


#: The type of every key an `endpoint` table may hold.
ENDPOINT_FIELD_TYPES: dict[str, type | tuple[type, ...]] = {
    "base_url": str, "model": str, "api": str, "api_key_env": str, "max_concurrency": int,
    "timeout_s": (int, float), "max_retries": int}


class EndpointClient:
    """JSON POSTs to one endpoint: cached by content, retried, at most `max_concurrency` at
    once. `sent` counts the requests that reached the network (cache hits do not)."""

    def __init__(self, endpoint: Endpoint, cache: RunCache | None = None) -> None:
        import httpx

        self.endpoint = endpoint
        self.cache = cache
        headers = {"Content-Type": "application/json"}
        key = endpoint.api_key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        self._http = httpx.Client(base_url=endpoint.base_url.rstrip("/") + "/", headers=headers,
                                  timeout=endpoint.timeout_s)
        self._lock = threading.Lock()
        self.sent = 0

    def close(self) -> None:
        self._http.close()

    def get(self, route: str) -> dict[str, Any]:
        return self._send("GET", route, None)

    def post(self, route: str, body: Mapping[str, Any], *, server_model: str) -> dict[str, Any]:
        """The server's JSON answer to `body`, from the cache when this request (to this
        server model) was answered before."""
        if self.cache is None:
            return self._send("POST", route, body)
        parts = {"url": self.endpoint.url, "route": route, "server_model": server_model,
                 "body": dict(body)}

        def save(response: dict[str, Any], folder) -> dict[str, Any]:
            return {"response": response}

        return self.cache.memo("endpoint", parts, lambda: self._send("POST", route, body),
                               save, lambda entry: entry.meta["response"]).value

    def _send(self, method: str, route: str, body: Mapping[str, Any] | None) -> dict[str, Any]:
        import httpx

        where = f"{self.endpoint.url}/{route}"
        for attempt in range(self.endpoint.max_retries + 1):
            with self._lock:
                self.sent += 1
            try:
                response = self._http.request(method, route, json=body)
            except httpx.TransportError as error:   # refused, reset, timed out
                problem: str = f"{type(error).__name__}: {error}"
                wait = _backoff(attempt, None)
            else:
                if response.status_code < 400:
                    try:
                        return response.json()
                    except ValueError:
                        raise EndpointError(f"{where} answered {response.status_code} with "
                                            "something that is not JSON") from None
                problem = f"HTTP {response.status_code}: {_server_message(response)}"
                if response.status_code not in RETRY_STATUSES:
                    raise EndpointError(f"{where} refused the request ({problem})")
                wait = _backoff(attempt, response.headers.get("retry-after"))
            if attempt < self.endpoint.max_retries:
                time.sleep(wait)
        raise EndpointError(f"{where} failed after {self.endpoint.max_retries + 1} attempts "
                            f"(last: {problem})")

    def map(self, route: str, bodies: Sequence[Mapping[str, Any]], *, server_model: str,
            desc: str) -> list[dict[str, Any]]:
        """`post` of every body, concurrently, answers in order, with a progress bar."""
        answers: list[dict[str, Any]] = [{}] * len(bodies)
        with ThreadPoolExecutor(self.endpoint.max_concurrency) as pool:
            futures = [pool.submit(self.post, route, b, server_model=server_model)
                       for b in bodies]
            for i in progress_bar(range(len(futures)), desc=desc):
                answers[i] = futures[i].result()
        return answers


def _backoff(attempt: int, retry_after: str | None) -> float:
    """Seconds before the next attempt: the server's Retry-After, else exponential + jitter."""
    if retry_after:
        try:
            return min(60.0, max(0.0, float(retry_after)))
        except ValueError:
            pass
    return min(30.0, 0.5 * 2 ** attempt) * (0.5 + random.random() / 2)


def _server_message(response) -> str:
    """The error text a server sent, short, on one line."""
    try:
        body = response.json()
        message = body.get("error", body) if isinstance(body, dict) else body
        if isinstance(message, dict):
            message = message.get("message", message)
        text = message if isinstance(message, str) else json.dumps(message)
    except ValueError:
        text = response.text
    return " ".join(str(text).split())[:300]


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
        answers = self.client.map(route, bodies, server_model=self.server_model, desc="generate")
        return [_choice_text(a, self.chat, self.endpoint.url) for a in answers]

    # ---- log-likelihoods -----------------------------------------------------------------------
    def supports_loglikelihood(self) -> bool:
        """Whether the server returns prompt log-probabilities (`echo` + `logprobs` on
        `/completions`); probed once."""
        if self._supports_loglikelihood is None:
            if self.chat:
                self._supports_loglikelihood = False
            else:
                try:
                    answer = self.client.post("completions", _echo_body(self.endpoint.model,
                                                                        "Hello world"),
                                              server_model=self.server_model)
                    self._supports_loglikelihood = _prompt_logprobs(answer) is not None
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
        answers = self.client.map("completions", bodies, server_model=self.server_model,
                                  desc="score")
        return [_continuation_score(a, len(context), self.endpoint.url)
                for a, (context, _) in zip(answers, pairs)]


def unscorable(lm: EndpointLM) -> str:
    return (f"{lm.name}: {lm.endpoint.url} (api {lm.endpoint.api!r}) returns no prompt "
            "log-probabilities, so labels cannot be scored; use decoding mode 'generate' "
            "(a greedy answer parsed back to a label), or serve the model with vLLM, SGLang "
            "or llama.cpp and api = 'completions'")


def _echo_body(model: str, text: str) -> dict[str, Any]:
    return {"model": model, "prompt": text, "max_tokens": 1, "temperature": 0.0, "echo": True,
            "logprobs": 1}


def _choice_text(answer: Mapping[str, Any], chat: bool, url: str) -> str:
    try:
        choice = answer["choices"][0]
        text = choice["message"]["content"] if chat else choice["text"]
    except (KeyError, IndexError, TypeError):
        raise EndpointError(f"{url}: an answer without choices: {str(answer)[:200]}") from None
    return text or ""


def _prompt_logprobs(answer: Mapping[str, Any]) -> dict[str, Any] | None:
    """The echoed prompt's `logprobs` block (tokens, token_logprobs, top_logprobs,
    text_offset), or None where the server sent none."""
    try:
        block = answer["choices"][0]["logprobs"]
    except (KeyError, IndexError, TypeError):
        return None
    needed = ("tokens", "token_logprobs", "top_logprobs", "text_offset")
    if not isinstance(block, dict) or any(not isinstance(block.get(k), list) for k in needed):
        return None
    return block


def _continuation_score(answer: Mapping[str, Any], context_chars: int,
                        url: str) -> tuple[float, bool]:
    """Sum of log-probabilities of the echoed tokens after `context_chars` characters, and
    whether each was the most likely token (the one generated token at the end excluded)."""
    block = _prompt_logprobs(answer)
    if block is None:
        raise EndpointError(f"{url}: an echo answer without prompt log-probabilities")
    offsets, logprobs, tops = block["text_offset"], block["token_logprobs"], block["top_logprobs"]
    prompt_tokens = len(offsets) - 1          # echo + max_tokens=1: the last one is generated
    start = next((i for i in range(prompt_tokens) if offsets[i] >= context_chars), prompt_tokens)
    if start in (0, prompt_tokens):
        raise EndpointError(f"{url}: the continuation's tokens could not be told from the "
                            "context's in the echoed prompt")
    total, greedy = 0.0, True
    for i in range(start, prompt_tokens):
        total += float(logprobs[i])
        top = tops[i] or {}
        if top and max(top.values()) > float(logprobs[i]) + 1e-6:
            greedy = False
    return total, greedy


def connect(spec: Any, cache: RunCache | None = None) -> EndpointLM:
    """An `EndpointLM` for `spec.endpoint`, or for the engine `spec.serve` starts, checked
    before any work: the server answers `/models` and lists the declared model."""
    endpoint: Endpoint = spec.endpoint or _started(spec, cache)
    client = EndpointClient(endpoint, cache)
    try:
        listing = client.get("models")
    except EndpointError as error:
        client.close()
        raise EndpointError(f"model {spec.name!r}: {error}") from None
    served = [m for m in listing.get("data", []) if isinstance(m, dict)]
    match = next((m for m in served if m.get("id") == endpoint.model), None)
    if match is None:
        client.close()
        raise ConfigError(f"model {spec.name!r}: {endpoint.url} does not serve "
                          f"{endpoint.model!r}; it lists {sorted(str(m.get('id')) for m in served)}")
    # vLLM names the weights a served name stands for in `root`: part of the identity.
    server_model = str(match.get("root") or match["id"])
    return EndpointLM(spec, endpoint, client, server_model)


def _started(spec: Any, cache: RunCache | None) -> Endpoint:
    """The endpoint of the engine server `spec.serve` asks for, started if not running."""
    import tempfile
    from pathlib import Path

    from lmgate.models.serve import start

    logs = (cache.root if cache is not None else Path(tempfile.gettempdir())) / "serve-logs"
    running = start(spec.serve, logs)
    served_name = spec.serve.args.get("served_model_name", spec.serve.model)
    return Endpoint(running.base_url, str(served_name), api=spec.serve.api)
