"""Sampling algorithms on labelled tables: exactly n rows per cell, and stratified parts.

They return row positions (and notes), so that `LabeledData` (lmgate.data.types) can offer
them as methods; `lmgate.data.splits` builds the splits from them.
"""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np
import pandas as pd

from lmgate.core.errors import DataError
from lmgate.data.columns import LABEL


class ShortCellWarning(UserWarning):
    """A cell had fewer rows than asked for and was resampled with replacement."""


def cells(frame: pd.DataFrame, by: Sequence[str], name: str) -> dict[tuple, np.ndarray]:
    """Row positions of every cell of the columns `by`."""
    missing = [c for c in by if c not in frame.columns]
    if missing:
        raise DataError(f"{name}: cannot balance by missing column(s) {missing}")
    groups = frame.groupby(list(by), sort=True).indices
    return {(k if isinstance(k, tuple) else (k,)): np.asarray(v) for k, v in groups.items()}


def balanced_rows(frame: pd.DataFrame, labels: Sequence[str], name: str, n_per_cell: int,
                  by: Sequence[str], seed: int) -> tuple[np.ndarray, list[str]]:
    """Row positions of exactly `n_per_cell` rows from every cell of `by`, and a note for
    each cell that was short (see `LabeledData.balanced`)."""
    if n_per_cell < 1:
        raise DataError(f"n_per_cell must be >= 1, got {n_per_cell}")
    by = tuple(by)
    found = cells(frame, by, name)
    if LABEL in by:
        # Every (group, label) combination must exist: an absent cell is an empty cell.
        others = [c for c in by if c != LABEL]
        groups = {tuple(k[i] for i, c in enumerate(by) if c != LABEL) for k in found}
        for g in sorted(groups, key=str):
            for label_id, label_name in enumerate(labels):
                key = tuple(g[others.index(c)] if c != LABEL else label_id for c in by)
                if key not in found:
                    where = ", ".join(f"{c}={v}" for c, v in zip(others, g))
                    raise DataError(f"{name}: empty cell ({where + ', ' if where else ''}"
                                    f"label={label_name!r}): nothing to sample from")
    rng = np.random.default_rng(seed)
    chosen: list[np.ndarray] = []
    notes = []
    for key in sorted(found, key=str):
        idx = found[key]
        short = len(idx) < n_per_cell
        if short:
            msg = (f"{name}: cell {dict(zip(by, map(_plain, key)))} has {len(idx)} rows < "
                   f"{n_per_cell}; resampled with replacement")
            notes.append(msg)
            warnings.warn(msg, ShortCellWarning, stacklevel=3)
        chosen.append(rng.choice(idx, size=n_per_cell, replace=short))
    return np.concatenate(chosen), notes


def _plain(v: object) -> object:
    return v.item() if hasattr(v, "item") else v


def stratified_rows(frame: pd.DataFrame, fractions: Sequence[float], seed: int,
                    by: Sequence[str], name: str) -> list[np.ndarray]:
    """Sorted row positions of each part: round(fraction x cell size) rows of every cell
    (largest remainders first), so every class's share in each part is within one example of
    exact."""
    if not np.isclose(sum(fractions), 1.0) or any(f <= 0 for f in fractions):
        raise DataError(f"split fractions must be positive and sum to 1, got {list(fractions)}")
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[] for _ in fractions]
    found = cells(frame, by, name)
    for key in sorted(found, key=str):
        idx = rng.permutation(found[key])
        sizes = _largest_remainder(len(idx), fractions)
        start = 0
        for part, size in zip(parts, sizes):
            part.append(idx[start:start + size])
            start += size
    out = []
    for i, part in enumerate(parts):
        idx = np.sort(np.concatenate(part)) if part else np.array([], dtype=int)
        if len(idx) == 0:
            raise DataError(f"{name}: split part {i} ({fractions[i]:.0%}) would be empty; "
                            f"only {len(frame)} examples")
        out.append(idx)
    return out


def _largest_remainder(n: int, fractions: Sequence[float]) -> list[int]:
    exact = np.asarray(fractions) * n
    sizes = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - sizes), kind="stable")[: n - sizes.sum()]:
        sizes[i] += 1
    return sizes.tolist()
