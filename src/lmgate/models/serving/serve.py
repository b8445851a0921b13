"""lmgate starts an inference engine's own OpenAI-compatible server when a model asks for one::

    [tool.lmgate.models.qwen32b-vllm]
    kind = "causal-lm"
    parameters = 32_760_000_000
    serve = { engine = "vllm", model = "Qwen/Qwen2.5-32B-Instruct",
              args = { tensor_parallel_size = 4, max_model_len = 4096 } }

The server runs as a subprocess on a free loopback port, under a watchdog process
(`lmgate.models.serving.serve_watchdog`); lmgate waits until it answers `/v1/models` and shares it with
every later use, in the process and in the other processes of the machine (xdist workers: they
find it through a record file in the run cache, under a file lock). The watchdog stops it when
no process using it is alive: after the last one's session end or exit, or its death even by
SIGKILL. `args` become the engine's own flags
(`tensor_parallel_size = 4` -> `--tensor-parallel-size 4`; `true` -> the bare flag).
"""

from __future__ import annotations

import atexit
import hashlib
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

from lmgate.core.errors import ConfigError, LmgateError, ModelUnavailable
from lmgate.core.extras import require
from lmgate.core.io import pid_alive
from lmgate.core.redact import NAMES_ENV, secret_env_names
from lmgate.models.serving.serve_watchdog import read_record, write_record

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


class ServerError(LmgateError, RuntimeError):
    """An engine server that was asked for and did not come up (it exited, or never answered):
    a misconfiguration or a crash, so an error, never a skip. Only an engine that is not
    installed here is ModelUnavailable."""


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
            if key in GPU_FLAGS and (isinstance(value, bool) or not isinstance(value, int)
                                     or value < 1):
                raise ConfigError(f"serve: args.{key} counts GPUs: a whole number >= 1, got "
                                  f"{value!r}")
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
    """A server this process uses: one it launched (`supervisor` is then the watchdog process
    that started it) or one another process of the machine launched and it attached to."""

    serve: Serve
    server_pid: int
    base_url: str
    log: Path
    record: Path
    supervisor: subprocess.Popen | None = None

    def alive(self) -> bool:
        return pid_alive(self.server_pid) and self.record.exists()

    def detach(self, timeout: float = 40.0) -> None:
        """Stop using the server; the last user's detaching stops it (its watchdog does, and
        this waits for that). The process no longer counts as a user: a later `start`
        launches or attaches afresh, and exit does not detach again."""
        from filelock import FileLock

        with _LOCK:
            for key in [k for k, running in _RUNNING.items() if running is self]:
                del _RUNNING[key]
        with FileLock(str(self.record) + ".lock"):
            data = read_record(self.record)
            if data is not None:
                users = [u for u in data["users"] if u != os.getpid() and pid_alive(u)]
                write_record(self.record, {**data, "users": users})
                if users:
                    return
        deadline = time.monotonic() + timeout
        while pid_alive(self.server_pid) and time.monotonic() < deadline:
            if self.supervisor is not None and self.supervisor.poll() is not None:
                break
            time.sleep(0.1)

    def stop(self) -> None:
        """Stop the server now, whoever else uses it (a failed start)."""
        try:
            os.killpg(self.server_pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        if self.supervisor is not None:
            self.supervisor.wait(timeout=60)


_RUNNING: dict[tuple, RunningServer] = {}
_LOCK = threading.Lock()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(serve: Serve, log_dir: Path, env: Mapping[str, str] | None = None) -> RunningServer:
    """The running server for `serve`: started (and waited for) on first use, and shared by
    every later use, in this process and in the others of this machine that pass the same
    `log_dir` (xdist workers: the run cache's folder). A watchdog process stops it when no
    user is left alive. Without httpx (how lmgate asks it whether it is up), MissingExtra
    before anything starts."""
    from filelock import FileLock

    require("httpx", f"serve ({serve.engine})")
    key = (serve.engine, serve.model, tuple(sorted(serve.args.items(), key=str)))
    with _LOCK:
        running = _RUNNING.get(key)
        if running is not None and running.alive():
            return running
        serve.check_available()
        log_dir.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256(repr(key).encode()).hexdigest()[:16]
        record = log_dir / f"server-{digest}.json"
        with FileLock(str(record) + ".lock"):
            running = _attach(serve, record) or _launch(serve, record, log_dir, env)
        _RUNNING[key] = running
        return running


def _attach(serve: Serve, record: Path) -> RunningServer | None:
    """The server another process started and still runs for `record`, now used by us too."""
    import httpx

    data = read_record(record)
    pid_file = record.with_name(record.name + ".pid")
    if data is None or not pid_file.exists():
        return None
    server_pid = int(pid_file.read_text())
    try:
        ok = pid_alive(server_pid) and httpx.get(f"{data['base_url']}/models",
                                                 timeout=5).status_code == 200
    except httpx.TransportError:
        ok = False
    if not ok:
        return None
    write_record(record, {**data, "users": [*data["users"], os.getpid()]})
    return RunningServer(serve, server_pid, data["base_url"], Path(data["log"]), record)


def _with_secret_names(env: Mapping[str, str] | None) -> dict[str, str]:
    """The server's environment, naming the variables whose values its log must not show
    (the watchdog masks them, `lmgate.core.redact`)."""
    return {**(os.environ if env is None else env), NAMES_ENV: ",".join(secret_env_names())}


def _launch(serve: Serve, record: Path, log_dir: Path,
            env: Mapping[str, str] | None) -> RunningServer:
    """Start the server under its watchdog and wait until it answers `/models`."""
    import httpx

    port = _free_port()
    log = log_dir / f"{serve.engine}-{port}.log"
    base_url = f"http://127.0.0.1:{port}/v1"
    write_record(record, {"base_url": base_url, "log": str(log), "users": [os.getpid()]})
    pid_file = record.with_name(record.name + ".pid")
    pid_file.unlink(missing_ok=True)
    with open(log, "w") as out:
        # Its own session: our Ctrl-C does not reach it; it outlives us only while others
        # use the server.
        supervisor = subprocess.Popen(
            [sys.executable, "-m", "lmgate.models.serving.serve_watchdog", str(record), "--",
             *serve.command(port)], stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
            env=_with_secret_names(env))
    deadline = time.monotonic() + serve.startup_timeout_s
    running = None
    while True:
        if supervisor.poll() is not None:
            for path in (record, pid_file):   # we hold the lock: nobody attaches to it
                path.unlink(missing_ok=True)
            tail = log.read_text(errors="replace")[-1500:]
            raise ServerError(f"serve: {serve.engine} exited with {supervisor.returncode} "
                              f"before answering (log {log}):\n{tail}")
        if running is None and pid_file.exists() and pid_file.read_text().strip():
            running = RunningServer(serve, int(pid_file.read_text()), base_url, log, record,
                                    supervisor)
        try:
            if running is not None and httpx.get(f"{base_url}/models",
                                                 timeout=5).status_code == 200:
                return running
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            if running is not None:
                running.stop()
            supervisor.kill()
            for path in (record, pid_file):
                path.unlink(missing_ok=True)
            raise ServerError(f"serve: {serve.engine} did not answer on {base_url} within "
                              f"{serve.startup_timeout_s:.0f} s (log {log})")
        time.sleep(0.5)


def stop_all() -> None:
    """Stop using every server this process uses (session end, interpreter exit): each stops
    when its last user has gone."""
    with _LOCK:
        servers = list(_RUNNING.values())
    for running in servers:
        running.detach()


atexit.register(stop_all)
