"""benchmarks/power.py, the measurement behind every smoke design's power figure: it reads
results folders of one suite run under several `--lmgate-seed`s, redraws each test set and
re-runs each claim's assertion. Checked on toy claims whose power is known by construction."""

import importlib.util
from pathlib import Path

import pytest

POWER_SCRIPT = Path(__file__).parents[1] / "benchmarks" / "power.py"

# Toy claims on one fixed test set of 400 examples whose effect is planted exactly. A system
# drawn per seed (as a training redraw moves it) is right on ~70-75%; its rival is a copy with
# SWAPS answers changed each way (noise the redraws see) and TOY_GAIN x 400 more of its errors
# fixed. TOY_GAIN holds on even seeds, TOY_GAIN_ODD on odd ones (an effect that exists on some
# training seeds only). In-language: the transfer systems are the home one with the gain lost.
TOY = '''
import os
import numpy as np
from lmgate import EvalResult, assert_above, assert_better

N, SWAPS = 400, 40
TRUTH = np.random.default_rng(1234).integers(0, 2, N)


def system(name, pred, **params):
    return EvalResult(name, ("neg", "pos"), TRUTH, pred, params=params)


def planted(lmgate_seed):
    rng = np.random.default_rng(lmgate_seed)
    gain = float(os.environ["TOY_GAIN" if lmgate_seed % 2 == 0 else "TOY_GAIN_ODD"])
    return rng, gain


def drawn(rng, accuracy):
    return np.where(rng.random(N) < accuracy, TRUTH, 1 - TRUTH)


def shifted(rng, pred, gain):
    """pred with SWAPS answers changed each way and |gain| x N more errors fixed (gain > 0) or
    right answers broken (gain < 0)."""
    k = round(abs(gain) * N)
    broken = rng.permutation(np.flatnonzero(pred == TRUTH))[:SWAPS + (k if gain < 0 else 0)]
    fixed = rng.permutation(np.flatnonzero(pred != TRUTH))[:SWAPS + (k if gain > 0 else 0)]
    out = pred.copy()
    out[broken], out[fixed] = 1 - TRUTH[broken], TRUTH[fixed]
    return out


def test_b_beats_a(lmgate_seed, record):
    rng, gain = planted(lmgate_seed)
    a = drawn(rng, 0.70)
    a, b = system("A", a), system("B", shifted(rng, a, gain))
    record(a, b)
    assert_better(b, a, metric="accuracy")


def test_in_language_beats_transfer(lmgate_seed, record):
    rng, gain = planted(lmgate_seed)
    home = drawn(rng, 0.75)
    away = [system(f"en->{lang}", shifted(rng, home, -gain), train_lang="en", test_lang=lang)
            for lang in ("fr", "hi")]
    home = system("en->en", home, train_lang="en", test_lang="en")
    transfer = float(np.mean([r.metrics["macro_f1"] for r in away]))
    record(home, *away)
    assert_above(home, transfer, "mean transfer")
'''


@pytest.fixture(scope="module")
def power():
    spec = importlib.util.spec_from_file_location("lmgate_power_benchmark", POWER_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def seed_folders(pytester, monkeypatch, gain: float, gain_odd: float, seeds: int) -> list[Path]:
    monkeypatch.setenv("TOY_GAIN", str(gain))
    monkeypatch.setenv("TOY_GAIN_ODD", str(gain_odd))
    pytester.makepyfile(test_toy=TOY)
    folders = []
    for seed in range(seeds):
        folder = pytester.path / f"seed{seed}"
        pytester.runpytest("-p", "no:cacheprovider", f"--lmgate-seed={seed}",
                           f"--lmgate-results-dir={folder}")
        folders.append(folder)
    return folders


def by_test(report: list[dict]) -> dict[str, dict]:
    return {entry["test"]: entry for entry in report}


def test_a_large_effect_is_powered_and_no_effect_is_not(pytester, monkeypatch, power):
    strong = by_test(power.power_over(seed_folders(pytester, monkeypatch, 0.15, 0.15, 3),
                                      [1.0], draws=20, seed=0))
    assert strong["test_b_beats_a"]["seeds_passed"] == 3
    assert strong["test_b_beats_a"]["power"][1.0] >= 0.95
    assert strong["test_b_beats_a"]["n_test"] == 400
    assert strong["test_in_language_beats_transfer"]["power"][1.0] >= 0.95

    none = by_test(power.power_over(seed_folders(pytester, monkeypatch, 0.0, 0.0, 3),
                                    [1.0], draws=20, seed=0))
    assert none["test_b_beats_a"]["power"][1.0] <= 0.1
    assert none["test_b_beats_a"]["seeds_passed"] == 0
    assert none["test_in_language_beats_transfer"]["power"][1.0] <= 0.1


def test_power_is_averaged_over_seeds_not_read_off_one(pytester, monkeypatch, power):
    """The effect exists on even seeds only: each seed's redraws agree with its own verdict,
    and the power is the share of seeds x redraws, not one seed's."""
    entry = by_test(power.power_over(seed_folders(pytester, monkeypatch, 0.15, 0.0, 4),
                                     [1.0], draws=20, seed=0))["test_b_beats_a"]
    per_seed = entry["power_per_seed"][1.0]
    assert [p >= 0.9 for p in per_seed] == [True, False, True, False]
    assert [v == "passed" for v in entry["verdicts"]] == [True, False, True, False]
    assert entry["power"][1.0] == pytest.approx(sum(per_seed) / 4)
    assert 0.4 <= entry["power"][1.0] <= 0.65


def test_smaller_redraws_lose_power_on_a_moderate_effect(pytester, monkeypatch, power):
    entry = by_test(power.power_over(seed_folders(pytester, monkeypatch, 0.04, 0.04, 2),
                                     [0.25, 1.0], draws=20, seed=0))["test_b_beats_a"]
    assert entry["power"][0.25] < entry["power"][1.0]
