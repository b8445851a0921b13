"""Sequential claims: anytime-valid betting e-processes that stop once a claim is settled,
never hold on an inconclusive sequence, keep their false-claim rate under continuous
monitoring, and agree with the betting confidence sequence of the method's authors (confseq)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from lmgate import ClaimFailed, EvalResult, assert_better, assert_equivalent, assert_non_inferior
from lmgate.stats.listeners import ClaimInconclusive
from lmgate.stats.sequential import BettingProcess, SequentialPolicy, grid_with

LABELS = ("neg", "pos")


def system(y: np.ndarray, rate: float, seed: int) -> np.ndarray:
    right = np.random.default_rng(seed).random(y.size) < rate
    return np.where(right, y, 1 - y)


def results(n: int, a_rate: float, b_rate: float, seed: int = 0, clusters=None):
    y = np.random.default_rng(seed).integers(0, 2, n)
    return (EvalResult("A", LABELS, y, system(y, a_rate, seed + 1), clusters=clusters),
            EvalResult("B", LABELS, y, system(y, b_rate, seed + 2), clusters=clusters))


def test_a_clear_effect_settles_on_a_fraction_of_the_examples_with_the_fixed_n_verdict():
    a, b = results(2000, 0.9, 0.75)
    fixed = assert_better(a, b, "accuracy")
    cmp = assert_better(a, b, "accuracy", sequential=True)
    assert cmp.stopped == "settled: held" and cmp.examples_used <= 400
    assert fixed.p_value < 0.05 and cmp.p_value <= 0.05
    assert cmp.diff.low <= cmp.diff.point <= cmp.diff.high


def test_a_reversed_effect_settles_as_failed_early():
    a, b = results(2000, 0.75, 0.9)
    with pytest.raises(ClaimFailed) as failed:
        assert_better(a, b, "accuracy", sequential=True)
    cmp = failed.value.comparison
    assert not isinstance(failed.value, ClaimInconclusive)
    assert cmp.stopped == "settled: failed" and cmp.examples_used < 2000 and cmp.diff.high <= 0


def test_no_effect_is_inconclusive_never_held_and_says_how_far_it_went():
    a, b = results(600, 0.8, 0.8)
    with pytest.raises(ClaimInconclusive, match="inconclusive") as failed:
        assert_better(a, b, "accuracy", sequential=True)
    assert failed.value.comparison.examples_used == 600
    with pytest.raises(ClaimInconclusive, match="budget spent after 100 of 600"):
        assert_better(a, b, "accuracy", sequential=SequentialPolicy(budget=100))


def test_an_inconclusive_claim_may_be_skipped_by_its_policy_never_passed(pytester):
    pytester.makepyfile(test_s='''
import numpy as np
from lmgate import EvalResult, assert_better
from lmgate.stats.sequential import SequentialPolicy
y = np.array([0, 1] * 200)
a = EvalResult("a", ("n", "p"), y, np.where(np.arange(400) % 5 == 0, 1 - y, y))
b = EvalResult("b", ("n", "p"), y, np.where(np.arange(400) % 5 == 1, 1 - y, y))

def test_skipped():
    assert_better(a, b, "accuracy", sequential=SequentialPolicy(on_inconclusive="skip"))

def test_failed():
    assert_better(a, b, "accuracy", sequential=True)
''')
    result = pytester.runpytest("-rs")
    result.assert_outcomes(skipped=1, failed=1)
    result.stdout.fnmatch_lines(["*inconclusive (examples exhausted after 400 of 400*"])


def test_equivalence_and_non_inferiority_settle_sequentially():
    a, b = results(4000, 0.8, 0.8, seed=3)
    cmp = assert_equivalent(a, b, "accuracy", margin=0.1, sequential=True)
    assert cmp.stopped == "settled: held" and cmp.examples_used < 4000
    cmp = assert_non_inferior(a, b, "accuracy", margin=0.1, sequential=True)
    assert cmp.stopped == "settled: held" and cmp.examples_used < 4000


def test_metrics_that_are_not_means_of_per_example_scores_are_refused():
    a, b = results(200, 0.9, 0.7)
    with pytest.raises(ValueError, match="macro_f1 is not a mean of per-example scores"):
        assert_better(a, b, "macro_f1", sequential=True)


def test_clusters_are_the_units_drawn():
    clusters = np.repeat(np.arange(100), 10)
    a, b = results(1000, 0.9, 0.7, clusters=clusters)
    cmp = assert_better(a, b, "accuracy", sequential=SequentialPolicy(batch_size=10,
                                                                       min_examples=10))
    assert cmp.units == 100 and cmp.examples_used % 10 == 0


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 120), seed=st.integers(0, 1000), a_rate=st.floats(0, 1),
       b_rate=st.floats(0, 1), batch=st.integers(1, 60))
def test_a_sequential_claim_is_held_only_with_its_evidence(n, seed, a_rate, b_rate, batch):
    a, b = results(n, a_rate, b_rate, seed)
    policy = SequentialPolicy(batch_size=batch, min_examples=1, seed=seed)
    try:
        cmp = assert_better(a, b, "accuracy", sequential=policy)
    except ClaimFailed as failed:
        cmp = failed.comparison
        assert cmp.stopped != "settled: held"
        return
    assert n >= 5 and cmp.p_value <= 0.05 and cmp.stopped == "settled: held"
    assert 0 < cmp.examples_used <= n


def test_false_claims_stay_below_alpha_under_continuous_monitoring():
    """Monitored after every batch of 20, at the null's boundary (equal accuracy), a claim of
    A beating B is made in at most alpha of the replicates (the benchmark runs 2,000)."""
    held = 0
    replicates = 150
    for r in range(replicates):
        a, b = results(400, 0.7, 0.7, seed=10 * r)
        try:
            assert_better(a, b, "accuracy", sequential=SequentialPolicy(batch_size=20,
                                                                         min_examples=20))
            held += 1
        except ClaimFailed:
            pass
    assert held / replicates <= 0.05


def test_the_betting_confidence_sequence_matches_confseq(monkeypatch):
    """The hedged-capital betting CS with predictable plug-in bets (Waudby-Smith & Ramdas
    2023), against the implementation of the method's authors."""
    # confseq 0.0.11 still names np.float_, which NumPy 2 removed: restored for its import.
    monkeypatch.setattr(np, "float_", np.float64, raising=False)
    betting = pytest.importorskip("confseq.betting", reason="confseq needs Boost headers "
                                  "(libboost-dev) to build; .ci/run installs both")
    x = np.random.default_rng(4).beta(2, 5, 300)
    process = BettingProcess(grid_with([]), alpha=0.05)
    process.update(x)
    low, high = process.interval()
    theirs_low, theirs_high = betting.betting_cs(x, alpha=0.05, breaks=2000, parallel=False)
    assert low == pytest.approx(theirs_low[-1], abs=2e-3)
    assert high == pytest.approx(theirs_high[-1], abs=2e-3)


def test_the_capital_is_the_product_of_predictable_bets():
    """The e-process by hand on a short sequence: lambda_t from the observations before t."""
    xs = np.array([0.9, 0.2, 0.7, 1.0, 0.4])
    m = 0.5
    process = BettingProcess(grid_with([m]), alpha=0.05)
    process.update(xs)
    capital, total, squares = 1.0, 0.0, 0.0
    for t, x in enumerate(xs, start=1):
        mean, var = (0.5 + total) / t, (0.25 + squares) / t
        lam = min(math.sqrt(2 * math.log(2 / 0.05) / (var * t * math.log(1 + t))), 0.5 / m)
        capital *= 1 + lam * (x - m)
        squares += (x - mean) ** 2
        total += x
    assert math.exp(process.log_capital_above(m)) == pytest.approx(capital)


def test_e_bh_rejects_the_largest_e_values_that_clear_m_over_alpha_k():
    from lmgate.stats.sequential import e_bh

    # m = 4, alpha = 0.1: thresholds m / (alpha k) = 40, 20, 13.3, 10.
    assert e_bh([50.0, 25.0, 1.0, 12.0], 0.1) == [True, True, False, False]
    assert e_bh([11.0, 11.0, 11.0, 11.0], 0.1) == [True] * 4       # k = 4: 11 >= 10
    assert e_bh([39.0, 1.0, 1.0, 1.0], 0.1) == [False] * 4
    assert e_bh([], 0.1) == []


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0, 1e6), max_size=30), st.floats(0.001, 0.5))
def test_e_bh_rejections_are_a_top_set_each_with_enough_evidence(e_values, alpha):
    from lmgate.stats.sequential import e_bh

    rejected = e_bh(e_values, alpha)
    k = sum(rejected)
    if k:
        assert min(e for e, r in zip(e_values, rejected) if r) >= len(e_values) / (alpha * k)
        assert all(e <= min(e for e, r in zip(e_values, rejected) if r)
                   for e, r in zip(e_values, rejected) if not r)


def test_the_session_reports_sequential_claims_under_e_bh(pytester):
    pytester.makepyfile(test_s='''
import numpy as np
import pytest
from lmgate import EvalResult, assert_better
y = np.array([0, 1] * 300)
rng = np.random.default_rng(0)

@pytest.mark.parametrize("k", range(3))
def test_claim(k, record):
    a = EvalResult("a", ("n", "p"), y, np.where(rng.random(600) < 0.92, y, 1 - y))
    b = EvalResult("b", ("n", "p"), y, np.where(rng.random(600) < 0.75, y, 1 - y))
    record(a, b)
    assert_better(a, b, "accuracy", sequential=True)
''')
    result = pytester.runpytest("--lmgate-results-dir", "out")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["sequential claims: * of 3 remain discoveries under e-BH at "
                                 "FDR 0.05 (3 held alone)*"])
    assert "under e-BH" in (pytester.path / "out" / "summary.md").read_text()


def test_a_capital_lost_below_float_range_reports_p_one_not_a_division_by_zero():
    """Betting against a false claim over a very long sequence can lose the capital below
    float range (e = 0.0); its p is 1 and the claim fails, with no ZeroDivisionError."""
    from lmgate.stats.sequential import SequentialOutcome

    lost = SequentialOutcome(False, "settled: failed", 10, 10, 10, -0.5, -0.6, -0.4, 0.0)
    assert lost.p_value == 1.0
    assert SequentialOutcome(True, "settled: held", 10, 10, 10, 0.5, 0.4, 0.6, 40.0).p_value \
        == 1 / 40


class PerExample:
    """A user's result giving its own per-example scores (`per_example(metric)`)."""

    def __init__(self, name, scores, clusters=None, scale=1.0, n=None):
        self.name, self._scores, self._clusters, self._scale = name, scores, clusters, scale
        self.n = len(scores) if n is None else n
        self.params, self.info, self.metrics = {}, {}, {}

    def examples_key(self):
        return tuple(range(self.n))

    def resampled(self, metric, n_resamples, seed, clusters=None):
        raise NotImplementedError

    def predictions(self):
        return {}

    def __getitem__(self, metric):
        return 0.0

    def per_example(self, metric):
        return self._scores, self._clusters, self._scale


@pytest.mark.parametrize("scores, kwargs, message", [
    ([1.0] * 3 + [float("nan")] + [1.0] * 196, {}, "finite and within"),
    ([5.6] * 200, {}, "finite and within"),
    ([80.0] * 200, {"scale": 100}, "finite and within"),
    ([1.0] * 200, {"scale": 0}, "positive number"),
    ([1.0] * 10, {"n": 200}, "expected 200 per-example"),
    ([1.0] * 200, {"clusters": list(range(20))}, "20 cluster ids for 200"),
])
def test_per_example_scores_are_checked_before_a_sequential_claim_leans_on_them(scores, kwargs,
                                                                              message):
    a = PerExample("A", scores, **kwargs)
    b = PerExample("B", [0.0] * len(scores), **{k: v for k, v in kwargs.items() if k != "scale"})
    with pytest.raises(ValueError, match=message):
        assert_better(a, b, "accuracy", sequential=SequentialPolicy(batch_size=10,
                                                                     min_examples=10))


def test_clusters_of_unequal_size_are_refused_not_weighed_alike():
    """One big cluster where A is wrong, many small ones where B is: accuracy favours B, a
    cluster-level e-process would favour A."""
    y = np.array([0, 1] * 230)
    clusters = np.array([0] * 400 + list(range(1, 61)))
    a = EvalResult("A", LABELS, y, np.where(clusters == 0, 1 - y, y), clusters=clusters)
    b = EvalResult("B", LABELS, y, np.where(clusters == 0, y, 1 - y), clusters=clusters)
    with pytest.raises(ValueError, match="clusters of equal size"):
        assert_better(a, b, "accuracy", sequential=True)


def test_questions_about_one_passage_are_one_unit_in_a_sequential_claim():
    from lmgate import QAResult
    from lmgate.data import Question

    qs = [Question(f"q{i}", "who?", "one passage", ("alpha beta",) if i % 2 else (), (0,)
                   if i % 2 else ()) for i in range(60)]
    right = QAResult("A", qs, {q.id: "alpha beta" if q.answers else "" for q in qs})
    wrong = QAResult("B", qs, {q.id: "zzz" for q in qs})
    for metric in ("f1", "HasAns_f1", "NoAns_f1"):
        with pytest.raises(ClaimFailed, match=r"too few examples to judge \(n = 1"):
            assert_better(right, wrong, metric, sequential=SequentialPolicy(batch_size=10,
                                                                             min_examples=10))
