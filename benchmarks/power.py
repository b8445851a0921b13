"""Power of each smoke claim against test-set sampling, from a results folder's predictions.

For every test whose rows recorded comparisons (`assert_better` / `assert_not_worse`), and for
the in-language claim (its CI against the mean transfer score), redraw each test set R times
(stratified by class, with replacement, at `scale` x its size per class), re-run the same
assertion on the redrawn examples, and report how often the claim holds: its power at the
effect this run measured. What it leaves out: the spread from training seeds (the trained
models are fixed), and BLEU / SQuAD claims (their predictions are text, not labels).

    python benchmarks/power.py lmgate-results [--scales 0.5 1 2] [--draws 200]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from lmgate import EvalResult
from lmgate.metrics.resampling import bootstrap_ci
from lmgate.stats.claims import paired_bootstrap

INNER_RESAMPLES = 500   # per re-run assertion; the suite uses more, the verdicts barely move


def load(folder: Path) -> tuple[list[dict], dict[str, dict]]:
    rows = [json.loads(line) for line in (folder / "results.jsonl").open()]
    preds = {p["record_id"]: p for p in map(json.loads, (folder / "predictions.jsonl").open())}
    return rows, preds


def results_of(rows: list[dict], preds: dict[str, dict]) -> dict[str, dict[str, EvalResult]]:
    """Per test node id, its classification results by name (rows with label predictions)."""
    out: dict[str, dict[str, EvalResult]] = defaultdict(dict)
    for row in rows:
        p, labels = preds.get(row["record_id"]), row.get("info", {}).get("labels")
        if p and labels and isinstance(p.get("y_pred"), list) and p["y_pred"] \
                and isinstance(p["y_pred"][0], int):
            out[row["nodeid"]][row["result"]] = EvalResult(
                row["result"], tuple(labels), p["y_true"], p["y_pred"], params=row["params"])
    return out


class Redraw:
    """One stratified redraw per distinct test set (results on one set share it)."""

    def __init__(self, rng: np.random.Generator, scale: float) -> None:
        self.rng, self.scale, self.index = rng, scale, {}

    def __call__(self, result: EvalResult) -> EvalResult:
        key = result.y_true.tobytes()
        if key not in self.index:
            parts = [np.flatnonzero(result.y_true == c) for c in np.unique(result.y_true)]
            self.index[key] = np.concatenate([self.rng.choice(
                part, max(2, round(len(part) * self.scale))) for part in parts])
        idx = self.index[key]
        return EvalResult(result.name, result.labels, result.y_true[idx], result.y_pred[idx])


def comparison_holds(cmp: dict, a: EvalResult, b: EvalResult) -> bool:
    c = paired_bootstrap(a, b, cmp["metric"], cmp["margin"], n_resamples=INNER_RESAMPLES)
    if cmp["claim"] == "not worse":
        return not c.diff.high < -cmp["margin"]
    return c.diff.point > cmp["margin"] and c.p_value < 0.05


def in_language_holds(results: dict[str, EvalResult], draw: Redraw) -> bool:
    (home,) = [r for name, r in results.items() if r.params.get("train_lang") == r.params.get("test_lang")]
    transfer = statistics.mean(draw(r).metrics["macro_f1"] for r in results.values()
                               if r is not home and "test_lang" in r.params)
    home = draw(home)
    return bootstrap_ci(home.y_true, home.y_pred, len(home.labels),
                        n_resamples=INNER_RESAMPLES).low > transfer


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--scales", type=float, nargs="+", default=[0.5, 1.0, 2.0])
    parser.add_argument("--draws", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rows, preds = load(args.folder)
    report = []
    for nodeid, results in results_of(rows, preds).items():
        claim = claim_of(nodeid, rows, results)
        if claim is None:
            continue
        what, holds = claim
        n = len(next(iter(results.values())).y_true)
        power = {}
        for scale in args.scales:
            rng = np.random.default_rng(args.seed)
            power[scale] = float(np.mean([holds(Redraw(rng, scale)) for _ in range(args.draws)]))
        report.append({"test": nodeid.split("::")[-1], "claim": what, "n_test": n, "power": power})
        print(f"{nodeid.split('::')[-1]}  (n = {n})  " + "  ".join(
            f"x{s:g}: {p:.2f}" for s, p in power.items()), flush=True)
        print(f"    {what}")
    out = Path(__file__).parent / "results" / "power.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"folder": str(args.folder), "draws": args.draws,
                               "claims": report}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
