"""Served LLMs through an OpenAI-compatible API: a real `transformers serve` with SmolLM2 on
this machine, and a small HTTP server of this file's own for what that one cannot do
(prompt log-probabilities in vLLM's response format, computed by the real model; 429/503)."""

from __future__ import annotations

import copy
import dataclasses
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from conftest import SERVED_SMOL

from lmgate.core.cache import RunCache
from lmgate.core.errors import ConfigError
from lmgate.methods.zero_shot import PromptTemplate, ZeroShotClassifier
from lmgate.models.serving.endpoint import Endpoint, EndpointError, connect, display_url
from lmgate.models.load import load_model
from lmgate.models.store.registry import ModelSpec, Price, spec_from_mapping

pytestmark = pytest.mark.all_cores

SMOL = SERVED_SMOL   # what the `transformers_server` fixture serves
TEXTS = ["A wonderful, moving film.", "Dull and far too long.", "I loved every minute.",
         "The worst acting I have seen.", "Charming and funny.", "A boring mess."]
LABELS = ("negative", "positive")
PLAIN = PromptTemplate("Is this review positive or negative? Answer with one word.",
                       {"negative": "negative", "positive": "positive"}, input_name="Review")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def served(name: str, url: str, model: str, price: Price | None = None,
           **endpoint) -> ModelSpec:
    return ModelSpec(name, "causal-lm", endpoint=Endpoint(url, model, **endpoint), price=price)


def toy_reviews():
    from lmgate.data import LabeledData
    import pandas as pd

    return LabeledData(pd.DataFrame({"text": TEXTS, "label": [1, 0, 1, 0, 1, 0]}), LABELS)


PRICE = Price(input_per_mtok=0.15, output_per_mtok=0.60)


@pytest.fixture(scope="module")
def cache(_test_cache_dir):
    return RunCache(_test_cache_dir)


@pytest.fixture(scope="module")
def smol(cache):
    return load_model(SMOL, "prompting", cache)


def test_chat_generation_equals_the_in_process_model(transformers_server, smol, cache):
    url, model = transformers_server
    lm = connect(served("served-smol", url, model, api="chat"), cache=None)
    remote = ZeroShotClassifier(lm, PLAIN, LABELS).predict(TEXTS, mode="generate",
                                                            max_new_tokens=3)
    local = ZeroShotClassifier(smol, PLAIN, LABELS).predict(TEXTS, mode="generate",
                                                             max_new_tokens=3)
    assert [a.strip() for a in remote.answers] == [a.strip() for a in local.answers]
    assert list(remote.y_pred) == list(local.y_pred)
    assert lm.client.sent == len(TEXTS) + 1           # one request per text, and /models


def test_a_rerun_sends_nothing_and_results_say_where_they_came_from(transformers_server, cache,
                                                                    monkeypatch):
    url, model = transformers_server
    monkeypatch.setenv("LMGATE_TEST_KEY", "sk-secret-never-written")
    spec = served("served-smol-cached", url, model, api="chat", api_key_env="LMGATE_TEST_KEY")
    data = toy_reviews()
    first = connect(spec, cache)
    result = ZeroShotClassifier(first, PLAIN, LABELS).evaluate(data, mode="generate")
    again = connect(spec, cache)
    sent_before = again.client.sent
    ZeroShotClassifier(again, PLAIN, LABELS, cache=None).predict(TEXTS, mode="generate")
    assert again.client.sent == sent_before            # every answer from the response cache
    assert result.info["endpoint"] == url and result.info["api"] == "chat"
    assert result.info["engine"] == "openai-compatible endpoint"
    written = [p for p in Path(cache.root).rglob("*") if p.is_file() and p.stat().st_size < 1e6]
    assert not any("sk-secret" in p.read_text(errors="ignore") for p in written)
    assert "sk-secret" not in json.dumps(result.info, default=str)


def test_a_served_result_costs_the_tokens_its_server_reported_cached_or_not(
        transformers_server, smol, tmp_path):
    url, model = transformers_server
    spec = served("served-smol-usage", url, model, price=PRICE, api="chat")
    cache = RunCache(tmp_path)
    lm = connect(spec, cache)
    result = ZeroShotClassifier(lm, PLAIN, LABELS, cache=cache).evaluate(
        toy_reviews(), mode="generate", max_new_tokens=3)
    tokens = {k: result.info[k] for k in ("input_tokens", "output_tokens")}
    # The server counted the chat prompts that this process's tokenizer counts for the model.
    local = ZeroShotClassifier(smol, PLAIN, LABELS).token_counts(TEXTS, "generate", None)
    assert tokens["input_tokens"] == local["input_tokens"]
    assert len(TEXTS) <= tokens["output_tokens"] <= 3 * len(TEXTS)
    assert lm.usage().reported == len(TEXTS) and lm.usage().unreported == 0
    assert result.info["cost_usd"] == pytest.approx(
        (0.15 * tokens["input_tokens"] + 0.60 * tokens["output_tokens"]) / 1e6, abs=1e-6)
    # A rerun: the zero-shot cache keeps the usage with the predictions ...
    again = connect(spec, cache)
    replay = ZeroShotClassifier(again, PLAIN, LABELS, cache=cache).evaluate(
        toy_reviews(), mode="generate", max_new_tokens=3)
    assert replay.info["cache_hit"] and {k: replay.info[k] for k in tokens} == tokens
    # ... and the run cache keeps each answer whole, its usage included.
    answers = ZeroShotClassifier(again, PLAIN, LABELS).predict(TEXTS, "generate", 3)
    assert again.client.sent == 1 and answers.usage == tokens          # /models only


def test_label_scoring_on_a_server_without_prompt_logprobs_is_refused_before_any_work(
        transformers_server):
    url, model = transformers_server
    chat = connect(served("served-chat", url, model, api="chat"))
    with pytest.raises(ConfigError, match="returns no prompt log-probabilities"):
        ZeroShotClassifier(chat, PLAIN, LABELS).predict(TEXTS, mode="score")
    assert chat.client.sent == 1                         # /models only
    plain = connect(served("served-plain", url, model, api="completions"))
    with pytest.raises(ConfigError, match="use decoding mode 'generate'"):
        ZeroShotClassifier(plain, PLAIN, LABELS).predict(TEXTS, mode="score")
    assert plain.client.sent == 2                        # /models and the one probe


def test_served_translation_and_qa_equal_the_in_process_model(transformers_server, smol):
    from lmgate.data.squad import Question
    from lmgate.methods.qa_zero_shot import zero_shot_answers
    from lmgate.methods.translation import translate

    url, model = transformers_server
    lm = connect(served("served-plain-gen", url, model, api="completions"))
    sources = ["Ein Mann fährt Fahrrad.", "Zwei Hunde spielen im Schnee."]
    assert translate(lm, sources, max_new_tokens=16) == translate(smol, sources,
                                                                  max_new_tokens=16)
    question = Question("q1", "Where do the dogs play?", "Two dogs play in the snow.", ("snow",),
                        (22,))
    assert zero_shot_answers(lm, [question]) == zero_shot_answers(smol, [question])


# ---- a vLLM-shaped server: prompt log-probabilities from the real model --------------------

class VllmShaped(BaseHTTPRequestHandler):
    """`/v1/completions` with echo + logprobs as vLLM answers it (tokens, token_logprobs,
    top_logprobs, text_offset; the first token has no log-probability), computed by SmolLM2,
    with vLLM's `usage` (the prompt's tokens, one generated) unless `usage` is off;
    `failures` answers 503/429 first, to exercise retries."""

    lm = None
    failures: list[int] = []
    seen_auth: list[str] = []
    usage = True

    def log_message(self, *args):   # quiet
        pass

    def _json(self, status: int, body, headers=()):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self._json(200, {"object": "list", "data": [{"id": "smol", "root": "/weights/smol"}]})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.seen_auth.append(self.headers.get("Authorization", ""))
        if self.failures:
            status = self.failures.pop(0)
            return self._json(status, {"error": {"message": "busy"}}, [("Retry-After", "0")])
        logprobs = echo_logprobs(self.lm, body["prompt"])
        answer = {"choices": [{"text": body["prompt"] + " x", "logprobs": logprobs}]}
        if self.usage:
            prompt_tokens = len(logprobs["tokens"]) - 1
            answer["usage"] = {"prompt_tokens": prompt_tokens, "completion_tokens": 1,
                               "total_tokens": prompt_tokens + 1}
        self._json(200, answer)


def echo_logprobs(lm, text: str) -> dict:
    import torch

    enc = lm.tokenizer(text, return_offsets_mapping=True, add_special_tokens=False)
    ids = enc["input_ids"]
    with torch.inference_mode():
        logp = torch.log_softmax(lm.model(torch.tensor([ids])).logits[0].float(), -1)
    tokens = lm.tokenizer.convert_ids_to_tokens(ids) + [" x"]
    token_lp = [None] + [float(logp[i - 1, ids[i]]) for i in range(1, len(ids))] + [-1.0]
    top = [None] + [{tokens[i]: float(logp[i - 1].max())} for i in range(1, len(ids))] + [{}]
    offsets = [start for start, _ in enc["offset_mapping"]] + [len(text)]
    return {"tokens": tokens, "token_logprobs": token_lp, "top_logprobs": top,
            "text_offset": offsets}


@pytest.fixture
def vllm_shaped(smol):
    VllmShaped.lm, VllmShaped.failures, VllmShaped.seen_auth = smol, [], []
    VllmShaped.usage = True
    server = ThreadingHTTPServer(("127.0.0.1", 0), VllmShaped)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def test_label_scores_from_echoed_logprobs_equal_the_in_process_scores(vllm_shaped, smol):
    lm = connect(served("vllm-smol", vllm_shaped, "smol"))
    assert lm.server_model == "/weights/smol" and lm.supports_loglikelihood()
    remote = ZeroShotClassifier(lm, PLAIN, LABELS).predict(TEXTS, mode="score")
    # The completions API takes plain prompts: the in-process model without its chat template.
    plain_tokenizer = copy.deepcopy(smol.tokenizer)
    plain_tokenizer.chat_template = None
    plain = dataclasses.replace(smol, tokenizer=plain_tokenizer)
    local = ZeroShotClassifier(plain, PLAIN, LABELS, share_prefix=False).predict(TEXTS,
                                                                                mode="score")
    np.testing.assert_allclose(remote.scores, local.scores, atol=1e-3)
    assert list(remote.y_pred) == list(local.y_pred)


def test_busy_servers_are_retried_and_the_key_goes_only_in_the_header(vllm_shaped, monkeypatch):
    monkeypatch.setenv("LMGATE_TEST_KEY", "sk-abc")
    lm = connect(served("vllm-retry", vllm_shaped, "smol", api_key_env="LMGATE_TEST_KEY",
                        max_retries=3))
    VllmShaped.failures = [503, 429]
    (score, greedy), = lm.loglikelihood([("The cat sat on the", " mat")])
    assert np.isfinite(score) and score < 0 and isinstance(greedy, bool)
    assert VllmShaped.seen_auth[-1] == "Bearer sk-abc"
    VllmShaped.failures = [503] * 5
    lm.client.endpoint = Endpoint(vllm_shaped, "smol", max_retries=1)
    with pytest.raises(EndpointError, match="failed after 2 attempts.*HTTP 503: busy") as error:
        lm.client._send("POST", "completions", {"prompt": "a"})
    assert "sk-abc" not in str(error.value)


def test_bad_endpoint_declarations_are_clear_errors(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="no credentials or query in base_url"):
        Endpoint("http://user:pw@host/v1", "m")
    with pytest.raises(ConfigError, match="api must be one of"):
        Endpoint("http://host/v1", "m", api="responses")
    with pytest.raises(ConfigError, match="environment variable's name"):
        Endpoint("http://host/v1", "m", api_key_env="sk-live-123")
    with pytest.raises(ConfigError, match="max_concurrency must be an integer >= 1"):
        Endpoint("http://host/v1", "m", max_concurrency=0)
    with pytest.raises(ConfigError, match="timeout_s must be a positive number"):
        Endpoint("http://host/v1", "m", timeout_s=float("nan"))
    with pytest.raises(ConfigError, match="unknown key"):
        spec_from_mapping("x", {"kind": "causal-lm", "endpoint": {"base_url": "http://h/v1",
                                                                  "model": "m", "key": "sk"}})
    with pytest.raises(ConfigError, match="an endpoint serves a causal-lm"):
        served_enc = ModelSpec("e", "encoder-classifier", endpoint=Endpoint("http://h/v1", "m"))
        del served_enc
    monkeypatch.delenv("NOT_SET_KEY", raising=False)
    with pytest.raises(ConfigError, match="NOT_SET_KEY that should hold its API key is not set"):
        connect(served("k", "http://127.0.0.1:9/v1", "m", api_key_env="NOT_SET_KEY"))
    with pytest.raises(EndpointError, match="failed after 1 attempts"):
        connect(served("down", f"http://127.0.0.1:{free_port()}/v1", "m", max_retries=0))
    with pytest.raises(ConfigError, match="can be prompted, not used for the classifier"):
        load_model(served("f", "http://127.0.0.1:9/v1", "m"), "classifier", RunCache(tmp_path))
    assert display_url("https://h:8443/v1/?x=1") == "https://h:8443/v1"


def test_a_server_that_does_not_serve_the_model_lists_what_it_serves(vllm_shaped):
    with pytest.raises(ConfigError, match=r"does not serve 'llama'; it lists \['smol'\]"):
        connect(served("wrong", vllm_shaped, "llama"))


def test_served_label_scores_cost_what_the_server_reported_and_nothing_when_it_reports_none(
        vllm_shaped, smol):
    from lmgate.models.serving.endpoint import PROBE

    spec = served("vllm-usage", vllm_shaped, "smol", price=PRICE)
    classifier = ZeroShotClassifier(connect(spec), PLAIN, LABELS)
    result = classifier.evaluate(toy_reviews(), mode="score")
    # One echo request per (text, label) and the probe: each prompt's tokens, one generated.
    sent = [classifier.prompt(t) + " " + a for t in TEXTS for a in LABELS] + [PROBE]
    prompt_tokens = sum(len(smol.tokenizer(p, add_special_tokens=False)["input_ids"])
                        for p in sent)
    assert (result.info["input_tokens"], result.info["output_tokens"]) == (prompt_tokens,
                                                                            len(sent))
    assert "cost_usd" in result.info and "answers_without_usage" not in result.info
    VllmShaped.usage = False
    silent = ZeroShotClassifier(connect(spec), PLAIN, LABELS).evaluate(toy_reviews(), "score")
    assert not {"input_tokens", "output_tokens", "cost_usd"} & set(silent.info)   # never a 0
    assert silent.info["answers_without_usage"] == len(sent)


def test_lazy_generation_counts_the_tokens_the_real_server_reported(transformers_server,
                                                                    tmp_path):
    """A lazily translated system on a served model: its tokens are the server's usage of the
    requests it sent, and a server's cached answers replay the same counts."""
    from lmgate import LazyTranslation

    url, model = transformers_server
    spec = served("served-smol-lazy", url, model, api="completions")
    pairs = [(t, t) for t in TEXTS[:4]]
    lm = connect(spec, RunCache(tmp_path / "answers"))
    before = lm.usage()
    lazy = LazyTranslation(lm, pairs, max_new_tokens=4, cache=RunCache(tmp_path / "outputs"))
    lazy.hypotheses_for([0, 1])
    delta = lm.usage()
    assert delta.reported - before.reported == 2
    assert (lazy.input_tokens, lazy.output_tokens) == (
        delta.input_tokens - before.input_tokens, delta.output_tokens - before.output_tokens)
    assert lazy.input_tokens > 0 and 0 < lazy.output_tokens <= 2 * 4
    info = lazy.evaluate().info                    # the other two, from the server
    assert info["input_tokens"] == lm.usage().input_tokens - before.input_tokens
