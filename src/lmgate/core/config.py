"""Configuration values: training and LoRA settings, how a run is launched, and the
environment variables lmgate reads. Profiles (named bundles of defaults) live in
`lmgate.core.profiles`. Nothing here imports torch.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lmgate.core.errors import ConfigError

DATA_DIR_ENV = "LMGATE_DATA_DIR"
#: Small samples a project ships (its pyproject's `lmgate_embedded_data_dir` ini key sets it):
#: the last resort after $LMGATE_DATA_DIR and the hub.
EMBEDDED_DATA_ENV = "LMGATE_EMBEDDED_DATA_DIR"
CACHE_DIR_ENV = "LMGATE_CACHE_DIR"
#: Where a data set can come from: "local" ($LMGATE_DATA_DIR), "hub", "embedded" (the project's
#: shipped samples, $LMGATE_EMBEDDED_DATA_DIR); `lmgate.data.sources` reads them in this order.
DATA_SOURCES = ("local", "hub", "embedded")
LAUNCHERS = ("torchrun", "accelerate")


def check_processes(processes: Any) -> None:
    """A launch's process count: a whole number >= 1."""
    if not isinstance(processes, int) or isinstance(processes, bool) or processes < 1:
        raise ConfigError(f"processes must be a whole number >= 1, not {processes!r}")


@dataclass(frozen=True)
class LaunchSettings:
    """How a training run is launched: `processes` > 1 runs it under torchrun, or under
    `accelerate launch` (whose config file may ask for FSDP or DeepSpeed); see
    `lmgate.methods.launch`. Fine-tuning (`TrainConfig`) and LoRA (`LoraSettings`) share it."""

    processes: int = 1
    launcher: str = "torchrun"
    accelerate_config: str | None = None

    def __post_init__(self) -> None:
        check_processes(self.processes)
        for f in dataclasses.fields(self):
            _check_setting(type(self).__name__, f.name, str(f.type), getattr(self, f.name))

    def replace(self, **changes: Any):
        """A copy with `changes`; an unknown setting is a ConfigError listing the known ones."""
        known = [f.name for f in dataclasses.fields(self)]
        unknown = set(changes) - set(known)
        if unknown:
            raise ConfigError(f"unknown training setting(s) {sorted(unknown)}; known: {known}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class TrainConfig(LaunchSettings):
    """Hyper-parameters of one fine-tuning run (the study's defaults live in the profiles)."""

    epochs: int = 3
    learning_rate: float = 2e-5
    batch_size: int = 32
    eval_batch_size: int = 64
    max_length: int = 128
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    early_stopping_patience: int = 3
    group_by_length: bool = True
    pad_to_max_length: bool = False


@dataclass(frozen=True)
class LoraSettings(LaunchSettings):
    """Seed 002's LoRA recipe (paper values as defaults)."""

    r: int = 16
    alpha: int = 64
    dropout: float = 0.1
    learning_rate: float = 1e-4
    epochs: int = 2
    batch_size: int = 4
    max_length: int = 256
    target_modules: tuple[str, ...] | None = None   # None: peft's default for the architecture

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "LoraSettings":
        """The inverse of `to_dict` (JSON turns the target modules into a list)."""
        targets = values.get("target_modules")
        return cls(**{**values, "target_modules": tuple(targets) if targets else None})


#: Ranges of settings (beyond their types): (test, what it must be).
_RANGES: dict[str, tuple[Any, str]] = {
    "epochs": (lambda v: v >= 1, ">= 1"),
    "learning_rate": (lambda v: 0 < v < 10, "in (0, 10)"),
    "batch_size": (lambda v: v >= 1, ">= 1"),
    "eval_batch_size": (lambda v: v >= 1, ">= 1"),
    "max_length": (lambda v: v >= 2, ">= 2"),
    "warmup_ratio": (lambda v: 0 <= v <= 1, "in [0, 1]"),
    "weight_decay": (lambda v: 0 <= v < 10, "in [0, 10)"),
    "early_stopping_patience": (lambda v: v >= 0, ">= 0"),
    "r": (lambda v: v >= 1, ">= 1"),
    "alpha": (lambda v: v > 0, "> 0"),
    "dropout": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "launcher": (lambda v: v in LAUNCHERS, f"one of {LAUNCHERS}"),
}


def _check_setting(owner: str, name: str, annotation: str, value: Any) -> None:
    """One setting against its declared type and range; ConfigError naming it otherwise."""
    import math

    optional = annotation.endswith("| None")
    kind = annotation.removesuffix("| None").strip()
    if value is None and optional:
        return
    ok = {"int": isinstance(value, int) and not isinstance(value, bool),
          "float": isinstance(value, (int, float)) and not isinstance(value, bool)
                   and math.isfinite(value),
          "bool": isinstance(value, bool),
          "str": isinstance(value, str),
          "tuple[str, ...]": isinstance(value, tuple) and all(isinstance(v, str) for v in value),
          }.get(kind, True)
    if not ok:
        words = {"int": "a whole number", "float": "a finite number", "bool": "true or false",
                 "str": "a string", "tuple[str, ...]": "a list of module names"}[kind]
        raise ConfigError(f"{owner} setting {name} must be {words}, not {value!r}")
    if name in _RANGES:
        test, must = _RANGES[name]
        if not test(value):
            raise ConfigError(f"{owner} setting {name} must be {must}, not {value!r}")


def split_csv(value: str | None) -> tuple[str, ...]:
    """'en, fr' -> ('en', 'fr'); None or '' -> ()."""
    if not value:
        return ()
    return tuple(v.strip() for v in value.split(",") if v.strip())


def default_cache_dir() -> Path:
    """LMGATE_CACHE_DIR, else $XDG_CACHE_HOME/lmgate, else ~/.cache/lmgate."""
    if os.environ.get(CACHE_DIR_ENV):
        return Path(os.environ[CACHE_DIR_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "lmgate"
