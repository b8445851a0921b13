"""lmgate starts an inference engine's own OpenAI-compatible server when a model asks for one::

    [tool.lmgate.models.qwen32b-vllm]
    kind = "causal-lm"
    parameters = 32_760_000_000
    serve = { engine = "vllm", model = "Qwen/Qwen2.5-32B-Instruct",
              args = { tensor_parallel_size = 4, max_model_len = 4096 } }

The server runs as a subprocess on a free loopback port; lmgate waits until it answers
`/v1/models`, shares it with every later use in the process, and stops it at session end, at
interpreter exit, and (Linux) when lmgate's process dies even by SIGKILL (the child asks the
kernel for SIGTERM on its parent's death). `args` become the engine's own flags
(`tensor_parallel_size = 4` -> `--tensor-parallel-size 4`; `true` -> the bare flag).
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from lmgate.core.errors import ConfigError, ModelUnavailable

#: Each engine's server command: how its model and address are passed, and what it needs.
ENGINES: dict[str, dict[str, Any]] = {
    "vllm": {"argv": [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model"],
             "module": "vllm", "install": "pip install vllm"},
    "sglang": {"argv": [sys.executable, "-m", "sglang.launch_server", "--model-path"],
               "module": "sglang", "install": 'pip install "sglang[all]"'},
    "llama.cpp": {"argv": ["llama-server", "--model"], "executable": "llama-server",
                  "install": "build llama.cpp (its llama-server binary on PATH)"},
    "transformers": {"argv": [sys.executable, "-m", "transformers.cli.transformers", "serve"],
                     "module": "fastapi", "install": 'pip install "transformers[serving]"'},
}
#: Parallelism flags: how many GPUs one server takes (tensor x pipeline x data parallel).
GPU_FLAGS = ("tensor_parallel_size", "pipeline_parallel_size", "data_parallel_size", "tp_size",
             "dp_size", "pp_size")


@dataclass(frozen=True)
class Serve:
    """An engine to start for a model (a model spec's `serve` table)."""

    engine: str
    model: str
    args: Mapping[str, Any] = field(default_factory=dict)
    api: str = "completions"
    startup_timeout_s: float = 900.0

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise ConfigError(f"serve: unknown engine {self.engine!r}; use one of {sorted(ENGINES)}")
        if not isinstance(self.model, str) or not self.model.strip():
            raise ConfigError("serve: model must name the weights the engine loads (a hub id "
                              "or a local path)")
        if not isinstance(self.args, Mapping):
            raise ConfigError(f"serve: args must be a table of the engine's flags, got {self.args!r}")
        for key, value in self.args.items():
            if not isinstance(value, (str, int, float, bool, list)):
                raise ConfigError(f"serve: args.{key} must be a string, number, boolean or list")
            if key in ("host", "port"):
                raise ConfigError("serve: lmgate chooses host and port (a free loopback port)")
        object.__setattr__(self, "args", dict(self.args))

    def __hash__(self) -> int:   # args is a dict: hash its items (a ModelSpec must hash)
        return hash((self.engine, self.model, repr(sorted(self.args.items())), self.api,
                     self.startup_timeout_s))

    @property
    def gpus(self) -> int:
        """GPUs one server of this spec takes."""
        n = 1
        for key in GPU_FLAGS:
            value = self.args.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and value > 1:
                n *= value
        return n

    def command(self, port: int) -> list[str]:
        """The engine's server command on 127.0.0.1:`port`."""
        argv = [*ENGINES[self.engine]["argv"], self.model, "--host", "127.0.0.1",
                "--port", str(port)]
        for key, value in self.args.items():
            flag = "--" + key.replace("_", "-")
            values = value if isinstance(value, list) else [value]
            if value is True:
                argv.append(flag)
            elif value is not False:
                argv += [flag, *map(str, values)]
        return argv

    def check_available(self) -> None:
        """The engine is installed here, or a ModelUnavailable saying how to install it."""
        engine = ENGINES[self.engine]
        found = (shutil.which(engine["executable"]) if "executable" in engine
                 else importlib.util.find_spec(engine["module"]))
        if not found:
            raise ModelUnavailable(f"serve: engine {self.engine} is not installed here "
                                   f"({engine['install']})")


SERVE_FIELD_TYPES: dict[str, type | tuple[type, ...]] = {
    "engine": str, "model": str, "args": dict, "api": str, "startup_timeout_s": (int, float)}


@dataclass
class RunningServer:
    serve: Serve
    process: subprocess.Popen
    base_url: str
    log: Path

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM to the server's process group, SIGKILL if it has not gone in `timeout`."""
        if self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        except ProcessLookupError:
            pass


_RUNNING: dict[tuple, RunningServer] = {}
_LOCK = threading.Lock()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    """Runs in the child between fork and exec. The death signal follows the thread that
    forked: `start` is called from the session's main thread (fixtures), which lives as long
    as the session."""
    os.setsid()                   # its own group: stopped as a whole, not hit by our Ctrl-C
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)   # PR_SET_PDEATHSIG


def start(serve: Serve, log_dir: Path, env: Mapping[str, str] | None = None) -> RunningServer:
    """The running server for `serve`: started (and waited for) on first use, shared after."""
    import httpx

    key = (serve.engine, serve.model, tuple(sorted(serve.args.items(), key=str)))
    with _LOCK:
        running = _RUNNING.get(key)
        if running is not None and running.process.poll() is None:
            return running
        serve.check_available()
        port = _free_port()
        log_dir.mkdir(parents=True, exist_ok=True)
        log = log_dir / f"{serve.engine}-{port}.log"
        with open(log, "w") as out:
            process = subprocess.Popen(serve.command(port), stdout=out, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent,
                                       env=dict(env) if env is not None else None)
        running = RunningServer(serve, process, f"http://127.0.0.1:{port}/v1", log)
        deadline = time.monotonic() + serve.startup_timeout_s
        while True:
            if process.poll() is not None:
                tail = log.read_text(errors="replace")[-1500:]
                raise ModelUnavailable(f"serve: {serve.engine} exited with {process.returncode} "
                                       f"before answering (log {log}):\n{tail}")
            try:
                if httpx.get(f"{running.base_url}/models", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                running.stop()
                raise ModelUnavailable(f"serve: {serve.engine} did not answer on "
                                       f"{running.base_url} within {serve.startup_timeout_s:.0f} s "
                                       f"(log {log})")
            time.sleep(0.5)
        _RUNNING[key] = running
        return running


def stop_all() -> None:
    """Stop every server this process started (session end, interpreter exit)."""
    with _LOCK:
        for running in _RUNNING.values():
            running.stop()
        _RUNNING.clear()


atexit.register(stop_all)
