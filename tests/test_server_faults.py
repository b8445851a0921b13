"""Servers that misbehave, for real: a local HTTP server (a thread of this file) answering each
request the way a broken, hostile or half-configured server would, and engines that cannot
start. lmgate must answer each with its own clear error (or a skip only where the model is
not on this machine), never a raw IndexError/TypeError/AttributeError/OSError, never cache
what it refused, and never wait longer than a request's deadline."""

from __future__ import annotations

import copy
import dataclasses
import errno
import json
import sys
import threading
import time
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable

import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st
from transformers.convert_slow_tokenizer import bytes_to_unicode

from conftest import STAND_IN_ENGINE

from lmgate.core.cache import RunCache
from lmgate.core.errors import ConfigError, LmgateError, ModelUnavailable
from lmgate.models.store import registry
from lmgate.models.serving.endpoint import (CacheWriteWarning, Endpoint, EndpointError, Usage,
                                            connect)
from lmgate.models.store.registry import ModelSpec
from lmgate.models.serving.serve import Serve
from lmgate.models.load import resolve
from lmgate.models.serve_model import served_weights

PROMPT = "The cat sat on the mat"      # context "The cat sat on the", continuation " mat"
CONTEXT = "The cat sat on the"


def echo_answer(text: str) -> dict[str, Any]:
    """A well-formed vLLM echo answer for `text`: one token per word, then one generated."""
    words, offsets, at = [], [], 0
    for word in text.split(" "):
        piece = word if not words else " " + word
        words.append(piece)
        offsets.append(at)
        at += len(piece)
    tokens = [*words, " x"]
    return {"choices": [{"text": text + " x", "logprobs": {
        "tokens": tokens, "token_logprobs": [None] + [-1.0] * (len(tokens) - 1),
        "top_logprobs": [None] + [{t: -0.5} for t in tokens[1:]],
        "text_offset": [*offsets, len(text)]}}]}


LISTING = {"object": "list", "data": [{"id": "m"}]}


class Misbehaving(BaseHTTPRequestHandler):
    """Answers GET /v1/models with `listing` and POSTs with `answer(body)`; `reply` (status,
    raw body, headers) replaces both when set; `trickle` sends the answer a byte at a time."""

    listing: Any = LISTING
    answer: Callable[[dict], Any] = staticmethod(lambda body: echo_answer(body["prompt"]))
    reply: tuple[int, bytes, list] | None = None
    trickle: float = 0.0
    trickle_headers: bool = False
    posts: list[dict] = []

    def log_message(self, *args):
        pass

    def _send(self, status: int, data: bytes, headers=()):
        head = f"HTTP/1.1 {status} X\r\nContent-Length: {len(data)}\r\nConnection: close\r\n"
        head = head.encode()
        head += b"".join(f"{k}: {v}\r\n".encode() for k, v in headers) + b"\r\n"
        if not self.trickle:
            self.wfile.write(head + data)
            return
        for i, byte in enumerate(head + data if self.trickle_headers else data):
            if i == 0 and not self.trickle_headers:
                self.wfile.write(head)
            self.wfile.write(bytes([byte]))
            self.wfile.flush()
            time.sleep(self.trickle)

    def _answer(self, value: Any) -> None:
        if self.reply is not None:
            return self._send(*self.reply)
        self._send(200, json.dumps(value).encode(), [("Content-Type", "application/json")])

    def do_GET(self):
        self._answer(self.listing)

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.posts.append(body)
        self._answer(self.answer(body))


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):   # a client that gave up: expected
        pass


@pytest.fixture(scope="module")
def server():
    httpd = QuietServer(("127.0.0.1", 0), Misbehaving)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()


@pytest.fixture(autouse=True)
def well_behaved():
    """Every test starts from a server that answers well."""
    saved = dict(vars(Misbehaving))
    Misbehaving.posts = []
    yield
    for name in ("listing", "answer", "reply", "trickle", "trickle_headers"):
        setattr(Misbehaving, name, saved[name])


def lm_for(url: str, cache: RunCache | None = None, **endpoint):
    spec = ModelSpec("served", "causal-lm",
                     endpoint=Endpoint(url, "m", max_retries=0, timeout_s=5, **endpoint))
    return connect(spec, cache)


def entries(cache: RunCache) -> list[Path]:
    return sorted((cache.root / "endpoint").rglob("manifest.json"))


# ---- answers that are not answers ----------------------------------------------------------

def test_an_error_answer_with_status_200_is_refused_and_never_replayed(server, tmp_path):
    cache = RunCache(tmp_path)
    lm = lm_for(server, cache)
    Misbehaving.answer = staticmethod(lambda body: {"error": {"message": "model is loading"}})
    with pytest.raises(EndpointError, match="model is loading"):
        lm.generate(["Hello"], max_new_tokens=2)
    assert entries(cache) == []
    Misbehaving.answer = staticmethod(lambda body: {"choices": [{"text": " there"}]})
    assert lm.generate(["Hello"], max_new_tokens=2) == [" there"]   # the fixed server asked
    assert len(Misbehaving.posts) == 2 and len(entries(cache)) == 1
    assert lm_for(server, cache).generate(["Hello"], max_new_tokens=2) == [" there"]
    assert len(Misbehaving.posts) == 2                              # now from the cache


@pytest.mark.parametrize("usage, counted", [
    ({"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}, Usage(5, 2, reported=1)),
    ({"prompt_tokens": 0, "completion_tokens": 0}, Usage(0, 0, reported=1)),
    (None, Usage(unreported=1)),
    ([5, 2], Usage(unreported=1)),
    ({"prompt_tokens": True, "completion_tokens": 2}, Usage(unreported=1)),
    ({"prompt_tokens": -1, "completion_tokens": 2}, Usage(unreported=1)),
    ({"prompt_tokens": 5.0, "completion_tokens": 2}, Usage(unreported=1)),
    ({"prompt_tokens": "5", "completion_tokens": 2}, Usage(unreported=1)),
    ({"prompt_tokens": 5}, Usage(unreported=1)),
])
def test_a_usage_of_another_shape_counts_nothing_and_is_remembered_never_an_error(
        server, usage, counted):
    answer = {"choices": [{"text": " there"}], **({"usage": usage} if usage is not None else {})}
    Misbehaving.answer = staticmethod(lambda body: answer)
    lm = lm_for(server)
    assert lm.generate(["Hello"], max_new_tokens=2) == [" there"]
    assert lm.usage() == counted


@pytest.mark.parametrize("damage, says", [
    (lambda lp: lp["token_logprobs"].pop(), "lengths differ"),
    (lambda lp: lp["text_offset"].pop(), "lengths differ"),
    (lambda lp: lp.__setitem__("token_logprobs", [None] * len(lp["tokens"])),
     "continuation token without a log-probability"),
    (lambda lp: lp.__setitem__("token_logprobs", None), "expected the lists"),
    (lambda lp: lp["top_logprobs"].__setitem__(-2, ["mat", -0.1]), "top_logprobs"),
    (lambda lp: lp["token_logprobs"].__setitem__(-2, "-0.5"), "token_logprobs"),
    (lambda lp: lp["text_offset"].reverse(), "text_offset"),
])
def test_malformed_logprobs_are_a_clear_error_naming_the_server(server, tmp_path, damage, says):
    cache = RunCache(tmp_path)
    lm = lm_for(server, cache)
    assert lm.supports_loglikelihood()                  # the probe answers well

    def broken(body):
        answer = echo_answer(body["prompt"])
        damage(answer["choices"][0]["logprobs"])
        return answer

    Misbehaving.answer = staticmethod(broken)
    with pytest.raises(EndpointError, match=says) as error:
        lm.loglikelihood([(CONTEXT, " mat")])
    assert server in str(error.value)
    assert len(entries(cache)) == 1                     # the probe's answer only


def test_a_redirect_is_not_taken_for_the_answer(server):
    body = json.dumps(LISTING).encode()
    Misbehaving.reply = (307, body, [("Location", "http://user:pw@elsewhere:1/v1/models"),
                                     ("Content-Type", "application/json")])
    with pytest.raises(EndpointError, match=r"redirected the request \(307 to "
                                            r"http://elsewhere:1/v1/models\)") as error:
        lm_for(server)
    assert "pw" not in str(error.value)
    Misbehaving.reply = None
    lm = lm_for(server)
    Misbehaving.reply = (302, json.dumps({"choices": [{"text": "ok"}]}).encode(), [])
    with pytest.raises(EndpointError, match="redirected the request"):
        lm.generate(["Hello"], max_new_tokens=2)


@pytest.mark.parametrize("listing", [[{"id": "m"}], {"data": {"id": "m"}}, {"data": ["m"]},
                                     {"data": [{"id": 3}]}, "m", None])
def test_a_models_listing_of_another_shape_is_a_clear_error(server, listing):
    Misbehaving.listing = listing
    with pytest.raises(EndpointError, match="model listing must be|not an object"):
        lm_for(server)


# ---- time ----------------------------------------------------------------------------------

@pytest.mark.parametrize("headers_too", [False, True])
def test_an_answer_trickled_a_byte_at_a_time_fails_the_total_deadline(server, headers_too):
    lm = lm_for(server)
    Misbehaving.answer = staticmethod(lambda body: {"choices": [{"text": "a" * 40}]})
    Misbehaving.trickle, Misbehaving.trickle_headers = 0.05, headers_too   # ~5 s in all
    lm.client.endpoint = Endpoint(server, "m", max_retries=0, timeout_s=0.5)
    started = time.monotonic()
    with pytest.raises(EndpointError, match="deadline|Timeout"):
        lm.generate(["Hello"], max_new_tokens=2)
    assert time.monotonic() - started < 1.5


# ---- the run cache -------------------------------------------------------------------------

def test_a_full_disk_under_the_run_cache_keeps_the_answers_already_received(server, tmp_path,
                                                                             monkeypatch):
    cache = RunCache(tmp_path)
    lm = lm_for(server, cache)
    assert lm.supports_loglikelihood()
    real_write = Path.write_text

    def full_disk(self, *args, **kwargs):
        if str(self).startswith(str(cache.root)):
            raise OSError(errno.ENOSPC, "No space left on device", str(self))
        return real_write(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", full_disk)
    with pytest.warns(CacheWriteWarning, match="No space left on device.*it is used"):
        (score, greedy), = lm.loglikelihood([(CONTEXT, " mat")])
    assert score == -1.0 and greedy is False
    assert len(entries(cache)) == 1                    # only the probe's, from before


# ---- the property: whatever a server sends -------------------------------------------------

JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats()
                    | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)


def _paths(value, path=()):
    yield path
    children = value.items() if isinstance(value, dict) else (
        enumerate(value) if isinstance(value, list) else ())
    for key, child in children:
        yield from _paths(child, (*path, key))


@st.composite
def mutated(draw, valid: Any) -> Any:
    """`valid` with one part replaced by arbitrary JSON, deleted, or left alone."""
    value = copy.deepcopy(valid)
    path = draw(st.sampled_from(list(_paths(value))))
    if not path:
        return draw(JSON) if draw(st.booleans()) else value
    parent = value
    for key in path[:-1]:
        parent = parent[key]
    if draw(st.booleans()):
        parent[path[-1]] = draw(JSON)
    else:
        del parent[path[-1]]
    return value


STATUSES = st.sampled_from([200, 200, 200, 201, 204, 301, 302, 307, 308, 400, 401, 404, 418, 500,
                           503])


@st.composite
def replies(draw, valid: Any) -> tuple[int, bytes, list]:
    body = draw(st.one_of(mutated(valid), JSON))
    raw = json.dumps(body).encode() if draw(st.integers(0, 9)) else draw(st.binary(max_size=20))
    return draw(STATUSES), raw, [("Content-Type", "application/json")]


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(listing=replies(LISTING),
       generated=replies({"choices": [{"text": "ok"}],
                          "usage": {"prompt_tokens": 3, "completion_tokens": 1}}),
       scored=replies(echo_answer(PROMPT)))
def test_whatever_a_server_sends_lmgate_returns_a_good_answer_or_its_own_error(
        server, tmp_path_factory, listing, generated, scored):
    cache = RunCache(tmp_path_factory.mktemp("cache"))
    lm = _shared_lm(server)
    lm.client.cache = cache
    Misbehaving.reply = listing
    try:
        connected = lm_for(server)
    except LmgateError:
        pass
    else:
        assert connected.server_model == "m"
        connected.client.close()
    for reply, call, well_formed in [
            (generated, lambda: lm.generate(["Hello"], max_new_tokens=2),
             lambda out: isinstance(out, list) and len(out) == 1 and isinstance(out[0], str)),
            (scored, lambda: lm.loglikelihood([(CONTEXT, " mat")]),
             lambda out: len(out) == 1 and isinstance(out[0][0], float)
             and isinstance(out[0][1], bool))]:
        before, used = entries(cache), lm.usage()
        Misbehaving.reply = reply
        try:
            out = call()
        except LmgateError:
            assert entries(cache) == before            # nothing refused is kept
            assert lm.usage() == used                  # nor counted
            continue
        finally:
            Misbehaving.reply = None
        assert well_formed(out), out
        once = lm.usage() - used
        assert once.reported + once.unreported == 1, once
        assert call() == out                           # the cached answer reads the same
        twice = lm.usage() - used                      # and reports the same usage
        assert twice == Usage(*(2 * v for v in dataclasses.astuple(once)))


# ---- the property: an echo of another text is never scored --------------------------------

BYTE_LEVEL = bytes_to_unicode()          # byte -> character, as byte-level BPE writes tokens
TEXTS = st.text(alphabet="abc ?.e\u00e9\u732b", min_size=1, max_size=12)


@st.composite
def echoes(draw, text: str, cut_at: int | None = None) -> dict[str, Any]:
    """An echo answer for `text` as some server could tokenise and write it: decoded text,
    byte-level BPE characters (cut anywhere, mid-character too) or SentencePiece pieces
    (with its space before the first word), maybe after a start-of-text token, text_offset
    in characters or as the running length of the token strings. `cut_at` (bytes): a token
    starts there. Returns the answer, its logprobs block and both offset forms."""
    data = text.encode()
    style = draw(st.sampled_from(["text", "byte_level", "sentencepiece"]))
    bounds = (range(1, len(data)) if style == "byte_level"
              else [len(text[:i].encode()) for i in range(1, len(text))])
    cuts = {0, len(data), *draw(st.lists(st.sampled_from(bounds), max_size=8) if bounds
                                else st.just([]))}
    cuts |= {cut_at} if cut_at is not None else set()
    spans = list(zip(sorted(cuts), sorted(cuts)[1:]))
    if style == "byte_level":
        tokens = ["".join(BYTE_LEVEL[b] for b in data[a:b]) for a, b in spans]
    else:
        tokens = [data[a:b].decode() for a, b in spans]
    if style == "sentencepiece":
        tokens = [t.replace(" ", "\u2581") for t in tokens]
        if not text.startswith(" ") and draw(st.booleans()):
            tokens[0] = "\u2581" + tokens[0]
    starts = [a for a, _ in spans]
    start_token = draw(st.sampled_from([None, "<s>", "<|begin_of_text|>"]))
    if start_token:
        tokens, starts = [start_token, *tokens], [0, *starts]
    in_chars = [len(data[:a].decode(errors="ignore")) for a in starts] + [len(text)]
    tokens.append(" x")                                  # the one generated token
    running = [sum(len(t) for t in tokens[:i]) for i in range(len(tokens))]
    logprobs = [None] + [-(i + 1) / 16 for i in range(1, len(tokens))]
    block = {"tokens": tokens, "token_logprobs": logprobs,
             "top_logprobs": [None] + [{t: lp} for t, lp in zip(tokens[1:], logprobs[1:])],
             "text_offset": draw(st.sampled_from([in_chars, running]))}
    return {"answer": {"choices": [{"text": text + " x", "logprobs": block}]},
            "starts": starts, "forms": (in_chars, running)}


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data(), context=TEXTS, continuation=TEXTS)
def test_an_echo_of_the_prompt_sent_scores_exactly_its_continuation(server, data, context,
                                                                   continuation):
    """However a server tokenises and writes the echoed prompt, the score is the sum over the
    continuation's tokens: no more, no fewer."""
    echo = data.draw(echoes(context + continuation, cut_at=len(context.encode())))
    Misbehaving.answer = staticmethod(lambda body: echo["answer"])
    block = echo["answer"]["choices"][0]["logprobs"]
    scored = [lp for lp, start in zip(block["token_logprobs"], echo["starts"])
              if start >= len(context.encode())]
    lm = _shared_lm(server)
    lm.client.cache = None                              # this answer, not an earlier one's
    (score, greedy), = lm.loglikelihood([(context, continuation)])
    assert score == pytest.approx(sum(scored)) and greedy is True


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data(), says=st.sampled_from(["other", "prompt", None]),
       other=TEXTS.map(lambda t: (t, None))
       | st.builds(lambda i, c: (PROMPT[:i] + c + PROMPT[i + 1:], None),
                   st.integers(0, len(PROMPT)), TEXTS)
       | TEXTS.map(lambda t: (t + PROMPT, len(t.encode()))))   # a first token of other text
def test_an_echo_of_another_text_is_refused_never_scored(server, tmp_path_factory, data, other,
                                                         says):
    """An echo whose tokens spell another text than the prompt sent (whatever the choice's
    text claims), or whose text_offset places them elsewhere, is an error naming the server,
    and is not cached."""
    other, cut_at = other
    cache = RunCache(tmp_path_factory.mktemp("cache"))
    lm = _shared_lm(server)
    lm.client.cache = cache
    wrong_offsets = other == PROMPT
    assume(other != " " + PROMPT)      # SentencePiece's space before the first word: the prompt
    echo = data.draw(echoes(other, cut_at))
    choice = echo["answer"]["choices"][0]
    if wrong_offsets:
        offsets = choice["logprobs"]["text_offset"]
        i = data.draw(st.integers(0, len(offsets) - 1))
        offsets[i] += data.draw(st.sampled_from([-2, -1, 1, 2]))
        assume(offsets not in echo["forms"])
    else:
        choice["text"] = {"other": other + " x", "prompt": PROMPT + " x", None: None}[says]
    Misbehaving.answer = staticmethod(lambda body: echo["answer"])
    with pytest.raises(EndpointError) as error:
        lm.loglikelihood([(CONTEXT, " mat")])
    assert server in str(error.value)
    assert entries(cache) == []


@pytest.mark.parametrize("first, scored", [("<s>", True), ("<|begin_of_text|>", True),
                                           ("Hello", False), ("A dog. ", False)])
def test_only_a_start_of_text_token_may_stand_before_the_echoed_prompt(server, first, scored):
    """A first token without a log-probability may be a start-of-text token that spells
    nothing; a word there means the server scored the prompt after another text."""
    answer = echo_answer(PROMPT)
    block = answer["choices"][0]["logprobs"]
    block["tokens"].insert(0, first)
    block["token_logprobs"].insert(0, None)
    block["top_logprobs"].insert(0, None)
    block["text_offset"] = [0] + [o + len(first) for o in block["text_offset"]]   # as vLLM counts
    answer["choices"][0]["text"] = None
    Misbehaving.answer = staticmethod(lambda body: answer)
    lm = _shared_lm(server)
    lm.client.cache = None
    if scored:
        assert lm.loglikelihood([(CONTEXT, " mat")]) == [(-1.0, False)]
    else:
        with pytest.raises(EndpointError, match="spell another text"):
            lm.loglikelihood([(CONTEXT, " mat")])


_LM: dict[str, Any] = {}


def _shared_lm(url: str):
    """One connected client for every example (a client builds an SSL context: ~50 ms)."""
    if url not in _LM:
        _LM[url] = lm_for(url)
        _LM[url]._supports_loglikelihood = True        # reach the scoring parser every time
    return _LM[url]


# ---- servers lmgate starts -----------------------------------------------------------------

def concrete(serve: Serve, folder: Path) -> Serve:
    """`serve` with its model made concrete, as `load_model` does before connecting."""
    cache = RunCache(folder)
    return served_weights(serve, cache, lambda spec: resolve(spec, "prompting", cache).location)


def test_a_serve_model_path_that_does_not_exist_is_an_error_before_any_engine_starts(tmp_path):
    for missing in (str(tmp_path / "no-such-weights"), "./no-such-weights", "a/b/c"):
        with pytest.raises(ConfigError, match="does not exist"):
            concrete(Serve("transformers", missing), tmp_path)


def test_a_registered_model_is_served_from_its_local_weights(tmp_path, monkeypatch):
    weights = tmp_path / "weights"
    weights.mkdir()
    (weights / "model.safetensors").write_bytes(b"")
    monkeypatch.setitem(registry._REGISTRY, "served-local",
                        ModelSpec("served-local", "causal-lm", path=str(weights)))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    serve = concrete(Serve("transformers", "served-local", args={"device": "cpu"}), tmp_path)
    assert serve.model == str(weights) and serve.args == {"device": "cpu"}
    # Not on this machine: a skip that says so, not an engine asking an offline hub.
    monkeypatch.setitem(registry._REGISTRY, "served-hub",
                        ModelSpec("served-hub", "causal-lm", hub_id="lmgate-tests/not-cached"))
    with pytest.raises(ModelUnavailable, match="not available offline"):
        concrete(Serve("transformers", "served-hub"), tmp_path)
    with pytest.raises(ModelUnavailable, match="hub is offline"):
        concrete(Serve("vllm", "lmgate-tests/not-cached"), tmp_path)




def test_a_served_model_that_cannot_start_fails_the_run_instead_of_skipping(pytester, tmp_path):
    """In one session: an engine that exits before answering and a weights path that is not
    there are failures (a gate that judged nothing must not turn green), while a registered
    lmgate model's name is served from its local weights."""
    script = tmp_path / "engine.py"
    script.write_text(STAND_IN_ENGINE)
    weights = tmp_path / "weights"
    weights.mkdir()
    (weights / "model.safetensors").write_bytes(b"")
    crash = [sys.executable, "-c", "import sys; print('CUDA error'); sys.exit(3)"]
    pytester.makeconftest(f'''
        from lmgate.models.serving import serve
        from lmgate.models.store import registry
        serve.ENGINES["transformers"] = {{"argv": {[sys.executable, str(script)]!r},
                                          "module": "json", "install": "-"}}
        serve.ENGINES["vllm"] = {{"argv": {crash!r}, "module": "json", "install": "-"}}
        registry.register_model(registry.ModelSpec("served-local", "causal-lm",
                                                   path={str(weights)!r}), replace=True)
    ''')
    pytester.makefile(".toml", pyproject=f'''
        [tool.lmgate.models.crashing]
        kind = "causal-lm"
        serve = {{ engine = "vllm", model = "{weights}" }}

        [tool.lmgate.models.missing]
        kind = "causal-lm"
        serve = {{ engine = "transformers", model = "{tmp_path / 'gone'}" }}

        [tool.lmgate.models.registered]
        kind = "causal-lm"
        serve = {{ engine = "transformers", model = "served-local" }}
    ''')
    # The plugin's verdict on what loading raises: a skip only for what is not on the machine.
    pytester.makepyfile(f'''
        import pytest
        from lmgate.core.cache import RunCache
        from lmgate.models.load import load_model

        @pytest.mark.parametrize("name", ["crashing", "missing", "registered"])
        def test_uses_the_server(tmp_path, name):
            lm = load_model(name, "prompting", RunCache(tmp_path))
            assert lm.server_model == {str(weights)!r}
            lm.client.close()
    ''')
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rA")
    result.assert_outcomes(failed=2, passed=1)
    assert result.ret == 1
    result.stdout.fnmatch_lines_random([
        "*ServerError: serve: vllm exited with 3 before answering*",
        "*ConfigError: serve (transformers): model*gone' does not exist*",
        "PASSED*test_uses_the_server?registered?*"])
