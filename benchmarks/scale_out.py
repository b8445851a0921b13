"""Parallel efficiency of pytest-xdist workers against a serial run, with the same results.

Runs the target twice with cold caches: serially, then with `-n K --dist loadgroup` (workers
pinned to GPUs when there are any, sharing the cores otherwise), and prints the wall times,
their ratio, the efficiency (ratio / K) and whether every recorded metric is identical.

    python benchmarks/scale_out.py --workers 2                       # this machine
    python benchmarks/scale_out.py --workers 8 --device cuda         # a machine with 8 GPUs
    python benchmarks/scale_out.py --workers 2 -- evals --lmgate-profile paper-dryrun   # any target
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

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TARGET = ["evals/test_baselines.py", "evals/test_sst2.py"]


def run(target: list[str], workers: int, device: str, folder: Path) -> float:
    args = [sys.executable, "-m", "pytest", *target, "-q", "-p", "no:cacheprovider",
            "--lmgate-device", device, "--lmgate-results-dir", str(folder / "results")]
    if workers > 1:
        args += ["-n", str(workers), "--dist", "loadgroup"]
    env = {**os.environ, "LMGATE_CACHE_DIR": str(folder / "cache")}
    start = time.perf_counter()
    done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    print(done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-2000:])
    return seconds


def metrics(folder: Path) -> dict[tuple[str, str], dict]:
    rows = [json.loads(line) for line in (folder / "results" / "results.jsonl").open()]
    return {(r["nodeid"], r["result"]): r["metrics"] for r in rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--device", default="auto")
    parser.add_argument("target", nargs="*", default=DEFAULT_TARGET)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        serial, parallel = Path(tmp, "serial"), Path(tmp, "parallel")
        t1 = run(args.target, 1, args.device, serial)
        tk = run(args.target, args.workers, args.device, parallel)
        a, b = metrics(serial), metrics(parallel)
        same = a == b
    ratio = t1 / tk
    report = {"target": args.target, "workers": args.workers, "device": args.device,
              "serial_s": round(t1, 1), "parallel_s": round(tk, 1), "speedup": round(ratio, 2),
              "efficiency": round(ratio / args.workers, 2), "rows": len(a),
              "identical_metrics": same, "cpu_count": os.cpu_count()}
    print(json.dumps(report, indent=1))
    out = ROOT / "benchmarks" / "results" / f"scale_out_{args.device}_{args.workers}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
