"""Content-addressed cache of trained runs and predictions.

An entry is a folder named by the hash of everything that determines it (model fingerprint,
data fingerprint, training config, seed, library versions). It is built in a temporary folder
and renamed into place, so readers never see half an entry; its manifest lists a SHA-256 per
file, checked on every load: a corrupt or truncated entry is deleted and rebuilt, not trusted.
Only JSON, safetensors and npz (loaded with allow_pickle=False) are stored.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import weakref
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, TypeVar

import numpy as np

from lmgate.core.io import pid_alive
from lmgate.core.redact import redact_json

MANIFEST = "manifest.json"
T = TypeVar("T")


def library_versions() -> dict[str, str]:
    """Versions that change what a run produces, read from package metadata (no imports)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"lmgate-cache": "1"}
    for package in ("torch", "transformers", "tokenizers", "peft"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = "absent"
    return out


def content_key(**parts: Any) -> str:
    """SHA-256 of the canonical JSON of `parts` plus library versions."""
    payload = json.dumps({**parts, "_versions": library_versions()}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


#: Digests of large files this process computed, by file identity: a cached model's weights
#: (hundreds of MB) are verified once per process, not at every load. A rewrite changes the
#: size or mtime; small files (where a same-size rewrite within one clock tick could hide)
#: are always hashed again.
_DIGESTS: dict[tuple, str] = {}
_MEMO_DIGEST_BYTES = 8 << 20


def _sha256(path: Path) -> str:
    stat = os.stat(path)
    identity = (str(path), stat.st_ino, stat.st_size, stat.st_mtime_ns)
    if identity in _DIGESTS:
        return _DIGESTS[identity]
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    if stat.st_size >= _MEMO_DIGEST_BYTES:
        _DIGESTS[identity] = h.hexdigest()
    return h.hexdigest()


def _remove_dead_staging(folder: Path) -> None:
    """Staging folders (`.<key>-<pid>-<random>`) of writers that died (kill -9) mid-write."""
    for staging in folder.glob(".*-*-*"):
        parts = staging.name.split("-")
        if staging.is_dir() and len(parts) >= 3 and parts[1].isdigit() \
                and not pid_alive(int(parts[1])):
            shutil.rmtree(staging, ignore_errors=True)


def _manifest_digest(files: Mapping[str, str], meta: Mapping[str, Any]) -> str:
    """Covers the metadata a hit returns (history, n_train...), not only the files."""
    return hashlib.sha256(json.dumps({"files": files, "meta": meta}, sort_keys=True)
                          .encode()).hexdigest()


@dataclass(frozen=True)
class Entry:
    path: Path
    meta: dict[str, Any]

    def arrays(self, name: str = "arrays.npz") -> dict[str, np.ndarray]:
        with np.load(self.path / name, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}


@dataclass(frozen=True)
class Memo:
    """What `RunCache.memo` returns: the loaded value, its entry, and whether it was a hit."""

    value: Any
    entry: Entry
    hit: bool
    key: str


class RunCache:
    """One cache for every computation: `memo(kind, key_parts, compute, save, load)`.

    Entries are content-addressed (`content_key(**key_parts)` plus library versions),
    checksummed (files and metadata) and published atomically. A disabled cache (--lmgate-no-cache)
    neither reads nor writes; it computes into a scratch folder removed with it.
    """

    def __init__(self, root: str | os.PathLike, enabled: bool = True) -> None:
        self.root = Path(root) / "runs"
        self.enabled = enabled
        self._scratch: Path | None = None   # where a disabled cache builds its entries
        self._swept = False                 # dead writers' staging removed (first put)

    def _scratch_dir(self) -> Path:
        """One temporary folder per disabled cache, removed with it (or at interpreter exit)."""
        if self._scratch is None:
            self._scratch = Path(tempfile.mkdtemp(prefix="lmgate-nocache-"))
            weakref.finalize(self, shutil.rmtree, self._scratch, ignore_errors=True)
        return self._scratch

    def _sweep_once(self) -> None:
        """Staging folders of dead writers anywhere in the cache, once per cache object (not
        only beside the key being written: a killed run leaves them under other keys)."""
        if self._swept:
            return
        self._swept = True
        for folder in self.root.glob("*/*"):
            if folder.is_dir():
                _remove_dead_staging(folder)

    def _dir(self, kind: str, key: str) -> Path:
        return self.root / kind / key[:2] / key

    def get(self, kind: str, key: str) -> Entry | None:
        if not self.enabled:
            return None
        path = self._dir(kind, key)
        try:
            manifest = json.loads((path / MANIFEST).read_text())
            if manifest.get("digest") != _manifest_digest(manifest["files"], manifest["meta"]):
                raise ValueError("the manifest does not match its checksum")
            for name, digest in manifest["files"].items():
                if _sha256(path / name) != digest:
                    raise ValueError(f"{name} does not match its checksum")
            return Entry(path, manifest["meta"])
        except FileNotFoundError:
            if path.exists():
                shutil.rmtree(path, ignore_errors=True)  # half-deleted or foreign: rebuild
            return None
        except (ValueError, KeyError, OSError):
            shutil.rmtree(path, ignore_errors=True)      # corrupt: never trust it
            return None

    def put(self, kind: str, key: str, write: Callable[[Path], None],
            meta: dict[str, Any]) -> Entry:
        """Run `write(folder)` into a fresh folder, checksum it, and publish it atomically."""
        if not self.enabled:
            tmp = Path(tempfile.mkdtemp(prefix=f"{kind}-", dir=self._scratch_dir()))
            write(tmp)
            return Entry(tmp, meta)
        final = self._dir(kind, key)
        final.parent.mkdir(parents=True, exist_ok=True)
        self._sweep_once()
        _remove_dead_staging(final.parent)
        staging = Path(tempfile.mkdtemp(prefix=f".{key[:8]}-{os.getpid()}-", dir=final.parent))
        try:
            write(staging)
            files = {str(p.relative_to(staging)): _sha256(p)
                     for p in sorted(staging.rglob("*")) if p.is_file()}
            # As a later read will see it, and with every secret masked (a server's answer).
            meta = redact_json(json.loads(json.dumps(meta, default=str)))
            (staging / MANIFEST).write_text(json.dumps(
                {"files": files, "meta": meta, "digest": _manifest_digest(files, meta)},
                indent=1, sort_keys=True))
            if final.exists():
                shutil.rmtree(final, ignore_errors=True)
            os.replace(staging, final)
        except OSError:
            # A full disk, or a concurrent writer that published the same content first:
            # either way this half-written folder must not stay behind.
            shutil.rmtree(staging, ignore_errors=True)
            if not final.exists():
                raise
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return Entry(final, meta)

    def lookup(self, kind: str, key_parts: Mapping[str, Any]) -> Entry | None:
        """The valid entry `memo` would return for `key_parts`, or None; computes nothing."""
        return self.get(kind, content_key(kind=kind, **key_parts))

    def memo(self, kind: str, key_parts: Mapping[str, Any], compute: Callable[[], T],
             save: Callable[[T, Path], dict[str, Any] | None],
             load: Callable[[Entry], T]) -> Memo:
        """`load(entry)` of the cached entry for `key_parts`, or compute, save and load it.

        `save(value, folder)` writes the value's files into a fresh folder and may return
        metadata (JSON) to keep beside them; `load(entry)` rebuilds the value from the entry
        (`entry.path`, `entry.meta`, `entry.arrays()`). Both run on every miss, so a value is
        always read back the way a later hit reads it.
        """
        key = content_key(kind=kind, **key_parts)
        entry = self.get(kind, key)
        if entry is not None:
            return Memo(load(entry), entry, True, key)
        with self._lock(kind, key):
            # Another worker, session or machine may have built it while we waited.
            entry = self.get(kind, key)
            if entry is not None:
                return Memo(load(entry), entry, True, key)
            return self._compute(kind, key, compute, save, load)

    def _compute(self, kind: str, key: str, compute: Callable[[], T],
                 save: Callable[[T, Path], dict[str, Any] | None],
                 load: Callable[[Entry], T]) -> Memo:
        value = compute()
        meta: dict[str, Any] = {}

        def write(folder: Path) -> None:
            meta.update(save(value, folder) or {})

        entry = self.put(kind, key, write, meta)
        return Memo(load(entry), entry, False, key)

    @contextmanager
    def _lock(self, kind: str, key: str) -> Iterator[None]:
        """One writer per entry across processes and machines sharing the folder (an OS file
        lock: released when its holder exits, even by kill -9, so it never goes stale)."""
        if not self.enabled:
            yield
            return
        from filelock import FileLock

        folder = self._dir(kind, key).parent
        folder.mkdir(parents=True, exist_ok=True)
        with FileLock(str(folder / f".{key}.lock")):
            yield

    @contextmanager
    def scratch(self, purpose: str) -> Iterator[Path]:
        """A private working folder (trainer checkpoints) inside the cache, removed on exit;
        ones left by a killed process are removed by the next run."""
        if "-" in purpose:
            raise ValueError(f"scratch purpose {purpose!r} must not contain '-'")
        parent = self.root.parent / "scratch" if self.enabled else self._scratch_dir()
        parent.mkdir(parents=True, exist_ok=True)
        _remove_dead_staging(parent)
        folder = Path(tempfile.mkdtemp(prefix=f".{purpose}-{os.getpid()}-", dir=parent))
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def clear(self) -> None:
        """Empty the whole cache (runs, tokenizers, dequantised weights, fetched packages)."""
        shutil.rmtree(self.root.parent, ignore_errors=True)


def save_arrays(folder: Path, name: str = "arrays.npz", **arrays: np.ndarray) -> None:
    np.savez(folder / name, **arrays)


def cache_arrays(cache: RunCache, kind: str, key_parts: Mapping[str, Any],
                 compute: Callable[[], np.ndarray]) -> np.ndarray:
    """One array (e.g. a frozen base's features) through `cache.memo`."""
    return cache.memo(kind, key_parts, compute, lambda x, folder: save_arrays(folder, x=x),
                      lambda entry: entry.arrays()["x"]).value
