"""Named real data sources: where each lives (local copy or hub) and how its labels map.

Each source returns validated `LabeledData`/`DataSplits` with labels mapped by name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import pandas as pd

from lmgate.data.loaders import data_dir, embedded_dir, labeled, load_hub, read_table
from lmgate.data.splits import split_off
from lmgate.data.types import DataSplits, LabeledData
from lmgate.core.errors import DataError, DataUnavailable
from lmgate.core.config import DATA_DIR_ENV, DATA_SOURCES, EMBEDDED_DATA_ENV

SENTIMENT_LABELS = ("negative", "neutral", "positive")
#: tyqiangz/multilingual-sentiments numbers its classes in the opposite order to XLM-T.
SENTIMENT_HUB_ID = "tyqiangz/multilingual-sentiments"
SENTIMENT_HUB_LABEL_IDS = {0: "positive", 1: "neutral", 2: "negative"}
SENTIMENT_HUB_CONFIGS = {"en": "english", "fr": "french", "ar": "arabic", "hi": "hindi",
                         "ja": "japanese", "ms": "malay", "de": "german", "es": "spanish",
                         "it": "italian", "pt": "portuguese"}
SPLITS = ("train", "validation", "test")


_WHERE = {"local": f"local copy (${DATA_DIR_ENV})", "hub": "Hugging Face hub",
          "embedded": f"embedded sample (${EMBEDDED_DATA_ENV}): a small subset, not the full set"}


def source_note(source: str, what: str) -> str:
    """The provenance line every result of this data carries in its notes."""
    return f"data source of {what}: {_WHERE[source]}"


def sources_in_notes(notes: Iterable[str]) -> set[str]:
    """The sources that `source_note` lines among `notes` name (other notes are ignored)."""
    return {source for note in notes if note.startswith("data source of ")
            for source, where in _WHERE.items() if note.endswith(f": {where}")}


def _source_dir(source: str, subdir: str) -> Path:
    """The folder of `subdir` in a file source ("local" or "embedded"), or DataUnavailable."""
    return (data_dir if source == "local" else embedded_dir)(subdir)


def _known_languages(frame: pd.DataFrame, path: Path) -> tuple[pd.DataFrame, list[str]]:
    """Language codes in the study's spelling ('EN ' -> 'en'); rows with an unknown code are
    left out. Both are said in the returned notes, never done silently."""
    if "language" not in frame.columns:
        raise DataError(f"{path}: no 'language' column; columns: {list(frame.columns)}")
    raw = frame["language"].astype(str)
    codes = raw.str.strip().str.lower()
    notes = []
    respelled = raw != codes
    if respelled.any():
        notes.append(f"{path.name}: {int(respelled.sum())} row(s) with language codes spelled "
                     f"{sorted(set(raw[respelled]))} read as {sorted(set(codes[respelled]))}")
    unknown = ~codes.isin(SENTIMENT_HUB_CONFIGS)
    if unknown.any():
        notes.append(f"{path.name}: {int(unknown.sum())} row(s) with unknown language code(s) "
                     f"{sorted(set(raw[unknown]))} left out; known: {sorted(SENTIMENT_HUB_CONFIGS)}")
    return frame.assign(language=codes)[~unknown], notes


def _local_sentiment(languages: Sequence[str],
                     embedded: bool = False) -> tuple[dict[str, pd.DataFrame], list[str]]:
    folder = _source_dir("embedded" if embedded else "local", "multilingual_sentiment")
    frames, notes = {}, []
    for split in SPLITS:
        path = folder / f"{split}.jsonl"
        frame = read_table(path) if path.exists() else pd.DataFrame(columns=["language"])
        if path.exists():
            frame, said = _known_languages(frame, path)
            notes += said
        frames[split] = frame[frame["language"].isin(languages)]
    return frames, notes


def _hub_sentiment(languages: Sequence[str]) -> dict[str, pd.DataFrame]:
    frames: dict[str, list[pd.DataFrame]] = {s: [] for s in SPLITS}
    for lang in languages:
        for split in SPLITS:
            try:
                frame = load_hub(SENTIMENT_HUB_ID, SENTIMENT_HUB_CONFIGS[lang], split)
            except DataUnavailable:
                if split == "validation":
                    continue  # some configs have none; carved from train below
                raise
            frames[split].append(frame.assign(language=lang))
    return {s: pd.concat(f, ignore_index=True) if f else pd.DataFrame(columns=["language"])
            for s, f in frames.items()}


def sentiment_frame_to_data(frame: pd.DataFrame, source: str, name: str) -> LabeledData:
    """Map a split of either source onto SENTIMENT_LABELS by *name*."""
    if source in ("local", "embedded"):
        data = labeled(frame, SENTIMENT_LABELS, name=name, label_name_column="label_name")
        if "label" in frame.columns:  # the local files carry both; they must agree
            ids = pd.to_numeric(frame["label"]).to_numpy()
            mismatch = ids != data.y
            if mismatch.any():
                raise DataError(f"{name}: label id and label_name disagree on "
                                      f"{int(mismatch.sum())} rows; the local copy is corrupt")
        return data
    frame = frame.drop(columns=[c for c in ("label_name",) if c in frame.columns])
    return labeled(frame, SENTIMENT_LABELS, name=name, label_ids=SENTIMENT_HUB_LABEL_IDS)


def multilingual_sentiment(languages: Sequence[str], source: str = "auto",
                           seed: int = 0) -> DataSplits:
    """Seed 003's data for `languages`: train/validation/test with labels by name.

    source: "local" ($LMGATE_DATA_DIR/multilingual_sentiment), "hub", or "auto" (local first).
    Languages without a validation split (ja) get 10% of train carved off, stratified.
    """
    unknown = sorted(set(languages) - set(SENTIMENT_HUB_CONFIGS))
    if unknown:
        raise DataUnavailable(f"no sentiment data for language(s) {unknown}; known: "
                              f"{sorted(SENTIMENT_HUB_CONFIGS)}")
    if source == "auto":
        errors = []
        for candidate in DATA_SOURCES:
            try:
                return multilingual_sentiment(languages, candidate, seed)
            except DataUnavailable as exc:
                errors.append(f"{candidate}: {exc}")
        raise DataUnavailable("multilingual sentiment data not found: " + "; ".join(errors))
    if source not in DATA_SOURCES:
        raise DataError(f"unknown source {source!r}; use auto or one of {DATA_SOURCES}")
    frames, read_notes = ((_hub_sentiment(languages), []) if source == "hub"
                          else _local_sentiment(languages, embedded=source == "embedded"))
    present = set(frames["train"]["language"]) & set(frames["test"]["language"])
    absent = [lang for lang in languages if lang not in present]
    languages = [lang for lang in languages if lang in present]
    for split in SPLITS:
        frames[split] = frames[split][frames[split]["language"].isin(languages)]
    parts = {split: sentiment_frame_to_data(frames[split], source, f"sentiment-{split}")
             if len(frames[split]) else None for split in SPLITS}
    if parts["train"] is None or parts["test"] is None:
        raise DataUnavailable(f"sentiment data ({source}) has no train or test rows for {languages}")
    train, validation, carved = parts["train"], parts["validation"], []
    for lang in languages:
        has_val = validation is not None and (validation.frame["language"] == lang).any()
        if not has_val:
            rest, held = split_off(train.where(language=lang), 0.1, seed=seed)
            carved.append((lang, rest, held))
    if carved:
        keep = train.frame[~train.frame["language"].isin([c[0] for c in carved])]
        pieces = [LabeledData(keep.reset_index(drop=True), SENTIMENT_LABELS, "sentiment-train")] \
            if len(keep) else []
        pieces += [c[1] for c in carved]
        train = pieces[0].concat(pieces[1:], name="sentiment-train")
        held = [c[2] for c in carved]
        validation = (validation.concat(held, name="sentiment-validation") if validation is not None
                      else held[0].concat(held[1:], name="sentiment-validation"))
    notes = (source_note(source, "multilingual sentiment"), *read_notes,
             *(f"{lang}: not in this source ({source}); its cases skip"
               + (" (research-only terms: not redistributed in the embedded sample)"
                  if source == "embedded" and lang == "ja" else "") for lang in absent),
             *(f"{lang}: no validation split; 10% of train carved off, stratified"
               for lang, *_ in carved))
    return DataSplits(*(split_data.with_notes(notes) for split_data in
                        (train, validation, parts["test"])),
                      name=f"multilingual-sentiment[{source}]", notes=notes)


# ---- Touché 2024 / ParlaMint parliamentary speeches ------------------------------------------
PARLIAMENT_TASKS = {
    # task -> (file prefix, label names by id as in the Touché files)
    "ideology": ("orientation", ("left", "right")),
    "power": ("power", ("governing", "opposition")),
}
PARLIAMENT_COLUMNS = ("id", "speaker", "sex", "text", "text_en", "label")
PARLIAMENT_HOWTO = (
    "The Touché 2024 'Ideology and Power Identification in Parliamentary Debates' data "
    "(ParlaMint speeches) is published on Zenodo, not on the Hugging Face hub. Download it, "
    "and put the files named <task>-<country>-train.tsv (e.g. orientation-tr-train.tsv, "
    "power-tr-train.tsv) into $LMGATE_DATA_DIR/parliament/ or the folder given with "
    "--lmgate-data-dir.")


def parliament(task: str, country: str = "tr", folder: str | Path | None = None) -> LabeledData:
    """One task and country of the Touché TSV layout (`id, speaker, sex, text, text_en, label`).

    Labels are the file's 0/1 ids: ideology 0 = left, 1 = right; power 0 = governing,
    1 = opposition. Empty texts or translations, unknown labels and empty classes are errors.
    """
    if task not in PARLIAMENT_TASKS:
        raise DataError(f"unknown parliament task {task!r}; choose one of {sorted(PARLIAMENT_TASKS)}")
    prefix, labels = PARLIAMENT_TASKS[task]
    try:
        root = Path(folder) if folder else data_dir("parliament")
    except DataUnavailable as exc:
        raise DataUnavailable(f"{exc}. {PARLIAMENT_HOWTO}") from None
    path = root / f"{prefix}-{country}-train.tsv"
    if not path.exists():
        raise DataUnavailable(f"{path} not found. {PARLIAMENT_HOWTO}")
    frame = read_table(path)
    missing = [c for c in PARLIAMENT_COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: missing Touché column(s) {missing}; columns are "
                        f"{list(frame.columns)}")
    # One speaker's speeches are not independent: results resample speakers (the `group`).
    data = labeled(frame.assign(group=frame["speaker"].astype(str)), labels,
                   name=f"{task}-{country}")
    empty = [name for name, count in data.label_counts().items() if count == 0]
    if empty:
        raise DataError(f"{path}: class(es) {empty} have no examples; both classes are needed")
    return data


def local_hub_or_embedded(relative: str, hub_id: str | None, config: str | None, split: str,
                          what: str) -> tuple[pd.DataFrame, str]:
    """`$LMGATE_DATA_DIR/<relative>`, else the hub split, else the project's embedded sample;
    the table and the source it came from. DataUnavailable names every try."""
    subdir, _, name = relative.rpartition("/")
    errors = []
    for source in DATA_SOURCES:
        try:
            if source == "hub":
                if hub_id is None:
                    continue
                return load_hub(hub_id, config, split), source
            return read_table(_source_dir(source, subdir) / name), source
        except DataUnavailable as exc:
            errors.append(f"{source}: {exc}")
    raise DataUnavailable(f"{what} not found: " + "; ".join(errors))


# ---- GLUE SST-2 -------------------------------------------------------------------------------
SST2_LABELS = ("negative", "positive")


def sst2(split: str) -> LabeledData:
    """GLUE SST-2 (`sentence\\tlabel`, 0 negative, 1 positive): local copy, else the hub."""
    if split not in ("train", "validation"):
        raise DataError(f"SST-2 has labelled splits train and validation, not {split!r}")
    frame, source = local_hub_or_embedded(f"sst2/{split}.tsv", "glue", "sst2", split, "SST-2")
    return labeled(frame, SST2_LABELS, name=f"sst2-{split}", columns={"text": "sentence"}
                   ).with_notes([source_note(source, f"SST-2 {split}")])


# ---- German-French pairs (OPUS-100 layout) --------------------------------------------------
def translation_pairs(split: str, source: str = "de", target: str = "fr", *,
                      with_source: bool = False):
    """`{"translation": {"de": ..., "fr": ...}}` lines: local Multi30K copy, else OPUS-100 de-fr,
    else the embedded sample; with `with_source`, also which of them ("local", "hub", ...)."""
    frame, origin = local_hub_or_embedded(f"translation_de_fr/{split}.jsonl", "Helsinki-NLP/opus-100",
                                     "de-fr", split, "de-fr pairs")
    if "translation" not in frame.columns:
        raise DataError(f"translation data ({split}) has no 'translation' column; columns are "
                        f"{list(frame.columns)}")
    pairs = []
    for i, item in enumerate(frame["translation"]):
        if not isinstance(item, dict) or source not in item or target not in item:
            raise DataError(f"translation data ({split}) row {i} is not a {source}-{target} pair: "
                            f"{item!r}")
        pairs.append((item[source], item[target]))
    return (pairs, origin) if with_source else pairs


# ---- SQuAD v2.0 (the 5-article dev file of the studies) ---------------------------------------
def squad_file(name: str = "dev-v2.0-5articles.json") -> tuple[Path, str]:
    """The SQuAD JSON file: local copy, else the project's embedded copy; and its source."""
    errors = []
    for source in ("local", "embedded"):
        try:
            path = _source_dir(source, "squad") / name
            if path.exists():
                return path, source
            errors.append(f"{source}: {path} not found")
        except DataUnavailable as exc:
            errors.append(f"{source}: {exc}")
    raise DataUnavailable("SQuAD data not found: " + "; ".join(errors))
