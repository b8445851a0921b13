"""Choose SST-2's smoke base and head settings by validation, never by the claim.

For each training seed the smoke draws its pool as the suite does (`train_per_class` balanced
GLUE training sentences, seed = the run's seed), holds out its 20% (split seed 1: the claim's
test set, not looked at here), splits the rest 80:20 again and trains the head on one part,
scoring validation accuracy on the other.

    LMGATE_EMBEDDED_DATA_DIR=evals/data python benchmarks/sst2_head_validation.py \
        --base gemma3-270m --seeds 0 1 2 3 4 --settings 3:1e-3 10:1e-3 30:1e-3
"""

from __future__ import annotations

import argparse
import copy
import statistics

from _report import report

from lmgate.core.cache import RunCache
from lmgate.core.config import TrainConfig, default_cache_dir
from _datasets import sst2
from lmgate.data.splits import split_off
from lmgate.methods.heads import train_frozen_head
from lmgate.models.load import load_model


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", default="gemma3-270m")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--per-class", type=int, default=1000)
    parser.add_argument("--settings", nargs="+", default=["3:1e-3", "10:1e-3", "30:1e-3"],
                        help="EPOCHS:LEARNING_RATE[:BATCH]")
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--name", default="sst2_head_validation")
    args = parser.parse_args()
    cache = RunCache(default_cache_dir())
    scores: dict[str, list[float]] = {}
    known: dict = {}
    for seed in args.seeds:
        pool = sst2("train").balanced(args.per_class, by=("label",), seed=seed)
        train, _claims_test = split_off(pool, 0.2, seed=1)
        fit, validation = split_off(train, 0.2, seed=seed)
        # One load per seed; each setting starts from the same seeded head (as `frozen_head`).
        frozen = load_model(args.base, "frozen-head", cache, labels=fit.labels, seed=seed)
        initial = copy.deepcopy(frozen.head.state_dict())
        for setting in args.settings:
            frozen.head.load_state_dict(initial)
            epochs, lr, *batch = setting.split(":")
            config = TrainConfig(epochs=int(epochs), learning_rate=float(lr),
                                 batch_size=int(batch[0]) if batch else 16,
                                 max_length=args.max_length)
            run = train_frozen_head(args.base, fit, validation, config, cache=cache, seed=seed,
                                    known=known, frozen=frozen)
            scores.setdefault(setting, []).append(run.result["accuracy"])
            print(f"seed {seed} {setting}: {run.result['accuracy']:.3f}", flush=True)
    rows = [{"base": args.base, "setting": s, "mean_accuracy": statistics.mean(v),
             "sd": statistics.stdev(v) if len(v) > 1 else 0.0, "per_seed": v}
            for s, v in scores.items()]
    report(args.name, rows, {"seeds": args.seeds, "per_class": args.per_class})


if __name__ == "__main__":
    main()
