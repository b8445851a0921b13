"""P2: zero-shot classification, batched label scoring vs per-example greedy generation.

The naive way is seed 000's: one `generate(max_new_tokens=1)` call per example. lmgate's way is
one batched, length-sorted forward pass that scores every label, with the prompts' shared token
prefix (chat header, instruction) run once and its KV cache reused; it is also timed without the
shared prefix, with bf16 weights alone, and as lmgate runs it on a CPU with native bf16: bf16
first, close calls re-scored in float32. Same model, prompt and data; every way's predictions
are compared with the naive way's and with float32 scoring.

    LMGATE_DATA_DIR=../shared/data python benchmarks/p2_zero_shot.py [--n 256] [--split train]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "evals"))

import numpy as np  # noqa: E402
from _report import report  # noqa: E402
from test_sst2 import PROMPT  # noqa: E402

from lmgate.core.cache import RunCache  # noqa: E402
from _datasets import sst2  # noqa: E402
from lmgate.core.device import cpu_has_native_bf16
from lmgate.models.load import load_model  # noqa: E402
from lmgate.methods.zero_shot import ZeroShotClassifier  # noqa: E402
from lmgate.core.config import default_cache_dir  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--model", default="smollm2-135m-instruct")
    # The cascade's recheck margin was set from SST-2 validation sentences: measure on train.
    parser.add_argument("--split", default="train")
    args = parser.parse_args()
    data = sst2(args.split).balanced(args.n // 2, by=("label",), seed=0)
    cache = RunCache(default_cache_dir())
    lms = {"fp32": load_model(args.model, "prompting", cache, device="cpu"),
           "bf16": load_model(args.model, "prompting", cache, device="cpu", dtype="bfloat16")}
    ways = {"per-example generate": ("fp32", "generate", dict(batch_size=1)),
            "batched score, no shared prefix": ("fp32", "score", dict(share_prefix=False)),
            "batched score": ("fp32", "score", {}),
            "batched score, bf16": ("bf16", "score", {}),
            "batched score, bf16 + fp32 recheck": ("fp32", "score", dict(fast=lms["bf16"]))}
    for lm in lms.values():   # warm-up
        ZeroShotClassifier(lm, PROMPT, data.labels).predict(data.texts[:4], "generate")
    rows, preds, rechecked = [], {}, None
    for way, (dtype, mode, options) in ways.items():
        clf = ZeroShotClassifier(lms[dtype], PROMPT, data.labels, **options)
        start = time.perf_counter()
        out = clf.predict(data.texts, mode, max_new_tokens=1)
        rows.append({"way": way, "examples_per_s": args.n / (time.perf_counter() - start)})
        preds[way] = out.y_pred
        rechecked = out.rechecked if out.rechecked is not None else rechecked
    speed = {row["way"]: row["examples_per_s"] for row in rows}
    naive = preds["per-example generate"]
    for row in rows:
        row["speedup_over_generate"] = speed[row["way"]] / speed["per-example generate"]
        row["agreement_with_generate"] = float(np.mean(preds[row["way"]] == naive))
        row["agreement_with_fp32_score"] = float(np.mean(preds[row["way"]] ==
                                                         preds["batched score"]))
    report("p2_zero_shot", rows, {
        "speedup": speed["batched score"] / speed["per-example generate"],
        "speedup_from_shared_prefix": speed["batched score"] /
        speed["batched score, no shared prefix"],
        "cascade_speedup_over_generate": speed["batched score, bf16 + fp32 recheck"] /
        speed["per-example generate"],
        "cascade_rechecked_share": rechecked,
        "cpu_native_bf16": cpu_has_native_bf16(),
        "n": args.n, "split": args.split, "model": args.model})


if __name__ == "__main__":
    main()
