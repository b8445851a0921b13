"""BLEU/chrF via sacrebleu, the paired bootstrap on sufficient statistics, synthetic-data filters."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from lmgate.data.synthetic import filter_pairs, synthesize_by_translation
from lmgate.core.errors import DataError
from lmgate.methods.translation import check_pairs
from lmgate.results.generation import GenerationResult
from lmgate.stats.claims import assert_better_bleu
from lmgate.metrics.generation import bleu_from_statistics
from lmgate.stats.paired import paired_bootstrap_bleu

REFS = ["un homme avec un chapeau orange", "deux chiens jouent dans la neige",
        "une femme lit un livre au parc", "des enfants courent sur la plage"]
words = st.lists(st.sampled_from("un une le la chien chat homme femme court joue dans parc".split()),
                 min_size=1, max_size=8).map(" ".join)


def result(name, hyps, refs=REFS):
    return GenerationResult(name, [f"src {i}" for i in range(len(refs))], hyps, refs)


def test_corpus_bleu_matches_sacrebleu_and_statistics():
    import sacrebleu

    hyps = ["un homme avec un chapeau", "deux chiens dans la neige", "une femme lit", "enfants"]
    r = result("x", hyps)
    assert r["bleu"] == pytest.approx(sacrebleu.corpus_bleu(hyps, [REFS]).score)
    assert bleu_from_statistics(r.stats) == pytest.approx(r["bleu"])
    assert r["chrf"] == pytest.approx(sacrebleu.corpus_chrf(hyps, [REFS]).score)
    assert "tok:13a" in r.info["bleu_signature"]


@settings(max_examples=30, deadline=None)
@given(hyps=st.lists(words, min_size=4, max_size=4))
def test_bleu_invariants(hyps):
    r = result("h", hyps)
    assert 0 <= r["bleu"] <= 100 and 0 <= r["chrf"] <= 100
    assert result("perfect", REFS)["bleu"] == pytest.approx(100.0)
    order = [2, 0, 3, 1]
    shuffled = GenerationResult("s", [f"src {i}" for i in order], [hyps[i] for i in order],
                                [REFS[i] for i in order])
    assert shuffled["bleu"] == pytest.approx(r["bleu"])


def test_paired_bootstrap_prefers_the_better_system():
    refs = REFS * 10
    good = result("good", refs, refs)
    bad = result("bad", ["le chat"] * len(refs), refs)
    cmp = assert_better_bleu(good, bad)
    assert cmp.diff.low > 0 and cmp.p_value < 0.05
    with pytest.raises(AssertionError, match="not better"):
        assert_better_bleu(bad, good)
    with pytest.raises(ValueError, match="not scored on the same examples"):
        paired_bootstrap_bleu(good, result("other", REFS))


def test_synthetic_filters_account_for_every_drop():
    test = [("Ein Hund.", "Un chien.")]
    candidates = [("Ein Mann läuft.", "Un homme court."), ("Ein Mann läuft.", "Un homme court."),
                  ("Eine Frau.", ""), ("Kopie bleibt.", "Kopie bleibt."),
                  ("Ein sehr langer deutscher Satz hier.", "Oui."), ("Ein Hund.", "Un chien."),
                  ("Zwei Katzen.", "Deux chats.")]
    kept, dropped = filter_pairs(candidates, test_pairs=test)
    assert kept == [("Ein Mann läuft.", "Un homme court."), ("Zwei Katzen.", "Deux chats.")]
    assert dropped == {"duplicate": 1, "empty": 1, "copy of source": 1, "length ratio": 1,
                       "overlaps test set": 1}
    assert len(kept) + sum(dropped.values()) == len(candidates)
    made = synthesize_by_translation(lambda xs: [x.upper() + " fr" for x in xs], ["a b", "c d"],
                                     teacher_name="upper")
    assert made.report() == {"teacher": "upper", "requested": 2, "kept": 2, "dropped": {}}


def test_bad_pairs_are_clear_errors():
    with pytest.raises(DataError, match="row 1 has an empty or non-text side"):
        check_pairs([("a", "b"), ("c", " ")], "train pairs")
    with pytest.raises(DataError, match="row 0 is not a \\(source, target\\) pair"):
        check_pairs([("a", "b", "c")], "train pairs")
    with pytest.raises(DataError, match="no pairs"):
        check_pairs([], "train pairs")


def test_bleu_and_chrf_intervals_bracket_the_corpus_scores():
    refs = REFS * 8
    hyps = ["un homme avec un chapeau", "deux chiens dans la neige", "une femme lit", "enfants"] * 8
    r = result("x", hyps, refs)
    intervals = r.intervals()
    assert set(intervals) == {"bleu", "chrf"}
    for metric, ci in intervals.items():
        assert ci.point == pytest.approx(r[metric]) and ci.low < r[metric] < ci.high
    # A perfect system's chrF cannot vary under resampling.
    perfect = result("perfect", refs, refs).chrf_ci()
    assert perfect.low == perfect.high == pytest.approx(100.0)


def test_claims_on_bleu_are_the_paired_sentence_bootstrap():
    """`assert_better(..., metric="bleu")` resamples sentences from per-sentence statistics,
    the same draws as the corpus-BLEU CI (Koehn 2004); chrF the same way."""
    from lmgate import assert_better
    from lmgate.metrics.generation import bleu_from_statistics
    from lmgate.metrics.resampling import resample_index

    refs = REFS * 10
    good = result("good", [r if i % 3 else "le chat" for i, r in enumerate(refs)], refs)
    bad = result("bad", ["le chat"] * len(refs), refs)
    cmp = assert_better(good, bad, metric="bleu")
    index = resample_index(len(refs), 1000, 0)
    diffs = np.array([bleu_from_statistics(good.stats[i]) - bleu_from_statistics(bad.stats[i])
                      for i in index])
    assert cmp.diff.point == pytest.approx(good["bleu"] - bad["bleu"])
    assert cmp.p_value == pytest.approx((1 + np.count_nonzero(diffs <= 0)) / (len(diffs) + 1))
    assert (cmp.diff.low, cmp.diff.high) == pytest.approx(tuple(np.quantile(diffs, [0.025, 0.975])))
    chrf = assert_better(good, bad, metric="chrf")
    assert chrf.a == pytest.approx(good["chrf"]) and chrf.diff.low > 0
