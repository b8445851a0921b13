"""lmgate starts an engine's server: the commands it runs, the GPUs they take, what the plan
says, and a server's life (shared within and across processes, stopped when its last user has
gone, even by SIGKILL) on a real process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import PLAN_STUDY, STAND_IN_ENGINE

from lmgate.core.errors import ConfigError, ModelUnavailable
from lmgate.models.store.registry import spec_from_mapping
from lmgate.models.serving.serve import Serve


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
    for bad in (-1, 0, 2.5, True, "4"):   # the plan's GPU count would be wrong
        with pytest.raises(ConfigError, match="tensor_parallel_size counts GPUs"):
            Serve("vllm", "m", args={"tensor_parallel_size": bad})
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
    result = pytester.runpytest("--lmgate-plan", "--lmgate-device", "cuda")
    out = result.stdout.str()
    assert "vllm server lmgate starts: Qwen/Qwen2.5-32B-Instruct on 4 GPU(s)" in out
    assert "18.3" in out                           # 32.76B x 2 bytes x 1.2 / 4 GPUs, in GiB
    assert "served at https://api.example.com/v1 (chat API; no weights here)" in out
    assert "a plan runs nothing" not in out




def user_script(folder: Path, body: str) -> Path:
    """A script that uses lmgate's launcher with the stand-in engine (`FOLDER`: the record
    and log folder), then runs `body`."""
    engine = folder / "engine.py"
    engine.write_text(STAND_IN_ENGINE)
    script = folder / "user.py"
    script.write_text(textwrap.dedent(f'''
        import json, os, signal, sys
        from pathlib import Path
        from lmgate.models.serving import serve
        serve.ENGINES["transformers"] = {{"argv": [sys.executable, {str(engine)!r}],
                                          "module": "json", "install": "-"}}
        FOLDER = Path({str(folder)!r})
    ''') + textwrap.dedent(body))
    return script


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
    script = user_script(tmp_path, """
        spec = serve.Serve("transformers", "stand-in")
        first = serve.start(spec, FOLDER)
        again = serve.start(spec, FOLDER)
        print(json.dumps({"pid": first.server_pid, "shared": first is again,
                          "url": first.base_url}), flush=True)
        if sys.argv[1] == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    for how in ("exit", "kill"):
        done = subprocess.run([sys.executable, str(script), how], capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == (-signal.SIGKILL if how == "kill" else 0), done.stderr
        info = json.loads(done.stdout.splitlines()[0])
        assert info["shared"] and info["url"].startswith("http://127.0.0.1:")
        assert gone(info["pid"]), f"the server outlived its parent ({how})"


def test_processes_of_a_machine_share_one_server_until_the_last_user_has_gone(tmp_path):
    """Two processes (as xdist workers do) asking for the same server with the same record
    folder get one server; it outlives the first user's exit and stops when the second dies
    by SIGKILL (its watchdog sees no user left)."""
    script = user_script(tmp_path, """
        running = serve.start(serve.Serve("transformers", "stand-in"), FOLDER)
        print(json.dumps({"pid": running.server_pid, "url": running.base_url,
                          "launched": running.supervisor is not None}), flush=True)
        sys.stdin.readline()                      # stay a user until told to go
        if sys.argv[1] == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    users = [subprocess.Popen([sys.executable, str(script), how], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True) for how in ("exit", "kill")]
    try:
        infos = [json.loads(user.stdout.readline()) for user in users]
        assert infos[0]["pid"] == infos[1]["pid"] and infos[0]["url"] == infos[1]["url"]
        assert sorted(i["launched"] for i in infos) == [False, True]   # one started it
        users[0].communicate("go\n", timeout=60)   # the first user's session ends...
        assert not gone(infos[0]["pid"], within=2.0), "stopped while another process used it"
        users[1].communicate("go\n", timeout=60)   # ...and the second is SIGKILLed
        assert users[1].returncode == -signal.SIGKILL
        assert gone(infos[0]["pid"]), "the server outlived its last user"
        assert not list(tmp_path.glob("server-*.json"))   # the record went with it
    finally:
        for user in users:
            user.kill()


def test_a_detached_server_is_forgotten_and_exit_leaves_its_folder_alone(tmp_path):
    """After `detach` (its last user: the server stops) the process no longer counts as a
    user: the next `start` launches afresh and interpreter exit writes nothing into the record
    folder (it recreated the folder's lock file after a test session had removed it)."""
    script = user_script(tmp_path, """
        import shutil
        logs = FOLDER / "logs"
        spec = serve.Serve("transformers", "stand-in")
        first = serve.start(spec, logs)
        first.detach()
        second = serve.start(spec, logs)
        print(json.dumps({"pids": [first.server_pid, second.server_pid]}), flush=True)
        second.detach()
        shutil.rmtree(logs)
    """)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    pids = json.loads(done.stdout.splitlines()[0])["pids"]
    assert pids[0] != pids[1] and all(gone(pid) for pid in pids)
    assert not (tmp_path / "logs").exists()


def test_an_engine_that_exits_before_answering_is_a_clear_error_with_its_log(tmp_path,
                                                                              monkeypatch):
    from lmgate.models.serving import serve

    monkeypatch.setitem(serve.ENGINES, "transformers", {
        "argv": [sys.executable, "-c", "import sys; print('no GPU found'); sys.exit(3)"],
        "module": "json", "install": "-"})
    # A crash is an error (the plugin would skip a ModelUnavailable and the run exit 0).
    with pytest.raises(serve.ServerError, match=r"(?s)exited with 3 before answering.*no GPU found"
                       ) as error:
        serve.start(serve.Serve("transformers", "stand-in"), tmp_path)
    assert not isinstance(error.value, ModelUnavailable)
    # No record left for others to attach to (the lock file stays, as filelock's do).
    assert not [*tmp_path.glob("server-*.json"), *tmp_path.glob("server-*.pid")]


def test_xdist_workers_use_one_server_that_stops_after_the_session(pytester, tmp_path):
    """`pytest -n 2` with a served model: both workers reach the model through the same
    server (found through the run cache), and it is gone when the session has ended."""
    engine = tmp_path / "engine.py"
    engine.write_text(STAND_IN_ENGINE)
    seen = tmp_path / "seen"
    seen.mkdir()
    pytester.makeconftest(f'''
        import sys
        from lmgate.models.serving import serve
        serve.ENGINES["transformers"] = {{"argv": [sys.executable, {str(engine)!r}],
                                          "module": "json", "install": "-"}}
    ''')
    weights = tmp_path / "weights"   # a local folder: served as it is, offline or not
    weights.mkdir()
    pytester.makefile(".toml", pyproject=f'''
        [tool.lmgate.models.served-standin]
        kind = "causal-lm"
        serve = {{ engine = "transformers", model = "{weights}" }}
    ''')
    pytester.makepyfile(f'''
        import json, os, time
        import pytest
        from lmgate.models.serving import serve

        @pytest.mark.parametrize("case", range(4))
        def test_uses_the_server(case, causal_lm):
            url = causal_lm("served-standin").describe()["endpoint"]
            (running,) = serve._RUNNING.values()
            with open(os.path.join({str(seen)!r}, f"{{case}}.json"), "w") as f:
                json.dump({{"pid": os.getpid(), "url": url, "server": running.server_pid}}, f)
            time.sleep(1.0)   # both workers hold the server at once
    ''')
    result = pytester.runpytest_subprocess("-n", "2", "--dist", "load", "-p", "no:cacheprovider",
                                           "--lmgate-cache-dir", str(tmp_path / "cache"))
    result.assert_outcomes(passed=4)
    uses = [json.loads(p.read_text()) for p in seen.glob("*.json")]
    assert len({u["pid"] for u in uses}) == 2, uses            # two workers...
    assert len({(u["url"], u["server"]) for u in uses}) == 1, uses   # ...one server
    assert gone(uses[0]["server"], within=5.0)
