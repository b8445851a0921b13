"""Sources of labelled data: local files (csv/tsv/jsonl/parquet), LMGATE_DATA_DIR, the hub.

Labels are always mapped by *name* onto the declared label set, never trusted by id: two
copies of one data set may number the same classes differently (a hub copy 0=positive, the
original files 0=negative).
"""

from __future__ import annotations

import csv
import functools
import os
import re
import socket
from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd

from lmgate.data.columns import LABEL, TEXT
from lmgate.data.types import LabeledData
from lmgate.core.errors import DataError, DataUnavailable
from lmgate.core.config import DATA_DIR_ENV, EMBEDDED_DATA_ENV


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read a csv, tsv, jsonl/json-lines or parquet file into a DataFrame, all text as str."""
    path = Path(path)
    if not path.exists():
        raise DataUnavailable(f"data file {path} does not exist")
    if not path.is_file():
        kind = "a folder" if path.is_dir() else "not a regular file (a pipe or a device)"
        raise DataError(f"data file {path} is {kind}; name a .csv, .tsv, .jsonl or .parquet file")
    if path.stat().st_size == 0:
        raise DataError(f"data file {path} is empty (0 bytes)")
    try:
        frame = _read(path)
    except UnicodeDecodeError:
        raw = path.read_bytes()
        try:
            raw.decode("utf-8")
            where = ""
        except UnicodeDecodeError as exc:  # the parser's offset is into its buffer: recompute
            line = raw[:exc.start].count(b"\n") + 1
            where = f", line {line} (byte {exc.start})"
        raise DataError(f"{path}{where}: not valid UTF-8; save the file as UTF-8") from None
    except (ValueError, pd.errors.ParserError) as exc:  # EmptyDataError is a ValueError
        raise DataError(f"{path}: cannot be read as {path.suffix or 'a table'}: {exc}") from None
    if frame.columns.empty:
        raise DataError(f"data file {path} has no columns")
    _refuse_duplicate_columns(list(frame.columns), str(path))
    return frame


def _refuse_duplicate_columns(columns: Sequence, where: str) -> None:
    """Two columns of one name: which one holds the data would be a guess (unnamed ones,
    from trailing separators, are never read)."""
    seen: set = set()
    twice = [c for c in columns if c != "" and (c in seen or seen.add(c))]
    if twice:
        raise DataError(f"{where}: column {twice[0]!r} appears twice; rename one of them")


DATA_MAX_BYTES = 8 * 2**30


def _check_json_lines(path: Path) -> None:
    """Each line of a JSON-lines file names each key once (pandas keeps the last silently)."""
    from lmgate.core.bounded_json import read_jsonl_bounded

    # pandas reads integers of up to 19 digits; data files may be large.
    read_jsonl_bounded(path, what="data file", error=DataError, nonfinite=True,
                       max_int_digits=19, max_bytes=DATA_MAX_BYTES)


def _read(path: Path) -> pd.DataFrame:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        _check_json_lines(path)
        return pd.read_json(path, lines=True, dtype=False)
    if suffix == ".tsv":
        # Research TSVs are often unquoted: a stray '"' must stay part of the text.
        _check_fields(path, "\t", csv.QUOTE_NONE)
        return pd.read_csv(path, sep="\t", quoting=csv.QUOTE_NONE, keep_default_na=False,
                           dtype=str, index_col=False)
    if suffix == ".csv":
        _check_fields(path, ",", csv.QUOTE_MINIMAL)
        return pd.read_csv(path, keep_default_na=False, dtype=str, index_col=False)
    if suffix == ".parquet":
        return pd.read_parquet(path)
    raise DataError(f"unsupported data file type {suffix!r} ({path}); "
                    "use .csv, .tsv, .jsonl or .parquet")


def _check_fields(path: Path, sep: str, quoting: int) -> None:
    """Every row has as many fields as the header: pandas would take a first row with one
    more for an index column and shift every column, or drop the extra field."""
    csv.field_size_limit(2**31 - 1)
    with open(path, newline="", encoding="utf-8") as f:
        rows = csv.reader(f, delimiter=sep, quoting=quoting)
        header = next(rows, [])
        _refuse_duplicate_columns(header, str(path))
        for row in rows:
            if row and len(row) != len(header):
                raise DataError(f"{path}, line {rows.line_num}: {len(row)} fields, but the "
                                f"header has {len(header)} ({header}); quote fields that "
                                "hold the separator")


#: Columns that name each row's label beside integer ids: checked against the ids.
NAME_COLUMNS = ("label_name", "label_text")


def labeled(frame: pd.DataFrame, labels: Sequence[str], *, name: str = "data",
            columns: Mapping[str, str] | None = None, label_ids: Mapping[int, str] | None = None,
            label_name_column: str | None = None) -> LabeledData:
    """Build validated `LabeledData` from any table.

    columns: lmgate column -> source column, e.g. {"text": "sentence"}.
    Labels are resolved by name, in this order: `label_name_column` when given (each row's
    label name), else `label_ids` (the source's id -> name map), else the label column holds
    names already, else it holds ids that index `labels` directly (only when no map is needed).
    """
    labels = tuple(labels)
    columns = dict(columns or {})
    missing = [src for src in columns.values() if src not in frame.columns]
    if missing:
        raise DataError(f"{name}: column(s) {missing} not found; columns are {list(frame.columns)}")
    _refuse_duplicate_columns(list(frame.columns), name)
    sources = list(columns.values())
    shared = next((src for src in sources if sources.count(src) > 1), None)
    if shared is not None:
        raise DataError(f"{name}: column {shared!r} is mapped to "
                        f"{[dst for dst, src in columns.items() if src == shared]}; map each "
                        "lmgate column from its own column")
    frame = frame.rename(columns={src: dst for dst, src in columns.items()})
    _refuse_duplicate_columns(list(frame.columns), f"{name} (after columns={columns})")
    if TEXT not in frame.columns:
        raise DataError(f"{name}: missing column {TEXT!r}; columns are {list(frame.columns)}. "
                        "Map yours with columns={'text': 'your_column'}.")
    not_text = (~frame[TEXT].map(lambda v: isinstance(v, str))).to_numpy()
    if not_text.any():
        row = int(not_text.argmax())
        raise DataError(f"{name}: {int(not_text.sum())} text(s) are not strings (first: row "
                        f"{row}, {frame[TEXT].iloc[row]!r} of type "
                        f"{type(frame[TEXT].iloc[row]).__name__})")
    if label_name_column is not None:
        if label_name_column not in frame.columns:
            raise DataError(f"{name}: missing label-name column {label_name_column!r}")
        names = frame[label_name_column].astype(str)
    elif LABEL not in frame.columns:
        raise DataError(f"{name}: missing column {LABEL!r}; columns are {list(frame.columns)}")
    elif frame[LABEL].isna().any() or frame[LABEL].map(lambda v: isinstance(v, (list, dict))).any():
        bad = (frame[LABEL].isna() | frame[LABEL].map(lambda v: isinstance(v, (list, dict))))
        row = int(bad.to_numpy().argmax())
        raise DataError(f"{name}: {int(bad.sum())} row(s) have no usable label (first: row "
                        f"{row}, {frame[LABEL].iloc[row]!r})")
    elif label_ids is not None:
        ids = pd.to_numeric(frame[LABEL], errors="coerce")
        fractional = (ids.notna() & (ids != ids.round())).to_numpy()
        if fractional.any():
            row = int(fractional.argmax())
            raise DataError(f"{name}: label id {frame[LABEL].iloc[row]} (row {row}) is not an "
                            "integer")
        unknown = sorted(set(ids.dropna().astype(int)) - set(label_ids)) or (
            ["non-integer"] if ids.isna().any() else [])
        if unknown:
            raise DataError(f"{name}: label id {unknown[0]} has no name in the source's map "
                            f"{dict(label_ids)}")
        names = ids.astype(int).map(dict(label_ids))
    else:
        names = frame[LABEL].astype(str)
        _refuse_ambiguous_ids(names, labels, name)
        if not names.isin(labels).all() and names.str.fullmatch(r"-?\d+").all():
            # Plain integer ids that index the declared label set.
            names = names.astype(int).map(dict(enumerate(labels))).fillna(names)
            named = next((c for c in NAME_COLUMNS if c in frame.columns), None)
            if named is not None:  # the table names its labels too: the two must agree
                wrong = (names != frame[named].astype(str)).to_numpy()
                if wrong.any():
                    row = int(wrong.argmax())
                    raise DataError(
                        f"{name}: label ids disagree with column {named!r} on {int(wrong.sum())} "
                        f"row(s) (first: row {row}, id {frame[LABEL].iloc[row]} is "
                        f"{names.iloc[row]!r} in {list(labels)} but {named!r} says "
                        f"{frame[named].iloc[row]!r}); pass label_name_column={named!r} to "
                        "map by name")
    index = {n: i for i, n in enumerate(labels)}
    unknown_names = sorted(set(names) - set(index), key=str)
    if unknown_names:
        raise DataError(f"{name}: label {unknown_names[0]!r} is not in the declared label set "
                        f"{list(labels)}")
    frame = frame.assign(**{LABEL: names.map(index).astype("int64")})
    return LabeledData(frame.reset_index(drop=True), labels, name)


def _refuse_ambiguous_ids(values: pd.Series, labels: Sequence[str], name: str) -> None:
    """When label names are integers too ("1".."5"), a column of integers is read as names
    only if no value could be an id (some value is >= the number of labels) or reading it
    as ids gives the same labels; otherwise which reading is meant is a guess: DataError
    saying how to choose."""
    if not any(_is_integer_text(label) for label in labels) or \
            not values.str.fullmatch(r"-?\d+").all():
        return
    ids = values.map(lambda v: _small_int(v, len(labels)))
    as_names, as_ids = values.isin(labels).all(), ids.notna().all()
    if as_names and (not as_ids or (ids.map(lambda i: labels[int(i)]) == values).all()):
        return
    seen = sorted(set(values), key=lambda v: (len(v.lstrip("-")), v))
    shown = seen if len(seen) <= 12 else [*seen[:12], "..."]
    raise DataError(
        f"{name}: the label column holds integers {shown} and the label names {list(labels)} "
        f"are integers too: lmgate does not guess whether they are names or ids. "
        f"{'As names they are fine; as ids too, but they differ. ' if as_names and as_ids else ''}"
        f"Say which: labeled(..., label_name_column={LABEL!r}) reads them as names, "
        f"label_ids=dict(enumerate(labels)) as ids into the label set (or map them with "
        f"label_ids={{id: name}})")


def _is_integer_text(text: str) -> bool:
    return re.fullmatch(r"-?\d+", str(text)) is not None


def _small_int(text: str, size: int) -> int | None:
    """`text` as an id into a label set of `size` labels, or None."""
    if len(text) > 9:
        return None
    value = int(text)
    return value if 0 <= value < size else None


def data_dir(subdir: str = "", env: Mapping[str, str] | None = None) -> Path:
    """`$LMGATE_DATA_DIR/subdir`, or DataUnavailable saying how to provide it."""
    env = os.environ if env is None else env
    root = env.get(DATA_DIR_ENV)
    if not root:
        raise DataUnavailable(f"{DATA_DIR_ENV} is not set, so local data {subdir!r} cannot be "
                              f"found; set {DATA_DIR_ENV} to a folder holding {subdir or 'it'}/ "
                              "(CI uses ../shared/data)")
    path = Path(root) / subdir
    if not path.exists():
        raise DataUnavailable(f"{path} does not exist; put the data there or point "
                              f"{DATA_DIR_ENV} at a folder that holds {subdir}/")
    return path


def embedded_dir(subdir: str, env: Mapping[str, str] | None = None) -> Path:
    """`$LMGATE_EMBEDDED_DATA_DIR/subdir` (a project's shipped samples), or DataUnavailable."""
    env = os.environ if env is None else env
    root = env.get(EMBEDDED_DATA_ENV)
    path = Path(root) / subdir if root else None
    if path is None or not path.exists():
        raise DataUnavailable(f"no embedded sample {subdir!r} ({EMBEDDED_DATA_ENV}="
                              f"{root or 'unset'})")
    return path


@functools.lru_cache(maxsize=1)
def hub_reachable() -> bool:
    """Whether to ask the hub at all: yes with HF_HUB_OFFLINE set (datasets then reads its
    local cache without the network), else only when huggingface.co answers within 3 s. An
    offline machine skips the hub at once instead of retrying for half a minute per file."""
    if any(os.environ.get(v, "").lower() in ("1", "true", "yes")
           for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")):
        return True
    try:
        socket.create_connection(("huggingface.co", 443), timeout=3).close()
        return True
    except OSError:
        return False


def load_hub(dataset_id: str, config: str | None = None, split: str = "train") -> pd.DataFrame:
    """A hub dataset split as a DataFrame; DataUnavailable when neither cached nor reachable."""
    if not hub_reachable():
        raise DataUnavailable(f"hub dataset {dataset_id!r} (config {config!r}): the hub is not "
                              f"reachable from this machine (offline)")
    try:
        import datasets

        ds = datasets.load_dataset(dataset_id, config, split=split)
    except Exception as exc:  # offline, missing config, auth: all mean "not available here"
        raise DataUnavailable(
            f"hub dataset {dataset_id!r} (config {config!r}, split {split!r}) is not available: "
            f"{type(exc).__name__}: {str(exc)[:200]}. Provide a local copy under "
            f"${DATA_DIR_ENV}.") from exc
    return ds.to_pandas()
