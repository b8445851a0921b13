"""lmgate starts an engine's server: the commands it runs, the GPUs they take, what the plan
says, and a server's life (shared, stopped, gone with a SIGKILLed parent) on a real process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from conftest import PLAN_STUDY

from lmgate.core.errors import ConfigError, ModelUnavailable
from lmgate.models.registry import spec_from_mapping
from lmgate.models.serve import Serve


def test_engine_commands_carry_the_args_as_the_engines_own_flags():
    vllm = Serve("vllm", "Qwen/Qwen2.5-32B-Instruct",
                 args={"tensor_parallel_size": 4, "enforce_eager": True, "trust_remote_code": False,
                       "max_model_len": 4096})
    assert vllm.command(8123) == [
        sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model",
        "Qwen/Qwen2.5-32B-Instruct", "--host", "127.0.0.1", "--port", "8123",
        "--tensor-parallel-size", "4", "--enforce-eager", "--max-model-len", "4096"]
    assert vllm.gpus == 4
    assert hash(vllm) == hash(Serve("vllm", "Qwen/Qwen2.5-32B-Instruct", args=dict(vllm.args)))
    sglang = Serve("sglang", "m", args={"tp_size": 2, "dp_size": 2})
    assert sglang.command(1)[:5] == [sys.executable, "-m", "sglang.launch_server",
                                     "--model-path", "m"] and sglang.gpus == 4
    llama = Serve("llama.cpp", "/models/q.gguf", args={"n_gpu_layers": 99})
    assert llama.command(9)[:3] == ["llama-server", "--model", "/models/q.gguf"]
    assert llama.gpus == 1


def test_bad_serve_tables_are_clear_errors():
    with pytest.raises(ConfigError, match="unknown engine 'tgi'"):
        Serve("tgi", "m")
    with pytest.raises(ConfigError, match="lmgate chooses host and port"):
        Serve("vllm", "m", args={"port": 80})
    with pytest.raises(ConfigError, match="args.x must be a string"):
        Serve("vllm", "m", args={"x": {"nested": 1}})
    with pytest.raises(ConfigError, match="not both"):
        spec_from_mapping("x", {"kind": "causal-lm", "serve": {"engine": "vllm", "model": "m"},
                                "endpoint": {"base_url": "http://h/v1", "model": "m"}})
    with pytest.raises(ConfigError, match=r"serve: unknown key\(s\) \['gpus'\]"):
        spec_from_mapping("x", {"kind": "causal-lm",
                                "serve": {"engine": "vllm", "model": "m", "gpus": 4}})


def test_an_engine_that_is_not_installed_says_how_to_install_it(monkeypatch):
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)   # as on a CPU box
    with pytest.raises(ModelUnavailable, match="engine vllm is not installed.*pip install vllm"):
        Serve("vllm", "m").check_available()
    monkeypatch.setenv("PATH", "")
    with pytest.raises(ModelUnavailable, match="engine llama.cpp is not installed.*llama-server"):
        Serve("llama.cpp", "m.gguf").check_available()


def test_plan_shows_the_engine_its_gpus_and_memory_per_gpu(pytester):
    pytester.makepyfile(test_study=PLAN_STUDY)
    pytester.makefile(".toml", pyproject='''
[tool.lmgate.models.qwen-vllm]
kind = "causal-lm"
parameters = 32_760_000_000
serve = { engine = "vllm", model = "Qwen/Qwen2.5-32B-Instruct", args = { tensor_parallel_size = 4 } }

[tool.lmgate.models.api-model]
kind = "causal-lm"
endpoint = { base_url = "https://api.example.com/v1", model = "big", api = "chat", api_key_env = "K" }

[tool.lmgate.profiles.smoke.studies.s]
llms = ["qwen-vllm", "api-model"]
''')
    result = pytester.runpytest("--lmgate-plan", "--device", "cuda")
    out = result.stdout.str()
    assert "vllm server lmgate starts: Qwen/Qwen2.5-32B-Instruct on 4 GPU(s)" in out
    assert "18.3" in out                           # 32.76B x 2 bytes x 1.2 / 4 GPUs, in GiB
    assert "served at https://api.example.com/v1 (chat API; no weights here)" in out
    assert "a plan runs nothing" not in out


STAND_IN_ENGINE = textwrap.dedent('''
    import json, sys
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class Models(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            body = json.dumps({"data": [{"id": sys.argv[1]}]}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    HTTPServer(("127.0.0.1", int(sys.argv[sys.argv.index("--port") + 1])), Models).serve_forever()
''')


def gone(pid: int, within: float = 15.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def test_a_server_is_shared_stopped_at_exit_and_dies_with_a_killed_parent(tmp_path):
    """The life of a started server, on a real process standing in for an engine (one that
    only lists its model): the launcher's part is what is tested here; `transformers serve`
    runs through the same launcher in tests/test_endpoint.py."""
    engine = tmp_path / "engine.py"
    engine.write_text(STAND_IN_ENGINE)
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(f'''
        import json, os, signal, sys
        from pathlib import Path
        from lmgate.models import serve
        serve.ENGINES["transformers"] = {{"argv": [sys.executable, {str(engine)!r}],
                                          "module": "json", "install": "-"}}
        spec = serve.Serve("transformers", "stand-in")
        first = serve.start(spec, Path({str(tmp_path)!r}))
        again = serve.start(spec, Path({str(tmp_path)!r}))
        print(json.dumps({{"pid": first.process.pid, "shared": first is again,
                          "url": first.base_url}}), flush=True)
        if sys.argv[1] == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
    '''))
    for how in ("exit", "kill"):
        done = subprocess.run([sys.executable, str(script), how], capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == (-signal.SIGKILL if how == "kill" else 0), done.stderr
        info = json.loads(done.stdout.splitlines()[0])
        assert info["shared"] and info["url"].startswith("http://127.0.0.1:")
        assert gone(info["pid"]), f"the server outlived its parent ({how})"
