"""Fine-tuning on several processes (DDP) through torchrun or `accelerate launch`.

`finetune` stays in the pytest process; when `TrainConfig.processes > 1` it writes the starting
model, the data and the settings to a job folder, launches the training there as
`python -m lmgate.distributed JOB` under torchrun (or accelerate, whose config file may ask for
FSDP or DeepSpeed), and loads the trained weights back. Only rank 0 writes (weights and
history); every file is safetensors or JSON. Trainer does the distributed part: gloo on CPUs,
NCCL on GPUs (one GPU per local rank), a distributed sampler, gathered evaluation.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from lmgate.data.types import DataSplits, LabeledData
from lmgate.errors import ConfigError
from lmgate.settings import TrainConfig

LAUNCHERS = ("torchrun", "accelerate")
SPLITS = ("train", "validation", "test")


def launch_command(config: TrainConfig, job: Path, device: str = "cpu") -> list[str]:
    """The command that runs `job` on `config.processes` processes."""
    if config.launcher not in LAUNCHERS:
        raise ConfigError(f"unknown launcher {config.launcher!r}; use one of {LAUNCHERS}")
    if config.launcher == "torchrun":
        if config.accelerate_config:
            raise ConfigError("accelerate_config needs launcher = \"accelerate\"")
        return [sys.executable, "-m", "torch.distributed.run", "--standalone",
                f"--nproc-per-node={config.processes}", "-m", "lmgate.distributed", str(job)]
    # Without a config file accelerate must be told the kind of run (else it starts one process).
    extra = (["--config_file", config.accelerate_config] if config.accelerate_config else
             ["--multi_gpu" if device.startswith("cuda") else "--cpu"])
    return [sys.executable, "-m", "accelerate.commands.launch", *extra,
            f"--num_processes={config.processes}", "--module", "lmgate.distributed", str(job)]


def _write_job(job: Path, model, tokenizer, data: DataSplits, config: TrainConfig, seed: int,
               device: str) -> None:
    model.save_pretrained(job / "initial", safe_serialization=True)
    tokenizer.save_pretrained(job / "initial")
    for split in SPLITS:
        part: LabeledData = getattr(data, split)
        part.frame[["text", "label"]].to_json(job / f"{split}.jsonl", orient="records",
                                              lines=True, force_ascii=False)
    # Each rank takes the GPU of its local rank, so a pinned "cuda:N" becomes plain "cuda".
    (job / "job.json").write_text(json.dumps({
        "labels": list(data.labels), "name": data.name, "config": config.to_dict(),
        "seed": seed, "device": "cuda" if device.startswith("cuda") else "cpu"}))


def train_distributed(model, tokenizer, data: DataSplits, config: TrainConfig, *, seed: int,
                      device: str, workdir: str | Path) -> list[dict[str, float]]:
    """Train `model` in place on `config.processes` processes; returns the per-epoch history."""
    from safetensors.torch import load_file

    job = Path(workdir) / "job"
    job.mkdir(parents=True)
    _write_job(job, model, tokenizer, data, config, seed, device)
    env = dict(os.environ)
    if not device.startswith("cuda"):   # the cores, shared out between the processes
        env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // config.processes))
    done = subprocess.run(launch_command(config, job, device), env=env, capture_output=True,
                          text=True)
    if done.returncode != 0 or not (job / "history.json").is_file():
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-30:])
        raise RuntimeError(f"distributed training ({config.launcher}, {config.processes} "
                           f"processes) failed with exit code {done.returncode}:\n{tail}")
    state = load_file(job / "trained" / "model.safetensors")
    missing, unexpected = model.load_state_dict(state, strict=False)
    tied = set(getattr(model, "_tied_weights_keys", None) or ())
    if unexpected or set(missing) - tied:
        raise RuntimeError(f"trained weights do not fit the model: missing {missing}, "
                           f"unexpected {unexpected}")
    result = json.loads((job / "history.json").read_text())
    if result["world_size"] != config.processes:
        hint = (" (accelerate starts several CPU processes only through MPI: set "
                "mpirun_hostfile in its config, or use launcher = \"torchrun\")"
                if config.launcher == "accelerate" and not device.startswith("cuda") else "")
        raise RuntimeError(f"{config.launcher} ran {result['world_size']} process(es), not "
                           f"{config.processes}{hint}")
    return result["history"]


def _read_job(job: Path) -> tuple[dict[str, Any], DataSplits]:
    spec = json.loads((job / "job.json").read_text())
    labels = tuple(spec["labels"])
    parts = [LabeledData(pd.read_json(job / f"{split}.jsonl", orient="records", lines=True,
                                      dtype={"text": str, "label": int}),
                         labels, f"{spec['name']}[{split}]") for split in SPLITS]
    return spec, DataSplits(*parts, name=spec["name"], leakage="warn")


def main(argv: Sequence[str] | None = None) -> int:
    """One rank of a launched job (`python -m lmgate.distributed JOB`)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from lmgate.training import train_classifier

    job = Path((argv if argv is not None else sys.argv[1:])[0])
    spec, data = _read_job(job)
    model = AutoModelForSequenceClassification.from_pretrained(job / "initial")
    tokenizer = AutoTokenizer.from_pretrained(job / "initial")
    history = train_classifier(model, tokenizer, data, TrainConfig(**spec["config"]),
                               seed=spec["seed"], device=spec["device"], workdir=job / "work")
    if int(os.environ.get("RANK", "0")) == 0:
        model.save_pretrained(job / "trained", safe_serialization=True)
        (job / "history.json").write_text(json.dumps(
            {"history": history, "world_size": int(os.environ.get("WORLD_SIZE", "1"))}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
