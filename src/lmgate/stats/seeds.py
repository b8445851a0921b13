"""Aggregating one metric over repeated runs with different seeds."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SeedSummary:
    """Mean, sample standard deviation and t-interval of one metric over seeds."""

    values: tuple[float, ...]
    mean: float
    std: float
    ci: tuple[float, float]

    @property
    def repeatability_limit(self) -> float:
        """≈ 2.8 σ: the largest difference expected between two runs at 95% (ISO 5725)."""
        return 1.96 * np.sqrt(2) * self.std


def summarise_seeds(values, confidence: float = 0.95) -> SeedSummary:
    """Aggregate one metric over repeated runs with different seeds."""
    from scipy.stats import t

    vals = np.asarray(list(values), dtype=np.float64)
    if vals.size == 0:
        raise ValueError("no values to summarise")
    mean = float(vals.mean())
    if vals.size == 1:
        return SeedSummary(tuple(vals.tolist()), mean, 0.0, (mean, mean))
    std = float(vals.std(ddof=1))
    half = float(t.ppf(0.5 + confidence / 2, vals.size - 1) * std / np.sqrt(vals.size))
    return SeedSummary(tuple(vals.tolist()), mean, std, (mean - half, mean + half))
