"""P3: a classification head on a frozen base, trained on cached features vs through the base
every epoch (3 epochs), same seed and batches. Includes the one-off feature pass.

    LMGATE_DATA_DIR=../shared/data python benchmarks/p3_frozen_head.py [--n 400]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _report import report

from lmgate.core.cache import RunCache
from _datasets import sst2
from lmgate.methods.heads import base_features, train_classification_head
from lmgate.models.load import load_model
from lmgate.core.config import TrainConfig, default_cache_dir


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=400)
    args = parser.parse_args()
    data = sst2("train").balanced(args.n // 2, by=("label",), seed=0)
    cache = RunCache(default_cache_dir())
    config = TrainConfig(epochs=3, learning_rate=1e-3, batch_size=16, max_length=64)
    timings, weights = {}, {}
    for way in ("naive", "cached"):
        frozen = load_model("smollm2-135m-instruct", "frozen-head", cache, task="classification",
                                  labels=data.labels, seed=0)
        start = time.perf_counter()
        feats = base_features(frozen, data.texts, max_length=64) if way == "cached" else None
        train_classification_head(frozen, data, data, config, seed=0, train_features=feats,
                                  eval_features=feats)
        timings[way] = time.perf_counter() - start
        weights[way] = frozen.head.weight.detach().numpy().copy()
    rows = [{"way": w, "seconds": t} for w, t in timings.items()]
    report("p3_frozen_head", rows, {"speedup": timings["naive"] / timings["cached"],
                                    "max_weight_difference": float(np.abs(
                                        weights["naive"] - weights["cached"]).max()),
                                    "n": args.n})


if __name__ == "__main__":
    main()
