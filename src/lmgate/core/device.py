"""The one device and dtype policy: every path that picks a device, a precision or an
autocast asks here, and the report's run facts describe what this module decided.

| what | CUDA | CPU |
|---|---|---|
| inference (prompting, generation, frozen-base features) | bfloat16 | float32 |
| zero-shot label scoring and one-token answers | bfloat16 | float32; a bf16 copy scores first where the CPU has native bf16, close calls re-scored in float32 |
| frozen-base weights | float32, features under bf16 autocast | float32; a head's features under bf16 autocast where the CPU has native bf16 and the model's spec opts in (`cpu_bf16_features`, set where measured to keep the head's predictions: benchmarks/p9_bf16_features.py) |
| span-head (QA) token features | bf16 autocast | bf16 autocast where the CPU has native bf16 (chosen where it kept the QA metrics of float32), else float32 |
| fine-tuning | Trainer's bf16 mixed precision (+ TF32 on Ampere and newer) | float32 |
| LoRA | as fine-tuning | bf16 mixed precision where the CPU has native bf16 (same losses: benchmarks/p10_lora_target_logits.py), else float32 |

Nothing here imports torch at module import time.
"""

from __future__ import annotations

import re
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from lmgate.core.errors import ConfigError

DTYPES = ("float32", "bfloat16")
#: Frozen bases keep float32 weights: their heads train on float32 features, and on CUDA the
#: features are computed under bf16 autocast (`autocast`).
FROZEN_BASE_WEIGHTS = "float32"


def check_device(requested: str, what: str = "device") -> str:
    """'auto' | 'cpu' | 'cuda' | 'cuda:N', normalised; anything else is a ConfigError naming
    `what` was asked. Does not look for a GPU (see `resolve_device`)."""
    device = str(requested).strip().lower()
    if device not in ("auto", "cpu") and not re.fullmatch(r"cuda(:\d+)?", device):
        raise ConfigError(f"unknown {what} {device!r}; use auto, cpu, cuda or cuda:N")
    return device


def resolve_device(requested: str = "auto") -> str:
    """Turn 'auto' | 'cpu' | 'cuda' | 'cuda:N' into a concrete torch device string."""
    device = check_device(requested)
    if device == "cpu":
        return "cpu"
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if not torch.cuda.is_available():
        raise ConfigError(f"--lmgate-device {device} was asked for but CUDA is not available here")
    return device


def is_cuda(device: str) -> bool:
    return device.startswith("cuda")


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX-512 BF16 or AMX), from /proc/cpuinfo."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def inference_dtype(device: str, requested: str = "auto") -> str:
    """"bfloat16" on CUDA; on CPU "float32" unless asked for: bf16 there changes too many
    zero-shot predictions to be the default (benchmarks/p2_zero_shot.py)."""
    if requested != "auto":
        if requested not in DTYPES:
            raise ConfigError(f"dtype must be auto, float32 or bfloat16, not {requested!r}")
        return requested
    return "bfloat16" if is_cuda(device) else "float32"


def head_feature_dtype(device: str, cpu_bf16: bool = False) -> str:
    """The autocast of a frozen base's features for a head: `inference_dtype`, or bf16 on a
    CPU with native bf16 where `cpu_bf16`. Classification heads pass their model spec's
    `cpu_bf16_features`, set per model where bf16 features were measured to keep the head's
    predictions (benchmarks/p9_bf16_features.py, p9_bf16_features_study.py)."""
    if cpu_bf16 and device == "cpu" and cpu_has_native_bf16():
        return "bfloat16"
    return inference_dtype(device)


def span_feature_dtype(device: str) -> str:
    """The autocast of a frozen base's per-token features for a span head: `inference_dtype`,
    or bf16 on a CPU with native bf16, where span heads were measured to give the same answers
    and metrics as on float32 features."""
    return head_feature_dtype(device, cpu_bf16=True)


def fast_scoring_dtype(device: str) -> str | None:
    """The precision of the copy that scores zero-shot labels first (close calls re-scored at
    `inference_dtype`), or None: bf16 on CPUs with native bf16 (identical predictions, the
    re-scoring margin set from benchmarks/p2_zero_shot.py); CUDA already runs in bf16."""
    return "bfloat16" if device == "cpu" and cpu_has_native_bf16() else None


def autocast(device: str, dtype: str):
    """The context a frozen base or a fine-tuned classifier predicts in: bf16 autocast when
    `dtype` is "bfloat16", plain float32 otherwise."""
    if dtype not in DTYPES:
        raise ConfigError(f"feature dtype must be float32 or bfloat16, not {dtype!r}")
    if dtype == "float32":
        return nullcontext()
    import torch

    return torch.autocast("cuda" if is_cuda(device) else "cpu", dtype=torch.bfloat16)


def trainer_flags(device: str, *, cpu_bf16: bool = False) -> dict[str, Any]:
    """TrainingArguments for `device`: CPU, or CUDA with bf16 mixed precision and TF32.
    `cpu_bf16`: bf16 mixed precision on a CPU with native bf16 too (for the training whose
    losses were measured to agree: LoRA)."""
    if not is_cuda(device):
        return {"use_cpu": True, **({"bf16": True} if cpu_bf16 and cpu_has_native_bf16() else {})}
    import torch

    if ":" in device:
        torch.cuda.set_device(int(device.split(":")[1]))
    major, _ = torch.cuda.get_device_capability()
    return {"bf16": torch.cuda.is_bf16_supported(), "tf32": major >= 8,
            "dataloader_pin_memory": True}


def precision_summary(device: str) -> str:
    """One line for the run facts: the dtypes this policy picks on `device`."""
    dtype = inference_dtype(device)
    if dtype != "float32":
        return f"{dtype} (inference, frozen-base features; training in bf16 mixed precision)"
    notes = []
    if fast := fast_scoring_dtype(device):
        notes.append(f"{fast} first for zero-shot label scoring and one-token answers, "
                     "close calls re-scored")
    if (span := span_feature_dtype(device)) != dtype:
        notes.append(f"span-head token features in {span}")
    if (head := head_feature_dtype(device, cpu_bf16=True)) != dtype:
        notes.append(f"head features in {head} for models that opt in (cpu_bf16_features)")
    return dtype + (f" ({'; '.join(notes)})" if notes else "")
