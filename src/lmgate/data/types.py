"""Labelled data: one validated table with a declared label set, and its splits."""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from lmgate.core.errors import DataError
from lmgate.data.columns import GROUP, LABEL, LANGUAGE, OPTIONAL_COLUMNS, TEXT, TEXT_EN
from lmgate.data.sampling import balanced_rows


@dataclass(frozen=True)
class LabeledData:
    """A table of examples with integer labels indexing `labels` (the label names).

    `frame` has at least `text` and `label`; `text_en`, `language` and `group` are optional.
    `notes` carries warnings raised while building it (e.g. cells resampled with replacement),
    so that results can record them.
    """

    frame: pd.DataFrame
    labels: tuple[str, ...]
    name: str = "data"
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        validate_frame(self.frame, self.labels, self.name)

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def texts(self) -> list[str]:
        return self.frame[TEXT].tolist()

    @property
    def y(self) -> np.ndarray:
        return self.frame[LABEL].to_numpy(dtype=np.int64)

    @property
    def clusters(self) -> np.ndarray | None:
        """The `group` column (a speaker, a document), or None: examples of one group are not
        independent, so results scored on this data resample whole groups."""
        return self.frame[GROUP].astype(str).to_numpy() if GROUP in self.frame.columns else None

    def column(self, name: str) -> list[str]:
        if name not in self.frame.columns:
            raise DataError(f"{self.name}: no column {name!r}; columns are {list(self.frame.columns)}")
        return self.frame[name].tolist()

    def with_text(self, field_name: str) -> "LabeledData":
        """Use another column (e.g. `text_en`) as the text; empty values are an error."""
        if field_name == TEXT:
            return self
        values = self.frame[field_name] if field_name in self.frame.columns else None
        if values is None:
            raise DataError(f"{self.name}: cannot use field {field_name!r}: no such column")
        frame = self.frame.assign(**{TEXT: values})
        return LabeledData(frame, self.labels, f"{self.name}[{field_name}]", self.notes)

    def with_notes(self, notes: Iterable[str]) -> "LabeledData":
        """The same data with `notes` added (provenance, warnings), each once."""
        return LabeledData(self.frame, self.labels, self.name,
                           tuple(dict.fromkeys([*self.notes, *notes])))

    def where(self, **equals: object) -> "LabeledData":
        """Rows whose columns equal the given values, e.g. `where(language="fr")`."""
        mask = np.ones(len(self.frame), dtype=bool)
        for col, value in equals.items():
            if col not in self.frame.columns:
                raise DataError(f"{self.name}: cannot filter on missing column {col!r}")
            mask &= (self.frame[col] == value).to_numpy()
        suffix = ",".join(f"{k}={v}" for k, v in equals.items())
        return LabeledData(self.frame[mask].reset_index(drop=True), self.labels,
                           f"{self.name}[{suffix}]", self.notes)

    def balanced(self, n_per_cell: int, by: Sequence[str] = (LANGUAGE, LABEL),
                 seed: int = 0) -> "LabeledData":
        """Exactly `n_per_cell` rows from every cell of `by`.

        Without replacement when a cell is large enough; with replacement (and a recorded
        `ShortCellWarning`, kept in `notes`) when it is short; a `DataError` when a label has
        no rows at all in a group (e.g. a language with no neutral examples), since nothing
        can be sampled.
        """
        order, notes = balanced_rows(self.frame, self.labels, self.name, n_per_cell, by, seed)
        return LabeledData(self.frame.iloc[order].reset_index(drop=True), self.labels,
                           f"{self.name}|balanced{n_per_cell}", (*self.notes, *notes))

    def fingerprint(self) -> str:
        """Content hash of texts, labels, label names and optional columns (order-sensitive)."""
        h = hashlib.sha256()
        h.update("\x1f".join(self.labels).encode())
        cols = [c for c in (TEXT, LABEL, *OPTIONAL_COLUMNS) if c in self.frame.columns]
        for col in cols:
            h.update(f"\x1e{col}\x1e".encode())
            h.update("\x1f".join(map(str, self.frame[col].tolist())).encode())
        return h.hexdigest()[:16]

    def label_counts(self) -> dict[str, int]:
        counts = np.bincount(self.y, minlength=len(self.labels))
        return {name: int(c) for name, c in zip(self.labels, counts)}

    def concat(self, others: Iterable["LabeledData"], name: str | None = None) -> "LabeledData":
        parts = [self, *others]
        for p in parts[1:]:
            if p.labels != self.labels:
                raise DataError(f"cannot concatenate {p.name} (labels {p.labels}) with "
                                f"{self.name} (labels {self.labels})")
        frame = pd.concat([p.frame for p in parts], ignore_index=True)
        notes = tuple(dict.fromkeys(n for p in parts for n in p.notes))
        return LabeledData(frame, self.labels, name or "+".join(p.name for p in parts), notes)


def _without_leakage(notes: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(n for n in notes if not n.startswith("leakage: "))


@dataclass(frozen=True)
class DataSplits:
    """Train / validation / test splits sharing one label set."""

    train: LabeledData
    validation: LabeledData
    test: LabeledData
    name: str = "data"
    notes: tuple[str, ...] = field(default=())
    leakage: str = "warn"    # texts of train/validation found in test: warn (a note) | error

    def __post_init__(self) -> None:
        for split in (self.validation, self.test):
            if split.labels != self.train.labels:
                raise DataError(f"{self.name}: split {split.name} has labels {split.labels}, "
                                f"train has {self.train.labels}")
        if self.leakage not in ("warn", "error"):
            raise DataError(f"leakage must be 'warn' or 'error', not {self.leakage!r}")
        found = self.leaked()
        if found:
            message = (f"leakage: {'; '.join(f'{n} of {len(self.test)} test texts also in {s}' for s, n in found.items())}"
                       " (exact match after lower-casing and collapsing whitespace)")
            if self.leakage == "error":
                raise DataError(f"{self.name}: {message}")
            object.__setattr__(self, "notes", tuple(dict.fromkeys([*self.notes, message])))
            # The splits carry it too: a method handed `splits.train, splits.test` reports it.
            for split in ("train", "test"):
                object.__setattr__(self, split, getattr(self, split).with_notes([message]))

    def leaked(self) -> dict[str, int]:
        """How many test texts also occur (normalised) in train and in validation."""
        test = {_normalised(t) for t in self.test.texts}
        out = {}
        for name, split in (("train", self.train), ("validation", self.validation)):
            n = len(test & {_normalised(t) for t in split.texts})
            if n:
                out[name] = n
        return out

    @property
    def labels(self) -> tuple[str, ...]:
        return self.train.labels

    def map(self, fn) -> "DataSplits":
        """Apply `fn` to every split (e.g. `lambda s: s.where(language='fr')`)."""
        def fresh(split: LabeledData) -> LabeledData:   # leakage is found again, per subset
            return dataclasses.replace(split, notes=_without_leakage(split.notes))

        return DataSplits(fresh(fn(self.train)), fresh(fn(self.validation)), fresh(fn(self.test)),
                          self.name, _without_leakage(self.notes), self.leakage)

    def fingerprint(self) -> str:
        return hashlib.sha256("|".join(
            s.fingerprint() for s in (self.train, self.validation, self.test)).encode()).hexdigest()[:16]


def _normalised(text: str) -> str:
    return " ".join(str(text).lower().split())


def validate_frame(frame: pd.DataFrame, labels: Sequence[str], name: str) -> None:
    """Raise DataError on anything a study cannot trust: it names the offending value."""
    if len(labels) < 2:
        raise DataError(f"{name}: a label set needs at least 2 labels, got {list(labels)}")
    if len(set(labels)) != len(labels):
        raise DataError(f"{name}: duplicate label names in {list(labels)}")
    for col in (TEXT, LABEL):
        if col not in frame.columns:
            raise DataError(f"{name}: missing column {col!r}; columns are {list(frame.columns)}. "
                            "Map your columns with columns={'text': ..., 'label': ...}.")
    if len(frame) == 0:
        raise DataError(f"{name}: no examples")
    if not pd.api.types.is_integer_dtype(frame[LABEL]):
        raise DataError(f"{name}: label column must hold integer ids, got dtype {frame[LABEL].dtype}")
    bad = frame[LABEL][(frame[LABEL] < 0) | (frame[LABEL] >= len(labels))]
    if len(bad):
        raise DataError(f"{name}: label id {int(bad.iloc[0])} outside the declared label set "
                        f"{list(labels)} (row {bad.index[0]})")
    texts = frame[TEXT]
    empty = texts.isna() | (texts.astype(str).str.strip() == "")
    if empty.any():
        raise DataError(f"{name}: empty text at row {int(np.flatnonzero(empty.to_numpy())[0])}")
    if TEXT_EN in frame.columns:
        en = frame[TEXT_EN]
        empty_en = en.isna() | (en.astype(str).str.strip() == "")
        if empty_en.any():
            raise DataError(f"{name}: empty {TEXT_EN!r} at row "
                            f"{int(np.flatnonzero(empty_en.to_numpy())[0])}")
