"""Metrics: classification (scikit-learn), generation (sacrebleu), SQuAD v2, their declared
directions, and bootstrap resampling of them."""

from lmgate.metrics.classification import RESAMPLABLE, classification_metrics, confusion
from lmgate.metrics.resampling import Interval, bootstrap_ci, bootstrap_mean_ci

__all__ = ["RESAMPLABLE", "Interval", "bootstrap_ci", "bootstrap_mean_ci",
           "classification_metrics", "confusion"]
