"""P7: levers on one sentiment fine-tune, each against lmgate's default Trainer settings.

all-MiniLM-L6-v2 on N = 200 per class of one language (3 epochs, lr 1e-4, batch 16, seed 0),
trained once per way in a fresh process (so one way's compiled kernels or caches do not help
another); test predictions compared with the default's.

    LMGATE_DATA_DIR=../shared/data python benchmarks/p7_training_levers.py [--lang fr]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

#: TrainingArguments overrides per way; "default" is lmgate's own configuration.
WAYS = {"default": {}, "fused_adamw": {"optim": "adamw_torch_fused"},
        "torch_compile": {"torch_compile": True}}


def one_run(way: str, lang: str) -> dict:
    import numpy as np
    import transformers

    from lmgate.data import DataSplits
    from _datasets import SENTIMENT_HUB_CONFIGS, multilingual_sentiment
    from lmgate.models.load import load_model
    from lmgate.models.store.registry import get_model_spec
    from lmgate.models.store.resolve import resolve_model
    from lmgate.core.cache import RunCache
    from lmgate.core.config import TrainConfig, default_cache_dir
    from lmgate.methods.finetune import predict_labels
    from lmgate.methods.trainer import train_classifier

    data = multilingual_sentiment(sorted(SENTIMENT_HUB_CONFIGS), seed=0)
    pick = lambda split, n: split.where(language=lang).balanced(n, seed=0)
    splits = DataSplits(pick(data.train, 200), pick(data.validation, 30), pick(data.test, 100),
                        name=f"levers-{lang}")
    cache = RunCache(default_cache_dir() / "runs")
    resolved = resolve_model(get_model_spec("minilm"), cache.root.parent)
    model = load_model(resolved, "classifier", cache, labels=splits.labels, seed=0, max_length=128)
    original = transformers.TrainingArguments.__init__

    def with_lever(self, *args, **kwargs):
        return original(self, *args, **{**kwargs, **WAYS[way]})

    transformers.TrainingArguments.__init__ = with_lever
    config = TrainConfig(epochs=3, learning_rate=1e-4, batch_size=16, max_length=128)
    start = time.perf_counter()
    with cache.scratch("bench") as workdir:
        train_classifier(model.model, model.tokenizer, splits, config, seed=0, device="cpu",
                         workdir=workdir)
    seconds = time.perf_counter() - start
    pred = predict_labels(model.model, model.tokenizer, splits.test.texts, batch_size=64,
                          max_length=128, device="cpu")
    return {"way": way, "train_s": round(seconds, 1), "pred": pred.tolist(),
            "accuracy": float(np.mean(pred == splits.test.y))}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lang", default="fr")
    parser.add_argument("--way", help=argparse.SUPPRESS)   # the child process
    args = parser.parse_args()
    if args.way:
        print(json.dumps(one_run(args.way, args.lang)))
        return
    from _report import report

    runs = {}
    for way in WAYS:
        out = subprocess.run([sys.executable, __file__, "--lang", args.lang, "--way", way],
                             capture_output=True, text=True, check=True)
        runs[way] = json.loads(out.stdout.strip().splitlines()[-1])
    base = runs["default"]
    rows = [{"way": way, "train_s": r["train_s"], "accuracy": r["accuracy"],
             "same_predictions": sum(a == b for a, b in zip(r["pred"], base["pred"]))
             / len(base["pred"])} for way, r in runs.items()]
    report("p7_training_levers", rows,
           {f"speedup_{way}": base["train_s"] / runs[way]["train_s"] for way in WAYS
            if way != "default"})


if __name__ == "__main__":
    main()
