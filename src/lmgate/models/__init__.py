"""Model layer: registry of named specs, offline resolution, stand-ins, a typed loader per
regime (`load_classifier`, `load_causal_lm`, `load_frozen_base`; `load_model` picks one by
name), the language-model interface and its engine, parameter accounting, the plan."""

from lmgate.models.load import (LoadedModel, load_causal_lm, load_classifier, load_frozen_base,
                                load_model, resolve)
from lmgate.models.heads.frozen import count_parameters
from lmgate.models.store.registry import (ModelSpec, PyPIWeights, get_model_spec, register_model,
                                    registered_models)
from lmgate.models.store.resolve import ResolvedModel, resolve_model

__all__ = [
    "LoadedModel", "ModelSpec", "PyPIWeights", "ResolvedModel", "count_parameters",
    "get_model_spec", "load_causal_lm", "load_classifier", "load_frozen_base", "load_model",
    "register_model", "registered_models", "resolve", "resolve_model",
]
