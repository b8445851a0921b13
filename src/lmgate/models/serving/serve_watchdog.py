"""The supervisor of one engine server that the processes of a machine share (xdist workers,
or several sessions): it starts the server, and stops it when no process using it is alive,
whether they detached at session end or died (even by SIGKILL).

    python -m lmgate.models.serving.serve_watchdog RECORD -- ENGINE COMMAND...

RECORD (JSON, changed only under RECORD.lock) lists the users' process ids; lmgate's launcher
writes it before starting this process and each process that attaches adds itself. This
process writes the server's pid to RECORD.pid once it runs and removes both files when it stops.
The server's output goes to this process's own (the log) with every secret masked.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

from lmgate.core.io import atomic_write_json, atomic_write_text, pid_alive
from lmgate.core.redact import redact_bytes

POLL_S = 0.5


def read_record(record: Path) -> dict | None:
    try:
        return json.loads(record.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_record(record: Path, data: dict) -> None:
    """Atomically (a reader never sees half a file)."""
    atomic_write_json(record, data)


def _server_session() -> None:
    """In the server between fork and exec: its own process group (stopped as a whole), and
    SIGTERM when this supervisor dies."""
    os.setsid()
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)   # PR_SET_PDEATHSIG


def copy_redacted(source: IO[bytes], sink: IO[bytes]) -> None:
    """The server's output, line by line, into the log with every secret masked (a server
    may log a request's headers, or its own settings with a key)."""
    for line in iter(source.readline, b""):
        sink.write(redact_bytes(line))
        sink.flush()


def stop_group(process: subprocess.Popen, timeout: float = 30.0) -> None:
    """SIGTERM to the server's process group, SIGKILL if it has not gone in `timeout`."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass


def supervise(record: Path, command: list[str]) -> int:
    from filelock import FileLock, Timeout

    server = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, preexec_fn=_server_session)
    log = threading.Thread(target=copy_redacted, args=(server.stdout, sys.stdout.buffer),
                           daemon=True)
    log.start()
    pid_file = record.with_name(record.name + ".pid")
    atomic_write_text(pid_file, str(server.pid))   # the launcher polls for it: never half a number
    lock = FileLock(str(record) + ".lock")
    try:
        while server.poll() is None:
            time.sleep(POLL_S)
            try:   # the launcher holds the lock while the server starts: look again later
                with lock.acquire(timeout=0):
                    data = read_record(record) or {"users": []}
                    live = [p for p in data.get("users", []) if pid_alive(int(p))]
                    if not live:
                        break
                    if live != data["users"]:
                        write_record(record, {**data, "users": live})
            except Timeout:
                continue
    finally:
        stop_group(server)
        log.join(timeout=5)
        try:   # a launcher waiting for this server holds the lock and removes them itself;
            with lock.acquire(timeout=0):   # a stale record is harmless (attaching checks)
                for path in (record, pid_file):
                    path.unlink(missing_ok=True)
        except Timeout:
            pass
    return server.returncode or 0


def main(argv: list[str]) -> int:
    if "--" not in argv or argv.index("--") != 1 or len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))   # stop the server on the way out
    return supervise(Path(argv[0]), argv[2:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
