"""Balanced samples and stratified, seeded splits of labelled data."""

from __future__ import annotations

import dataclasses
from typing import Sequence

from lmgate.data.columns import LABEL, LANGUAGE
from lmgate.data.sampling import ShortCellWarning, stratified_rows
from lmgate.data.types import DataSplits, LabeledData


def balanced(data: LabeledData, n_per_cell: int, by: Sequence[str] = (LANGUAGE, LABEL),
             seed: int = 0) -> LabeledData:
    """Sample exactly `n_per_cell` rows from every cell of `by` (`LabeledData.balanced`)."""
    return data.balanced(n_per_cell, by=by, seed=seed)


def stratified_split(data: LabeledData, fractions: Sequence[float] = (0.8, 0.1, 0.1),
                     seed: int = 0, by: Sequence[str] = (LABEL,)) -> list[LabeledData]:
    """Split into parts of the given fractions, stratified on `by`, seeded.

    Each part gets round(fraction x cell size) rows of every cell (largest remainders first),
    so every class's share in each part is within one example of exact.
    """
    return [dataclasses.replace(data, frame=data.frame.iloc[idx].reset_index(drop=True),
                                name=f"{data.name}|part{i}")
            for i, idx in enumerate(stratified_rows(data.frame, fractions, seed, by, data.name))]


def train_val_test(data: LabeledData, seed: int = 0,
                   fractions: Sequence[float] = (0.8, 0.1, 0.1), leakage: str = "warn") -> DataSplits:
    """Stratified, seeded 80/10/10 (default) train/validation/test split. Test texts that also
    occur in train or validation (duplicated rows) are noted, or an error with leakage="error"."""
    train, val, test = stratified_split(data, fractions, seed=seed)
    return DataSplits(train, val, test, name=data.name, notes=data.notes, leakage=leakage)


def split_off(data: LabeledData, fraction: float, seed: int = 0) -> tuple[LabeledData, LabeledData]:
    """Stratified split into (1 - fraction, fraction): e.g. carve a validation split from train."""
    rest, held = stratified_split(data, (1 - fraction, fraction), seed=seed)
    return rest, held


__all__ = ["ShortCellWarning", "balanced", "split_off", "stratified_split", "train_val_test"]
