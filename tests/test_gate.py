"""Regression gating: baselines, noise-derived tolerance, repeats, the compare CLI (pytester)."""

import json
import math

import numpy as np
import re

import pytest

from lmgate import EvalResult
from lmgate.cli import main as lmgate_cli
from lmgate.gate.decide import Measurement, compare
from lmgate.gate.measure import measurements
from lmgate.gate.baseline import read_baseline
from lmgate.report.rows import ResultRow
from lmgate.core.errors import ConfigError
from lmgate.stats.paired import mcnemar
from lmgate.stats.seeds import summarise_seeds

# A noisy toy experiment: a fixed test set of 4,000 examples, predictions 80% right with the
# errors drawn from the run's seed. TOY_DELTA moves accuracy by that share of examples: negative
# flips right answers to wrong ones (a planted regression), positive fixes wrong ones.
TOY = '''
import os
import numpy as np
from lmgate import EvalResult

N = 4000

def test_toy(lmgate_seed, record):
    truth = np.random.default_rng(1234).integers(0, 3, N)
    rng = np.random.default_rng(lmgate_seed)
    pred = np.where(rng.random(N) < 0.8, truth, (truth + rng.integers(1, 3, N)) % 3)
    delta = float(os.environ.get("TOY_DELTA", "0"))
    k = int(round(abs(delta) * N))
    pool = np.flatnonzero(pred == truth) if delta < 0 else np.flatnonzero(pred != truth)
    pick = rng.choice(pool, size=k, replace=False)
    pred[pick] = (truth[pick] + 1) % 3 if delta < 0 else truth[pick]
    record(EvalResult("toy", ("a", "b", "c"), truth, pred,
                      examples=[f"review {i} | said " + "very " * 30 for i in range(N)]))
'''


@pytest.fixture
def toy(pytester, monkeypatch):
    monkeypatch.delenv("TOY_DELTA", raising=False)
    pytester.makepyfile(test_toy=TOY)
    return pytester


def run(pytester, *args, delta=None, monkeypatch=None):
    if delta is not None:
        monkeypatch.setenv("TOY_DELTA", str(delta))
    return pytester.runpytest("-p", "no:cacheprovider", *args)


def make_baseline(toy, *extra):
    result = run(toy, "--lmgate-baseline", "base.json", "--lmgate-update-baseline", "--lmgate-results-dir", "r0", *extra)
    assert result.ret == 0
    return toy.path / "base.json"


def test_no_false_alarm_over_20_seeded_reruns(toy):
    make_baseline(toy)
    outcomes = [run(toy, "--lmgate-baseline", "base.json", "--lmgate-seed", str(seed),
                    "--lmgate-results-dir", f"r{seed}").ret for seed in range(1, 21)]
    assert outcomes == [0] * 20


def test_planted_three_point_drop_fails_with_a_readable_message(toy, monkeypatch):
    make_baseline(toy)
    result = run(toy, "--lmgate-baseline", "base.json", "--lmgate-seed", "7", "--lmgate-results-dir", "bad",
                 delta=-0.03, monkeypatch=monkeypatch)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines([
        "*lmgate baseline check*",
        "*lmgate: power: with 80% probability this gate catches a drop of 0.03*",
        "*regressed beyond their noise:*",
        "*test_toy.py::test_toy::toy::macro_f1: regression: 0.8* -> 0.7* (delta -0.0*); allowed 0.0*"
        "(Holm step */7: z=* x sigma * (paired bootstrap on 4000 examples)); real:*"])
    summary = (toy.path / "bad" / "summary.md").read_text()
    assert "## Compared with baseline" in summary and "**FAILED**" in summary
    assert "| test_toy | toy | macro_f1 |" in summary and "REGRESSION" in summary


def test_improvement_passes_and_is_reported(toy, monkeypatch):
    make_baseline(toy)
    result = run(toy, "--lmgate-baseline", "base.json", "--lmgate-results-dir", "good", delta=0.03,
                 monkeypatch=monkeypatch)
    assert result.ret == 0
    summary = (toy.path / "good" / "summary.md").read_text()
    assert "improvement" in summary and "**passed**" in summary


def test_update_baseline_round_trips(toy):
    path = make_baseline(toy)
    entries, examples = read_baseline(path)
    rows = [ResultRow.from_json(json.loads(l))
            for l in (toy.path / "r0" / "results.jsonl").read_text().splitlines()]
    preds = [json.loads(l) for l in (toy.path / "r0" / "predictions.jsonl").read_text().splitlines()]
    fresh, fresh_examples = measurements(rows, preds)
    assert entries.keys() == fresh.keys() and "test_toy.py::test_toy::toy::macro_f1" in entries
    assert all(entries[k].value == pytest.approx(fresh[k].value) for k in entries)
    entry = json.loads(path.read_text())["entries"]["test_toy.py::test_toy::toy::macro_f1"]
    assert set(entry) >= {"value", "ci", "n", "seeds", "data_fingerprint", "model_fingerprint"}
    assert entry["n"] == 4000 and entry["ci"][0] < entry["value"] < entry["ci"][1]
    first = path.read_text()
    make_baseline(toy)
    assert path.read_text() == first
    assert compare(entries, fresh, examples, fresh_examples).passed


def test_repeats_run_k_seeds_and_store_their_spread(toy):
    path = make_baseline(toy, "--lmgate-repeats", "3")
    entry = json.loads(path.read_text())["entries"]["test_toy.py::test_toy::toy::macro_f1"]
    assert entry["seeds"] == [0, 1, 2] and len(entry["values"]) == 3
    assert entry["value"] == pytest.approx(np.mean(entry["values"]))
    result = run(toy, "--lmgate-baseline", "base.json", "--lmgate-repeats", "3", "--lmgate-seed", "10",
                 "-v", "--lmgate-results-dir", "again")
    result.stdout.fnmatch_lines(["*test_toy[[]seed10[]] PASSED*", "*test_toy[[]seed12[]] PASSED*"])
    assert result.ret == 0


def test_new_and_missing_metrics_are_reported_and_strict_missing_fails(toy):
    toy.makepyfile(test_toy=TOY + "\ndef test_gone(record):\n    record(exact=1.0)\n")
    make_baseline(toy)
    toy.makepyfile(test_toy=TOY + "\ndef test_other(record):\n    record(exact=1.0)\n")
    lenient = run(toy, "--lmgate-baseline", "base.json", "--lmgate-results-dir", "x")
    assert lenient.ret == 0
    summary = (toy.path / "x" / "summary.md").read_text()
    assert "+ new" in summary and "− missing" in summary
    strict = run(toy, "--lmgate-baseline", "base.json", "--lmgate-strict-missing", "--lmgate-results-dir", "y")
    assert strict.ret == pytest.ExitCode.TESTS_FAILED
    strict.stdout.fnmatch_lines(["*lmgate: 1 metric(s) missing (--lmgate-strict-missing):*"])
    assert "regressed" not in strict.stdout.str()


def test_a_run_that_compares_nothing_fails(toy):
    make_baseline(toy)
    toy.makepyfile(test_toy="import pytest\ndef test_toy():\n    pytest.skip('no data')\n")
    result = run(toy, "--lmgate-baseline", "base.json", "--lmgate-results-dir", "x")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*nothing could be compared with the baseline*"])


def test_a_different_profile_is_named(toy):
    make_baseline(toy)
    toy.makefile(".toml", pyproject="[tool.lmgate.profiles.other]\nextends = 'smoke'\n")
    result = run(toy, "--lmgate-baseline", "base.json", "--lmgate-profile", "other", "--lmgate-results-dir", "x")
    result.stdout.fnmatch_lines(["*environment differs from the baseline's: profile: "
                                 "baseline 'smoke', now 'other'*"])
    assert "Environment differs" in (toy.path / "x" / "summary.md").read_text()


def test_fixed_tolerance_overrides_noise(toy, monkeypatch):
    make_baseline(toy)
    result = run(toy, "--lmgate-baseline", "base.json", "--lmgate-tolerance", "0.05", "--lmgate-results-dir", "t",
                 delta=-0.03, monkeypatch=monkeypatch)
    assert result.ret == 0


def test_baseline_check_under_xdist_matches_serial(toy, monkeypatch):
    make_baseline(toy)
    monkeypatch.setenv("TOY_DELTA", "-0.03")
    serial = run(toy, "--lmgate-baseline", "base.json", "--lmgate-results-dir", "s")
    parallel = run(toy, "--lmgate-baseline", "base.json", "--lmgate-results-dir", "p", "-n", "2")
    assert serial.ret == parallel.ret == pytest.ExitCode.TESTS_FAILED
    def without_run_facts(folder):   # wall time differs between the two sessions
        return [line for line in (toy.path / folder / "summary.md").read_text().splitlines()
                if not line.startswith("**profile**")]

    assert without_run_facts("s") == without_run_facts("p")


def test_usage_errors(toy):
    run(toy, "--lmgate-update-baseline").stderr.fnmatch_lines(["*--lmgate-update-baseline needs --lmgate-baseline*"])
    run(toy, "--lmgate-baseline", "nope.json").stderr.fnmatch_lines(
        ["*baseline *nope.json does not exist; create it with --lmgate-update-baseline*"])


def test_compare_cli(toy, monkeypatch, capsys):
    run(toy, "--lmgate-results-dir", "old")
    run(toy, "--lmgate-results-dir", "same", "--lmgate-seed", "3")
    run(toy, "--lmgate-results-dir", "worse", delta=-0.03, monkeypatch=monkeypatch)
    old, same, worse = (str(toy.path / d) for d in ("old", "same", "worse"))
    assert lmgate_cli(["compare", old, same]) == 0
    assert "**passed**" in capsys.readouterr().out
    assert lmgate_cli(["compare", old, worse, "--markdown", str(toy.path / "gate.md")]) == 1
    assert "REGRESSION" in (toy.path / "gate.md").read_text()
    assert lmgate_cli(["compare", old, str(toy.path / "missing")]) == 2


def test_mcnemar_hand_worked():
    y = np.array([0] * 10)
    a = EvalResult("a", ("x", "y"), y, [0] * 9 + [1])
    b = EvalResult("b", ("x", "y"), y, [0] * 4 + [1] * 6)
    test = mcnemar(a, b)
    assert (test.a_only, test.b_only) == (5, 0)
    assert test.p_value == pytest.approx(2 * 0.5 ** 5)     # exact two-sided binomial
    assert mcnemar(a, a).p_value == 1.0


def test_seed_summary():
    s = summarise_seeds([0.8, 0.82, 0.84])
    assert s.mean == pytest.approx(0.82) and s.std == pytest.approx(0.02)
    assert s.ci[0] < 0.82 < s.ci[1]
    assert s.repeatability_limit == pytest.approx(2.77 * 0.02, rel=1e-2)
    assert summarise_seeds([0.5]).std == 0.0


def test_a_crashing_worker_leaves_the_other_results_written(pytester):
    pytester.makepyfile(test_mixed='''
import os
from lmgate import EvalResult

def test_ok(record):
    record(EvalResult("ok", ("a", "b"), [0, 1, 1], [0, 1, 0]))

def test_crash(record):
    record(score=1.0)
    os._exit(3)   # the worker process dies mid-test
''')
    result = pytester.runpytest("-n", "2", "-p", "no:cacheprovider", "--lmgate-results-dir", "out")
    assert result.ret != 0
    rows = [json.loads(l) for l in (pytester.path / "out" / "results.jsonl").read_text().splitlines()]
    assert [r["result"] for r in rows] == ["ok"]


def test_generation_results_take_part_in_the_gate_without_classification_predictions():
    from lmgate.results.generation import GenerationResult
    from lmgate.report.records import Recorder

    recorder = Recorder("t::x", "x")
    recorder(GenerationResult("B", ["a b"], ["le chat"], ["le chat"]))
    found, examples = measurements(recorder.rows, recorder.predictions)
    assert "t::x::B::bleu" in found and examples == {}


def _measured(key, value, sigma):
    half = 1.959964 * sigma
    return Measurement(key, value, [value], [0], [value - half, value + half], 1000)


def test_holm_catches_what_bonferroni_misses_and_keeps_the_false_alarm_rate():
    from scipy.stats import norm

    sigma_each = 0.01 / math.sqrt(2)     # combined sigma of the difference: 0.01
    keys = [f"t::r{i}::accuracy" for i in range(5)]
    old = {k: _measured(k, 0.80, sigma_each) for k in keys}
    # Two real drops, 3.15 and 3.05 sigma. Bonferroni over 5 metrics (z = 3.09) catches only
    # the first; Holm tests the second at alpha/4 (z = 3.02) and catches it too.
    drops = [0.0315, 0.0305, 0.0, 0.0, 0.0]
    new = {k: _measured(k, 0.80 - d, sigma_each) for k, d in zip(keys, drops)}
    report = compare(old, new, alpha=0.01)
    bonferroni_z = norm.isf(0.01 / 10)
    assert drops[0] / 0.01 > bonferroni_z > drops[1] / 0.01
    statuses = [c.status for c in sorted(report.checks, key=lambda c: c.key)]
    assert statuses == ["regression", "regression"] + ["within-noise"] * 3
    bonferroni = compare(old, new, alpha=0.01, correction="bonferroni")
    statuses = [c.status for c in sorted(bonferroni.checks, key=lambda c: c.key)]
    assert statuses == ["regression"] + ["within-noise"] * 4
    # Under no change, Holm flags nothing either (both control the family-wise rate).
    assert not compare(old, old, alpha=0.01).failures
    with pytest.raises(ConfigError, match="unknown correction"):
        compare(old, new, correction="sidak")


def test_minimum_detectable_drop_and_strict_power(toy):
    from lmgate.gate.decide import minimum_detectable_drop

    mde = minimum_detectable_drop(0.01, alpha=0.01, m=1)
    assert mde == pytest.approx((2.5758 + 0.8416) * 0.01, abs=1e-4)
    make_baseline(toy)
    loose = run(toy, "--lmgate-baseline", "base.json", "--lmgate-results-dir", "p1", "--lmgate-gate-mde", "0.01")
    assert loose.ret == 0
    loose.stdout.fnmatch_lines(["*too blind: test_toy.py::test_toy::toy::accuracy: detects drops "
                                "of 0.03* or more with 80% power, not 0.0100; it needs ~1*x the "
                                "test examples (or seeds)*"])
    strict = run(toy, "--lmgate-baseline", "base.json", "--lmgate-results-dir", "p2", "--lmgate-gate-mde", "0.01",
                 "--lmgate-strict-power")
    assert strict.ret == pytest.ExitCode.TESTS_FAILED
    strict.stdout.fnmatch_lines(["*the gate cannot detect the --lmgate-gate-mde drop (--lmgate-strict-power)*"])
    fine = run(toy, "--lmgate-baseline", "base.json", "--lmgate-results-dir", "p3", "--lmgate-gate-mde", "0.2",
               "--lmgate-strict-power")
    assert fine.ret == 0
    assert "detectable (80%)" in (toy.path / "p3" / "summary.md").read_text()
    usage = run(toy, "--lmgate-baseline", "base.json", "--lmgate-strict-power")
    assert usage.ret == pytest.ExitCode.USAGE_ERROR


def test_flip_report_names_changed_examples_with_mcnemar(toy, monkeypatch):
    make_baseline(toy)
    result = run(toy, "--lmgate-baseline", "base.json", "--lmgate-results-dir", "f1", delta=-0.03,
                 monkeypatch=monkeypatch)
    # A 3-point drop on the baseline's own seed flips exactly 120 right answers to wrong.
    result.stdout.fnmatch_lines(["*lmgate: flips: test_toy.py::test_toy::toy: 120 right->wrong, "
                                 "0 wrong->right of 4000 (McNemar exact p = *)*"])
    summary = (toy.path / "f1" / "summary.md").read_text()
    assert "### Flipped examples" in summary
    assert "| test_toy | toy | 120 | 0 | 4000 |" in summary
    # Each flip shows its example: a one-line excerpt, table pipes escaped, cut with "…".
    flipped = re.search(r"\| (\d+) “review (\d+) \\\| said very [very ]*…”: (\w), (\w) → (\w)", summary)
    assert flipped and flipped.group(1) == flipped.group(2)
    assert flipped.group(3) == flipped.group(4) != flipped.group(5)   # right -> wrong
    # The baseline keeps predictions, not the excerpts.
    assert "review" not in (toy.path / "base.predictions.jsonl").read_text()


def test_a_tests_marker_fixes_its_tolerance_and_leaves_metrics_ungated(toy, monkeypatch):
    marked = TOY.replace("def test_toy(", "import pytest\n\n"
                         "@pytest.mark.lmgate_gate(tolerance=0.05, ignore=['accuracy'])\n"
                         "def test_toy(")
    toy.makepyfile(test_toy=marked)
    make_baseline(toy)
    # A 3-point drop: a real regression by noise (test_planted_three_point_drop...), within
    # this test's own fixed tolerance of 0.05.
    result = run(toy, "--lmgate-baseline", "base.json", "--lmgate-results-dir", "x", delta=-0.03,
                 monkeypatch=monkeypatch)
    assert result.ret == 0
    summary = (toy.path / "x" / "summary.md").read_text()
    macro = [l for l in summary.splitlines() if "| toy | macro_f1 |" in l][0]
    assert "0.0500" in macro and "within noise" in macro
    accuracy = [l for l in summary.splitlines() if "| toy | accuracy |" in l][0]
    assert "not gated" in accuracy
    # Beyond the fixed tolerance it fails as before.
    result = run(toy, "--lmgate-baseline", "base.json", "--lmgate-results-dir", "y", delta=-0.08,
                 monkeypatch=monkeypatch)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*macro_f1: regression*fixed by the test's lmgate_gate marker*"])


def test_a_malformed_gate_marker_is_named(toy):
    toy.makepyfile(test_toy=TOY.replace("def test_toy(", "import pytest\n\n"
                                        "@pytest.mark.lmgate_gate(tolerance='tight')\n"
                                        "def test_toy("))
    result = run(toy, "--lmgate-results-dir", "x")
    assert result.ret == pytest.ExitCode.USAGE_ERROR      # before any test runs
    result.stderr.fnmatch_lines(["*test_toy.py::test_toy: lmgate_gate tolerance must be a "
                                 "number or {metric: number}*"])


def test_stale_metrics_are_listed_and_update_keeps_tests_that_did_not_run(toy):
    toy.makepyfile(test_toy=TOY + "\ndef test_other(record):\n    record(exact=1.0)\n")
    make_baseline(toy)
    # test_other now records `exact_match` instead: its old `exact` is stale, not missing.
    toy.makepyfile(test_toy=TOY + "\ndef test_other(record):\n    record(exact_match=1.0)\n")
    result = run(toy, "--lmgate-baseline", "base.json", "--lmgate-strict-missing", "--lmgate-results-dir", "x")
    assert result.ret == 0                     # stale is not missing: --lmgate-strict-missing passes
    summary = (toy.path / "x" / "summary.md").read_text()
    assert "1 stale metric(s)" in summary and "− stale" in summary
    # Updating from test_toy alone keeps test_other's entries; updating test_other drops the
    # stale one.
    result = run(toy, "--lmgate-baseline", "base.json", "--lmgate-update-baseline", "-k", "not test_other",
                 "--lmgate-results-dir", "u1")
    result.stdout.fnmatch_lines(["*baseline written to*; kept 1 entries of tests that did not run*"])
    entries = json.loads((toy.path / "base.json").read_text())["entries"]
    assert "test_toy.py::test_other::metrics::exact" in entries
    result = run(toy, "--lmgate-baseline", "base.json", "--lmgate-update-baseline", "--lmgate-results-dir", "u2")
    result.stdout.fnmatch_lines(["*dropped 1 stale entries: test_toy.py::test_other::metrics::exact*"])
    entries = json.loads((toy.path / "base.json").read_text())["entries"]
    assert "test_toy.py::test_other::metrics::exact_match" in entries
    assert "test_toy.py::test_other::metrics::exact" not in entries
    # --lmgate-prune-baseline keeps only what this run measured.
    run(toy, "--lmgate-baseline", "base.json", "--lmgate-update-baseline", "--lmgate-prune-baseline",
        "-k", "not test_other", "--lmgate-results-dir", "u3")
    entries = json.loads((toy.path / "base.json").read_text())["entries"]
    assert not any("test_other" in key for key in entries)
    usage = run(toy, "--lmgate-baseline", "base.json", "--lmgate-prune-baseline", "--lmgate-results-dir", "u4")
    assert usage.ret == pytest.ExitCode.USAGE_ERROR
