"""Balanced sampling per cell and stratified, seeded splits."""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np

from lmgate.data.types import LABEL, DataSplits, LabeledData
from lmgate.errors import DataError


class ShortCellWarning(UserWarning):
    """A cell had fewer rows than asked for and was resampled with replacement."""


def _cells(data: LabeledData, by: Sequence[str]) -> dict[tuple, np.ndarray]:
    missing = [c for c in by if c not in data.frame.columns]
    if missing:
        raise DataError(f"{data.name}: cannot balance by missing column(s) {missing}")
    groups = data.frame.groupby(list(by), sort=True).indices
    return {(k if isinstance(k, tuple) else (k,)): np.asarray(v) for k, v in groups.items()}


def balanced(data: LabeledData, n_per_cell: int, by: Sequence[str] = ("language", LABEL),
             seed: int = 0) -> LabeledData:
    """Sample exactly `n_per_cell` rows from every cell of `by`.

    Without replacement when a cell is large enough; with replacement (and a recorded
    `ShortCellWarning`) when it is short; a `DataError` when a label has no rows at all in
    a group (e.g. a language with no neutral examples), since nothing can be sampled.
    """
    if n_per_cell < 1:
        raise DataError(f"n_per_cell must be >= 1, got {n_per_cell}")
    by = tuple(by)
    cells = _cells(data, by)
    if LABEL in by:
        # Every (group, label) combination must exist: an absent cell is an empty cell.
        others = [c for c in by if c != LABEL]
        groups = {tuple(k[i] for i, c in enumerate(by) if c != LABEL) for k in cells}
        for g in sorted(groups, key=str):
            for label_id, label_name in enumerate(data.labels):
                key = tuple(g[others.index(c)] if c != LABEL else label_id for c in by)
                if key not in cells:
                    where = ", ".join(f"{c}={v}" for c, v in zip(others, g))
                    raise DataError(f"{data.name}: empty cell ({where + ', ' if where else ''}"
                                    f"label={label_name!r}): nothing to sample from")
    rng = np.random.default_rng(seed)
    chosen: list[np.ndarray] = []
    notes = list(data.notes)
    for key in sorted(cells, key=str):
        idx = cells[key]
        short = len(idx) < n_per_cell
        if short:
            msg = (f"{data.name}: cell {dict(zip(by, map(_plain, key)))} has {len(idx)} rows < "
                   f"{n_per_cell}; resampled with replacement")
            notes.append(msg)
            warnings.warn(msg, ShortCellWarning, stacklevel=2)
        chosen.append(rng.choice(idx, size=n_per_cell, replace=short))
    order = np.concatenate(chosen)
    frame = data.frame.iloc[order].reset_index(drop=True)
    return LabeledData(frame, data.labels, f"{data.name}|balanced{n_per_cell}", tuple(notes))


def _plain(v: object) -> object:
    return v.item() if hasattr(v, "item") else v


def stratified_split(data: LabeledData, fractions: Sequence[float] = (0.8, 0.1, 0.1),
                     seed: int = 0, by: Sequence[str] = (LABEL,)) -> list[LabeledData]:
    """Split into parts of the given fractions, stratified on `by`, seeded.

    Each part gets round(fraction x cell size) rows of every cell (largest remainders first),
    so every class's share in each part is within one example of exact.
    """
    if not np.isclose(sum(fractions), 1.0) or any(f <= 0 for f in fractions):
        raise DataError(f"split fractions must be positive and sum to 1, got {list(fractions)}")
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[] for _ in fractions]
    cells = _cells(data, by)
    for key in sorted(cells, key=str):
        idx = rng.permutation(cells[key])
        sizes = _largest_remainder(len(idx), fractions)
        start = 0
        for part, size in zip(parts, sizes):
            part.append(idx[start:start + size])
            start += size
    out = []
    for i, part in enumerate(parts):
        idx = np.sort(np.concatenate(part)) if part else np.array([], dtype=int)
        if len(idx) == 0:
            raise DataError(f"{data.name}: split part {i} ({fractions[i]:.0%}) would be empty; "
                            f"only {len(data)} examples")
        out.append(LabeledData(data.frame.iloc[idx].reset_index(drop=True), data.labels,
                               f"{data.name}|part{i}", data.notes))
    return out


def _largest_remainder(n: int, fractions: Sequence[float]) -> list[int]:
    exact = np.asarray(fractions) * n
    sizes = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - sizes), kind="stable")[: n - sizes.sum()]:
        sizes[i] += 1
    return sizes.tolist()


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


__all__ = ["ShortCellWarning", "balanced", "stratified_split", "train_val_test", "split_off"]
