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

Requests run with bounded concurrency, a total deadline each (`timeout_s`, connect to last
byte), and retries with backoff on 429/5xx and lost connections. Every answer is checked for
the shape it is read in (`lmgate.models.serving.answers`): a redirect, an error object, a malformed
listing or log-probabilities is an EndpointError naming the server. Well-formed answers are
cached by content (the request and the server's model id), so a rerun sends nothing. The API
key is read from the named environment variable only, sent as a header and written nowhere
(`lmgate.core.redact` masks it in every error, cache entry and file).
"""

from __future__ import annotations

import os
import random
import re
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence, TypeVar
from urllib.parse import urlsplit, urlunsplit

from lmgate.core.cache import RunCache, content_key
from lmgate.core.errors import ConfigError
from lmgate.core.extras import require
from lmgate.core.progress import progress_bar
from lmgate.core.redact import redact_bytes, register, register_env
from lmgate.models.serving.answers import (MAX_BODY_BYTES, EndpointError, choice_text,
                                   continuation_score, listed_models, parse_body,
                                   prompt_logprobs, server_message)

APIS = ("completions", "chat")
RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
T = TypeVar("T")


class CacheWriteWarning(UserWarning):
    """A server's answer could not be kept in the run cache (a full disk); it is still used."""


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
            register(str(self.api_key_env))   # likely the key itself: masked in this error
            raise ConfigError(f"{where}: api_key_env must be an environment variable's name, "
                              f"got {self.api_key_env!r} (the key itself never goes in a file)")
        for name, low in (("max_concurrency", 1), ("max_retries", 0)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ConfigError(f"{where}: {name} must be an integer >= {low}, got {value!r}")
        if not isinstance(self.timeout_s, (int, float)) or isinstance(self.timeout_s, bool) \
                or not 0 < self.timeout_s < float("inf"):
            raise ConfigError(f"{where}: timeout_s must be a positive number of seconds")
        register_env(self.api_key_env)   # its value (and any echo of it) masked everywhere

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
    once, each attempt within `timeout_s` in all. Only answers that `parse` accepts are used
    or cached (see `lmgate.models.serving.answers`). `sent` counts the requests that reached the
    network (cache hits do not)."""

    def __init__(self, endpoint: Endpoint, cache: RunCache | None = None) -> None:
        httpx = require("httpx", endpoint.url)

        self.endpoint = endpoint
        self.cache = cache
        headers = {"Content-Type": "application/json"}
        key = endpoint.api_key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        from lmgate.models.serving.deadline import keep_deadlines

        self._http = keep_deadlines(httpx.Client(
            base_url=endpoint.base_url.rstrip("/") + "/", headers=headers,
            timeout=endpoint.timeout_s, follow_redirects=False))
        self._lock = threading.Lock()
        self.sent = 0

    def close(self) -> None:
        self._http.close()

    def where(self, route: str) -> str:
        return f"{self.endpoint.url}/{route}"

    def get(self, route: str, parse: Callable[[str, dict[str, Any]], T]) -> T:
        """`parse(where, answer)` of the server's answer to a GET of `route`."""
        return parse(self.where(route), self._send("GET", route, None))

    def post(self, route: str, body: Mapping[str, Any], *, server_model: str,
             parse: Callable[[str, dict[str, Any]], T]) -> T:
        """`parse(where, answer)` of the server's JSON answer to `body`; the answer comes from
        the cache when this request (to this server model) was answered before, and is cached
        only once `parse` has accepted it. A cached answer `parse` refuses (kept by an older
        lmgate) is asked for again; an answer that cannot be cached (a full disk) is used and
        the failure is a warning."""
        where = self.where(route)
        if self.cache is None or not self.cache.enabled:
            return parse(where, self._send("POST", route, body))
        key = content_key(kind="endpoint", url=self.endpoint.url, route=route,
                          server_model=server_model, body=dict(body))
        entry = self.cache.get("endpoint", key)
        if entry is not None:
            try:
                return parse(where, entry.meta["response"])
            except (EndpointError, KeyError):
                pass
        answer = self._send("POST", route, body)
        value = parse(where, answer)
        try:
            self.cache.put("endpoint", key, lambda folder: None, {"response": answer})
        except OSError as error:
            warnings.warn(CacheWriteWarning(
                f"{where}: an answer could not be kept in the run cache {self.cache.root} "
                f"({type(error).__name__}: {error.strerror or error}); it is used, and a "
                "rerun asks the server again"), stacklevel=2)
        return value

    def _send(self, method: str, route: str, body: Mapping[str, Any] | None) -> dict[str, Any]:
        import httpx

        from lmgate.models.serving.deadline import deadline

        where = self.where(route)
        for attempt in range(self.endpoint.max_retries + 1):
            with self._lock:
                self.sent += 1
            try:
                with deadline(self.endpoint.timeout_s):
                    response = self._read(method, route, body)
            except httpx.TransportError as error:   # refused, reset, timed out
                problem: str = f"{type(error).__name__}: {error}"
                wait = _backoff(attempt, None)
            else:
                status = response.status_code
                if 200 <= status < 300:
                    return parse_body(where, status, response.content)
                if 300 <= status < 400:
                    moved = display_url(response.headers.get("location", "")) or "nowhere"
                    raise EndpointError(f"{where} redirected the request ({status} to {moved}); "
                                        "lmgate does not follow redirects: set base_url to "
                                        "where the server answers")
                problem = f"HTTP {status}: {server_message(response)}"
                if response.status_code not in RETRY_STATUSES:
                    raise EndpointError(f"{where} refused the request ({problem})")
                wait = _backoff(attempt, response.headers.get("retry-after"))
            if attempt < self.endpoint.max_retries:
                time.sleep(wait)
        raise EndpointError(f"{where} failed after {self.endpoint.max_retries + 1} attempts "
                            f"(last: {problem})")

    def _read(self, method: str, route: str, body: Mapping[str, Any] | None):
        """The response, its body read whole (at most MAX_BODY_BYTES)."""
        from lmgate.models.serving.deadline import check_deadline

        with self._http.stream(method, route, json=body) as response:
            content = bytearray()
            for chunk in response.iter_bytes():
                check_deadline()
                content += chunk
                if len(content) > MAX_BODY_BYTES:
                    raise EndpointError(f"{self.where(route)} answered with more than "
                                        f"{MAX_BODY_BYTES} bytes")
        return type(response)(response.status_code, headers=response.headers,
                              content=redact_bytes(bytes(content)), request=response.request)

    def map(self, route: str, bodies: Sequence[Mapping[str, Any]], *, server_model: str,
            desc: str, parse: Sequence[Callable[[str, dict[str, Any]], T]]) -> list[T]:
        """`post` of every body (each with its own `parse`), concurrently, answers in order,
        with a progress bar."""
        answers: list[Any] = [None] * len(bodies)
        with ThreadPoolExecutor(self.endpoint.max_concurrency) as pool:
            futures = [pool.submit(self.post, route, b, server_model=server_model, parse=p)
                       for b, p in zip(bodies, parse, strict=True)]
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
