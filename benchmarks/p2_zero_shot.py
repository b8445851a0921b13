"""P2: zero-shot classification, batched label scoring vs per-example greedy generation.

The naive way is seed 000's: one `generate(max_new_tokens=1)` call per example. lmgate's way is
one batched, length-sorted forward pass that scores every label. Same model, prompt and data.

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
from lmgate.models.causal import load_causal_lm  # noqa: E402
from lmgate.prompting import ZeroShotClassifier  # noqa: E402
from lmgate.settings import default_cache_dir  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--model", default="smollm2-135m-instruct")
    args = parser.parse_args()
    data = sst2("validation").balanced(args.n // 2, by=("label",), seed=0)
    lm = load_causal_lm(args.model, RunCache(default_cache_dir()), "cpu")
    batched = ZeroShotClassifier(lm, PROMPT, data.labels, batch_size=16)
    naive = ZeroShotClassifier(lm, PROMPT, data.labels, batch_size=1)
    t0 = time.perf_counter()
    naive_out = naive.predict(data.texts, "generate", max_new_tokens=1)
    t1 = time.perf_counter()
    fast_out = batched.predict(data.texts, "score")
    t2 = time.perf_counter()
    rows = [{"way": "per-example generate", "examples_per_s": args.n / (t1 - t0)},
            {"way": "batched score", "examples_per_s": args.n / (t2 - t1)}]
    report("p2_zero_shot", rows, {"speedup": (t1 - t0) / (t2 - t1),
                                  "agreement": float(np.mean(naive_out.y_pred == fast_out.y_pred)),
                                  "n": args.n, "model": args.model})


if __name__ == "__main__":
    main()
