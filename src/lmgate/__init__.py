"""lmgate: NLP model experiments as parametrised pytest cases.

The library works without pytest (notebooks, scripts); `lmgate.plugin` adds the pytest side.
Public names load on first use (PEP 562): the plugin is imported by every pytest run in an
environment where lmgate is installed, and must not pay for scikit-learn or torch there.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    # data: tables with declared labels, balanced sampling, stratified splits
    "lmgate.data": ("DataSplits", "LabeledData", "balanced", "labeled", "read_table",
                    "split_off", "train_val_test"),
    "lmgate.errors": ("ConfigError", "DataError", "DataUnavailable", "ModelUnavailable",
                      "Unavailable"),
    # methods: fine-tuning, zero-shot prompting, frozen-base heads, LoRA, classical baselines
    "lmgate.training": ("TrainedRun", "finetune"),
    "lmgate.prompting": ("PromptTemplate", "ZeroShotClassifier", "agreement"),
    "lmgate.models.heads": ("HeadRun", "load_frozen_base", "train_frozen_head"),
    "lmgate.lora": ("LoraSettings", "TranslationPrompt", "adapter", "train_lora", "translate"),
    "lmgate.baselines": ("majority_class", "tfidf_logreg"),
    # models: registry and loading
    "lmgate.models.registry": ("ModelSpec", "PyPIWeights", "get_model_spec", "register_model"),
    "lmgate.models.causal": ("CausalLM", "load_causal_lm"),
    # results, metrics and statistics
    "lmgate.results": ("EvalResult", "Result", "degenerate_reason"),
    "lmgate.metrics.generation": ("GenerationResult", "assert_better_bleu"),
    "lmgate.metrics.registry": ("register_metric",),
    "lmgate.metrics": ("assert_better", "assert_equivalent", "assert_non_inferior",
                       "assert_above", "assert_not_worse", "bootstrap_ci", "classification_metrics",
                       "paired_bootstrap"),
    "lmgate.report": ("Recorder",),
    # configuration and the cache
    "lmgate.settings": ("TrainConfig",),
    "lmgate.profiles": ("Knobs", "Profile", "get_profile", "load_profiles"),
    "lmgate.cache": ("RunCache",),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_MODULE_OF)

if TYPE_CHECKING:  # for type checkers and IDEs; at run time __getattr__ below loads them
    from lmgate.baselines import majority_class, tfidf_logreg
    from lmgate.cache import RunCache
    from lmgate.data import (DataSplits, LabeledData, balanced, labeled, read_table, split_off,
                             train_val_test)
    from lmgate.errors import (ConfigError, DataError, DataUnavailable, ModelUnavailable,
                               Unavailable)
    from lmgate.lora import LoraSettings, TranslationPrompt, adapter, train_lora, translate
    from lmgate.metrics import (assert_better, assert_equivalent, assert_non_inferior,
                                assert_above, assert_not_worse, bootstrap_ci, classification_metrics,
                                paired_bootstrap)
    from lmgate.metrics.generation import GenerationResult, assert_better_bleu
    from lmgate.metrics.registry import register_metric
    from lmgate.models.causal import CausalLM, load_causal_lm
    from lmgate.models.heads import HeadRun, load_frozen_base, train_frozen_head
    from lmgate.models.registry import ModelSpec, PyPIWeights, get_model_spec, register_model
    from lmgate.profiles import Knobs, Profile, get_profile, load_profiles
    from lmgate.prompting import PromptTemplate, ZeroShotClassifier, agreement
    from lmgate.report import Recorder
    from lmgate.results import EvalResult, Result, degenerate_reason
    from lmgate.settings import TrainConfig
    from lmgate.training import TrainedRun, finetune


def __getattr__(name: str) -> Any:
    if name not in _MODULE_OF:
        raise AttributeError(f"module 'lmgate' has no attribute {name!r}")
    value = getattr(importlib.import_module(_MODULE_OF[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
