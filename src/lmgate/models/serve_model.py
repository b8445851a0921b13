"""What a `serve` table's `model` names, made concrete before an engine starts.

    serve = { engine = "transformers", model = "smollm2-135m-instruct" }

`model` is one of: a model registered with lmgate (served from the local weights lmgate
resolves for it, offline first, as if it loaded it itself); a local path (which must exist);
or a hub id (handed to the engine; offline, only when the Hugging Face cache holds it).
A model that is not on this machine is ModelUnavailable (a skip); a path that does not exist,
or a name that could mean two things, is a ConfigError: the engine never starts to fail on it.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Callable, Mapping

from lmgate.core.cache import RunCache
from lmgate.core.errors import ConfigError, ModelUnavailable
from lmgate.core.extras import require
from lmgate.models.store.registry import ModelSpec, registered_models
from lmgate.models.store.resolve import _hf_cache, _offline, resolve_model
from lmgate.models.serving.serve import Serve


def _looks_like_path(model: str, engine: str) -> bool:
    """A hub id is `name` or `org/name`; anything else is meant as a file or folder (and
    llama.cpp's server takes only a GGUF file)."""
    return (engine == "llama.cpp" or os.path.isabs(model) or model.startswith((".", "~"))
            or "\\" in model or model.count("/") > 1
            or ("/" in model and Path(model.split("/")[0]).is_dir()))


def served_weights(serve: Serve, cache: RunCache, local_weights: Callable[[ModelSpec], str],
                   env: Mapping[str, str] | None = None) -> Serve:
    """`serve` with `model` as the engine must get it (see the module docstring);
    `local_weights(spec)` is the folder lmgate would load a registered causal LM from.
    Without httpx (how lmgate talks to the server), MissingExtra before any weights are found."""
    env = os.environ if env is None else env
    where = f"serve ({serve.engine}): model {serve.model!r}"
    require("httpx", where)
    local = Path(serve.model).expanduser()
    spec = registered_models().get(serve.model)
    if spec is not None:
        if local.exists():
            raise ConfigError(f"{where} is both a model registered with lmgate and a local "
                              f"path; write ./{serve.model} for the folder, or rename it")
        return dataclasses.replace(serve, model=_registered_weights(spec, serve, cache,
                                                                    local_weights, where))
    if local.exists():
        return dataclasses.replace(serve, model=str(local))
    if _looks_like_path(serve.model, serve.engine):
        raise ConfigError(f"{where} does not exist (nor is it a model registered with "
                          "lmgate); give the path to the weights, a registered model's name "
                          "or a hub id")
    if _offline(env) and _hf_cache(serve.model) is None:
        raise ModelUnavailable(f"{where}: the hub is offline and the Hugging Face cache does "
                               "not hold it; download it first, or name a registered lmgate "
                               "model or a local path")
    return serve


def _registered_weights(spec: ModelSpec, serve: Serve, cache: RunCache,
                        local_weights: Callable[[ModelSpec], str], where: str) -> str:
    """The local path of a registered model's weights, resolved as lmgate loads them."""

    if spec.served:
        raise ConfigError(f"{where} is itself served by a server; a serve table needs weights")
    if spec.kind != "causal-lm":
        raise ConfigError(f"{where} is a {spec.kind}; an engine serves a causal-lm")
    if serve.engine == "llama.cpp":   # its server reads the GGUF file itself
        resolved = resolve_model(spec, cache)
        gguf = resolved.load_kwargs.get("gguf_file")
        if not gguf:
            raise ConfigError(f"{where}: llama.cpp serves a GGUF file, and {spec.name!r} "
                              f"resolves to {resolved.location}, which has none declared")
        return str(Path(resolved.location) / gguf)
    location = local_weights(spec)
    if not location:
        raise ConfigError(f"{where} is built in memory by lmgate (no weights folder an engine "
                          "could load)")
    return location
