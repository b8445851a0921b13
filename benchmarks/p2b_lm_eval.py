"""P2b: the P2 workload through lm-evaluation-harness vs lmgate's batched label scoring.

Same model (the very model object lmgate loaded, handed to lm-eval's HFLM), same prompts (the chat
prompt rendered by lmgate, written to a local JSONL), same answers (" negative" / " positive"):
lm-eval's `multiple_choice` task computes each choice's log-likelihood, as lmgate's `score` does.
Everything offline: a local task YAML over the JSONL (`dataset_path: json`).

    pip install lm-eval     # not an lmgate dependency
    LMGATE_DATA_DIR=../shared/data python benchmarks/p2b_lm_eval.py [--n 64]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "evals"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import numpy as np  # noqa: E402
from _report import report  # noqa: E402
from test_sst2 import PROMPT  # noqa: E402

from lmgate.core.cache import RunCache  # noqa: E402
from _datasets import sst2  # noqa: E402
from lmgate.models.load import load_model  # noqa: E402
from lmgate.methods.zero_shot import ZeroShotClassifier  # noqa: E402
from lmgate.core.config import default_cache_dir  # noqa: E402

TASK = """task: lmgate_sst2_p2b
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: multiple_choice
doc_to_text: "{{{{prompt}}}}"
doc_to_choice: {choices}
doc_to_target: label
target_delimiter: " "
metric_list:
  - metric: acc
"""


def run_lm_eval(lm, prompts: list[str], labels: np.ndarray, answers: list[str],
                batch_size: int) -> tuple[np.ndarray, float]:
    """Predictions and seconds of lm-eval's HF backend on the rendered prompts (model loading
    excluded, as for lmgate; task building from the local file included)."""
    import lm_eval
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    harness_lm = HFLM(pretrained=lm.model, tokenizer=lm.tokenizer, batch_size=batch_size,
                      device="cpu")
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "sst2.jsonl"
        data.write_text("".join(json.dumps({"prompt": p, "label": int(y)}) + "\n"
                                for p, y in zip(prompts, labels)))
        (Path(tmp) / "task.yaml").write_text(TASK.format(data=data, choices=json.dumps(answers)))
        start = time.perf_counter()
        out = lm_eval.simple_evaluate(
            model=harness_lm, tasks=["lmgate_sst2_p2b"],
            task_manager=TaskManager(include_path=tmp), log_samples=True, bootstrap_iters=0)
        seconds = time.perf_counter() - start
    samples = sorted(out["samples"]["lmgate_sst2_p2b"], key=lambda s: s["doc_id"])
    return np.array([np.argmax([ll for ll, _ in s["filtered_resps"]]) for s in samples]), seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--model", default="smollm2-135m-instruct")
    args = parser.parse_args()
    try:
        import lm_eval  # noqa: F401
    except ImportError:
        sys.exit("P2b needs lm-evaluation-harness: pip install lm-eval")
    data = sst2("validation").balanced(args.n // 2, by=("label",), seed=0)
    cache = RunCache(default_cache_dir())
    lm = load_model(args.model, "prompting", cache, device="cpu")
    clf = ZeroShotClassifier(lm, PROMPT, data.labels, batch_size=16)
    start = time.perf_counter()
    ours = clf.predict(data.texts, "score").y_pred
    our_seconds = time.perf_counter() - start
    theirs, their_seconds = run_lm_eval(lm, [clf.prompt(t) for t in data.texts], data.y,
                                        clf.template.answers(data.labels), batch_size=16)
    rows = [{"way": "lm-eval multiple_choice", "examples_per_s": args.n / their_seconds},
            {"way": "lmgate score", "examples_per_s": args.n / our_seconds}]
    report("p2b_lm_eval", rows, {"speedup": their_seconds / our_seconds,
                                 "agreement": float(np.mean(ours == theirs)),
                                 "accuracy_lm_eval": float(np.mean(theirs == data.y)),
                                 "accuracy_lmgate": float(np.mean(ours == data.y)),
                                 "n": args.n, "model": args.model,
                                 "lm_eval": lm_eval.__version__})


if __name__ == "__main__":
    main()
