"""P1: fine-tuning throughput, dynamic padding + length grouping vs padding to max_length.

Real tweet lengths (multilingual sentiment, en), all-MiniLM-L6-v2, one epoch each way, at
max_length 128 (seed 003) and 512 (seed 000). Also reports the padded-token share of each.

    LMGATE_DATA_DIR=../shared/data python benchmarks/p1_padding.py [--n 320]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _report import report

from lmgate.core.cache import RunCache
from lmgate.data import DataSplits
from _datasets import multilingual_sentiment
from lmgate.models.load import load_model
from lmgate.models.store.registry import get_model_spec
from lmgate.models.store.resolve import resolve_model
from lmgate.core.config import TrainConfig, default_cache_dir
from lmgate.methods.trainer import train_classifier


def padded_share(lengths: np.ndarray, batch: int, grouped: bool, max_length: int | None) -> float:
    if max_length is not None:
        return float(1 - lengths.sum() / (len(lengths) * max_length))
    order = np.sort(lengths) if grouped else lengths
    padded = sum(len(b) * b.max() for b in np.array_split(order, max(1, len(order) // batch)))
    return float(1 - lengths.sum() / padded)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=320)
    args = parser.parse_args()
    data = multilingual_sentiment(["en"]).map(lambda s: s.where(language="en"))
    train = data.train.balanced(args.n // 3, by=("label",), seed=0)
    splits = DataSplits(train, data.validation.balanced(10, by=("label",)), data.test)
    cache = RunCache(default_cache_dir())
    resolved = resolve_model(get_model_spec("minilm"), cache.root.parent)
    rows, ratios = [], {}
    for max_length in (128, 512):
        seconds = {}
        for way, pad in (("pad to max_length", True), ("dynamic + grouped", False)):
            config = TrainConfig(epochs=1, batch_size=16, max_length=max_length,
                                 pad_to_max_length=pad, group_by_length=not pad, learning_rate=1e-4)
            loaded = load_model(resolved, "classifier", cache, labels=splits.labels, seed=0, max_length=max_length)
            lengths = np.array([len(x) for x in loaded.tokenizer(
                train.texts, truncation=True, max_length=max_length)["input_ids"]])
            start = time.perf_counter()
            train_classifier(loaded.model, loaded.tokenizer, splits, config, seed=0, device="cpu")
            seconds[way] = time.perf_counter() - start
            rows.append({"max_length": max_length, "way": way,
                         "samples_per_s": len(train) / seconds[way],
                         "padded_share": padded_share(lengths, 16, not pad,
                                                      max_length if pad else None)})
        ratios[f"speedup@{max_length}"] = seconds["pad to max_length"] / seconds["dynamic + grouped"]
        ratios[f"padding_limit@{max_length}"] = float(max_length / lengths.mean())
    report("p1_padding", rows, ratios)


if __name__ == "__main__":
    main()
