"""A results folder lmgate owns: only what its manifest lists is ever replaced or removed, and
a run's files are staged beside the folder's, then published as one set.

The manifest (`.lmgate-manifest.json`) lists every file lmgate wrote there, relative to the
folder. Publishing writes the whole new set into a staging folder first (a full disk fails
there, with the previous set untouched), then, with Ctrl-C held back, removes the previous
set's files that the new one does not have and renames the new ones in: renames need no
space, so the folder holds the previous complete set or the new one. A file lmgate did not
write is never replaced: publishing refuses, keeps the staged files and names them.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import threading
from pathlib import Path
from typing import Callable, Iterable, Iterator

from lmgate.core.errors import ConfigError
from lmgate.core.io import atomic_write_text, pid_alive

MANIFEST = ".lmgate-manifest.json"
STAGING_PREFIX = ".lmgate-staging-"
_SLUG_UNSAFE = re.compile(r"[^A-Za-z0-9._=+\[\]-]+")


def slug(text: str, limit: int = 80) -> str:
    """`text` as one file name: no separators, no leading dot, at most `limit` characters
    (with a short hash of the whole text where it had to be cut or changed)."""
    import hashlib

    clean = _SLUG_UNSAFE.sub("_", text).strip("._") or "_"
    if clean != text or len(clean) > limit:
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]
        clean = f"{clean[:limit - 9]}-{digest}"
    return clean


def owned(folder: Path) -> set[str]:
    """The files (relative paths) the manifest says lmgate wrote into `folder`."""
    try:
        doc = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        files = doc["files"]
    except FileNotFoundError:
        return set()
    except (OSError, ValueError, KeyError, TypeError):
        raise ConfigError(f"{folder / MANIFEST} is damaged: lmgate cannot tell which files of "
                          f"{folder} it wrote; remove that folder or choose another "
                          "--results-dir") from None
    return {f for f in files if isinstance(f, str) and _inside(f)}


def foreign(folder: Path, names: Iterable[str]) -> list[str]:
    """Those of `names` (relative paths; a folder stands for the files in it) that exist in
    `folder` but lmgate did not write."""
    mine = owned(folder)
    out = []
    for name in names:
        path = folder / name
        files = ([p.relative_to(folder).as_posix() for p in sorted(path.rglob("*"))
                  if not p.is_dir()] if path.is_dir() else [name] if path.exists() else [])
        out += [f for f in files if f not in mine]
    return out


#: What lmgate writes into a results folder (lmgate.report.writers), beside plots/.
RESULT_FILES = ("results.jsonl", "results.csv", "predictions.jsonl", "sections.jsonl",
                "claims.jsonl", "summary.md", "report.html")


def foreign_results(folder: Path) -> list[str]:
    """Files in `folder` where lmgate would write (RESULT_FILES, plots/) that it did not."""
    return foreign(folder, (*RESULT_FILES, "plots"))


def publish(folder: Path, build: Callable[[Path], Iterable[Path]]) -> list[Path]:
    """Call `build(staging)` to write the new set, then make it the folder's set; returns the
    published paths. `build` returns the files it wrote, under `staging`."""
    folder.mkdir(parents=True, exist_ok=True)
    _remove_dead_staging(folder)
    stage = folder / f"{STAGING_PREFIX}{os.getpid()}-{os.urandom(4).hex()}"
    stage.mkdir()
    try:
        new = sorted({p.relative_to(stage).as_posix() for p in build(stage)})
        previous = owned(folder)
        clash = [n for n in new if n not in previous and (folder / n).exists()]
        if clash:
            keep = folder / f"lmgate-unpublished-{os.getpid()}-{os.urandom(2).hex()}"
            stage.rename(keep)
            raise ConfigError(f"{folder} holds {', '.join(clash)}, which lmgate did not write: "
                              f"nothing was replaced; this run's results are in {keep}")
        with _interrupts_held():
            _write_manifest(folder, sorted(previous | set(new)), "publishing")
            for name in sorted(previous - set(new)):
                (folder / name).unlink(missing_ok=True)
                _remove_empty_parents(folder, folder / name)
            for name in new:
                (folder / name).parent.mkdir(parents=True, exist_ok=True)
                os.replace(stage / name, folder / name)
            _write_manifest(folder, new, "complete")
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return [folder / n for n in new]


def _write_manifest(folder: Path, files: list[str], state: str) -> None:
    atomic_write_text(folder / MANIFEST, json.dumps({"files": files, "state": state},
                                                    indent=1) + "\n")


def _inside(name: str) -> bool:
    parts = Path(name).parts
    return bool(parts) and not Path(name).is_absolute() and ".." not in parts


def _remove_empty_parents(folder: Path, path: Path) -> None:
    for parent in path.parents:
        if parent == folder or folder not in parent.parents:
            return
        try:
            parent.rmdir()
        except OSError:
            return


def _remove_dead_staging(folder: Path) -> None:
    """Staging folders of runs that died (killed, power cut) before they could clean up."""
    for stale in folder.glob(f"{STAGING_PREFIX}*"):
        pid = stale.name[len(STAGING_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and not pid_alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)


@contextlib.contextmanager
def _interrupts_held() -> Iterator[None]:
    """Hold Ctrl-C (SIGINT) back until the block is done, then raise it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt
