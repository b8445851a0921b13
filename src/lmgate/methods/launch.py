"""Fine-tuning and LoRA training on several processes (DDP) through torchrun or `accelerate launch`.

`finetune` and `train_lora` stay in the pytest process; when `processes > 1` they write the
starting model, the data and the settings to a job folder, launch the training there as
`python -m lmgate.methods.rank JOB` (the rank worker, `lmgate.methods.rank`) under torchrun (or accelerate, whose config file may ask for
FSDP or DeepSpeed), and load the trained weights (or adapter) back into the run cache. Why a
subprocess and not a pytest session under torchrun: the test session, its fixtures, results and
terminal stay one process, and only the training pays for the launch. Only rank 0 writes
(weights or adapter, history, the wrapper that trained); every file is safetensors or JSON.
Trainer does the distributed part: gloo on CPUs, NCCL on GPUs (one GPU per local rank), a
distributed sampler, gathered evaluation.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Sequence

from lmgate.core.config import LAUNCHERS, LaunchSettings, LoraSettings, TrainConfig
from lmgate.core.device import is_cuda
from lmgate.core.errors import ConfigError
from lmgate.data.types import DataSplits, LabeledData
from lmgate.models.engines.language_model import InProcessLM

SPLITS = ("train", "validation", "test")
RANK_MODULE = "lmgate.methods.rank"

def launch_command(config: LaunchSettings, job: Path, device: str = "cpu") -> list[str]:
    """The command that runs `job` on `config.processes` processes."""
    if config.launcher not in LAUNCHERS:
        raise ConfigError(f"unknown launcher {config.launcher!r}; use one of {LAUNCHERS}")
    if config.launcher == "torchrun":
        if config.accelerate_config:
            raise ConfigError("accelerate_config needs launcher = \"accelerate\"")
        return [sys.executable, "-m", "torch.distributed.run", "--standalone",
                f"--nproc-per-node={config.processes}", "-m", RANK_MODULE, str(job)]
    # Without a config file accelerate must be told the kind of run (else it starts one process).
    extra = (["--config_file", config.accelerate_config] if config.accelerate_config else
             ["--multi_gpu" if is_cuda(device) else "--cpu"])
    return [sys.executable, "-m", "accelerate.commands.launch", *extra,
            f"--num_processes={config.processes}", "--module", RANK_MODULE, str(job)]


def expected_engine(settings: LaunchSettings) -> str:
    """The wrapper a launch must train under: DDP, or what its accelerate config asks for."""
    if settings.accelerate_config:
        import yaml

        asked = yaml.safe_load(Path(settings.accelerate_config).read_text()) or {}
        kind = str(asked.get("distributed_type", "")).upper()
        return {"FSDP": "FSDP", "DEEPSPEED": "DeepSpeed"}.get(kind, "DDP")
    return "DDP"


def run_job(job: Path, settings: LaunchSettings, device: str) -> dict[str, Any]:
    """Launch `job` on `settings.processes` processes; rank 0's result.json, checked."""
    env = dict(os.environ)
    if not is_cuda(device):   # the cores, shared out between the processes
        env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // settings.processes))
    done = subprocess.run(launch_command(settings, job, device), env=env, capture_output=True,
                          text=True)
    what = f"{settings.launcher}, {settings.processes} processes"
    if done.returncode != 0 or not (job / "result.json").is_file():
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-30:])
        raise RuntimeError(f"distributed training ({what}) failed with exit code "
                           f"{done.returncode}:\n{tail}")
    result = json.loads((job / "result.json").read_text())
    if result["world_size"] != settings.processes:
        hint = (" (accelerate starts several CPU processes only through MPI: set "
                "mpirun_hostfile in its config, or use launcher = \"torchrun\")"
                if settings.launcher == "accelerate" and not is_cuda(device) else "")
        raise RuntimeError(f"{settings.launcher} ran {result['world_size']} process(es), not "
                           f"{settings.processes}{hint}")
    expected = expected_engine(settings)
    if result["engine"] != expected:
        raise RuntimeError(f"distributed training ({what}) was to run under {expected} but ran "
                           f"under {result['engine']}; check the accelerate config and device")
    return result


def _job_folder(workdir: str | Path, kind: str, device: str, **spec: Any) -> Path:
    job = Path(workdir) / "job"
    job.mkdir(parents=True)
    # Each rank takes the GPU of its local rank, so a pinned "cuda:N" becomes plain "cuda".
    (job / "job.json").write_text(json.dumps({
        "kind": kind, "device": "cuda" if is_cuda(device) else "cpu", **spec}))
    return job


def train_distributed(model, tokenizer, data: DataSplits, config: TrainConfig, *, seed: int,
                      device: str, workdir: str | Path) -> list[dict[str, float]]:
    """Train the classifier `model` in place on `config.processes` processes; returns the
    per-epoch history."""
    from safetensors.torch import load_file

    job = _job_folder(workdir, "classifier", device, labels=list(data.labels), name=data.name,
                      config=config.to_dict(), seed=seed)
    model.save_pretrained(job / "initial", safe_serialization=True)
    tokenizer.save_pretrained(job / "initial")
    for split in SPLITS:
        part: LabeledData = getattr(data, split)
        part.frame[["text", "label"]].to_json(job / f"{split}.jsonl", orient="records",
                                              lines=True, force_ascii=False)
    result = run_job(job, config, device)
    state = load_file(job / "trained" / "model.safetensors")
    missing, unexpected = model.load_state_dict(state, strict=False)
    tied = set(getattr(model, "_tied_weights_keys", None) or ())
    if unexpected or set(missing) - tied:
        raise RuntimeError(f"trained weights do not fit the model: missing {missing}, "
                           f"unexpected {unexpected}")
    return result["history"]


def fit_lora_distributed(lm: InProcessLM, train: Sequence[tuple[str, str]],
                         validation: Sequence[tuple[str, str]], settings: LoraSettings, *,
                         seed: int, prompt: Any,
                         workdir: str | Path) -> tuple[dict[str, bytes], dict[str, Any]]:
    """Train a LoRA adapter of `lm` on `settings.processes` processes; returns the adapter's
    files and the run's metadata, as the one-process path does. `prompt` is a
    `TranslationPrompt` (a dataclass, sent to the ranks as its fields)."""
    from dataclasses import asdict

    job = _job_folder(workdir, "lora", lm.device, name=lm.name, train=list(train),
                      validation=list(validation), settings=settings.to_dict(),
                      prompt=asdict(prompt), seed=seed)
    lm.model.save_pretrained(job / "initial", safe_serialization=True)
    lm.tokenizer.save_pretrained(job / "initial")
    result = run_job(job, settings, lm.device)
    files = {p.name: p.read_bytes() for p in (job / "adapter").iterdir() if p.is_file()}
    return files, result["meta"]
