"""One rank of a launched training job: `python -m lmgate.methods.rank JOB`.

`lmgate.methods.launch` writes the job folder (the starting model as safetensors, the data and
the settings as JSON) and starts this module under torchrun or accelerate; every rank trains
with Trainer, and rank 0 writes the trained weights (or adapter), the history and the wrapper
that trained into the job folder.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from lmgate.core.config import LoraSettings, TrainConfig
from lmgate.data.types import DataSplits, LabeledData
from lmgate.methods.launch import SPLITS
from lmgate.methods.lora import adapter_output, new_adapter, run_lora_training
from lmgate.methods.trainer import classifier_trainer, epoch_history, run_trainer
from lmgate.methods.translation import TranslationPrompt


def engine_of(trainer) -> str:
    """The wrapper that trained: transformers may fall back from FSDP to DDP without a word
    (measured on CPUs), so the parent compares this with `expected_engine`."""
    name = type(trainer.model_wrapped).__name__
    if "FullyShardedDataParallel" in name or name.startswith("FSDP"):
        return "FSDP"
    return {"DeepSpeedEngine": "DeepSpeed", "DistributedDataParallel": "DDP"}.get(
        name, f"no wrapper ({name})")


def _train_classifier_job(job: Path, spec: dict[str, Any], rank0: bool):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    labels = tuple(spec["labels"])
    data = DataSplits(*[LabeledData(pd.read_json(job / f"{split}.jsonl", orient="records",
                                                 lines=True, dtype={"text": str, "label": int}),
                                    labels, f"{spec['name']}[{split}]") for split in SPLITS],
                      name=spec["name"], leakage="warn")
    model = AutoModelForSequenceClassification.from_pretrained(job / "initial")
    tokenizer = AutoTokenizer.from_pretrained(job / "initial")
    trainer = classifier_trainer(model, tokenizer, data, TrainConfig(**spec["config"]),
                                 seed=spec["seed"], device=spec["device"], workdir=job / "work")
    run_trainer(trainer)
    if rank0:
        model.save_pretrained(job / "trained", safe_serialization=True)
    return trainer, {"history": epoch_history(trainer.state.log_history)}


def _train_lora_job(job: Path, spec: dict[str, Any], rank0: bool):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    settings = LoraSettings.from_dict(spec["settings"])
    model = AutoModelForCausalLM.from_pretrained(job / "initial", dtype="auto")
    tokenizer = AutoTokenizer.from_pretrained(job / "initial")
    start = time.perf_counter()
    model = new_adapter(model, settings, spec["seed"])
    trainer = run_lora_training(model, tokenizer, [tuple(p) for p in spec["train"]],
                                [tuple(p) for p in spec["validation"]], settings,
                                seed=spec["seed"], prompt=TranslationPrompt(**spec["prompt"]),
                                device=spec["device"], name=spec["name"], workdir=job / "work")
    if not rank0:
        return trainer, {}
    (job / "adapter").mkdir()
    _, meta = adapter_output(model, trainer, time.perf_counter() - start, len(spec["train"]),
                             job / "adapter")
    return trainer, {"meta": meta}


def main(argv: Sequence[str] | None = None) -> int:
    """One rank of a launched job (`python -m lmgate.methods.rank JOB`)."""
    job = Path((argv if argv is not None else sys.argv[1:])[0])
    spec = json.loads((job / "job.json").read_text())
    rank0 = int(os.environ.get("RANK", "0")) == 0
    train = {"classifier": _train_classifier_job, "lora": _train_lora_job}[spec["kind"]]
    trainer, result = train(job, spec, rank0)
    if rank0:
        (job / "result.json").write_text(json.dumps(
            {**result, "world_size": int(os.environ.get("WORLD_SIZE", "1")),
             "engine": engine_of(trainer)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
