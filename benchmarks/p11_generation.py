"""P11: batched greedy translation on CPU: the output layer screened in bf16
(`lmgate.models.engines.screened_head`) against the way the smoke translation study ran until the
twelfth session (all float32), and against bf16 weights throughout.

Each way translates the same German test sentences with the base model (system A); the report
gives seconds, BLEU, and the share of outputs identical to the first way's. Screening is meant
to leave every output as float32 makes it; bf16 weights change logits and so some outputs.
`dtype:batch` ways: float32 (naive), screened, bfloat16.

    python benchmarks/p11_generation.py [--model gemma3-270m] [--n 200]
"""

from __future__ import annotations

import argparse
import time
from unittest.mock import patch

from _report import report

from lmgate.core.cache import RunCache
from lmgate.core.config import default_cache_dir
from _datasets import translation_pairs
from lmgate.metrics.generation import bleu_from_statistics, bleu_statistics
from lmgate.methods.translation import TranslationPrompt, translate
from lmgate.models.engines import screened_head
from lmgate.models.load import load_model


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="gemma3-270m")
    parser.add_argument("--n", type=int, default=200, help="test sentences (smoke: 200)")
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--ways", default="float32:16,screened:16,bfloat16:16")
    args = parser.parse_args()
    pairs = translation_pairs("test")[0][:args.n]
    sources, references = [s for s, _ in pairs], [t for _, t in pairs]
    cache = RunCache(default_cache_dir())
    rows, outputs = [], {}
    for way in args.ways.split(","):
        dtype, batch = way.split(":")
        lm = load_model(args.model, "prompting", cache,
                        dtype="float32" if dtype == "screened" else dtype)
        # "float32" is the naive way: the output layer in float32 too (screening off).
        with patch.object(screened_head, "cpu_has_native_bf16",
                          lambda: dtype == "screened"):
            start = time.perf_counter()
            out = translate(lm, sources, prompt=TranslationPrompt(), batch_size=int(batch),
                            max_new_tokens=args.max_new_tokens)
            seconds = time.perf_counter() - start
        outputs[way] = out
        first = outputs[args.ways.split(",")[0]]
        rows.append({"dtype": dtype, "batch": int(batch), "seconds": seconds,
                     "bleu": bleu_from_statistics(bleu_statistics(out, references)),
                     "same_as_first": sum(a == b for a, b in zip(out, first)) / len(out)})
    naive = rows[0]["seconds"]
    report("p11_generation", rows, {
        **{f"speedup_{r['dtype']}_{r['batch']}": naive / r["seconds"] for r in rows[1:]},
        "model": args.model, "n": len(sources), "max_new_tokens": args.max_new_tokens})


if __name__ == "__main__":
    main()
