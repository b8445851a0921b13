"""lmgate: NLP model experiments as parametrised pytest cases.

The library works without pytest (notebooks, scripts); `lmgate.plugin` adds the pytest side.
Public names load on first use (PEP 562): the plugin is imported by every pytest run in an
environment where lmgate is installed, and must not pay for scikit-learn or torch there.
The layers, bottom up: core, data, metrics, models, results, stats, methods, report, gate,
plugin and cli (docs/guide/architecture.md).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    # core: errors, the run cache, configuration
    "lmgate.core.errors": ("ConfigError", "DataError", "DataUnavailable", "ModelUnavailable",
                           "Unavailable"),
    "lmgate.core.cache": ("Entry", "Memo", "RunCache"),
    "lmgate.core.config": ("LaunchSettings", "LoraSettings", "TrainConfig"),
    "lmgate.core.profiles": ("Knobs", "Profile", "get_profile", "load_profiles"),
    # data: tables with declared labels, where they came from, balanced sampling, stratified
    # splits, SQuAD
    "lmgate.data": ("DataSplits", "HubSplit", "LabeledData", "Provenance", "Question", "balanced",
                    "labeled", "load_source", "read_squad", "read_table", "split_off",
                    "train_val_test"),
    # metrics and their bootstrap
    "lmgate.metrics.registry": ("register_metric",),
    "lmgate.metrics.classification": ("classification_metrics",),
    "lmgate.metrics.resampling": ("Interval", "bootstrap_ci"),
    # models: registry, one loader, the language-model interface
    "lmgate.models.store.registry": ("ModelSpec", "PyPIWeights", "get_model_spec", "register_model"),
    "lmgate.models.load": ("LoadedModel", "load_causal_lm", "load_classifier", "load_frozen_base",
                           "load_model"),
    "lmgate.models.engines.language_model": ("CausalLM", "LanguageModel"),
    "lmgate.models.heads.frozen": ("FrozenBaseModel", "count_parameters"),
    # results
    "lmgate.results.base": ("Comparable", "Result", "degenerate_reason"),
    "lmgate.results.classification": ("EvalResult",),
    "lmgate.results.generation": ("GenerationResult",),
    "lmgate.results.qa": ("QAResult",),
    # statistics: claims over any comparable result
    "lmgate.stats.comparison": ("Comparison",),
    "lmgate.stats.listeners": ("ClaimFailed", "assert_claim"),
    "lmgate.stats.sequential": ("SequentialPolicy",),
    "lmgate.stats.claims": ("assert_above", "assert_better", "assert_better_bleu",
                            "assert_equivalent", "assert_non_inferior", "assert_not_worse"),
    "lmgate.stats.paired": ("mcnemar", "paired_bootstrap"),
    "lmgate.stats.seeds": ("summarise_seeds",),
    # methods: fine-tuning, zero-shot prompting, frozen-base heads, QA, LoRA, baselines
    "lmgate.methods.finetune": ("TrainedRun", "finetune"),
    "lmgate.methods.zero_shot": ("PromptTemplate", "ZeroShotClassifier", "agreement"),
    "lmgate.methods.lazy_zero_shot": ("LazyZeroShot",),
    "lmgate.methods.lazy_generation": ("LazyQAAnswers", "LazyTranslation"),
    "lmgate.methods.heads": ("HeadRun", "train_frozen_head"),
    "lmgate.methods.span_head": ("SpanHeadRun", "train_frozen_span_head"),
    "lmgate.methods.qa_zero_shot": ("zero_shot_answers",),
    "lmgate.methods.lora": ("LoraRun", "adapter", "train_lora"),
    "lmgate.methods.translation": ("TranslationPrompt", "evaluate_translation", "translate"),
    "lmgate.methods.baselines": ("majority_class", "tfidf_logreg"),
    # report
    "lmgate.report.records": ("Recorder",),
    "lmgate.report.rows": ("ResultRow",),
    "lmgate.report.writers": ("markdown_table", "read_results"),
    # runs of lm-evaluation-harness and Inspect imported by `lmgate import`, for claims
    "lmgate.report.interop": ("imported_run",),
    "lmgate.results.scored": ("ScoredResult",),
    # pytest: a session-scoped fixture of one study's knobs
    "lmgate.plugin.fixtures": ("study_knobs_fixture",),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_MODULE_OF)

if TYPE_CHECKING:  # for type checkers and IDEs; at run time __getattr__ below loads them
    from lmgate.core.cache import Entry, Memo, RunCache
    from lmgate.core.config import LaunchSettings, LoraSettings, TrainConfig
    from lmgate.core.errors import (ConfigError, DataError, DataUnavailable, ModelUnavailable,
                                    Unavailable)
    from lmgate.core.profiles import Knobs, Profile, get_profile, load_profiles
    from lmgate.data import (DataSplits, HubSplit, LabeledData, Provenance, Question, balanced,
                             labeled, load_source, read_squad, read_table, split_off,
                             train_val_test)
    from lmgate.methods.baselines import majority_class, tfidf_logreg
    from lmgate.methods.finetune import TrainedRun, finetune
    from lmgate.methods.heads import HeadRun, train_frozen_head
    from lmgate.methods.lora import LoraRun, adapter, train_lora
    from lmgate.methods.qa_zero_shot import zero_shot_answers
    from lmgate.methods.span_head import SpanHeadRun, train_frozen_span_head
    from lmgate.methods.translation import TranslationPrompt, evaluate_translation, translate
    from lmgate.methods.lazy_zero_shot import LazyZeroShot
    from lmgate.methods.lazy_generation import LazyQAAnswers, LazyTranslation
    from lmgate.methods.zero_shot import PromptTemplate, ZeroShotClassifier, agreement
    from lmgate.metrics.classification import classification_metrics
    from lmgate.metrics.registry import register_metric
    from lmgate.metrics.resampling import Interval, bootstrap_ci
    from lmgate.models.engines.language_model import CausalLM, LanguageModel
    from lmgate.models.heads.frozen import FrozenBaseModel, count_parameters
    from lmgate.models.load import (LoadedModel, load_causal_lm, load_classifier,
                                    load_frozen_base, load_model)
    from lmgate.models.store.registry import ModelSpec, PyPIWeights, get_model_spec, register_model
    from lmgate.report.records import Recorder
    from lmgate.report.rows import ResultRow
    from lmgate.plugin.fixtures import study_knobs_fixture
    from lmgate.report.writers import markdown_table, read_results
    from lmgate.report.interop import imported_run
    from lmgate.results.scored import ScoredResult
    from lmgate.results.base import Comparable, Result, degenerate_reason
    from lmgate.results.classification import EvalResult
    from lmgate.results.generation import GenerationResult
    from lmgate.results.qa import QAResult
    from lmgate.stats.claims import (assert_above, assert_better, assert_better_bleu,
                                     assert_equivalent, assert_non_inferior, assert_not_worse)
    from lmgate.stats.comparison import Comparison
    from lmgate.stats.sequential import SequentialPolicy
    from lmgate.stats.listeners import ClaimFailed, assert_claim
    from lmgate.stats.paired import mcnemar, paired_bootstrap
    from lmgate.stats.seeds import summarise_seeds


def __getattr__(name: str) -> Any:
    if name not in _MODULE_OF:
        raise AttributeError(f"module 'lmgate' has no attribute {name!r}")
    value = getattr(importlib.import_module(_MODULE_OF[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
