"""P2: zero-shot classification, batched label scoring vs per-example greedy generation.

The naive way is seed 000's: one `generate(max_new_tokens=1)` call per example. lmgate's way is
one batched, length-sorted forward pass that scores every label, with the prompts' shared token
prefix (chat header, instruction) run once and its KV cache reused; it is also timed without the
shared prefix to show what each part brings. Same model, prompt and data.

    LMGATE_DATA_DIR=../shared/data python benchmarks/p2_zero_shot.py [--n 64]
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

from lmgate.cache import RunCache  # noqa: E402
from lmgate.data.sources import sst2  # noqa: E402
from lmgate.models.causal import cpu_has_native_bf16, load_causal_lm  # noqa: E402
from lmgate.prompting import ZeroShotClassifier  # noqa: E402
from lmgate.settings import default_cache_dir  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--model", default="smollm2-135m-instruct")
    args = parser.parse_args()
    data = sst2("validation").balanced(args.n // 2, by=("label",), seed=0)
    lm = load_causal_lm(args.model, RunCache(default_cache_dir()), "cpu")
    ways = {"per-example generate": ("generate", dict(batch_size=1)),
            "batched score, no shared prefix": ("score", dict(share_prefix=False)),
            "batched score": ("score", {})}
    ZeroShotClassifier(lm, PROMPT, data.labels).predict(data.texts[:4], "generate")  # warm-up
    lms = {"fp32": lm, "bf16": load_causal_lm(args.model, RunCache(default_cache_dir()), "cpu",
                                              dtype="bfloat16")}
    ways["batched score, bf16"] = ("score", {})
    ZeroShotClassifier(lms["bf16"], PROMPT, data.labels).predict(data.texts[:4], "score")
    rows, preds = [], {}
    for way, (mode, options) in ways.items():
        model = lms["bf16" if way.endswith("bf16") else "fp32"]
        clf = ZeroShotClassifier(model, PROMPT, data.labels, **options)
        start = time.perf_counter()
        preds[way] = clf.predict(data.texts, mode, max_new_tokens=1).y_pred
        rows.append({"way": way, "examples_per_s": args.n / (time.perf_counter() - start)})
    speed = {row["way"]: row["examples_per_s"] for row in rows}
    report("p2_zero_shot", rows, {
        "speedup": speed["batched score"] / speed["per-example generate"],
        "speedup_from_shared_prefix": speed["batched score"] /
        speed["batched score, no shared prefix"],
        "agreement": float(np.mean(preds["per-example generate"] == preds["batched score"])),
        "bf16_speedup_over_fp32_score": speed["batched score, bf16"] / speed["batched score"],
        "bf16_speedup_over_generate": speed["batched score, bf16"] /
        speed["per-example generate"],
        "bf16_agreement_with_fp32": float(np.mean(preds["batched score, bf16"] ==
                                                  preds["batched score"])),
        "cpu_native_bf16": cpu_has_native_bf16(),
        "n": args.n, "model": args.model})


if __name__ == "__main__":
    main()
