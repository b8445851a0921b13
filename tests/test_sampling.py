import warnings

import pytest
from hypothesis import given, settings, strategies as st

from lmgate.data import ShortCellWarning, balanced, stratified_split, train_val_test
from lmgate.core.errors import DataError

from conftest import make_data

cell_sizes = st.dictionaries(
    keys=st.tuples(st.sampled_from(["en", "fr", "ja"]), st.integers(0, 2)),
    values=st.integers(1, 30), min_size=1, max_size=9)


def full_grid(cells):
    """Ensure every language has every label so balancing by (language, label) is possible."""
    langs = {lang for lang, _ in cells}
    return {(lang, label): cells.get((lang, label), 1) for lang in langs for label in range(3)}


@settings(max_examples=60, deadline=None)
@given(cells=cell_sizes, n=st.integers(1, 25), seed=st.integers(0, 2**16))
def test_balanced_cells_are_exact_and_replace_only_when_short(cells, n, seed):
    cells = full_grid(cells)
    data = make_data(cells, labels=("a", "b", "c"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ShortCellWarning)
        out = balanced(data, n, seed=seed)
    counts = out.frame.groupby(["language", "label"]).size()
    assert (counts == n).all() and len(counts) == len(cells)
    for (lang, label), size in cells.items():
        texts = out.where(language=lang).frame.query("label == @label")["text"]
        assert texts.is_unique == (size >= n) or size == 1 and n == 1
        assert set(texts) <= {f"{lang}-{label}-{i}" for i in range(size)}
    short = [c for c, size in cells.items() if size < n]
    assert len([m for m in out.notes if "replacement" in m]) == len(short)


@settings(max_examples=30, deadline=None)
@given(cells=cell_sizes, n=st.integers(1, 25), seed=st.integers(0, 2**16))
def test_balanced_is_deterministic_per_seed(cells, n, seed):
    data = make_data(full_grid(cells), labels=("a", "b", "c"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ShortCellWarning)
        a, b = balanced(data, n, seed=seed), balanced(data, n, seed=seed)
    assert a.texts == b.texts


def test_short_cell_warns_and_records(toy_data):
    with pytest.warns(ShortCellWarning, match="has 3 rows < 5"):
        out = toy_data.balanced(5, seed=1)
    assert any("language': 'fr'" in n and "label': 1" in n for n in out.notes)


def test_empty_cell_is_an_error(toy_data):
    data = make_data({("en", 0): 5, ("en", 1): 5, ("ms", 0): 5})
    with pytest.raises(DataError, match=r"empty cell \(language=ms, label='pos'\)"):
        data.balanced(2)


def test_balance_by_missing_column(toy_data):
    with pytest.raises(DataError, match="missing column"):
        toy_data.balanced(2, by=("group", "label"))


@settings(max_examples=60, deadline=None)
@given(sizes=st.lists(st.integers(3, 60), min_size=2, max_size=4), seed=st.integers(0, 999),
       fractions=st.sampled_from([(0.8, 0.1, 0.1), (0.8, 0.2), (0.5, 0.25, 0.25)]))
def test_stratified_split_partitions_and_stratifies(sizes, seed, fractions):
    data = make_data({("en", i): n for i, n in enumerate(sizes)},
                     labels=tuple(f"l{i}" for i in range(len(sizes))))
    if any(round(f * n) == 0 for f in fractions for n in [sum(sizes)]):
        return
    try:
        parts = stratified_split(data, fractions, seed=seed)
    except DataError:
        return  # a part would be empty: reported, not silently produced
    texts = [set(p.texts) for p in parts]
    assert sum(len(t) for t in texts) == len(data)                  # nothing lost
    assert set().union(*texts) == set(data.texts)                   # nothing invented
    assert all(a.isdisjoint(b) for i, a in enumerate(texts) for b in texts[i + 1:])  # no leakage
    for part, frac in zip(parts, fractions):
        for label, n in enumerate(sizes):
            assert abs(int((part.y == label).sum()) - frac * n) <= 1
    again = stratified_split(data, fractions, seed=seed)
    assert [p.texts for p in again] == [p.texts for p in parts]


def test_train_val_test_default_is_80_10_10():
    data = make_data({("en", 0): 50, ("en", 1): 50})
    splits = train_val_test(data, seed=3)
    assert (len(splits.train), len(splits.validation), len(splits.test)) == (80, 10, 10)
    assert splits.train.label_counts() == {"neg": 40, "pos": 40}


def test_bad_fractions():
    with pytest.raises(DataError, match="sum to 1"):
        stratified_split(make_data({("en", 0): 5, ("en", 1): 5}), (0.5, 0.3))
