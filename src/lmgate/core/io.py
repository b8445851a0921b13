"""File writes: atomic (a temp file beside the target, then renamed over it), with the mode a
plain open() gives under the umask, through a symbolic link to the file it names; several files
as one unit (`atomic_write_all`); and whether the writer of a staging folder is still alive.

Every change lmgate makes to a file system goes through the primitives `write_new`, `rename`,
`link`, `make_dir` and `remove` here, so a fault injected at any of them is a fault at that step."""

from __future__ import annotations

import io
import errno
import json
import os
import shutil
import stat
from pathlib import Path
from typing import Any, Callable, Mapping

from lmgate.core.redact import redact

_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | \
    getattr(os, "O_BINARY", 0)


class TornWrite(OSError):
    """A write of several files failed, and putting the previous ones back failed too: the
    files named are not all from one write."""


# ---- primitives -----------------------------------------------------------------------------
def write_new(path: Path, write: Callable[[Any], None], mode: str = "w",
              like: Path | None = None) -> None:
    """Create `path` (never an existing file, never through a link) and call `write(fileobj)`
    on it. Its mode is `like`'s where that file exists, else what open() gives (0666 less the
    umask). Text goes through `lmgate.core.redact` first: no file lmgate writes holds a
    secret."""
    if "b" not in mode:
        buffer = io.StringIO()
        write(buffer)
        text = redact(buffer.getvalue())
        write = lambda f: f.write(text)   # noqa: E731
    fd = os.open(path, _NEW_FILE, 0o666)
    try:
        if like is not None:
            try:
                os.chmod(path, stat.S_IMODE(os.stat(like).st_mode))
            except FileNotFoundError:
                pass
        f = os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"}))
    except BaseException:
        os.close(fd)
        raise
    with f:
        write(f)


def rename(src: Path, dst: Path) -> None:
    os.replace(src, dst)


def make_dir(path: Path) -> None:
    os.mkdir(path)


def remove(path: Path) -> None:
    os.unlink(path)


def link(src: Path, dst: Path) -> None:
    os.link(src, dst)


# ---- helpers --------------------------------------------------------------------------------
def write_target(path: str | os.PathLike) -> Path:
    """The file a write to `path` changes: `path`, or where a symbolic link there points (as
    open() would write through it)."""
    path = Path(path)
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def make_dirs(path: Path, made: list[Path] | None = None) -> list[Path]:
    """Create `path` and its missing parents; the folders created, outermost first (also
    appended to `made` as they are, so a caller knows them when a later one fails)."""
    made = [] if made is None else made
    missing = []
    while not path.is_dir():
        missing.append(path)
        if path.parent == path:
            break
        path = path.parent
    for folder in reversed(missing):
        try:
            make_dir(folder)
        except FileExistsError:
            if not folder.is_dir():
                raise
            continue
        made.append(folder)
    return made


def temp_beside(path: Path, tag: str = "tmp") -> Path:
    """A fresh name in `path`'s folder (same file system, so a rename is atomic)."""
    return path.with_name(f".{path.name[:180]}.{os.urandom(4).hex()}.{tag}")


def _discard(path: Path) -> None:
    try:
        remove(path)
    except OSError:
        pass   # gone already, or a temp file left behind: clutter, not a wrong file


class Journal:
    """Replacements and removals made so far, undone in reverse order when a later step
    fails. A replaced file's previous content is kept under `backup(path)` (a hard link: no
    space, the file itself never moved), a removed file is moved there; the step that fails
    changed nothing, so only steps that succeeded are ever undone."""

    def __init__(self, backup: Callable[[Path], Path]) -> None:
        self.backup = backup
        self.steps: list[tuple[Path, Path | None]] = []   # (path, its previous content or None)
        self.made: list[Path] = []

    def replace(self, src: Path, dst: Path) -> None:
        """Rename `src` over `dst`."""
        make_dirs(dst.parent, self.made)
        kept = self._keep(dst, move=False) if dst.exists() else None
        try:
            rename(src, dst)
        except BaseException:
            if kept is not None:
                _discard(kept)
            raise
        self.steps.append((dst, kept))

    def remove(self, path: Path) -> None:
        """Remove `path` (moved to its backup until the journal is done)."""
        self.steps.append((path, self._keep(path, move=True)))

    def _keep(self, path: Path, move: bool) -> Path:
        kept = self.backup(path)
        make_dirs(kept.parent, self.made)
        if move:
            rename(path, kept)
        else:
            try:
                link(path, kept)
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.EXDEV, errno.EMLINK,
                                     getattr(errno, "ENOTSUP", -1), errno.EOPNOTSUPP):
                    raise
                with open(path, "rb") as old:   # a file system without hard links
                    write_new(kept, lambda f: shutil.copyfileobj(old, f), "wb", like=path)
        return kept

    def undo(self) -> list[Path]:
        """Put every changed file back as it was; the paths that could not be."""
        failed = []
        for path, kept in reversed(self.steps):
            try:
                if kept is None:
                    remove(path)
                else:
                    rename(kept, path)
            except OSError:
                failed.append(path)
        self._forget_folders()
        self.steps = []
        return failed

    def done(self) -> None:
        """Keep every change: drop the previous contents."""
        for _, kept in self.steps:
            if kept is not None:
                _discard(kept)
        self._forget_folders()
        self.steps = []

    def _forget_folders(self) -> None:
        for folder in reversed(self.made):
            try:
                os.rmdir(folder)
            except OSError:
                pass   # not empty: in use
        self.made = []


# ---- writes ---------------------------------------------------------------------------------
def atomic_write(path: str | os.PathLike, write: Callable[[Any], None], mode: str = "w",
                 follow_links: bool = True) -> Path:
    """Call `write(fileobj)` on a temp file in the target's folder, then rename it in; with
    `follow_links` False a symbolic link at `path` is replaced, not written through."""
    path = Path(path)
    target = write_target(path) if follow_links else path
    make_dirs(target.parent)
    tmp = temp_beside(target)
    try:
        write_new(tmp, write, mode, like=target)
        rename(tmp, target)
    except BaseException:
        _discard(tmp)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str, follow_links: bool = True) -> Path:
    return atomic_write(path, lambda f: f.write(text), follow_links=follow_links)


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def atomic_write_all(contents: Mapping[Path, str | bytes]) -> list[Path]:
    """Write every file of `contents` or none: all to temp files first (a full disk fails
    there, every target untouched), then renamed in, in order; when a rename fails the files
    already replaced get their previous content back. TornWrite where that failed too."""
    paths = [Path(p) for p in contents]
    targets = [write_target(p) for p in paths]
    temps: list[Path] = []
    journal = Journal(lambda path: temp_beside(path, "previous"))
    try:
        for target, data in zip(targets, contents.values()):
            make_dirs(target.parent)
            temps.append(temp_beside(target))
            write_new(temps[-1], lambda f, data=data: f.write(data),
                      "wb" if isinstance(data, bytes) else "w", like=target)
        for tmp, target in zip(temps, targets):
            journal.replace(tmp, target)
    except BaseException as exc:
        failed = journal.undo()
        if failed:
            raise TornWrite(f"{exc}; and the previous {', '.join(map(str, failed))} could not "
                            "be put back: these files are not from one write") from exc
        raise
    finally:
        for tmp in temps:
            if tmp.exists():
                _discard(tmp)
    journal.done()
    return paths


def pid_alive(pid: int) -> bool:
    """Whether process `pid` exists (a staging folder named after it may still be written)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True
