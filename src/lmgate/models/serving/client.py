"""Talking to an OpenAI-compatible server: where it answers (`Endpoint`, a model spec's
`endpoint` table) and the HTTP client (`EndpointClient`) that `lmgate.models.serving.endpoint`
builds a served language model on.

Requests run with bounded concurrency, a total deadline each (`timeout_s`, connect to last
byte), and retries with backoff on 429/5xx and lost connections. Every answer is checked for
the shape it is read in (`lmgate.models.serving.answers`): a redirect, an error object, a
malformed listing or log-probabilities is an EndpointError naming the server. Well-formed
answers are cached by content (the request and the server's model id), so a rerun sends
nothing, and the token usage each reports is counted (`Usage`). The API key is read from the
named environment variable only, sent as a header and written nowhere (`lmgate.core.redact`
masks it in every error, cache entry and file).
"""

from __future__ import annotations

import os
import random
import re
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import astuple, dataclass
from typing import Any, Callable, Mapping, Sequence, TypeVar
from urllib.parse import urlsplit, urlunsplit

from lmgate.core.cache import RunCache, content_key
from lmgate.core.errors import ConfigError
from lmgate.core.extras import require
from lmgate.core.progress import progress_bar
from lmgate.core.redact import redact_bytes, register, register_env
from lmgate.models.serving.answers import (MAX_BODY_BYTES, EndpointError, parse_body,
                                           reported_usage, server_message)

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


@dataclass(frozen=True)
class Usage:
    """Tokens a server reported (`usage.prompt_tokens`/`completion_tokens`) over the answers a
    client accepted, cached ones included: summed over the `reported` answers that carried a
    well-formed usage; `unreported` counts those that did not (nothing counted for them)."""

    input_tokens: int = 0
    output_tokens: int = 0
    reported: int = 0
    unreported: int = 0

    def plus(self, counts: tuple[int, int] | None) -> "Usage":
        """This usage and one more answer's (prompt, completion) counts, or None for none."""
        if counts is None:
            return Usage(self.input_tokens, self.output_tokens, self.reported,
                         self.unreported + 1)
        return Usage(self.input_tokens + counts[0], self.output_tokens + counts[1],
                     self.reported + 1, self.unreported)

    def __sub__(self, other: "Usage") -> "Usage":
        return Usage(*(a - b for a, b in zip(astuple(self), astuple(other))))

    def token_counts(self) -> dict[str, int]:
        """What a result records: `input_tokens` and `output_tokens` when every answer reported
        its usage; else only `answers_without_usage` (a partial sum would understate the cost,
        and a server that reports nothing is never made to say 0)."""
        if self.unreported:
            return {"answers_without_usage": self.unreported}
        if not self.reported:
            return {}
        return {"input_tokens": self.input_tokens, "output_tokens": self.output_tokens}


#: The type of every key an `endpoint` table may hold.
ENDPOINT_FIELD_TYPES: dict[str, type | tuple[type, ...]] = {
    "base_url": str, "model": str, "api": str, "api_key_env": str, "max_concurrency": int,
    "timeout_s": (int, float), "max_retries": int}


class EndpointClient:
    """JSON POSTs to one endpoint: cached by content, retried, at most `max_concurrency` at
    once, each attempt within `timeout_s` in all. Only answers that `parse` accepts are used
    or cached (see `lmgate.models.serving.answers`). `sent` counts the requests that reached the
    network (cache hits do not); `usage()` sums the token usage the accepted answers report."""

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
        self._usage = Usage()

    def close(self) -> None:
        self._http.close()

    def usage(self) -> Usage:
        """The usage reported so far (a snapshot; subtract two for what happened between)."""
        with self._lock:
            return self._usage

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
        the failure is a warning. Each accepted answer's `usage`, cached or not, is counted."""
        answer, value = self._accepted(route, body, server_model, parse)
        counts = reported_usage(answer)
        with self._lock:
            self._usage = self._usage.plus(counts)
        return value

    def _accepted(self, route: str, body: Mapping[str, Any], server_model: str,
                  parse: Callable[[str, dict[str, Any]], T]) -> tuple[dict[str, Any], T]:
        """The answer `post` uses (from the cache or the server) and `parse` of it."""
        where = self.where(route)
        if self.cache is None or not self.cache.enabled:
            answer = self._send("POST", route, body)
            return answer, parse(where, answer)
        key = content_key(kind="endpoint", url=self.endpoint.url, route=route,
                          server_model=server_model, body=dict(body))
        entry = self.cache.get("endpoint", key)
        if entry is not None:
            try:
                return entry.meta["response"], parse(where, entry.meta["response"])
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
                "rerun asks the server again"), stacklevel=3)
        return answer, value

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
