"""What the smoke profile's sequential claims saved: examples scored and model seconds.

Runs the two smoke claims that are judged both sequentially and on every example (the SST-2
frozen-base head against zero-shot, and seed 000's shape on English sentiment: the trained
encoder against SmolLM2 zero-shot) with a fresh run cache that shares only the model store of
`--models-from` (so that no prediction or feature is read from an earlier run), and writes what each recorded: examples the sequential claim used of those
available, the zero-shot model's seconds up to the stop against scoring every example, and both
verdicts.

    python benchmarks/sequential_savings.py [--json benchmarks/results/sequential_savings.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from _report import machine

ROOT = Path(__file__).resolve().parents[1]
TESTS = ["evals/test_sst2.py::test_frozen_base_head_beats_zero_shot",
         "evals/test_sentiment_multilingual.py::test_trained_encoder_beats_zero_shot_llm_sequentially"]


def savings(results: Path) -> list[dict]:
    """One row per test that recorded `sequential_examples_used`, read from results.jsonl and
    claims.jsonl of a results folder."""
    from lmgate import read_results

    rows, _, _, claim_lines = read_results(results)
    claims = {item["nodeid"]: item["comparisons"] for item in claim_lines}
    out = []
    for row in rows:
        used = row.metrics.get("sequential_examples_used")
        if used is None:
            continue
        comparisons = [c for c in claims.get(row.nodeid, []) if c.get("metric") == "accuracy"]
        sequential = [c for c in comparisons if c.get("stopped")]
        fixed = [c for c in comparisons if not c.get("stopped")]
        out.append({
            "test": row.nodeid,
            "examples_used": int(used),
            "examples_available": int(sequential[0]["n"]) if sequential else None,
            "sequential_model_s": round(row.metrics["sequential_model_s"], 2),
            "fixed_n_model_s": round(row.metrics["fixed_n_model_s"], 2),
            "sequential_verdict": sequential[0]["stopped"] if sequential else None,
            "sequential_p": sequential[0]["p_value"] if sequential else None,
            "fixed_n_held": fixed[0]["held"] if fixed else None,
            "fixed_n_p": fixed[0]["p_value"] if fixed else None,
        })
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default=str(ROOT / "benchmarks/results/sequential_savings.json"))
    parser.add_argument("--results", help="read this results folder instead of running the tests")
    parser.add_argument("--models-from", help="a run cache whose model store (fetched and "
                        "converted weights) to share (default: lmgate's default cache)")
    args = parser.parse_args()
    if args.results:
        results = Path(args.results)
    else:
        scratch = Path(tempfile.mkdtemp(prefix="lmgate-savings-"))
        results = scratch / "results"
        from lmgate.core.config import default_cache_dir

        store = Path(args.models_from or default_cache_dir()) / "runs"
        (scratch / "cache" / "runs").mkdir(parents=True)
        for kind in ("pypi", "weights"):     # the model store only: never predictions
            if (store / kind).is_dir():
                (scratch / "cache" / "runs" / kind).symlink_to(store / kind)
        env = {**os.environ, "LMGATE_CACHE_DIR": str(scratch / "cache")}
        subprocess.run([sys.executable, "-m", "pytest", *TESTS, "-q", "-p", "no:cacheprovider",
                        "--lmgate-results-dir", str(results)], cwd=ROOT, env=env, check=True)
    table = savings(results)
    for row in table:
        print(f"{row['test']}: {row['examples_used']} of {row['examples_available']} examples, "
              f"{row['sequential_model_s']} vs {row['fixed_n_model_s']} model s; sequential "
              f"{row['sequential_verdict']}, fixed-n held={row['fixed_n_held']}")
    Path(args.json).write_text(json.dumps({
        "command": "python benchmarks/sequential_savings.py", "machine": machine(),
        "claims": table}, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
