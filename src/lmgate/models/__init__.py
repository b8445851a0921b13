"""Model layer: registry of named specs, offline resolution, loading, parameter accounting."""

from lmgate.models.loading import LoadedModel, load_classifier
from lmgate.models.params import count_parameters
from lmgate.models.registry import (ModelSpec, PyPIWeights, get_model_spec, register_model,
                                    registered_models)
from lmgate.models.resolve import ResolvedModel, resolve_model

__all__ = [
    "LoadedModel", "ModelSpec", "PyPIWeights", "ResolvedModel", "count_parameters",
    "get_model_spec", "load_classifier", "register_model", "registered_models", "resolve_model",
]
