"""False-alarm and detection rates of lmgate's baseline gate on a noisy toy experiment.

The toy: a fixed 3-class test set of N examples, predictions 80% right with errors drawn from
the run's seed (the same model as tests/test_gate.py). A baseline from seed 0 is compared with
reruns at other seeds, unchanged (false alarms) and with a planted drop (detections).

    python benchmarks/gate_calibration.py [--reruns 200] [--n 4000] [--drop 0.03]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from lmgate.gate import compare, measurements
from lmgate.report.records import Recorder
from lmgate.results import EvalResult


def run(seed: int, n: int, delta: float):
    truth = np.random.default_rng(1234).integers(0, 3, n)
    rng = np.random.default_rng(seed)
    pred = np.where(rng.random(n) < 0.8, truth, (truth + rng.integers(1, 3, n)) % 3)
    k = int(round(abs(delta) * n))
    if k:
        pool = np.flatnonzero(pred == truth) if delta < 0 else np.flatnonzero(pred != truth)
        pick = rng.choice(pool, size=k, replace=False)
        pred[pick] = (truth[pick] + 1) % 3 if delta < 0 else truth[pick]
    rec = Recorder("toy.py::test_toy", "test_toy", {"seed": seed})
    rec(EvalResult("toy", ("a", "b", "c"), truth, pred))
    return measurements(rec.rows, rec.predictions)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reruns", type=int, default=200)
    parser.add_argument("--n", type=int, default=4000)
    parser.add_argument("--drop", type=float, default=0.03)
    parser.add_argument("--out", default="benchmarks/results/gate_calibration.json")
    args = parser.parse_args()
    base, base_ex = run(0, args.n, 0.0)
    false_alarms = detections = 0
    for seed in range(1, args.reruns + 1):
        same, same_ex = run(seed, args.n, 0.0)
        false_alarms += not compare(base, same, base_ex, same_ex).passed
        worse, worse_ex = run(seed, args.n, -args.drop)
        detections += not compare(base, worse, base_ex, worse_ex).passed
    result = {"n": args.n, "reruns": args.reruns, "planted_drop": args.drop,
              "false_alarm_rate": false_alarms / args.reruns,
              "detection_rate": detections / args.reruns}
    print(f"{'N':>6} {'reruns':>7} {'false alarms':>13} {'detected ' + str(args.drop):>16}")
    print(f"{args.n:>6} {args.reruns:>7} {result['false_alarm_rate']:>13.3f} "
          f"{result['detection_rate']:>16.3f}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
