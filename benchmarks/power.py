"""Power of each smoke claim over training seeds and test-set draws.

Given results folders of the same tests run with different `--lmgate-seed`s (the seed redraws
the training sample, the head or model initialisation and the data order; where the data holds
more than the profile's test size, the test subset too), or `--run-seeds K` to run them here:
for every test whose rows recorded comparisons (`assert_better` / `assert_not_worse`), and for
the in-language claim (its CI against the mean transfer score), redraw each test set R times
(stratified by class, with replacement, at `scale` x its size per class), re-run the same
assertion on the redrawn examples, and report how often the claim holds over seeds x draws. The
verdict each seed's run gave is reported beside it. Translation claims are redrawn by sentence
(corpus BLEU recomputed on each redraw); SQuAD claims get the verdicts over seeds only.

    python benchmarks/power.py --run-seeds 10 --out power-runs -- evals/test_sentiment_multilingual.py
    python benchmarks/power.py power-runs/seed* [--scales 0.5 1 2] [--draws 100]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from lmgate import EvalResult
from lmgate.results.generation import GenerationResult
from lmgate import ClaimFailed, assert_above, assert_better, assert_not_worse


def load(folder: Path) -> tuple[list[dict], dict[str, dict]]:
    rows = [json.loads(line) for line in (folder / "results.jsonl").open()]
    preds = {p["record_id"]: p for p in map(json.loads, (folder / "predictions.jsonl").open())}
    return rows, preds


def results_of(rows: list[dict], preds: dict[str, dict]) -> dict[str, dict[str, EvalResult]]:
    """Per test node id, its classification and translation results by name."""
    out: dict[str, dict[str, EvalResult]] = defaultdict(dict)
    for row in rows:
        p, labels = preds.get(row["record_id"]), row.get("info", {}).get("labels")
        if p and isinstance(p.get("hypotheses"), list):
            out[row["nodeid"]][row["result"]] = GenerationResult(
                row["result"], p["sources"], p["hypotheses"], p["references"],
                params=row["params"])
        elif p and labels and isinstance(p.get("y_pred"), list) and p["y_pred"] \
                and isinstance(p["y_pred"][0], int):
            out[row["nodeid"]][row["result"]] = EvalResult(
                row["result"], tuple(labels), p["y_true"], p["y_pred"], params=row["params"])
    return out


class Redraw:
    """One stratified redraw per distinct test set (results on one set share it)."""

    def __init__(self, rng: np.random.Generator, scale: float) -> None:
        self.rng, self.scale, self.index = rng, scale, {}

    def __call__(self, result):
        if isinstance(result, GenerationResult):   # sentences, with replacement
            key = ("text", *result.references)
            if key not in self.index:
                n = len(result.references)
                self.index[key] = self.rng.choice(n, max(2, round(n * self.scale)))
            idx = self.index[key]
            return GenerationResult(result.name, *([items[i] for i in idx] for items in (
                result.sources, result.hypotheses, result.references)), params=result.params)
        key = result.y_true.tobytes()
        if key not in self.index:
            parts = [np.flatnonzero(result.y_true == c) for c in np.unique(result.y_true)]
            self.index[key] = np.concatenate([self.rng.choice(
                part, max(2, round(len(part) * self.scale))) for part in parts])
        idx = self.index[key]
        return EvalResult(result.name, result.labels, result.y_true[idx], result.y_pred[idx])


def holds(claim, *args, **kwargs) -> bool:
    """Whether lmgate's own claim function holds on a redraw (its rule, not a copy of it)."""
    try:
        claim(*args, **kwargs)
        return True
    except ClaimFailed:
        return False


def comparison_holds(cmp: dict, a: EvalResult, b: EvalResult) -> bool:
    claim = assert_not_worse if cmp["claim"] == "not worse" else assert_better
    return holds(claim, a, b, cmp["metric"], margin=cmp["margin"])


def in_language_holds(results: dict[str, EvalResult], draw: Redraw) -> bool:
    (home,) = [r for name, r in results.items() if r.params.get("train_lang") == r.params.get("test_lang")]
    transfer = statistics.mean(draw(r).metrics["macro_f1"] for r in results.values()
                               if r is not home and "test_lang" in r.params)
    return holds(assert_above, draw(home), transfer, metric="macro_f1")


def claim_of(nodeid: str, rows: list[dict], results: dict[str, EvalResult]):
    """(what the claim asserts, a function of one redraw -> held) for a test, or None."""
    cmps = {(c["a_name"], c["b_name"], c["metric"]): c for row in rows if row["nodeid"] == nodeid
            for c in row.get("comparisons") or []}
    usable = [c for c in cmps.values() if c["a_name"] in results and c["b_name"] in results]
    if "test_in_language_beats_transfer" in nodeid:
        return "in-language CI low > mean transfer", lambda d: in_language_holds(results, d)
    if not usable:
        return None
    held = lambda d: [comparison_holds(c, d(results[c["a_name"]]), d(results[c["b_name"]]))
                      for c in usable]
    if "test_learning_curves" in nodeid:   # the claim: more than half of the languages rise
        return (f"> half of {len(usable)} languages: N max beats N min by "
                f"{usable[0]['margin']:+.2f}", lambda d: sum(held(d)) > len(usable) / 2)
    what = "; ".join(f"{c['a_name']} {c['claim']} {c['b_name']} ({c['metric']}, margin "
                     f"{c['margin']:+.2f})" for c in usable)
    return what, lambda d: all(held(d))


def run_pytest(seed: int, results: Path, pytest_args: list[str], env: dict | None = None,
               options: tuple[str, ...] = ()) -> tuple[int, float]:
    """One `python -m pytest` of `pytest_args` at `seed` into the results folder `results`:
    (exit code, wall seconds)."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *options,
           f"--lmgate-seed={seed}", f"--lmgate-results-dir={results}", *pytest_args]
    start = time.perf_counter()
    rc = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL).returncode
    return rc, time.perf_counter() - start


def run_seeds(k: int, out: Path, pytest_args: list[str]) -> list[Path]:
    """Run `pytest_args` once per seed 0..k-1, each into out/seed<S>; the folders."""
    folders = []
    for seed in range(k):
        folder = out / f"seed{seed}"
        rc, seconds = run_pytest(seed, folder, pytest_args)
        print(f"seed {seed}: pytest exit {rc} in {seconds:.0f} s", flush=True)
        folders.append(folder)
    return folders


def power_over(folders: list[Path], scales: list[float], draws: int, seed: int) -> list[dict]:
    """Per test: the verdicts over the folders' seeds and the power over seeds x test draws."""
    runs = [load(folder) for folder in folders]
    verdicts: dict[str, list[str]] = defaultdict(list)
    for rows, _ in runs:
        for nodeid in dict.fromkeys(row["nodeid"] for row in rows):
            verdicts[nodeid].append(next(r.get("verdict") for r in rows if r["nodeid"] == nodeid))
    power: dict[str, dict[float, list[float]]] = defaultdict(lambda: defaultdict(list))
    claims, sizes = {}, {}
    for rows, preds in runs:
        for nodeid, results in results_of(rows, preds).items():
            claim = claim_of(nodeid, rows, results)
            if claim is None:
                continue
            claims[nodeid], holds = claim
            first = next(iter(results.values()))
            sizes[nodeid] = len(first.references if isinstance(first, GenerationResult)
                                else first.y_true)
            for scale in scales:
                rng = np.random.default_rng(seed)
                power[nodeid][scale].append(
                    float(np.mean([holds(Redraw(rng, scale)) for _ in range(draws)])))
    report = []
    for nodeid, seen in verdicts.items():
        entry = {"test": nodeid.split("::")[-1], "seeds": len(seen),
                 "seeds_passed": sum(v == "passed" for v in seen), "verdicts": seen}
        if nodeid in power:
            entry.update(claim=claims[nodeid], n_test=sizes[nodeid],
                         power={s: float(np.mean(p)) for s, p in power[nodeid].items()},
                         power_per_seed={s: p for s, p in power[nodeid].items()})
        report.append(entry)
        shown = "  ".join(f"x{s:g}: {p:.2f}" for s, p in entry.get("power", {}).items())
        print(f"{entry['test']}: passed on {entry['seeds_passed']}/{entry['seeds']} seeds  "
              f"{shown}", flush=True)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", type=Path, nargs="*", help="results folders, one per seed")
    parser.add_argument("--run-seeds", type=int, default=0,
                        help="run the pytest arguments after -- with seeds 0..K-1 first")
    parser.add_argument("--out", type=Path, default=Path("power-runs"),
                        help="where --run-seeds writes its results folders")
    parser.add_argument("--scales", type=float, nargs="+", default=[1.0])
    parser.add_argument("--draws", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0, help="seed of the test-set redraws")
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "power.json")
    argv = sys.argv[1:] if argv is None else argv
    split = argv.index("--") if "--" in argv else len(argv)
    args, pytest_args = parser.parse_args(argv[:split]), argv[split + 1:]
    folders = list(args.folders)
    if args.run_seeds:
        folders += run_seeds(args.run_seeds, args.out, pytest_args)
    if not folders:
        parser.error("give results folders or --run-seeds K")
    report = power_over(folders, args.scales, args.draws, args.seed)
    args.json.parent.mkdir(exist_ok=True)
    args.json.write_text(json.dumps({"folders": [str(f) for f in folders], "draws": args.draws,
                                     "pytest_args": pytest_args, "claims": report}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
