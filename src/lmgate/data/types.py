"""Labelled data: one validated table with a declared label set, and its splits."""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from typing import Any, Iterable, Literal, Protocol, Sequence

import numpy as np
import pandas as pd

from lmgate.core.config import DATA_DIR_ENV, DATA_SOURCES, EMBEDDED_DATA_ENV
from lmgate.core.errors import DataError
from lmgate.data.columns import GROUP, LABEL, LANGUAGE, OPTIONAL_COLUMNS, TEXT, TEXT_EN
from lmgate.data.sampling import balanced_rows


DataSource = Literal["local", "hub", "embedded"]

_WHERE = {"local": f"local copy (${DATA_DIR_ENV})", "hub": "Hugging Face hub",
          "embedded": f"embedded sample (${EMBEDDED_DATA_ENV}): a small subset, not the full set"}


@dataclass(frozen=True)
class Provenance:
    """Where a data set came from: its `source` ("local": $LMGATE_DATA_DIR, "hub": the Hugging
    Face hub, "embedded": the project's shipped sample), `what` it is, and its `location` (a
    path, a hub split) when known.

    `load_source` returns one; data built on it carries it (`LabeledData.provenance`), every
    result built on that data too, and each results row under its `provenance` key, where a
    study's `unpowered` entries with `sources` read it.

    Example::

        Provenance("embedded", "reviews test", "evals/data/reviews/test.csv")
    """

    source: DataSource
    what: str
    location: str | None = None

    def __post_init__(self) -> None:
        if self.source not in DATA_SOURCES:
            raise DataError(f"data source {self.source!r} is none of {DATA_SOURCES}")

    @property
    def note(self) -> str:
        """The line the summary shows: "data source of <what>: <where>"."""
        return f"data source of {self.what}: {_WHERE[self.source]}"

    def as_dict(self) -> dict[str, str | None]:
        """The results row's form: `{"source": ..., "what": ..., "location": ...}`."""
        return dataclasses.asdict(self)


def _once(items: Iterable[Any]) -> tuple[Any, ...]:
    return tuple(dict.fromkeys(items))


@dataclass(frozen=True)
class LabeledData:
    """A table of examples with integer labels indexing `labels` (the label names).

    `frame` has at least `text` and `label`; `text_en`, `language` and `group` are optional.
    `notes` carries warnings raised while building it (e.g. cells resampled with replacement),
    and `provenance` where it came from (`with_provenance`), so that results can record them;
    subsets, samples and concatenations keep both.
    """

    frame: pd.DataFrame
    labels: tuple[str, ...]
    name: str = "data"
    notes: tuple[str, ...] = ()
    provenance: tuple[Provenance, ...] = ()

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
        return dataclasses.replace(self, frame=self.frame.assign(**{TEXT: values}),
                                   name=f"{self.name}[{field_name}]")

    def with_notes(self, notes: Iterable[str]) -> "LabeledData":
        """The same data with `notes` (warnings) added, each once."""
        return dataclasses.replace(self, notes=_once([*self.notes, *notes]))

    def with_provenance(self, *provenance: Provenance) -> "LabeledData":
        """The same data with `provenance` added, each once, and its line among the notes."""
        return dataclasses.replace(self, provenance=_once([*self.provenance, *provenance]),
                                   notes=_once([*self.notes, *(p.note for p in provenance)]))

    def where(self, **equals: object) -> "LabeledData":
        """Rows whose columns equal the given values, e.g. `where(language="fr")`."""
        mask = np.ones(len(self.frame), dtype=bool)
        for col, value in equals.items():
            if col not in self.frame.columns:
                raise DataError(f"{self.name}: cannot filter on missing column {col!r}")
            mask &= (self.frame[col] == value).to_numpy()
        suffix = ",".join(f"{k}={v}" for k, v in equals.items())
        return dataclasses.replace(self, frame=self.frame[mask].reset_index(drop=True),
                                   name=f"{self.name}[{suffix}]")

    def balanced(self, n_per_cell: int, by: Sequence[str] = (LANGUAGE, LABEL),
                 seed: int = 0) -> "LabeledData":
        """Exactly `n_per_cell` rows from every cell of `by`.

        Without replacement when a cell is large enough; with replacement (and a recorded
        `ShortCellWarning`, kept in `notes`) when it is short; a `DataError` when a label has
        no rows at all in a group (e.g. a language with no neutral examples), since nothing
        can be sampled.
        """
        order, notes = balanced_rows(self.frame, self.labels, self.name, n_per_cell, by, seed)
        return dataclasses.replace(self, frame=self.frame.iloc[order].reset_index(drop=True),
                                   name=f"{self.name}|balanced{n_per_cell}",
                                   notes=(*self.notes, *notes))

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
        return LabeledData(frame, self.labels, name or "+".join(p.name for p in parts),
                           _once(n for p in parts for n in p.notes),
                           _once(x for p in parts for x in p.provenance))


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

    @property
    def provenance(self) -> tuple[Provenance, ...]:
        """Where the splits came from: their `provenance`, each once."""
        return _once(p for split in (self.train, self.validation, self.test)
                     for p in split.provenance)

    def map(self, fn) -> "DataSplits":
        """Apply `fn` to every split (e.g. `lambda s: s.where(language='fr')`)."""
        def fresh(split: LabeledData) -> LabeledData:   # leakage is found again, per subset
            return dataclasses.replace(split, notes=_without_leakage(split.notes))

        return DataSplits(fresh(fn(self.train)), fresh(fn(self.validation)), fresh(fn(self.test)),
                          self.name, _without_leakage(self.notes), self.leakage)

    def fingerprint(self) -> str:
        return hashlib.sha256("|".join(
            s.fingerprint() for s in (self.train, self.validation, self.test)).encode()).hexdigest()[:16]


class Carries(Protocol):
    """Anything that carries notes and provenance (`LabeledData`, `DataSplits`)."""

    @property
    def notes(self) -> tuple[str, ...]: ...

    @property
    def provenance(self) -> tuple[Provenance, ...]: ...


def carried_info(*parts: Carries, notes: Iterable[str] = (),
                 provenance: Iterable[Provenance] = ()) -> dict[str, list[Any]]:
    """The `notes` and `provenance` entries of a result's info built on `parts` (its training
    and its scored data): `notes` and `provenance` first, then each part's, each once."""
    return {"notes": list(_once([*notes, *(n for p in parts for n in p.notes)])),
            "provenance": [p.as_dict() for p in
                           _once([*provenance, *(x for p in parts for x in p.provenance)])]}


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
