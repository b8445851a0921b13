"""Where a data set is read from: a local copy, the Hugging Face hub or the project's embedded
sample, tried in that order by `load_source`, which says which one answered (`Provenance`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from lmgate.core.config import DATA_SOURCES
from lmgate.core.errors import DataError, DataUnavailable
from lmgate.data.loaders import data_dir, embedded_dir, load_hub, read_table
from lmgate.data.types import Provenance


@dataclass(frozen=True)
class HubSplit:
    """One split of a Hugging Face hub dataset, read by `load_hub(id, config, split)`."""

    id: str
    config: str | None = None
    split: str = "train"

    def __str__(self) -> str:
        return f"{self.id}{f' ({self.config})' if self.config else ''} {self.split}"


def _check_relative(local: Any, what: str) -> None:
    """`local` names a file or folder under the data folders: relative, without `..` (an
    absolute path or one that climbs out would be read, and recorded, as the local copy or the
    embedded sample)."""
    parts = Path(local).parts if isinstance(local, str) else ()
    if not isinstance(local, str) or not local.strip() or "\0" in local \
            or Path(local).is_absolute() or ".." in parts or "\\" in local:
        raise DataError(f"{what}: local {local!r} must be a path relative to the data folders "
                        "(like 'reviews/test.csv'), without '..'")


def _located(source: str, relative: str) -> Path:
    """`relative` (a file or a folder) under the local data folder or the embedded samples."""
    locate = data_dir if source == "local" else embedded_dir
    parent, _, name = relative.rpartition("/")
    if not parent:
        return locate(name)
    path = locate(parent) / name
    if not path.exists():
        raise DataUnavailable(f"{path} not found")
    return path


def load_source(local: str | None, hub: HubSplit | Callable[[], Any] | None = None, *,
                what: str, read: Callable[[Path], Any] = read_table,
                sources: Sequence[str] = DATA_SOURCES) -> tuple[Any, Provenance]:
    """The data from the first of `sources` that has it, and where it came from.

    - "local": `local`, a file or folder path relative to `$LMGATE_DATA_DIR`
      (`--lmgate-data-dir`), read with `read` (default `read_table`: a DataFrame);
    - "hub": `hub`, a `HubSplit` (read with `load_hub`: a DataFrame), or a callable that loads
      the data itself (several splits or configs at once); skipped when None;
    - "embedded": the same `local` path under the project's embedded samples
      (`$LMGATE_EMBEDDED_DATA_DIR`, ini key `lmgate_embedded_data_dir`), read with `read`.

    A source that raises `DataUnavailable` (a missing file, an offline hub, or a reader that
    finds nothing it needs) is passed over; when none has the data, `DataUnavailable` names each
    source tried and why it failed. A `DataError` (a corrupt local copy) is raised at once, never
    covered by falling back to a sample.

    Example::

        frame, provenance = load_source("reviews/test.csv", HubSplit("me/reviews", split="test"),
                                        what="reviews test")
        data = labeled(frame, ("negative", "positive")).with_provenance(provenance)
    """
    if isinstance(sources, str):
        raise DataError(f"sources is one text {sources!r}: give a list of some of "
                        f"{DATA_SOURCES}")
    unknown = [s for s in sources if s not in DATA_SOURCES]
    if unknown:
        raise DataError(f"unknown data source(s) {unknown}; use some of {DATA_SOURCES}")
    if local is not None:
        _check_relative(local, what)
    errors = []
    for source in sources:
        if (source == "hub" and hub is None) or (source != "hub" and local is None):
            continue
        try:
            if source == "hub":
                if not isinstance(hub, HubSplit):
                    return hub(), Provenance("hub", what)
                return load_hub(hub.id, hub.config, hub.split), Provenance("hub", what, str(hub))
            path = _located(source, local)
            return read(path), Provenance(source, what, str(path))
        except DataUnavailable as exc:
            errors.append(f"{source}: {exc}")
    raise DataUnavailable(f"{what} not found: " + ("; ".join(errors) or
                                                   f"no source to try among {list(sources)}"))
