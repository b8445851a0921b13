"""Validity and savings of sequential claims under continuous monitoring.

Paired accuracy of two classifiers on N examples, scored in a random order and looked at after
every batch. Under the null's boundary (equal accuracy) a claim "A beats B" must be made in at
most alpha of the replicates however often it is looked at:

- **sequential**: `assert_better(..., sequential=SequentialPolicy(batch_size=B))`, lmgate's
  betting e-process (stops when settled);
- **naive**: the fixed-n one-sided paired bootstrap test (R resamples, p < alpha) repeated after
  every batch, stopping at the first rejection: what peeking at a fixed-sample test does.

Then, at several true differences and margins, the sequential claim's power and the examples it
scored, beside the fixed-n test on all N (which scores every example).

    python benchmarks/sequential_validity.py [--replicates 2000] [--n 1000] [--batch 25]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from lmgate import ClaimFailed, EvalResult, assert_better
from lmgate.stats.sequential import SequentialPolicy

LABELS = ("neg", "pos")
ALPHA = 0.05


def pair(n: int, a_rate: float, b_rate: float, rng: np.random.Generator):
    y = rng.integers(0, 2, n)
    a = np.where(rng.random(n) < a_rate, y, 1 - y)
    b = np.where(rng.random(n) < b_rate, y, 1 - y)
    return EvalResult("A", LABELS, y, a), EvalResult("B", LABELS, y, b)


def sequential_claim(a, b, margin: float, batch: int, seed: int) -> tuple[bool, int]:
    try:
        cmp = assert_better(a, b, "accuracy", margin=margin,
                            sequential=SequentialPolicy(batch_size=batch, min_examples=batch,
                                                        seed=seed))
        return True, cmp.examples_used
    except ClaimFailed as failed:
        return False, failed.comparison.examples_used


def naive_peeking(a, b, margin: float, batch: int, seed: int, resamples: int) -> bool:
    """The one-sided paired bootstrap test of H0: A - B <= margin after every batch."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(a.n)
    diffs = ((a.y_pred == a.y_true).astype(int) - (b.y_pred == b.y_true).astype(int))[order]
    for t in range(batch, a.n + 1, batch):
        seen = diffs[:t]
        # The bootstrap mean of a {-1, 0, 1} variable: multinomial counts of its values.
        probs = np.array([np.mean(seen == v) for v in (-1, 0, 1)])
        counts = rng.multinomial(t, probs, size=resamples)
        means = (counts[:, 2] - counts[:, 0]) / t
        p = (1 + np.count_nonzero(means <= margin)) / (resamples + 1)
        if p < ALPHA:
            return True
    return False


def cpu_name() -> str:
    """The CPU's model name (timings and rates are reported with the machine they ran on)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()}, {os.cpu_count()} cores"
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--replicates", type=int, default=2000)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=25)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--power-replicates", type=int, default=200)
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).parent / "results" / "sequential_validity.json")
    args = parser.parse_args()
    started = time.perf_counter()
    rng = np.random.default_rng(2026)
    seq_false = naive_false = 0
    for r in range(args.replicates):
        a, b = pair(args.n, 0.7, 0.7, rng)
        seq_false += sequential_claim(a, b, 0.0, args.batch, r)[0]
        naive_false += naive_peeking(a, b, 0.0, args.batch, r, args.resamples)
    null = {"replicates": args.replicates, "sequential_false_claims": seq_false / args.replicates,
            "naive_peeking_false_claims": naive_false / args.replicates}
    print(f"null (equal accuracy 0.70), {args.replicates} replicates, looks every {args.batch} "
          f"of {args.n}: sequential {null['sequential_false_claims']:.4f}, naive peeking "
          f"{null['naive_peeking_false_claims']:.4f} (alpha {ALPHA})")
    power = []
    for diff, margin in ((0.03, 0.0), (0.05, 0.0), (0.10, 0.0), (0.15, 0.0), (0.10, 0.03),
                         (0.15, 0.05)):
        held, used, fixed = 0, [], 0
        for r in range(args.power_replicates):
            a, b = pair(args.n, 0.7 + diff, 0.7, rng)
            ok, n_used = sequential_claim(a, b, margin, args.batch, r)
            held += ok
            used.append(n_used)
            try:
                assert_better(a, b, "accuracy", margin=margin)
                fixed += 1
            except ClaimFailed:
                pass
        row = {"true_diff": diff, "margin": margin,
               "sequential_power": held / args.power_replicates,
               "fixed_n_power": fixed / args.power_replicates,
               "mean_examples_used": float(np.mean(used)),
               "median_examples_used": float(np.median(used)), "n": args.n}
        power.append(row)
        print(f"diff {diff:+.2f} margin {margin:.2f}: sequential power {row['sequential_power']:.2f} "
              f"on {row['mean_examples_used']:.0f} examples (median "
              f"{row['median_examples_used']:.0f}) of {args.n}; fixed-n power "
              f"{row['fixed_n_power']:.2f} on {args.n}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "command": "python benchmarks/sequential_validity.py " + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k != "out"),
        "machine": cpu_name(), "alpha": ALPHA,
        "looks_every": args.batch, "null": null, "power": power,
        "seconds": round(time.perf_counter() - started, 1)}, indent=2) + "\n")


if __name__ == "__main__":
    main()
