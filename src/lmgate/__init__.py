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
    "lmgate.data": ("DataSplits", "LabeledData", "balanced", "labeled", "read_table",
                    "train_val_test"),
    "lmgate.errors": ("ConfigError", "DataError", "DataUnavailable", "ModelUnavailable",
                      "Unavailable"),
    "lmgate.metrics": ("assert_better", "assert_not_worse", "bootstrap_ci",
                       "classification_metrics", "paired_bootstrap"),
    "lmgate.report": ("EvalResult", "Recorder"),
    "lmgate.settings": ("Profile", "TrainConfig", "get_profile"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_MODULE_OF)

if TYPE_CHECKING:  # for type checkers and IDEs; at run time __getattr__ below loads them
    from lmgate.data import (DataSplits, LabeledData, balanced, labeled, read_table,
                             train_val_test)
    from lmgate.errors import (ConfigError, DataError, DataUnavailable, ModelUnavailable,
                               Unavailable)
    from lmgate.metrics import (assert_better, assert_not_worse, bootstrap_ci,
                                classification_metrics, paired_bootstrap)
    from lmgate.report import EvalResult, Recorder
    from lmgate.settings import Profile, TrainConfig, get_profile


def __getattr__(name: str) -> Any:
    if name not in _MODULE_OF:
        raise AttributeError(f"module 'lmgate' has no attribute {name!r}")
    value = getattr(importlib.import_module(_MODULE_OF[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
