"""Metrics: classification scores (scikit-learn) and bootstrap statistics."""

from lmgate.metrics.classification import RESAMPLABLE, classification_metrics, confusion
from lmgate.metrics.stats import (Comparison, Interval, assert_better, assert_equivalent,
                                  assert_non_inferior, assert_above, assert_not_worse, bootstrap_ci,
                                  paired_bootstrap)

__all__ = [
    "RESAMPLABLE", "Comparison", "Interval", "assert_better", "assert_equivalent",
    "assert_non_inferior", "assert_above", "assert_not_worse",
    "bootstrap_ci", "classification_metrics", "confusion", "paired_bootstrap",
]
