import os
import tempfile
from pathlib import Path
from unittest import mock

import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from lmgate.data import LabeledData, labeled, read_table
from lmgate.core.config import DATA_SOURCES
from lmgate.core.errors import DataError, DataUnavailable

from fixtures.datasets import (SENTIMENT_HUB_LABEL_IDS, SENTIMENT_LABELS, multilingual_sentiment,
                               sentiment_frame_to_data)


def frame(**cols):
    return pd.DataFrame(cols)


def test_missing_column_names_the_columns():
    with pytest.raises(DataError, match=r"missing column 'text'.*\['sentence', 'label'\]"):
        labeled(frame(sentence=["a"], label=[0]), ("neg", "pos"))


def test_column_mapping():
    data = labeled(frame(sentence=["a", "b"], label=["0", "1"]), ("neg", "pos"),
                   columns={"text": "sentence"})
    assert data.texts == ["a", "b"] and data.y.tolist() == [0, 1]


def test_unknown_label_name():
    with pytest.raises(DataError, match=r"label 'meh' is not in the declared label set"):
        labeled(frame(text=["a", "b"], label=["neg", "meh"]), ("neg", "pos"))


def test_label_id_outside_label_set():
    with pytest.raises(DataError, match="label 'pos'|outside"):
        LabeledData(frame(text=["a"], label=[2]), ("neg", "pos"))


def test_empty_text_and_empty_text_en():
    with pytest.raises(DataError, match="empty text at row 1"):
        labeled(frame(text=["a", "  "], label=[0, 1]), ("neg", "pos"))
    with pytest.raises(DataError, match="empty 'text_en' at row 0"):
        labeled(frame(text=["a", "b"], text_en=["", "b"], label=[0, 1]), ("neg", "pos"))


def test_empty_split():
    with pytest.raises(DataError, match="no examples"):
        LabeledData(frame(text=pd.Series([], dtype=str), label=pd.Series([], dtype="int64")),
                    ("neg", "pos"))


def test_label_set_needs_two_distinct_labels():
    with pytest.raises(DataError, match="at least 2"):
        labeled(frame(text=["a"], label=["x"]), ("x",))
    with pytest.raises(DataError, match="duplicate"):
        labeled(frame(text=["a"], label=["x"]), ("x", "x"))


def test_read_tsv_keeps_quotes(tmp_path):
    path = tmp_path / "d.tsv"
    path.write_text('sentence\tlabel\nit \'s a "great" film\t1\nnull\t0\n')
    table = read_table(path)
    assert table["sentence"].tolist() == ['it \'s a "great" film', "null"]


def test_read_table_missing_file_and_bad_suffix(tmp_path):
    with pytest.raises(DataUnavailable):
        read_table(tmp_path / "nope.csv")
    (tmp_path / "x.xml").write_text("<a/>")
    with pytest.raises(DataError, match="unsupported"):
        read_table(tmp_path / "x.xml")


def test_sentiment_sources_cannot_flip_labels():
    """The hub numbers classes 0=positive..2=negative, the local files 0=negative: map by name."""
    texts = ["I love it", "it is a phone", "I hate it"]
    names = ["positive", "neutral", "negative"]
    local = frame(text=texts, label=[SENTIMENT_LABELS.index(n) for n in names], label_name=names,
                  language=["en"] * 3)
    hub_ids = {v: k for k, v in SENTIMENT_HUB_LABEL_IDS.items()}
    hub = frame(text=texts, label=[hub_ids[n] for n in names], language=["en"] * 3)
    a = sentiment_frame_to_data(local, "local", "local")
    b = sentiment_frame_to_data(hub, "hub", "hub")
    assert a.y.tolist() == b.y.tolist() == [2, 1, 0]
    mixed = a.concat([b])
    assert [mixed.labels[i] for i in mixed.y] == names * 2
    # Reading hub ids as if they were local ids would flip positive and negative: caught.
    assert [SENTIMENT_LABELS[i] for i in hub["label"]] != names


def test_local_sentiment_id_and_name_must_agree():
    bad = frame(text=["x"], label=[0], label_name=["positive"], language=["en"])
    with pytest.raises(DataError, match="disagree"):
        sentiment_frame_to_data(bad, "local", "bad")


def test_sentiment_without_data_dir_is_unavailable(monkeypatch):
    monkeypatch.delenv("LMGATE_DATA_DIR", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DataUnavailable, match="LMGATE_DATA_DIR is not set"):
        multilingual_sentiment(["en"], source="local")


def test_sentiment_carves_validation_for_languages_without_one(tmp_path, monkeypatch):
    folder = tmp_path / "multilingual_sentiment"
    folder.mkdir()
    rows = lambda lang, n: [{"text": f"{lang}{i}", "label": i % 3, "language": lang,
                             "label_name": SENTIMENT_LABELS[i % 3]} for i in range(n)]
    pd.DataFrame(rows("ja", 60)).to_json(folder / "train.jsonl", orient="records", lines=True)
    pd.DataFrame(rows("ja", 30)).to_json(folder / "test.jsonl", orient="records", lines=True)
    monkeypatch.setenv("LMGATE_DATA_DIR", str(tmp_path))
    splits = multilingual_sentiment(["ja"], source="local")
    assert len(splits.validation) == 6 and len(splits.train) == 54
    assert set(splits.validation.texts).isdisjoint(splits.train.texts)
    assert splits.validation.label_counts() == {"negative": 2, "neutral": 2, "positive": 2}
    assert any("carved" in n for n in splits.notes)


# ---- the generic source chain (lmgate.load_source) and the provenance data carries ----------
FILE_GAPS = ("unset", "no folder", "no file")


@settings(max_examples=60, deadline=None)
@given(order=st.permutations(DATA_SOURCES), n_sources=st.integers(1, 3),
       available=st.sets(st.sampled_from(DATA_SOURCES)),
       gaps=st.fixed_dictionaries({"local": st.sampled_from(FILE_GAPS),
                                   "embedded": st.sampled_from(FILE_GAPS)}),
       hub_kind=st.sampled_from(("split", "callable", "none")))
def test_load_source_takes_the_first_source_that_has_the_data_and_names_every_failure(
        order, n_sources, available, gaps, hub_kind):
    """The first of `sources` (in their order) that has the data answers, with its provenance;
    when none has it, DataUnavailable names each source tried, and only those."""
    from lmgate.data import HubSplit, Provenance, load_source

    sources = order[:n_sources]
    with tempfile.TemporaryDirectory() as tmp, mock.patch.dict(os.environ, clear=False) as env:
        for source, variable in (("local", "LMGATE_DATA_DIR"),
                                 ("embedded", "LMGATE_EMBEDDED_DATA_DIR")):
            root = Path(tmp) / source
            env.pop(variable, None)
            if source in available or gaps[source] != "unset":
                env[variable] = str(root)
            if source in available or gaps[source] == "no file":
                (root / "reviews").mkdir(parents=True)
            if source in available:
                (root / "reviews" / "test.csv").write_text(f"text,label\n{source},neg\n")

        def from_hub(*_args) -> pd.DataFrame:
            if "hub" not in available:
                raise DataUnavailable("the hub is offline")
            return frame(text=["hub"], label=["neg"])

        hub = {"split": HubSplit("me/reviews", split="test"), "callable": from_hub,
               "none": None}[hub_kind]
        tried = [s for s in sources if s != "hub" or hub is not None]
        answering = next((s for s in tried if s in available), None)
        with mock.patch("lmgate.data.sources.load_hub", from_hub):
            if answering is None:
                with pytest.raises(DataUnavailable) as raised:
                    load_source("reviews/test.csv", hub, what="reviews test", sources=sources)
                message = str(raised.value)
                assert message.startswith("reviews test not found: ")
                named = [s for s in DATA_SOURCES if f"{s}: " in message]
                assert sorted(named) == sorted(tried)
                assert [message.index(f"{s}: ") for s in tried] == sorted(
                    message.index(f"{s}: ") for s in tried)
                return
            table, provenance = load_source("reviews/test.csv", hub, what="reviews test",
                                            sources=sources)
    assert table["text"].tolist() == [answering]
    assert provenance.source == answering and provenance.what == "reviews test"
    if answering != "hub":
        assert provenance.location == str(Path(tmp) / answering / "reviews" / "test.csv")
    elif hub_kind == "split":
        assert provenance.location == "me/reviews test"
    assert isinstance(provenance, Provenance)


def test_load_source_reads_with_the_reader_given_and_a_corrupt_copy_is_an_error(tmp_path,
                                                                                  monkeypatch):
    from lmgate.data import load_source

    folder = tmp_path / "reviews"
    folder.mkdir()
    (folder / "a.csv").write_text("text,label\nx,neg\n")
    monkeypatch.setenv("LMGATE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LMGATE_EMBEDDED_DATA_DIR", str(tmp_path))
    files, provenance = load_source("reviews", what="reviews",
                                    read=lambda path: sorted(p.name for p in path.iterdir()))
    assert files == ["a.csv"] and provenance.source == "local"
    assert provenance.location == str(folder)
    (folder / "a.csv").write_text("")   # a broken local copy never falls back to the sample
    with pytest.raises(DataError, match="empty"):
        load_source("reviews/a.csv", what="reviews")
    with pytest.raises(DataError, match="unknown data source"):
        load_source("reviews/a.csv", what="reviews", sources=("shared",))


@settings(max_examples=150, deadline=None)
@given(local=st.one_of(
    st.text(max_size=12),
    st.lists(st.sampled_from(["..", ".", "reviews", "test.csv", "", "/", "\\", "\0"]),
             min_size=1, max_size=4).map("/".join),
    st.sampled_from(["/etc/passwd", "../outside.csv", "reviews/../../outside.csv",
                     "..\\outside.csv"])))
def test_load_source_reads_nothing_outside_its_data_folders(local):
    """Whatever `local` says, the file read (and recorded as the local copy or the embedded
    sample) is under that source's folder, or DataError names `local` before any source is
    tried: an absolute path or `..` read a file anywhere, recorded as the project's sample."""
    from lmgate.data import load_source

    with tempfile.TemporaryDirectory() as tmp, mock.patch.dict(os.environ, clear=False) as env:
        roots = {source: Path(tmp) / "data" / source for source in ("local", "embedded")}
        env["LMGATE_DATA_DIR"], env["LMGATE_EMBEDDED_DATA_DIR"] = map(str, roots.values())
        for root in roots.values():
            (root / "reviews").mkdir(parents=True)
            (root / "reviews" / "test.csv").write_text("x")
        for outside in (Path(tmp) / "outside.csv", Path(tmp) / "data" / "outside.csv"):
            outside.write_text("x")
        read = []
        try:
            _, provenance = load_source(local, what="reviews", sources=("local", "embedded"),
                                        read=lambda path: read.append(path.resolve()))
        except DataError as exc:
            assert not read and "reviews" in str(exc)
            return
        except DataUnavailable:
            assert not read
            return
        root = roots[provenance.source].resolve()
        assert read and (read[0] == root or root in read[0].parents)


def test_provenance_is_kept_by_subsets_samples_splits_and_results():
    from lmgate.data import Provenance, train_val_test
    from lmgate.methods.baselines import majority_class

    local, hub = Provenance("local", "reviews", "/d/reviews.csv"), Provenance("hub", "more")
    data = labeled(frame(text=[f"t{i}" for i in range(60)], label=[i % 2 for i in range(60)],
                         language=["en", "en", "fr", "fr"] * 15), ("neg", "pos")
                   ).with_provenance(local)
    assert data.notes == ("data source of reviews: local copy ($LMGATE_DATA_DIR)",)
    assert data.with_provenance(local).provenance == (local,)   # each once
    for derived in (data.where(language="en"), data.balanced(5), data.with_text("text"),
                    data.with_notes(["a warning"])):
        assert derived.provenance == (local,)
    other = labeled(frame(text=["u", "v"], label=[0, 1]), ("neg", "pos")).with_provenance(hub)
    assert data.concat([other]).provenance == (local, hub)
    splits = train_val_test(data, seed=0)
    assert splits.provenance == (local,)
    assert splits.map(lambda split: split.where(language="fr")).provenance == (local,)
    result = majority_class(splits.train, splits.test)
    assert result.info["provenance"] == [local.as_dict()]
    assert majority_class(*[labeled(frame(text=["a", "b"], label=[0, 1]), ("neg", "pos"))] * 2
                          ).info["provenance"] == []
    with pytest.raises(DataError, match="data source 'shared'"):
        Provenance("shared", "reviews")
