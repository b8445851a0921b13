"""P14: glibc's malloc as it is (every block above its mmap threshold mapped afresh and unmapped
when freed) against `lmgate.core.allocator.keep_freed_memory` (freed memory kept for reuse),
on the smoke translation study's greedy generation (Gemma 3 270M, 200 sentences, batches of
64: each decoding step's logits are 67 MB). Each way runs in a fresh interpreter; the report
gives wall seconds of the generation, the process's system CPU seconds, and whether the outputs
are identical.

    python benchmarks/p14_allocator.py [--n 200]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from _report import report

HERE = str(Path(__file__).resolve().parent)

WAY = """
import json, resource, sys, time
sys.path.insert(0, sys.argv[3])   # benchmarks/, for _datasets
if sys.argv[1] == "kept":
    from lmgate.core.allocator import keep_freed_memory
    assert keep_freed_memory()
from lmgate.core.cache import RunCache
from lmgate.core.config import default_cache_dir
from _datasets import translation_pairs
from lmgate.methods.translation import TranslationPrompt, translate
from lmgate.models.load import load_model

lm = load_model("gemma3-270m", "prompting", RunCache(default_cache_dir()), dtype="float32")
sources = [s for s, _ in translation_pairs("test")[0][:int(sys.argv[2])]]
system = resource.getrusage(resource.RUSAGE_SELF).ru_stime
start = time.perf_counter()
out = translate(lm, sources, prompt=TranslationPrompt(), max_new_tokens=32)
print(json.dumps({"seconds": time.perf_counter() - start, "outputs": out,
                  "system_s": resource.getrusage(resource.RUSAGE_SELF).ru_stime - system}))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=200, help="test sentences (smoke: 200)")
    args = parser.parse_args()
    rows, outputs = [], {}
    for way in ("system", "kept"):
        done = subprocess.run([sys.executable, "-c", WAY, way, str(args.n), HERE], check=True,
                              capture_output=True, text=True)
        got = json.loads(done.stdout.strip().splitlines()[-1])
        outputs[way] = got["outputs"]
        rows.append({"allocator": way, "seconds": got["seconds"], "system_s": got["system_s"],
                     "same_as_first": outputs[way] == outputs["system"]})
    report("p14_allocator", rows, {"speedup_kept": rows[0]["seconds"] / rows[1]["seconds"],
                                   "model": "gemma3-270m", "n": args.n, "batch": 64})


if __name__ == "__main__":
    main()
