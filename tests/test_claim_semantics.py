"""What a claim means: the margin is tested against the interval, tiny samples never pass, p is
never 0, only claims are counted and expected to fail, one result is one measurement; and the
claims' p-values cross-checked against scipy's exact and parametric tests where they apply."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from lmgate import (ClaimFailed, EvalResult, assert_above, assert_better, assert_equivalent,
                    assert_non_inferior, assert_not_worse)
from lmgate.stats.claims import min_units
from lmgate.stats.comparison import comparison_in_words
from lmgate.stats.paired import paired_bootstrap_means, paired_resamples

LABELS = ("neg", "pos")
CLAIMS = {
    "better": lambda a, b, m: assert_better(a, b, m),
    "non-inferior": lambda a, b, m: assert_non_inferior(a, b, m, margin=0.5),
    "equivalent": lambda a, b, m: assert_equivalent(a, b, m, margin=0.5),
    "not worse": lambda a, b, m: assert_not_worse(a, b, m),
    "above": lambda a, b, m: assert_above(a, 0.01, metric=m),
}


def correct_with(y: np.ndarray, rate: float, seed: int) -> np.ndarray:
    """Predictions right on about `rate` of the examples."""
    wrong = np.random.default_rng(seed).random(y.size) >= rate
    return np.where(wrong, 1 - y, y)


def pair(n: int = 400, a_rate: float = 0.85, b_rate: float = 0.795, seed: int = 0):
    y = np.random.default_rng(seed).integers(0, 2, n)
    return (EvalResult("A", LABELS, y, correct_with(y, a_rate, seed + 1)),
            EvalResult("B", LABELS, y, correct_with(y, b_rate, seed + 2)))


# -- a margin is tested, not compared with the point estimate ---------------------------------

def test_a_margin_is_tested_against_the_interval_not_the_point_estimate():
    a, b = pair()
    point_a, point_b, diffs, _ = paired_resamples(a, b, "accuracy", 1000, 0)
    margin = 0.05
    assert point_a - point_b > margin                     # the point clears the margin ...
    assert np.quantile(diffs, 0.05) < margin              # ... its one-sided bound does not
    with pytest.raises(ClaimFailed, match=r"H0: A - B <= \+0\.0500 not rejected") as failed:
        assert_better(a, b, "accuracy", margin=margin)
    cmp = failed.value.comparison
    # The printed p is the p of the hypothesis that decided (Δ <= margin), not of Δ <= 0.
    assert cmp.p_value == pytest.approx((1 + np.count_nonzero(diffs <= margin + 1e-12)) / 1001)
    assert cmp.p_value > 0.05 and cmp.hypothesis == "H0: A - B <= +0.0500"


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), gap=st.floats(0.0, 0.25), margin=st.floats(0.0, 0.2),
       metric=st.sampled_from(["macro_f1", "accuracy"]))
def test_a_held_margin_claim_has_its_one_sided_bound_above_the_margin(seed, gap, margin, metric):
    a, b = pair(200, min(0.98, 0.7 + gap), 0.7, seed)
    try:
        cmp = assert_better(a, b, metric, margin=margin)
    except ClaimFailed:
        return
    _, _, diffs, _ = paired_resamples(a, b, metric, 1000, 0)
    assert np.quantile(diffs, 0.05) > margin - 1e-9 or cmp.method.startswith("exact")
    assert cmp.p_value < 0.05 and cmp.diff.point > margin


# -- tiny samples never pass ------------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(data=st.data(), claim=st.sampled_from(sorted(CLAIMS)),
       metric=st.sampled_from(["macro_f1", "accuracy"]))
def test_below_what_a_test_can_judge_no_claim_passes(data, claim, metric):
    n = data.draw(st.integers(1, min_units(0.05) - 1))
    y = np.asarray(data.draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)))
    pa = np.asarray(data.draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)))
    pb = np.asarray(data.draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # one-class draws are noted (tested below)
        a, b = EvalResult("A", LABELS, y, pa), EvalResult("B", LABELS, y, pb)
    with pytest.raises(ClaimFailed, match="too few"):
        CLAIMS[claim](a, b, metric)


@pytest.mark.parametrize("call, n", [
    (lambda r, s: assert_better(r, s, "accuracy"), 1),
    (lambda r, s: assert_better(r, s, "macro_f1"), 1),
    (lambda r, s: assert_equivalent(r, r, "accuracy"), 1),
    (lambda r, s: assert_above(r, 0.99, metric="accuracy"), 2),
    (lambda r, s: assert_above(r, 0.99, metric="macro_f1"), 2)])
def test_the_probes_degenerate_samples_fail_as_too_few(call, n):
    y = np.array([0, 1][:n])
    right, wrong = EvalResult("A", LABELS, y, y), EvalResult("B", LABELS, y, 1 - y)
    with pytest.raises(ClaimFailed, match=rf"too few examples to judge \(n = {n}; at least \d+ "
                                          "needed"):
        call(right, wrong)


def test_few_discordant_examples_cannot_carry_a_win_however_large_n():
    y = np.array([0, 1] * 500)
    pred_b = y.copy()
    pred_b[:4] = 1 - y[:4]                       # B wrong on 4 examples A gets right
    with pytest.raises(ClaimFailed, match=r"too few examples where A and B differ to judge "
                                          r"\(n = 4"):
        assert_better(EvalResult("A", LABELS, y, y), EvalResult("B", LABELS, y, pred_b),
                      "macro_f1")


def test_a_bootstrap_without_spread_cannot_place_a_value_above_a_reference():
    y = np.array([0, 1] * 10)                 # perfect on 20: exact accuracy says p = 0.82
    perfect = EvalResult("A", LABELS, y, y)
    with pytest.raises(ClaimFailed, match="cannot judge: every bootstrap resample"):
        assert_above(perfect, 0.99, metric="macro_f1")
    with pytest.raises(ClaimFailed, match="is not above"):
        assert_above(perfect, 0.99, metric="accuracy")


def test_min_units_is_where_an_exact_sign_test_can_first_reject():
    from scipy.stats import binomtest

    for alpha in (0.1, 0.05, 0.025, 0.01, 0.001):
        k = min_units(alpha)
        assert binomtest(k, k, 0.5, alternative="greater").pvalue < alpha
        assert binomtest(k - 1, k - 1, 0.5, alternative="greater").pvalue >= alpha


# -- p is never 0 -------------------------------------------------------------------------------

@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(5, 300), claim=st.sampled_from(sorted(CLAIMS)))
def test_no_claim_reports_p_zero(seed, n, claim):
    a, b = pair(n, 0.99, 0.2, seed)
    try:
        cmp = CLAIMS[claim](a, b, "macro_f1")
    except ClaimFailed as failed:
        cmp = failed.comparison
    assert cmp.p_value > 0
    words = comparison_in_words({"claim": claim, **cmp.to_dict()})
    assert "p = 0 " not in words + " " and "p = 0.0 " not in words + " "


def test_p_floor_reaches_every_output(pytester):
    pytester.makepyfile(test_s='''
import numpy as np
from lmgate import EvalResult, assert_better
y = np.array([0, 1] * 200)

def test_overwhelming(record):
    a, b = EvalResult("a", ("n", "p"), y, y), EvalResult("b", ("n", "p"), y, 1 - y)
    record(a, b)
    assert_better(a, b, metric="macro_f1")
''')
    result = pytester.runpytest("--lmgate-results-dir", "out")
    result.assert_outcomes(passed=1)
    out = pytester.path / "out"
    assert "p < 0.001" in result.stdout.str()
    for name in ("summary.md", "report.html"):
        text = (out / name).read_text().replace("&lt;", "<")   # escaped in markup
        assert "p < 0.001" in text and "p = 0 " not in text and "p = 0," not in text
    claim = json.loads((out / "claims.jsonl").read_text().splitlines()[0])
    (cmp,) = claim["comparisons"]
    assert cmp["p_value"] == pytest.approx(1 / 1001)
    assert cmp["method"] == "paired bootstrap (1000 resamples)" and cmp["alpha"] == 0.05


# -- the scoreboard counts claims; only claims become expected failures ------------------------

def test_a_test_that_only_records_is_not_a_held_claim(pytester):
    pytester.makepyfile(test_s='''
import numpy as np
from lmgate import EvalResult, assert_better
y = np.array([0, 1] * 50)
good, bad = EvalResult("good", ("n", "p"), y, y), EvalResult("bad", ("n", "p"), y, 1 - y)

def test_claims(record):
    record(good, bad)
    assert_better(good, bad, metric="accuracy")

def test_only_records(record):
    record(good)
''')
    result = pytester.runpytest("--lmgate-results-dir", "out")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines([
        "scoreboard: 1 of 1 claims held; 1 test(s) recorded results without a claim",
        "RECORDED (no claim) test_only_records*"])


DRYRUN_PROJECT = '''
[tool.lmgate.profiles.dry]
claims = "xfail"
'''


def test_a_dry_run_expects_only_claims_to_fail_not_code_checks(pytester):
    pytester.makefile(".toml", pyproject=DRYRUN_PROJECT)
    pytester.makepyfile(test_s='''
import numpy as np
from lmgate import EvalResult, assert_better, assert_claim
y = np.array([0, 1] * 50)

def test_claim_on_noise():
    assert_better(EvalResult("a", ("n", "p"), y, 1 - y), EvalResult("b", ("n", "p"), y, y),
                  metric="accuracy")

def test_composite_claim():
    assert_claim(False, "learning curves rose on 1 of 6 languages")

def test_code_check():
    head_params, hidden, labels = 9, 4, 2
    assert head_params == hidden * labels + labels
''')
    result = pytester.runpytest("--lmgate-profile", "dry", "-rfx")
    result.assert_outcomes(xfailed=2, failed=1)
    result.stdout.fnmatch_lines(["FAILED test_s.py::test_code_check*"])


# -- one result, one measurement; non-finite gate settings ---------------------------------------

def test_two_results_of_one_name_in_a_test_are_an_error(pytester):
    pytester.makepyfile(test_s='''
import numpy as np
from lmgate import EvalResult
y = np.array([0, 1] * 50)

def test_en_and_fr(record):
    record(EvalResult("model", ("n", "p"), y, y, params={"lang": "en"}))
    record(EvalResult("model", ("n", "p"), y, y, params={"lang": "fr"}))
''')
    result = pytester.runpytest("--lmgate-results-dir", "out")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*a result named 'model' was already recorded in this test*"])


def test_a_test_parameter_named_seed_is_a_usage_error_before_any_test(pytester):
    pytester.makepyfile(test_s='''
import pytest, pathlib

@pytest.mark.parametrize("seed", [1, 2, 3])
def test_seeds(seed, record):
    pathlib.Path(f"ran-{seed}").write_text("ran")
''')
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*test_s.py::test_seeds[[]1[]] (parameter seed)*"])
    assert not list(pytester.path.glob("ran-*"))


@pytest.mark.parametrize("tolerance", ['float("nan")', 'float("inf")',
                                       '{"accuracy": float("nan"), "macro_f1": float("inf")}'])
def test_non_finite_gate_tolerances_are_usage_errors_before_any_test(pytester, tolerance):
    pytester.makepyfile(test_s=f'''
import pytest, pathlib

@pytest.mark.lmgate_gate(tolerance={tolerance})
def test_gated(record):
    pathlib.Path("ran").write_text("ran")
''')
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*test_s.py::test_gated: lmgate_gate tolerance must be finite*"])
    assert not (pytester.path / "ran").exists()


def test_a_one_class_test_set_carries_a_note():
    y = np.zeros(30, dtype=int)
    with pytest.warns(UserWarning, match="one class only"):
        result = EvalResult("m", LABELS, y, y)
    assert result["macro_f1"] == 0.5
    assert any("one class only ('neg', 30 examples)" in n for n in result.info["notes"])


# -- cross-checks with scipy -----------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_accuracy_without_margin_is_exact_one_sided_mcnemar(seed):
    from scipy.stats import binomtest

    a, b = pair(300, 0.8, 0.74, seed)
    right_a, right_b = a.y_pred == a.y_true, b.y_pred == b.y_true
    a_only, b_only = int(np.sum(right_a & ~right_b)), int(np.sum(~right_a & right_b))
    expected = binomtest(a_only, a_only + b_only, 0.5, alternative="greater").pvalue
    try:
        cmp = assert_better(a, b, "accuracy")
    except ClaimFailed as failed:
        cmp = failed.comparison
    assert cmp.p_value == pytest.approx(expected) and cmp.method.startswith("exact McNemar")


def test_accuracy_above_a_reference_is_the_exact_binomial_test():
    from scipy.stats import binomtest

    y = np.array([0, 1] * 100)
    pred = y.copy()
    pred[:9] = 1 - y[:9]                             # 191 of 200 right
    cmp = assert_above(EvalResult("A", LABELS, y, pred), 0.9, metric="accuracy")
    exact = binomtest(191, 200, 0.9, alternative="greater")
    assert cmp.p_value == pytest.approx(exact.pvalue) and cmp.alpha == 0.025
    ci = exact.proportion_ci(0.95, method="exact")
    assert (cmp.diff.low, cmp.diff.high) == pytest.approx((ci.low - 0.9, ci.high - 0.9))


@pytest.mark.parametrize("shift", [0.05, 0.08, 0.12])
def test_bootstrap_p_of_a_mean_agrees_with_the_paired_t_test_at_large_n(shift):
    from scipy.stats import ttest_rel

    rng = np.random.default_rng(7)
    b = rng.random(800)
    a = np.clip(b + shift + rng.normal(0, 0.6, 800), 0, 2)
    cmp = paired_bootstrap_means(a, b, "A", "B", "f1", n_resamples=4000)
    t = ttest_rel(a, b, alternative="greater").pvalue
    assert cmp.p_value == pytest.approx(t, abs=0.01 + 0.25 * t)


# -- the gate: a tiny sample is never "within noise" ------------------------------------------

@pytest.mark.parametrize("n_old, n_new", [(2, 2), (400, 3), (1, 400)])
def test_the_gate_never_passes_a_metric_measured_on_too_few_examples(n_old, n_new):
    from lmgate.gate.decide import compare
    from lmgate.gate.measure import Measurement

    key = "t.py::test::model::accuracy"
    old = Measurement(key, 0.95, [0.95], [0], [0.9, 1.0], n_old)
    new = Measurement(key, 0.95, [0.95], [0], [0.9, 1.0], n_new)
    report = compare({key: old}, {key: new})
    (check,) = report.checks
    assert check.status == "unjudgeable" and "too few examples to judge" in check.basis
    assert not report.passed


@pytest.mark.parametrize("kwargs", [{"margin": float("nan")}, {"margin": float("inf")},
                                    {"margin": True}, {"confidence": 1.0}, {"confidence": 0.3},
                                    {"confidence": float("nan")}, {"confidence": True}])
def test_a_claim_with_a_meaningless_margin_or_level_is_a_usage_error(kwargs):
    a, b = pair()
    with pytest.raises(ValueError, match="margin|confidence"):
        assert_better(a, b, "accuracy", **kwargs)


# -- fresh variants the adversarial probe found ----------------------------------------------

class ScoredResult:
    """A user's comparable result from per-example scores (NaN where a scoring failed)."""

    def __init__(self, name, scores):
        self.name, self.scores, self.params, self.info = name, np.asarray(scores, float), {}, {}

    n = property(lambda self: len(self.scores))
    metrics = property(lambda self: {"score": float(np.mean(self.scores))})

    def __getitem__(self, metric):
        return self.metrics[metric]

    def predictions(self):
        return {"scores": self.scores.tolist()}

    def examples_key(self):
        return tuple(range(self.n))

    def resampled(self, metric, n_resamples, seed, clusters=None):
        index = np.random.default_rng(seed).integers(0, self.n, (n_resamples, self.n))
        return float(np.mean(self.scores)), self.scores[index].mean(axis=1)


@pytest.mark.parametrize("claim", [
    lambda a, b: assert_better(a, b, "score"),
    lambda a, b: assert_non_inferior(a, b, "score"),
    lambda a, b: assert_equivalent(a, b, "score"),
    lambda a, b: assert_above(a, 0.9, metric="score")])
def test_nan_scores_leave_nothing_to_judge(claim):
    rng = np.random.default_rng(1)
    worse, better = rng.random(300) * 0.5, rng.random(300)
    worse[[7, 8, 9, 10]] = np.nan
    with pytest.raises(ClaimFailed, match="NaN or infinite"):
        claim(ScoredResult("A", worse), ScoredResult("B", better))


def questions(contexts):
    from lmgate.data import Question

    return [Question(f"q{i}", "who?", f"ctx {c}", ("alpha beta",), (0,))
            for i, c in enumerate(contexts)]


def test_qa_claims_count_paragraphs_and_the_questions_where_answers_differ():
    from lmgate import QAResult

    qs = questions(range(200))
    right = {q.id: "alpha beta" for q in qs}
    four_wrong = {**right, **{f"q{i}": "zzz" for i in range(4)}}
    with pytest.raises(ClaimFailed, match=r"where A and B differ to judge \(n = 4"):
        assert_better(QAResult("A", qs, right), QAResult("B", qs, four_wrong), "f1")
    two = questions([i % 2 for i in range(200)])
    a = QAResult("A", two, {q.id: "alpha beta" for q in two})
    b = QAResult("B", two, {q.id: "alpha beta" if i % 3 else "zzz" for i, q in enumerate(two)})
    from lmgate.stats.paired import paired_bootstrap

    assert paired_bootstrap(a, b, "f1").units == 2          # the comparison says what it rests on
    for claim in (lambda: assert_better(a, b, "f1"), lambda: assert_above(a, 50, metric="f1"),
                  lambda: assert_equivalent(a, b, "f1", margin=5)):
        with pytest.raises(ClaimFailed, match=r"too few examples to judge \(n = 2"):
            claim()


def test_translation_claims_count_the_sentences_where_hypotheses_differ():
    from lmgate import GenerationResult

    refs = [f"the cat number {i} sat on the mat" for i in range(100)]
    hyps = ["dog" if i < 4 else r for i, r in enumerate(refs)]
    good = GenerationResult("A", refs, refs, refs)
    four_worse = GenerationResult("B", refs, hyps, refs)
    for metric in ("bleu", "chrf"):
        with pytest.raises(ClaimFailed, match=r"where A and B differ to judge \(n = 4"):
            assert_better(good, four_worse, metric)


@pytest.mark.parametrize("claim", [assert_better, assert_non_inferior, assert_not_worse])
def test_a_negative_margin_is_refused_not_turned_into_another_claim(claim):
    a, b = pair()
    with pytest.raises(ValueError, match="margin must be >= 0"):
        claim(a, b, "accuracy", margin=-0.3)


def test_an_exact_p_that_underflows_is_never_zero():
    y = np.random.default_rng(0).integers(0, 2, 3000)
    right, wrong = EvalResult("A", LABELS, y, y), EvalResult("B", LABELS, y, 1 - y)
    assert assert_better(right, wrong, "accuracy").p_value > 0
    assert assert_above(right, 0.5, metric="accuracy").p_value > 0
    from lmgate.stats.paired import mcnemar

    assert mcnemar(right, wrong).p_value > 0


@pytest.mark.parametrize("marker", ["tolerance=True", "tolerance={'accuracy': False}",
                                    "ignore={'accuracy': False}", "ignore='accuracy'"])
def test_gate_marker_settings_of_the_wrong_type_are_usage_errors(pytester, marker):
    pytester.makepyfile(test_s=f'''
import pytest

@pytest.mark.lmgate_gate({marker})
def test_gated(record):
    pass
''')
    assert pytester.runpytest().ret == pytest.ExitCode.USAGE_ERROR


def test_the_gate_judges_qa_and_translation_drops_by_their_own_intervals(pytester, monkeypatch):
    pytester.makepyfile(test_q='''
import os
from lmgate import GenerationResult, QAResult
from lmgate.data import Question
BAD = int(os.environ.get("BAD", "0"))
qs = [Question(f"q{i}", "who?", f"ctx {i % 20}", ("alpha beta",), (0,)) for i in range(200)]
refs = [f"the cat number {i} sat on the mat today" for i in range(200)]

def test_qa(record):
    record(QAResult("reader", qs, {q.id: "zzz" if i < BAD else "alpha beta"
                                   for i, q in enumerate(qs)}))

def test_gen(record):
    record(GenerationResult("mt", [str(i) for i in range(200)],
                            ["dog" if i < BAD else r for i, r in enumerate(refs)], refs))
''')
    pytester.runpytest("--lmgate-baseline", "b.json", "--lmgate-update-baseline")
    monkeypatch.setenv("BAD", "60")
    result = pytester.runpytest("--lmgate-baseline", "b.json")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*test_gen::mt::bleu: regression*", "*test_qa::reader::f1: regression*"])


def test_a_claim_caught_inside_a_passing_test_is_not_counted_as_held(pytester):
    pytester.makepyfile(test_s='''
import numpy as np
from lmgate import ClaimFailed, EvalResult, assert_better, assert_claim
y = np.array([0, 1] * 100)
a = EvalResult("A", ("n", "p"), y, np.where(np.arange(200) % 3 == 0, 1 - y, y))
b = EvalResult("B", ("n", "p"), y, y)

def test_caught(record):
    try:
        assert_better(a, b, "accuracy")
    except ClaimFailed:
        pass

def test_composite_over_caught_claims(record):
    held = []
    for metric in ("accuracy", "macro_f1"):
        try:
            held.append(assert_better(b, a, metric))
        except ClaimFailed:
            pass
    assert_claim(len(held) >= 1, "at least one metric")
''')
    result = pytester.runpytest("--lmgate-results-dir", "out")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["scoreboard: 1 of 2 claims held; 1 failed; failing: test_caught"])
