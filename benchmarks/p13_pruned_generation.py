"""P13: batched greedy generation whose finished rows leave the batch (`PRUNE_EVERY` new tokens
at a time, `lmgate.models.engines.engine`), against whole-batch decoding (one `generate` call per
batch, the way until the sixteenth session), at several batch sizes.

On 2 CPU cores a decoding step of a small LM is bound by reading its weights, not by the rows
it computes: finished rows cost little, but so do extra ones, so pruning pays through larger
batches (fewer steps). Each way runs the same prompts; the report gives seconds and the share
of outputs identical to the first way's (pruning must change none).

    python benchmarks/p13_pruned_generation.py [--task translation|squad] [--ways 0:16,4:16,4:64]

`prune:batch` ways; prune 0 is whole-batch decoding. Needs the embedded data
(LMGATE_EMBEDDED_DATA_DIR=evals/data) or LMGATE_DATA_DIR.
"""

from __future__ import annotations

import argparse
import time

from _report import report

from lmgate.core.cache import RunCache
from lmgate.core.config import default_cache_dir
from lmgate.models.engines import engine
from lmgate.models.load import load_model


def translation_prompts(n: int) -> tuple[str, list[str], int, tuple[str, ...]]:
    from _datasets import translation_pairs
    from lmgate.methods.translation import TranslationPrompt

    prompt = TranslationPrompt()
    return "gemma3-270m", [prompt(s) for s, _ in translation_pairs("test")[0][:n]], 32, ("\n",)


def squad_prompts(n: int) -> tuple[str, list[str], int, tuple[str, ...]]:
    from _datasets import squad_questions
        from lmgate.methods.qa_zero_shot import qa_prompt

    questions = squad_questions()[0][-n:]
    return "smollm2-135m-instruct", [qa_prompt(q) for q in questions], 16, ("\n",)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--task", choices=("translation", "squad"), default="translation")
    parser.add_argument("--n", type=int, default=200, help="prompts (the smoke studies: "
                        "200 translations, 80 questions)")
    parser.add_argument("--ways", default="0:16,4:16,4:32,4:64,2:64")
    args = parser.parse_args()
    model, prompts, max_new, stop = {"translation": translation_prompts,
                                     "squad": squad_prompts}[args.task](args.n)
    lm = load_model(model, "prompting", RunCache(default_cache_dir()), dtype="float32")
    rows, first = [], None
    for way in args.ways.split(","):
        prune, batch = (int(x) for x in way.split(":"))
        engine.PRUNE_EVERY = prune or 10 ** 9
        start = time.perf_counter()
        out = lm.generate(prompts, max_new_tokens=max_new, stop=stop, batch_size=batch)
        seconds = time.perf_counter() - start
        first = out if first is None else first
        rows.append({"prune_every": prune or "off", "batch": batch, "seconds": seconds,
                     "same_as_first": sum(a == b for a, b in zip(out, first)) / len(out)})
    naive = rows[0]["seconds"]
    report(f"p13_pruned_generation_{args.task}", rows, {
        **{f"speedup_{r['prune_every']}_{r['batch']}": naive / r["seconds"] for r in rows[1:]},
        "model": model, "n": len(prompts), "max_new_tokens": max_new})


if __name__ == "__main__":
    main()
