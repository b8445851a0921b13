"""Secrets never leave: a known key, in the variable a model table names, sent to a real local
server that echoes the Authorization header in every answer (401/500/400 bodies, a model
listing, generated text), reaches none of lmgate's outputs: terminal, JUnit XML, the results
folder (summary.md, report.html, results/predictions/claims), the run cache, an MLflow store,
a serve log. And `redact`, the one step they all go through, as a property."""

from __future__ import annotations

import importlib.util
import json
import secrets
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from lmgate.core import redact as redaction
from lmgate.core.redact import redact, redact_bytes

KEY_ENV = "LMGATE_CANARY"


class Echoing(BaseHTTPRequestHandler):
    """OpenAI-compatible enough for lmgate's endpoint client; every answer quotes the
    request's Authorization header. The model asked for picks the answer: `ok` answers
    (a label, then the header), `m401`/`m400` refuse with a JSON error, `m500` fails with a
    plain-text body; any path under /broken/ refuses its listing with 401."""

    def log_message(self, *args):   # quiet
        pass

    def _send(self, status: int, body, content_type: str = "application/json") -> None:
        data = (json.dumps(body) if content_type == "application/json" else body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        auth = self.headers.get("Authorization", "")
        if "/broken/" in self.path:
            return self._send(401, {"error": {"message": f"invalid key in Authorization: {auth}",
                                              "headers": {"Authorization": auth}}})
        self._send(200, {"object": "list", "data": [
            {"id": name, "owned_by": auth} for name in ("ok", "m401", "m400", "m500")]})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        auth = self.headers.get("Authorization", "")
        model = body.get("model")
        if model == "m401":
            return self._send(401, {"error": {"message": f"Incorrect API key provided: {auth}"}})
        if model == "m400":
            return self._send(400, {"error": {"message": "bad request",
                                              "request": {"headers": {"Authorization": auth}}}})
        if model == "m500":
            return self._send(500, f"Internal error while handling Authorization: {auth} "
                                   f"(key {auth.removeprefix('Bearer ')})", "text/plain")
        text = f"positive {auth} {auth.removeprefix('Bearer ')}"
        if "messages" in body:
            return self._send(200, {"choices": [{"message": {"role": "assistant",
                                                             "content": text}}]})
        self._send(200, {"choices": [{"text": text}]})


@pytest.fixture
def echoing_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Echoing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


STUDY = '''
import os
import pandas as pd
import pytest
from lmgate.data import LabeledData
from lmgate.methods.zero_shot import PromptTemplate, ZeroShotClassifier
from lmgate.models.load import load_model

PROMPT = PromptTemplate("Positive or negative?", {"negative": "negative", "positive": "positive"})
DATA = LabeledData(pd.DataFrame({"text": ["good", "bad", "fine", "awful"],
                                 "label": [1, 0, 1, 0]}), ("negative", "positive"))


def classify(name, cache):
    return ZeroShotClassifier(load_model(name, "prompting", cache), PROMPT,
                              ("negative", "positive"), cache=cache)


def test_answers_echo_the_key(record, lmgate_run_cache):
    result = classify("canary-ok", lmgate_run_cache).evaluate(DATA, mode="generate",
                                                             max_new_tokens=20)
    record(result)
    print("answers:", result.info)


@pytest.mark.parametrize("model", ["canary-401", "canary-400", "canary-500", "canary-broken"])
def test_errors_echo_the_key(model, lmgate_run_cache):
    classify(model, lmgate_run_cache).evaluate(DATA, mode="generate", max_new_tokens=2)


def test_a_test_that_prints_and_asserts_on_the_key():
    key = os.environ["LMGATE_CANARY"]
    print("the key is", key)
    assert key == "something else", {"Authorization": f"Bearer {key}"}


def test_a_warning_that_names_the_key():
    import warnings
    warnings.warn(UserWarning("the server said: Bearer " + os.environ["LMGATE_CANARY"]))


def test_a_skip_that_names_the_key():
    pytest.skip("no server for key " + os.environ["LMGATE_CANARY"])
'''


def pyproject(url: str) -> str:
    tables = []
    for name, model, base in (("ok", "ok", "/v1"), ("401", "m401", "/v1"), ("400", "m400", "/v1"),
                              ("500", "m500", "/v1"), ("broken", "ok", "/broken/v1")):
        tables.append(f'[tool.lmgate.models.canary-{name}]\nkind = "causal-lm"\n'
                      f'endpoint = {{ base_url = "{url}{base}", model = "{model}", '
                      f'api = "completions", api_key_env = "{KEY_ENV}", max_retries = 0, '
                      'timeout_s = 10 }\n')
    return "\n".join(tables)


def leaks(key: str, text: str) -> list[str]:
    """Where in `text` the key shows: whole, or any 12 characters of its random part."""
    core = key.removeprefix("sk-").removeprefix("canary-")
    pieces = {key} | {core[i:i + 12] for i in range(len(core) - 11)}
    return sorted(p for p in pieces if p in text)


def scan(key: str, *roots: Path) -> dict[str, list[str]]:
    found = {}
    for root in roots:
        for path in [root] if root.is_file() else sorted(root.rglob("*")):
            if path.is_file():
                text = path.read_bytes().decode("utf-8", "replace")
                if leaks(key, text):
                    found[str(path)] = leaks(key, text)
    return found


def test_a_canary_key_reaches_no_output_channel(pytester, echoing_server, monkeypatch, tmp_path):
    # No known key format (sk-...) and a variable of no secret-sounding name: only the model
    # table's api_key_env can tell redaction that this value is a key.
    key = "canary-" + secrets.token_hex(16)
    monkeypatch.setenv(KEY_ENV, key)
    cache, results = tmp_path / "cache", tmp_path / "results"
    monkeypatch.setenv("LMGATE_CACHE_DIR", str(cache))
    pytester.makefile(".toml", pyproject=pyproject(echoing_server))
    pytester.makepyfile(test_study=STUDY)
    args = ["-p", "no:cacheprovider", "--junitxml", str(tmp_path / "junit.xml"),
            "-o", "junit_logging=all", "-l", "-rA", "--tb=long",
            "--lmgate-results-dir", str(results)]
    store = tmp_path / "mlruns"
    if importlib.util.find_spec("mlflow") is not None:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", store.as_uri())
        monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")   # a database store is slow to create
        args += ["--lmgate-track", "mlflow"]
    run = pytester.runpytest_subprocess(*args, timeout=240)
    out, err = run.stdout.str(), run.stderr.str()
    # The session did what the test asks: answers recorded, every error test failed.
    run.assert_outcomes(passed=2, failed=5, skipped=1, warnings=1)
    assert "Incorrect API key provided" in out and "Internal error while handling" in out
    assert (results / "results.jsonl").is_file() and (results / "summary.md").is_file()
    assert any(cache.rglob("manifest.json"))               # answers were cached
    if "--lmgate-track" in args:
        assert "lmgate: logged to mlflow" in out and any(store.rglob("*"))
    assert scan(key, pytester.path, tmp_path) == {}        # junit.xml, results, cache, store
    assert leaks(key, out) == [], out
    assert leaks(key, err) == [], err
    assert "Authorization: Bearer ***" in out              # the echo arrived, masked


def test_a_tracker_uri_with_a_password_is_masked_in_lmgate_error(pytester, monkeypatch):
    password = "pw-" + secrets.token_hex(8)
    pytester.makepyfile(test_x="def test_x():\n    raise AssertionError('ran')\n")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"postgresql://lmgate:{password}@127.0.0.1:1/db")
    if importlib.util.find_spec("mlflow") is None:
        pytest.skip('the MLflow tracker needs "lmgate[mlflow]"')
    run = pytester.runpytest_subprocess("--lmgate-track", "mlflow", "-p", "no:cacheprovider",
                                        timeout=120)
    assert run.ret == pytest.ExitCode.USAGE_ERROR
    err = run.stderr.str()
    assert "MLflow at postgresql://lmgate:***@127.0.0.1:1/db cannot start a run" in err
    assert password not in err + run.stdout.str()


def test_a_serve_log_masks_what_the_server_prints(tmp_path, monkeypatch):
    key = "sk-canary-" + secrets.token_hex(16)
    monkeypatch.setenv("SOME_SERVICE_API_KEY", key)
    printer = ("import os; key = os.environ['SOME_SERVICE_API_KEY']; print('started with', key); "
               "print('GET /v1/models Authorization: Bearer ' + key)")
    log = tmp_path / "serve.log"
    with open(log, "w") as out:
        done = subprocess.run([sys.executable, "-m", "lmgate.models.serving.serve_watchdog",
                               str(tmp_path / "record.json"), "--", sys.executable, "-c",
                               printer], stdout=out, stderr=subprocess.STDOUT, timeout=60)
    assert done.returncode == 0
    text = log.read_text()
    assert "started with ***" in text and "Authorization: Bearer ***" in text
    assert key not in text


# ---- the redaction step itself ---------------------------------------------------------------

secret_text = st.text(st.characters(exclude_characters="\x00", exclude_categories=("Cs",)),
                      min_size=8, max_size=40).filter(str.strip)
token = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                                "-._~+/"), min_size=8, max_size=40)
around = st.text(max_size=40)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(secret=secret_text, before=around, after=around,
       form=st.sampled_from(["{}", "Authorization: Bearer {}", '{{"Authorization": "Bearer {}"}}',
                             "https://user:{}@host/v1", "{!r}", "{{}}"]))
def test_a_registered_key_never_survives_redaction(monkeypatch, secret, before, after, form):
    monkeypatch.setenv("LMGATE_PROPERTY_KEY", secret)
    redaction.register_env("LMGATE_PROPERTY_KEY")
    embedded = form.format(secret) if form != "{{}}" else json.dumps({"answer": secret})
    masked = redact(before + embedded + after)
    assert secret not in masked
    assert secret.encode() not in redact_bytes((before + embedded + after).encode())


@settings(max_examples=60, deadline=None)
@given(secret=token, before=around, after=around,
       form=st.sampled_from(["postgresql://user:{}@db.example.org/lmgate",
                             "https://{}@github.com/org/repo.git",
                             "Authorization: Bearer {}", "authorization: Basic {}",
                             '{{"Authorization": "Bearer {}"}}', "{{'x-api-key': '{}'}}",
                             "api-key: {}", "https://api.example.org/v1?api_key={}&x=1",
                             "Proxy-Authorization: Bearer {}"]))
def test_an_unregistered_key_in_a_url_or_header_never_survives(secret, before, after, form):
    if form.startswith("https://{}"):   # a user-info without a password has no "/" (RFC 3986)
        secret = secret.replace("/", "-")
    assume(secret not in before and secret not in after)
    assert secret not in redact(before + " " + form.format(secret) + " " + after)


# Text that looks like no secret: no URL user-info, header, field or query to mask.
plain = st.text(st.characters(exclude_characters=":=@?&", exclude_categories=("Cs",)),
                max_size=200)


@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=plain, secret=secret_text)
def test_text_without_a_secret_is_unchanged(monkeypatch, text, secret):
    assume(secret not in text and secret.strip() not in text)
    monkeypatch.setenv("LMGATE_PROPERTY_KEY", secret)
    redaction.register_env("LMGATE_PROPERTY_KEY")
    assume(all(v not in text for v in redaction._variants(secret)))
    assume(all(secret[i:i + redaction.FRAGMENT] not in text for i in range(len(secret))))
    assert redact(text) == text


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(secret=token, doc=st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                 max_size=4), max_leaves=12),
    form=st.sampled_from(["{}", "Authorization: Bearer {}", "https://u:{}@h/x", "api_key={}"]))
def test_a_json_file_stays_json_once_redacted(monkeypatch, secret, doc, form):
    """Files lmgate writes (results.jsonl, the cache's manifests) are redacted as text: they
    must still parse, with the secret gone."""
    monkeypatch.setenv("LMGATE_PROPERTY_KEY", secret)
    redaction.register_env("LMGATE_PROPERTY_KEY")
    text = json.dumps({"doc": doc, "answer": form.format(secret), form.format(secret): 1})
    masked = redact(text)
    assert secret not in masked
    assert json.loads(masked).keys() == json.loads(text).keys() - {form.format(secret)} | {
        redact(form.format(secret))}


def test_a_key_pasted_where_its_variable_name_goes_is_not_echoed():
    from lmgate.core.errors import ConfigError
    from lmgate.models.serving.endpoint import Endpoint

    key = "sk-live-" + secrets.token_hex(4)
    with pytest.raises(ConfigError, match="must be an environment variable's name") as error:
        Endpoint("http://127.0.0.1:1/v1", "m", api_key_env=key)
    assert key not in str(error.value) and "got '***'" in str(error.value)
