"""P9: frozen-base features in bf16 vs float32 on this CPU: time of the feature pass, and
whether a head trained on each makes the same predictions (SST-2 smoke split, SmolLM2).

The same seed, batches and head initialisation for both; only the precision of the base's
forward pass differs.

    python benchmarks/p9_bf16_features.py [--n 1000] [--model gemma3-270m --epochs 30 --seeds 0 1 2 3 4]
"""

from __future__ import annotations

import argparse
import copy
import time

import numpy as np
import torch
from _report import report

from lmgate.core.cache import RunCache
from lmgate.core.config import TrainConfig, default_cache_dir
from lmgate.data import split_off
from _datasets import sst2
from lmgate.methods.heads import base_features, predict_head, train_classification_head
from lmgate.models.load import load_model


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1000, help="examples per class (smoke: 1000)")
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="head seeds")
    args = parser.parse_args()
    train, held_out = split_off(sst2("train").balanced(args.n, by=("label",), seed=0), 0.2, seed=1)
    cache = RunCache(default_cache_dir())
    config = TrainConfig(epochs=args.epochs, learning_rate=1e-3, batch_size=16, max_length=64)
    frozen = load_model(args.model, "frozen-head", cache, labels=train.labels, seed=0)
    rows, feats, seconds = [], {}, {}
    for dtype in ("float32", "bfloat16"):
        start = time.perf_counter()
        feats[dtype] = {d.name: base_features(frozen, d.texts, max_length=64, dtype=dtype)
                        for d in (train, held_out)}
        seconds[dtype] = time.perf_counter() - start
    identical = []
    for seed in args.seeds:
        torch.manual_seed(seed)
        frozen.head.reset_parameters()
        initial = copy.deepcopy(frozen.head.state_dict())
        preds = {}
        for dtype in ("float32", "bfloat16"):
            frozen.head.load_state_dict(initial)
            train_classification_head(frozen, train, held_out, config, seed=seed,
                                      train_features=feats[dtype][train.name],
                                      eval_features=feats[dtype][held_out.name])
            preds[dtype] = predict_head(frozen, held_out, 64, features=feats[dtype][held_out.name])
            rows.append({"seed": seed, "dtype": dtype, "feature_s": seconds[dtype],
                         "accuracy": float(np.mean(preds[dtype] == held_out.y))})
        identical.append(float(np.mean(preds["float32"] == preds["bfloat16"])))
    name = "p9_bf16_features" + ("" if args.model == "smollm2-135m-instruct" else f"_{args.model}")
    report(name, rows, {
        "speedup_bf16": seconds["float32"] / seconds["bfloat16"],
        "identical_predictions": min(identical), "identical_per_seed": identical,
        "n_train": len(train), "n_held_out": len(held_out), "model": args.model})


if __name__ == "__main__":
    main()
