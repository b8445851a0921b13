"""A results folder lmgate owns: only what its manifest lists is ever replaced or removed,
nothing is ever deleted or written through a symbolic link, and a run's files are staged
beside the folder's, then published as one set.

The manifest (`.lmgate-manifest.json`) lists every file lmgate wrote there, relative to the
folder. Publishing writes the whole new set into a staging folder first (a full disk fails
there, with the previous set untouched), then, with Ctrl-C held back, moves the previous set's
files aside and the new ones in (renames, which need no space); when any step fails, every
move is undone, so the folder holds the previous complete set or the new one. A file lmgate did
not write, or a path that goes through a symbolic link (which could lead outside the folder),
is never replaced or removed: publishing refuses, keeps the staged files and names them.
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

from lmgate.core.bounded_json import read_json_bounded
from lmgate.core.errors import ConfigError
from lmgate.core import io
from lmgate.core.io import Journal, TornWrite, atomic_write_text, pid_alive

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
    if (folder / MANIFEST).is_symlink():
        raise ConfigError(f"{folder / MANIFEST} is a symbolic link, not a manifest lmgate "
                          "wrote: lmgate never writes through one; remove it")
    try:
        doc = read_json_bounded(folder / MANIFEST, what="manifest")
        files = doc["files"]
    except FileNotFoundError:
        return set()
    except (OSError, ValueError, KeyError, TypeError):   # ConfigError is a ValueError
        raise ConfigError(f"{folder / MANIFEST} is damaged: lmgate cannot tell which files of "
                          f"{folder} it wrote; remove that folder or choose another "
                          "--lmgate-results-dir") from None
    return {f for f in files if isinstance(f, str) and _inside(f)}


def foreign(folder: Path, names: Iterable[str]) -> list[str]:
    """Those of `names` (relative paths; a folder stands for the files in it) that exist in
    `folder` but lmgate did not write; symbolic links (never followed) are named as such."""
    mine = owned(folder)
    return [f for name in names for f in _entries(folder, name) if f not in mine]


def through_links(folder: Path, names: Iterable[str]) -> list[str]:
    """Those of `names` whose path in `folder` is or goes through a symbolic link, each marked
    with the link: lmgate neither writes nor deletes there (it could be outside `folder`)."""
    out = []
    for name in sorted(names):
        link = _first_link(folder, name)
        if link is not None:
            out.append(f"{name} (a symbolic link)" if link == name
                       else f"{name} (through the symbolic link {link})")
    return out


def _first_link(folder: Path, name: str) -> str | None:
    """The first part of `folder/name` below `folder` that is a symbolic link, or None."""
    path = folder
    for part in Path(name).parts:
        path = path / part
        if path.is_symlink():
            return path.relative_to(folder).as_posix()
    return None


def _entries(folder: Path, name: str) -> list[str]:
    """The files at or under `folder/name`, and the symbolic links there (never followed,
    each marked as one), as relative paths."""
    link = _first_link(folder, name)
    if link is not None:
        return [f"{link} (a symbolic link)"]
    path = folder / name
    if not path.is_dir():
        return [name] if path.exists() else []
    out = []
    for root, dirs, files in os.walk(path):          # never follows links
        here = Path(root).relative_to(folder)
        for entry in sorted(dirs + files):
            if (Path(root) / entry).is_symlink():
                out.append(f"{(here / entry).as_posix()} (a symbolic link)")
            elif entry in files:
                out.append((here / entry).as_posix())
    return out


#: What lmgate writes into a results folder (lmgate.report.writers), beside plots/.
RESULT_FILES = ("results.jsonl", "results.csv", "predictions.jsonl", "sections.jsonl",
                "claims.jsonl", "summary.md", "report.html")


def foreign_results(folder: Path) -> list[str]:
    """Files in `folder` where lmgate would write (RESULT_FILES, plots/) that it did not, and
    files its manifest lists behind a symbolic link (which it will not delete)."""
    theirs = foreign(folder, (*RESULT_FILES, "plots"))
    return theirs + [n for n in through_links(folder, owned(folder)) if n not in theirs]


def publish(folder: Path, build: Callable[[Path], Iterable[Path]]) -> list[Path]:
    """Call `build(staging)` to write the new set, then make it the folder's set; returns the
    published paths. `build` returns the files it wrote, under `staging`. A failure at any
    step leaves the previous complete set (TornWrite where undoing failed too)."""
    folder.mkdir(parents=True, exist_ok=True)
    recover_killed_publish(folder)
    _remove_dead_staging(folder)
    stage = folder / f"{STAGING_PREFIX}{os.getpid()}-{os.urandom(4).hex()}"
    aside = folder / f".lmgate-previous-{os.getpid()}-{os.urandom(4).hex()}"
    io.make_dir(stage)
    try:
        new = sorted({p.relative_to(stage).as_posix() for p in build(stage)})
        previous = owned(folder)
        refused = through_links(folder, previous | set(new)) + [
            n for n in new if n not in previous and (folder / n).exists()
            and _first_link(folder, n) is None]
        if refused:
            keep = folder / f"lmgate-unpublished-{os.getpid()}-{os.urandom(2).hex()}"
            io.rename(stage, keep)
            raise ConfigError(f"{folder} holds {', '.join(refused)}, which lmgate did not write "
                              "or will not write through: nothing was replaced; this run's "
                              f"results are in {keep}")
        with _interrupts_held():
            _swap_in(folder, stage, aside, previous, new)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    for name in sorted(previous - set(new)):
        _remove_empty_parents(folder, folder / name)
    return [folder / n for n in new]


def _swap_in(folder: Path, stage: Path, aside: Path, previous: set[str], new: list[str]) -> None:
    """Rename the staged files over the folder's and move the previous set's others aside,
    the manifest last; undo every change when a step fails (the previous files stay in
    `aside` where that fails too)."""
    journal = Journal(lambda path: aside / path.relative_to(folder))
    listed = False
    try:
        _write_manifest(folder, sorted(previous | set(new)), "publishing",
                        previous=sorted(previous), aside=aside.name)
        listed = True
        for name in new:
            journal.replace(stage / name, folder / name)
        for name in sorted(previous - set(new)):
            if (folder / name).is_file():
                journal.remove(folder / name)
        _write_manifest(folder, new, "complete")
    except BaseException as exc:
        failed = journal.undo()
        if failed:
            raise TornWrite(f"{exc}; and {len(failed)} file(s) of the previous set could not be "
                            f"put back (they are in {aside}): {folder} is incomplete") from exc
        if listed:
            try:
                _write_manifest(folder, sorted(previous), "complete")
            except OSError:
                pass   # the "publishing" manifest lists a superset: still only lmgate's files
        shutil.rmtree(aside, ignore_errors=True)
        raise
    journal.done()
    shutil.rmtree(aside, ignore_errors=True)


def _write_manifest(folder: Path, files: list[str], state: str, **more: object) -> None:
    atomic_write_text(folder / MANIFEST, json.dumps({"files": files, "state": state, **more},
                                                    indent=1) + "\n", follow_links=False)


_ASIDE = re.compile(r"\.lmgate-previous-(\d+)-[0-9a-f]+")


def recover_killed_publish(folder: Path) -> None:
    """Undo a publish that was killed midway (kill -9, a power cut: its manifest still says
    "publishing"): the previous set comes back from the folder it was moved aside to, and the
    files only the new set had go. Nothing through a symbolic link is touched."""
    try:
        doc = read_json_bounded(folder / MANIFEST, what="manifest")
    except (OSError, ValueError):
        return   # none, or damaged: owned() says so
    if not isinstance(doc, dict) or doc.get("state") != "publishing":
        return
    previous, aside = doc.get("previous"), doc.get("aside")
    match = _ASIDE.fullmatch(aside) if isinstance(aside, str) else None
    if not isinstance(previous, list) or match is None:
        return   # an older lmgate's manifest: it lists every file, which is what matters
    pid = int(match.group(1))
    if pid != os.getpid() and pid_alive(pid):
        return   # being published right now
    listed, previous = owned(folder), {n for n in previous if isinstance(n, str) and _inside(n)}
    aside_dir = folder / match.group(0)
    safe = lambda name: _first_link(folder, name) is None   # noqa: E731
    for name in sorted(listed - previous):
        if safe(name) and (folder / name).is_file():
            io.remove(folder / name)
    if aside_dir.is_dir() and not aside_dir.is_symlink():
        for name in sorted(previous):
            kept = aside_dir / name
            if safe(name) and _first_link(aside_dir, name) is None and kept.is_file():
                io.make_dirs((folder / name).parent)
                io.rename(kept, folder / name)
    for name in sorted(listed - previous):
        _remove_empty_parents(folder, folder / name)
    _write_manifest(folder, sorted(previous), "complete")
    shutil.rmtree(aside_dir, ignore_errors=True)


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
    """Staging folders (and folders of a previous set moved aside) of runs that died (killed,
    power cut) before they could clean up; called once a killed publish is undone."""
    for stale in [*folder.glob(f"{STAGING_PREFIX}*"), *folder.glob(".lmgate-previous-*")]:
        if stale.is_symlink():
            continue
        pid = stale.name.split("-")[2]   # .lmgate-<staging|previous>-<pid>-<random>
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
