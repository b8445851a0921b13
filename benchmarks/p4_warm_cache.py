"""P4: the second run of a study against the first, with a fresh cache, results compared.

    LMGATE_DATA_DIR=../shared/data python benchmarks/p4_warm_cache.py [-k sentiment]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _report import report


def run(k: str, cache: str, out: str) -> float:
    env = {**os.environ, "LMGATE_CACHE_DIR": cache}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pytest", "evals", "-k", k, "-q", "-p", "no:cacheprovider",
                    "--lmgate-results-dir", out], env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def metrics(out: str) -> list:
    rows = [json.loads(l) for l in (Path(out) / "results.jsonl").read_text().splitlines()]
    return [(r["nodeid"], r["result"], r["metrics"]) for r in rows]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-k", default="sentiment")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cold = run(args.k, f"{tmp}/cache", f"{tmp}/cold")
        warm = run(args.k, f"{tmp}/cache", f"{tmp}/warm")
        same = metrics(f"{tmp}/cold") == metrics(f"{tmp}/warm")
    report("p4_warm_cache", [{"run": "cold", "seconds": cold}, {"run": "warm", "seconds": warm}],
           {"speedup": cold / warm, "identical_results": same, "selection": args.k})


if __name__ == "__main__":
    main()
