"""False-alarm and detection rates of lmgate's baseline gate, and its reported power.

Three simulations, each a baseline run (seed 0) compared with R reruns at other seeds,
unchanged (false alarms) and with a planted drop (detections):

1. **Holm vs Bonferroni** on the toy of tests/test_gate.py: a fixed 3-class test set of N
   examples, predictions 80% right with errors drawn independently per seed.
2. **Clustered vs naive resampling** on correlated data: N examples in clusters of C (a
   document, a speaker); a rerun's errors move together within a cluster (each seed draws a
   random effect per cluster), as when retraining changes how a model handles whole
   documents. The gate run on results that carry the cluster ids, and on the same results
   without them.
3. **Reported power vs measured power**: the minimum detectable drop (MDE, 80% power) that the
   gate reports for macro F1 on the toy, then that drop planted: macro F1 should be flagged in
   about 80% of the reruns (the MDE is computed at the strictest Holm level, so a little more).

    python benchmarks/gate_calibration.py [--reruns 200] [--n 4000] [--drop 0.03]
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import numpy as np

from lmgate.gate.decide import DEFAULT_ALPHA, compare
from lmgate.gate.measure import measurements
from lmgate.report.records import Recorder
from lmgate.results.classification import EvalResult

MACRO_F1 = "toy.py::test_toy::toy::macro_f1"
BASELINE_SEEDS = 100_000   # seeds of the per-rerun baselines of the power check


def plant(pred: np.ndarray, truth: np.ndarray, rng: np.random.Generator, delta: float) -> None:
    """Turn round(|delta| n) right answers wrong (delta < 0), in place."""
    k = int(round(abs(delta) * len(truth)))
    if k:
        pick = rng.choice(np.flatnonzero(pred == truth), size=k, replace=False)
        pred[pick] = (truth[pick] + 1) % 3


def recorded(truth, pred, seed: int, clusters=None):
    rec = Recorder("toy.py::test_toy", "test_toy", {"seed": seed})
    rec(EvalResult("toy", ("a", "b", "c"), truth, pred, clusters=clusters))
    return measurements(rec.rows, rec.predictions)


def independent_run(seed: int, n: int, delta: float):
    truth = np.random.default_rng(1234).integers(0, 3, n)
    rng = np.random.default_rng(seed)
    pred = np.where(rng.random(n) < 0.8, truth, (truth + rng.integers(1, 3, n)) % 3)
    plant(pred, truth, rng, delta)
    return recorded(truth, pred, seed)


def clustered_run(seed: int, n: int, size: int, delta: float, with_ids: bool):
    truth = np.random.default_rng(1234).integers(0, 3, n)
    cluster = np.arange(n) // size
    effect = np.random.default_rng(seed).normal(0, 1.2, cluster.max() + 1)[cluster]
    rng = np.random.default_rng(seed + 10_000)
    right = rng.random(n) < 1 / (1 + np.exp(-(1.4 + effect)))     # ~76% right on average
    pred = np.where(right, truth, (truth + rng.integers(1, 3, n)) % 3)
    plant(pred, truth, rng, delta)
    return recorded(truth, pred, seed, cluster if with_ids else None)


def rates(make, reruns: int, drop: float, variants: dict[str, dict]) -> dict[str, dict]:
    """False-alarm and detection rates of each gate variant (compare() options), on the same
    runs; and, per variant, the macro-F1 MDE it reported on the unchanged reruns."""
    base, base_ex = make(0, 0.0)
    alarms, caught = {name: 0 for name in variants}, {name: 0 for name in variants}
    mdes: dict[str, list[float]] = {name: [] for name in variants}
    effects = []   # the macro-F1 drop the planted accuracy drop causes (same seed, paired)
    for seed in range(1, reruns + 1):
        same, same_ex = make(seed, 0.0)
        worse, worse_ex = make(seed, -drop)
        effects.append(same[MACRO_F1].value - worse[MACRO_F1].value)
        for name, options in variants.items():
            report = compare(base, same, base_ex, same_ex, **options)
            alarms[name] += not report.passed
            mdes[name] += [c.mde for c in report.checks if c.key == MACRO_F1]
            caught[name] += not compare(base, worse, base_ex, worse_ex, **options).passed
    return {name: {"false_alarm_rate": alarms[name] / reruns,
                   "detection_rate": caught[name] / reruns,
                   "median_mde_macro_f1": statistics.median(mdes[name]) if mdes[name] else None,
                   "planted_macro_f1_drop": float(np.mean(effects))}
            for name in variants}


def detection_at(make, drop: float, reruns: int, variants: dict[str, dict]) -> dict[str, float]:
    """How often macro F1 itself is flagged when `drop` is planted, per variant. Each rerun
    has a baseline of its own: the MDE is a power over baselines too (with one fixed baseline
    its noise is frozen and the measured power depends on how lucky that baseline was)."""
    flagged = {name: 0 for name in variants}
    for seed in range(1, reruns + 1):
        base, base_ex = make(BASELINE_SEEDS + seed, 0.0)
        worse, worse_ex = make(seed, -drop)
        for name, options in variants.items():
            checks = compare(base, worse, base_ex, worse_ex, **options).checks
            flagged[name] += any(c.key == MACRO_F1 and c.status == "regression" for c in checks)
    return {name: flagged[name] / reruns for name in variants}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reruns", type=int, default=200)
    parser.add_argument("--n", type=int, default=4000)
    parser.add_argument("--cluster-size", type=int, default=20)
    parser.add_argument("--drop", type=float, default=0.03)
    parser.add_argument("--out", default="benchmarks/results/gate_calibration.json")
    parser.add_argument("--power-only", action="store_true",
                        help="rerun only the MDE check, reusing --out's other figures")
    args = parser.parse_args()
    corrections = {c: {"correction": c} for c in ("holm", "bonferroni")}
    toy = lambda seed, d: independent_run(seed, args.n, d)  # noqa: E731
    if args.power_only:
        result = json.loads(Path(args.out).read_text())
    else:
        result = {"n": args.n, "reruns": args.reruns, "planted_drop": args.drop,
                  "alpha": DEFAULT_ALPHA, "clusters": {}}
        result["corrections"] = rates(toy, args.reruns, args.drop, corrections)
        for name, with_ids in (("clustered", True), ("naive", False)):
            result["clusters"][name] = rates(
                lambda seed, d: clustered_run(seed, args.n, args.cluster_size, d, with_ids),
                args.reruns, args.drop, {"holm": {}})["holm"]
    # The reported MDE, planted as a macro-F1 drop (flipping right answers lowers macro F1 a
    # little more than accuracy): caught ~80% of the time if the MDE is right.
    holm = result["corrections"]["holm"]
    mde = holm["median_mde_macro_f1"]
    measured = detection_at(toy, mde * args.drop / holm["planted_macro_f1_drop"], args.reruns,
                            corrections)
    result["power"] = {"reported_mde_macro_f1": mde, "measured_detection_at_mde": measured,
                       "simulation_se": {k: float(np.sqrt(v * (1 - v) / args.reruns))
                                         for k, v in measured.items()}}
    print(f"N = {args.n}, {args.reruns} reruns, alpha = {DEFAULT_ALPHA}, planted drop "
          f"{args.drop}")
    print(f"{'gate':<32} {'false alarms':>13} {'detected':>9} {'MDE macro F1':>13}")
    rows = [(name, r) for name, r in result["corrections"].items()] + \
        [(f"{name} (clusters of {args.cluster_size})", r) for name, r in result["clusters"].items()]
    for label, r in rows:
        print(f"{label:<32} {r['false_alarm_rate']:>13.3f} {r['detection_rate']:>9.3f} "
              f"{r['median_mde_macro_f1']:>13.4f}")
    p = result["power"]
    print(f"reported MDE (80% power) of macro F1: {p['reported_mde_macro_f1']:.4f}; planted, it "
          "flags macro F1 in " + ", ".join(
              f"{p['measured_detection_at_mde'][k]:.3f} +/- {p['simulation_se'][k]:.3f} ({k})"
              for k in p["measured_detection_at_mde"]) + " of the reruns")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
