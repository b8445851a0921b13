"""SQuAD metrics against hand-worked examples and properties; preprocessing to token spans."""

import json

import pytest
from hypothesis import given, settings, strategies as st

from lmgate.core.cache import RunCache
from lmgate.core.errors import DataError
from lmgate.metrics.qa import exact_match, normalize_answer, squad_v2, text_metrics, token_f1
from lmgate.models.store.tiny import train_tokenizer
from lmgate.methods.span_head import make_windows
from lmgate.data.squad import Question, read_squad
from lmgate.results.qa import QAResult

answers = st.lists(st.sampled_from("the a Normans France 10th century in and of Rollo".split()),
                   min_size=0, max_size=6).map(" ".join)


def test_hand_worked_squad_v2():
    preds = {"q1": "France", "q2": "", "q3": "the 10th century", "q4": "Rollo"}
    golds = {"q1": ["France", "in France"], "q2": [], "q3": ["10th and 11th centuries"], "q4": []}
    m = squad_v2(preds, golds)
    # q3: pred tokens {10th, century}, gold {10th, and, 11th, centuries}: P 1/2, R 1/4, F1 1/3.
    assert token_f1("the 10th century", "10th and 11th centuries") == pytest.approx(1 / 3)
    assert m["exact"] == pytest.approx(100 * 2 / 4)             # q1, q2
    assert m["f1"] == pytest.approx(100 * (1 + 1 + 1 / 3 + 0) / 4)
    assert (m["HasAns_exact"], m["NoAns_exact"]) == (50.0, 50.0)
    assert m["HasAns_total"] == m["NoAns_total"] == 2
    # Answering only below na_prob 0.1 (q1) and abstaining elsewhere gives 3/4 exact.
    best = squad_v2(preds, golds, {"q1": 0.1, "q2": 0.9, "q3": 0.2, "q4": 0.8})
    assert best["best_exact"] == pytest.approx(75.0) and best["best_exact_thresh"] == 0.1
    with pytest.raises(ValueError, match="have no prediction"):
        squad_v2({"q1": "x"}, golds)


@settings(max_examples=100, deadline=None)
@given(pred=answers, gold=answers)
def test_em_le_f1_and_perfect_is_100(pred, gold):
    assert exact_match(pred, gold) <= token_f1(pred, gold) + 1e-12
    assert token_f1(gold, gold) == 1.0 and exact_match(gold, gold) == 1.0
    assert token_f1(pred, gold) == pytest.approx(token_f1(gold, pred))
    golds = {"a": [gold] if normalize_answer(gold) else [], "b": ["France"]}
    perfect = squad_v2({"a": gold if normalize_answer(gold) else "", "b": "France"}, golds)
    assert perfect["exact"] == perfect["f1"] == 100.0


def test_metrics_ignore_question_order():
    preds = {"q1": "France", "q2": "Rollo", "q3": ""}
    golds = {"q1": ["France"], "q2": ["Rollo the Viking"], "q3": []}
    reordered = {k: golds[k] for k in ("q3", "q1", "q2")}
    assert squad_v2(preds, golds) == squad_v2(preds, reordered)
    perfect = text_metrics(["in France"], ["in France"])
    # METEOR keeps its fragmentation penalty: 1 - 0.5 x (1 chunk / 2 matches)^3.
    assert perfect["rouge1"] == perfect["rougeL"] == 100.0
    assert perfect["meteor"] == pytest.approx(93.75)


def test_answers_map_to_token_spans_with_stride(tmp_path):
    context = "The Normans were in Normandy. " * 12 + "Their leader was Rollo of Norway."
    start = context.index("Rollo")
    doc = {"data": [{"title": "t", "paragraphs": [{"context": context, "qas": [
        {"id": "a", "question": "Who led them?", "answers": [{"text": "Rollo", "answer_start": start}],
         "is_impossible": False},
        {"id": "b", "question": "Who was king?", "answers": [], "is_impossible": True}]}]}]}
    path = tmp_path / "squad.json"
    path.write_text(json.dumps(doc))
    questions = read_squad(path)
    tokenizer = train_tokenizer([context, "Who led them? Who was king?"], cache=RunCache(tmp_path))
    windows = make_windows(tokenizer, questions, max_length=32, stride=8)
    assert len(windows.input_ids) > 2                     # long context -> several windows
    found = [(w, s, e) for w, (qi, s, e) in enumerate(zip(windows.question_index, windows.start,
                                                            windows.end)) if qi == 0 and s > 0]
    assert found, "the answer must fall inside at least one window"
    w, s, e = found[0]
    offs = windows.offsets[w]
    assert context[offs[s][0]:offs[e][1]] == "Rollo"
    assert all(s == e == 0 for qi, s, e in zip(windows.question_index, windows.start, windows.end)
               if qi == 1)                                # unanswerable -> (0, 0)
    doc["data"][0]["paragraphs"][0]["qas"][0]["answers"][0]["answer_start"] = 3
    path.write_text(json.dumps(doc))
    with pytest.raises(DataError, match="is not at offset 3"):
        read_squad(path)


def test_qa_intervals_follow_the_squad_metrics():
    from lmgate.data.squad import Question
    from lmgate.results.qa import QAResult

    questions = [Question(f"q{i}", "who?", f"context {i % 4}", ("Rollo",) if i % 3 else (), (0,) if i % 3 else ())
                 for i in range(24)]
    answers = {q.id: ("Rollo" if i % 2 else "") for i, q in enumerate(questions)}
    result = QAResult("sys", questions, answers)
    intervals = result.intervals()
    assert set(intervals) == {"f1", "HasAns_f1", "NoAns_f1"}
    for metric, ci in intervals.items():   # 0-100 like the metrics, resampling contexts
        assert ci.point == pytest.approx(result[metric])
        assert 0 <= ci.low <= ci.point <= ci.high <= 100


def _qa_systems():
    from lmgate.data.squad import Question
    from lmgate.results.qa import QAResult

    questions = [Question(f"q{i}", "who?", f"context {i % 6}", ("Rollo",) if i % 3 else (),
                          (0,) if i % 3 else ()) for i in range(60)]
    good = {q.id: ("Rollo" if q.answers or i % 4 == 0 else "") for i, q in enumerate(questions)}
    bad = {q.id: ("Rollo" if i % 5 == 0 else "Norway") for i, q in enumerate(questions)}
    return questions, QAResult("good", questions, good), QAResult("bad", questions, bad)


@pytest.mark.parametrize("metric", ["f1", "HasAns_f1", "NoAns_f1"])
def test_qa_claims_pair_whole_paragraphs_like_the_mean_bootstrap(metric):
    """`assert_better` on QA results is the paired bootstrap of mean per-question F1 over
    paragraphs, on SQuAD's 0-100 scale, for the subset the metric averages."""
    from lmgate import ClaimFailed, assert_better
    from lmgate.stats.paired import paired_bootstrap_means

    questions, good, bad = _qa_systems()
    keep = [{"f1": True, "HasAns_f1": bool(q.answers), "NoAns_f1": not q.answers}[metric]
            for q in questions]
    try:
        cmp = assert_better(good, bad, metric=metric)
    except ClaimFailed as failed:   # a subset on a few paragraphs: too few units to judge
        assert good.resampling_units(metric) < 5 and "too few examples to judge" in str(failed)
        cmp = failed.comparison
    by_hand = paired_bootstrap_means(
        good.per_question_f1[keep], bad.per_question_f1[keep], "good", "bad", metric,
        clusters=[q.context for q, k in zip(questions, keep) if k])
    assert cmp.a == pytest.approx(good[metric]) and cmp.b == pytest.approx(bad[metric])
    assert cmp.diff.point == pytest.approx(100 * by_hand.diff.point)
    assert (cmp.diff.low, cmp.diff.high) == pytest.approx((100 * by_hand.diff.low,
                                                           100 * by_hand.diff.high))
    # The bootstrap's p (or, where every paragraph differs alike, the sign test's floor).
    assert cmp.p_value == max(by_hand.p_value, 0.5 ** cmp.units if cmp.diff.low == cmp.diff.high
                              else 0)
    with pytest.raises(ClaimFailed, match="not better|too few"):
        assert_better(bad, good, metric=metric)


def test_qa_claims_refuse_other_questions_and_unknown_metrics():
    from lmgate import assert_better
    from lmgate.results.qa import QAResult

    questions, good, bad = _qa_systems()
    other = QAResult("other", questions[:30], {q.id: "Rollo" for q in questions[:30]})
    with pytest.raises(ValueError, match="not scored on the same examples"):
        assert_better(good, other, metric="f1")
    with pytest.raises(ValueError, match="cannot be resampled"):
        assert_better(good, bad, metric="exact")
    with pytest.raises(TypeError, match="cannot be compared"):
        assert_better(good, object(), metric="f1")


def test_official_script_edge_cases():
    """The official SQuAD v2 evaluate-v2.0.py: a gold that normalises to nothing is dropped
    beside a real one (an empty prediction no longer matches it), a question whose golds all
    normalise to nothing keeps '' (and still counts as HasAns); in the threshold sweep any
    non-empty prediction is an answer, even one that normalises to nothing."""
    golds = {"q1": ["the", "France"], "q2": ["a"], "q3": []}
    m = squad_v2({"q1": "", "q2": "", "q3": "the"}, golds)
    assert (m["HasAns_exact"], m["HasAns_total"]) == (50.0, 2)   # q1 scores 0, q2 scores 1
    assert m["NoAns_exact"] == 100.0                              # "the" normalises to ''
    # Sweep from "abstain everywhere" (1 of 3: q3): answering q3 ("the", na_prob 0.1) costs its
    # point (the official diff = -1), q1 adds 0, q2 adds 1: never above 1, so threshold 0.
    best = squad_v2({"q1": "", "q2": "", "q3": "the"}, golds, {"q1": 0.5, "q2": 0.5, "q3": 0.1})
    assert best["best_exact"] == pytest.approx(100 / 3) and best["best_exact_thresh"] == 0.0


@settings(max_examples=40, deadline=None)
@given(ids=st.lists(st.sampled_from(["q1", "q2", "q3", "56be4db0acb8001400a502ec"]), min_size=1,
                    max_size=6),
       paragraphs=st.integers(1, 3))
def test_question_ids_are_unique_or_refused(tmp_path_factory, ids, paragraphs):
    """Answers are keyed by question id: a repeated id (within a paragraph or across them) is
    refused by the reader and by the result, never scored as two questions with one answer."""
    context = "Paris is the capital of France."
    paras = [{"context": context, "qas": []} for _ in range(paragraphs)]
    for i, qid in enumerate(ids):
        answerable = i % 2 == 0
        paras[i % paragraphs]["qas"].append(
            {"id": qid, "question": f"Question {i}?", "is_impossible": not answerable,
             "answers": [{"text": "Paris", "answer_start": 0}] if answerable else []})
    path = tmp_path_factory.mktemp("squad") / "dev.json"
    path.write_text(json.dumps({"version": "v2.0", "data": [{"title": "t", "paragraphs": paras}]}))
    twice = {q for q in ids if ids.count(q) > 1}
    if not twice:
        questions = read_squad(path)
        assert [q.id for q in questions] == sorted(ids, key=lambda q: (ids.index(q) % paragraphs,
                                                                        ids.index(q)))
        assert QAResult("sys", questions, {q: "Paris" for q in ids}).n == len(ids)
        return
    with pytest.raises(DataError, match="appears more than once") as error:
        read_squad(path)
    assert str(path) in str(error.value)
    assert any(repr(q) in str(error.value) for q in twice)
    # The result refuses them too, whoever built the questions.
    questions = [Question(q, "?", context, ("Paris",), (0,)) for q in ids]
    with pytest.raises(ValueError, match="appears more than once") as error:
        QAResult("sys", questions, {q: "Paris" for q in ids})
    assert any(repr(q) in str(error.value) for q in twice)
