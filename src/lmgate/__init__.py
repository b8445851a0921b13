"""lmgate: NLP model experiments as parametrised pytest cases.

The library works without pytest (notebooks, scripts); `lmgate.plugin` adds the pytest side.
"""

from lmgate.data import DataSplits, LabeledData, balanced, labeled, read_table, train_val_test
from lmgate.errors import ConfigError, DataError, DataUnavailable, ModelUnavailable, Unavailable
from lmgate.metrics import (assert_better, assert_not_worse, bootstrap_ci, classification_metrics,
                            paired_bootstrap)
from lmgate.report import EvalResult, Recorder
from lmgate.settings import Profile, TrainConfig, get_profile

__version__ = "0.1.0"

__all__ = [
    "ConfigError", "DataError", "DataSplits", "DataUnavailable", "EvalResult", "LabeledData",
    "ModelUnavailable", "Profile", "Recorder", "TrainConfig", "Unavailable", "assert_better",
    "assert_not_worse", "balanced", "bootstrap_ci", "classification_metrics", "get_profile",
    "labeled", "paired_bootstrap", "read_table", "train_val_test",
]
