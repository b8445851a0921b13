import pandas as pd
import pytest

from lmgate.data import LabeledData, labeled, read_table
from lmgate.data.sources import (SENTIMENT_HUB_LABEL_IDS, SENTIMENT_LABELS, multilingual_sentiment,
                                 sentiment_frame_to_data)
from lmgate.core.errors import DataError, DataUnavailable


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
