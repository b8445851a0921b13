"""P12: zero-shot classification through a served model vs in this process, on CPU.

SmolLM2-135M-Instruct answers SST-2 validation sentences in generate mode (one greedy token,
parsed to a label: the one mode `transformers serve` supports, since it returns no prompt
log-probabilities). Ways: in-process batched generation (the naive reference for this table)
and the same model behind a real `transformers serve` (started by lmgate's launcher, float32,
on a free loopback port) at 1 and N concurrent requests. Reports examples/s and the share of
predictions identical to the in-process ones. The response cache is off, so every request is
sent.

    python benchmarks/p12_served_zero_shot.py [--n 64] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from _report import report

from lmgate.core.cache import RunCache
from lmgate.core.config import default_cache_dir
from _datasets import sst2
from lmgate.methods.zero_shot import PromptTemplate, ZeroShotClassifier
from lmgate.models.serving.endpoint import Endpoint, connect
from lmgate.models.load import load_model, resolve
from lmgate.models.store.registry import ModelSpec
from lmgate.models.serving.serve import Serve, start

PROMPT = PromptTemplate("Is this review positive or negative? Answer with one word.",
                        {"negative": "negative", "positive": "positive"}, input_name="Review")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    data = sst2("validation").balanced(args.n // 2, by=("label",), seed=0)
    cache = RunCache(default_cache_dir())
    local = load_model("smollm2-135m-instruct", "prompting", cache)
    rows, preds = [], {}

    def timed(way: str, classifier: ZeroShotClassifier) -> None:
        start_s = time.perf_counter()
        out = classifier.predict(data.texts, mode="generate", max_new_tokens=1)
        seconds = time.perf_counter() - start_s
        preds[way] = list(out.y_pred)
        rows.append({"way": way, "seconds": seconds, "examples_per_s": len(data) / seconds,
                     "same_as_in_process": sum(a == b for a, b in zip(
                         out.y_pred, preds.get("in-process", out.y_pred))) / len(data)})

    timed("in-process", ZeroShotClassifier(local, PROMPT, data.labels))
    folder = resolve("smollm2-135m-instruct", "prompting", cache).location
    with tempfile.TemporaryDirectory() as logs:
        running = start(Serve("transformers", folder, args={"device": "cpu", "dtype": "float32"}),
                        Path(logs), env={**os.environ, "HF_HUB_OFFLINE": "1"})
        try:
            import httpx

            model = httpx.get(f"{running.base_url}/models").json()["data"][0]["id"]
            for concurrency in (1, args.concurrency):
                endpoint = Endpoint(running.base_url, model, api="chat",
                                    max_concurrency=concurrency)
                served = connect(ModelSpec("served-smol", "causal-lm", endpoint=endpoint),
                                 cache=None)
                timed(f"served x{concurrency}", ZeroShotClassifier(served, PROMPT, data.labels))
        finally:
            running.stop()
    base = rows[0]["seconds"]
    report("p12_served_zero_shot", rows, {
        **{f"speedup_{r['way'].replace(' ', '_')}": base / r["seconds"] for r in rows[1:]},
        "n": len(data), "model": "smollm2-135m-instruct", "server": "transformers serve (CPU)"})


if __name__ == "__main__":
    main()
