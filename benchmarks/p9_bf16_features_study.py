"""P9 over a whole study: its tests run with every frozen base's head features in float32 and in
bf16 (autocast, as `cpu_bf16_features` asks on a CPU with native bf16), per seed, each run with a
cold run cache (the model store hard-linked in); reports each run's pytest time and the share of
predictions identical between the two precisions.

    python benchmarks/p9_bf16_features_study.py --seeds 0 1 2 --out p9-runs -- \\
        evals/test_sentiment_multilingual.py

The precision is forced by `_feature_dtype_plugin` (a pytest plugin this script loads, reading
LMGATE_BENCH_FEATURE_DTYPE), so a model's own opt-in does not decide it. Run with
LMGATE_DATA_DIR for ../shared/data, without it for the embedded samples.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path

from _report import report
from power import load, run_pytest

from lmgate.core.config import default_cache_dir

DTYPES = ("float32", "bfloat16")


def run(dtype: str, seed: int, folder: Path, pytest_args: list[str]) -> float:
    """One pytest run of `pytest_args` at `dtype` into folder/results; its wall seconds."""
    cache = folder / "cache"
    shutil.rmtree(folder, ignore_errors=True)
    (cache / "runs").mkdir(parents=True)
    store = default_cache_dir() / "runs"
    for kept in ("pypi", "weights"):   # the model store, not the features: those are measured
        if (store / kept).is_dir():
            shutil.copytree(store / kept, cache / "runs" / kept, copy_function=os.link)
    env = dict(os.environ, LMGATE_CACHE_DIR=str(cache), LMGATE_BENCH_FEATURE_DTYPE=dtype,
               PYTHONPATH=os.pathsep.join([str(Path(__file__).parent),
                                           os.environ.get("PYTHONPATH", "")]))
    rc, seconds = run_pytest(seed, folder / "results", pytest_args, env=env,
                             options=("-p", "_feature_dtype_plugin"))
    shutil.rmtree(cache)
    if rc not in (0, 1):
        raise SystemExit(f"pytest exit {rc} at {dtype}, seed {seed}: see {folder}")
    return seconds


def predictions(folder: Path) -> dict[str, list]:
    """Each result's predicted labels, by (test, result name, parameters)."""
    rows, preds = load(folder / "results")
    out: dict[str, list] = {}
    for row in rows:
        pred = preds.get(row["record_id"], {})
        if isinstance(pred.get("y_pred"), list):
            key = (row["nodeid"], row["result"], json.dumps(row.get("params"), sort_keys=True))
            out.setdefault(str(key), []).extend(pred["y_pred"])
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=Path("p9-runs"))
    parser.add_argument("pytest_args", nargs="+")
    args = parser.parse_args()
    rows = []
    for seed in args.seeds:
        seconds = {d: run(d, seed, args.out / f"seed{seed}-{d}", args.pytest_args) for d in DTYPES}
        a, b = (predictions(args.out / f"seed{seed}-{d}") for d in DTYPES)
        if a.keys() != b.keys():
            raise SystemExit(f"seed {seed}: the two runs recorded different results")
        total = sum(len(a[k]) for k in a)
        same = sum(x == y for k in a for x, y in zip(a[k], b[k], strict=True))
        rows.append({"seed": seed, "float32_s": seconds["float32"],
                     "bfloat16_s": seconds["bfloat16"], "predictions": total,
                     "identical": same / total})
    data = "shared" if os.environ.get("LMGATE_DATA_DIR") else "embedded"
    report(f"p9_bf16_features_study_{data}", rows, {
        "speedup": sum(r["float32_s"] for r in rows) / sum(r["bfloat16_s"] for r in rows),
        "identical_all": sum(r["identical"] * r["predictions"] for r in rows)
        / sum(r["predictions"] for r in rows),
        "tests": " ".join(args.pytest_args), "data": data})


if __name__ == "__main__":
    main()
