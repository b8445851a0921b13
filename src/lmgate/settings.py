"""Training configuration, device choice and the resolved settings of one pytest session.

Profiles (named bundles of defaults) live in lmgate.profiles. Nothing here imports torch at
module import time.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lmgate.errors import ConfigError

DATA_DIR_ENV = "LMGATE_DATA_DIR"
#: Small samples a project ships (its pyproject's `lmgate_embedded_data_dir` ini key sets it):
#: the last resort after $LMGATE_DATA_DIR and the hub.
EMBEDDED_DATA_ENV = "LMGATE_EMBEDDED_DATA_DIR"
CACHE_DIR_ENV = "LMGATE_CACHE_DIR"


def check_processes(processes: Any) -> None:
    """A launch's process count: a whole number >= 1."""
    if not isinstance(processes, int) or isinstance(processes, bool) or processes < 1:
        raise ConfigError(f"processes must be a whole number >= 1, not {processes!r}")


@dataclass(frozen=True)
class TrainConfig:
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
    # Distributed data parallel (lmgate.distributed): processes > 1 launches the training with
    # torchrun, or with `accelerate launch` (whose config file may ask for FSDP or DeepSpeed).
    processes: int = 1
    launcher: str = "torchrun"
    accelerate_config: str | None = None

    def __post_init__(self) -> None:
        check_processes(self.processes)

    def replace(self, **changes: Any) -> "TrainConfig":
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ConfigError(f"unknown training setting(s) {sorted(unknown)}; known: "
                              f"{[f.name for f in dataclasses.fields(self)]}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def resolve_device(requested: str = "auto") -> str:
    """Turn 'auto' | 'cpu' | 'cuda' | 'cuda:N' into a concrete torch device string."""
    requested = requested.strip().lower()
    if requested == "cpu":
        return "cpu"
    if requested != "auto" and not requested.startswith("cuda"):
        raise ConfigError(f"unknown device {requested!r}; use auto, cpu, cuda or cuda:N")
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if not torch.cuda.is_available():
        raise ConfigError(f"--device {requested} was asked for but CUDA is not available here")
    return requested


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


if TYPE_CHECKING:
    from lmgate.profiles import Profile


@dataclass(frozen=True)
class Settings:
    """Everything a session decided from options, ini keys and environment."""

    profile: "Profile"
    device: str = "auto"
    results_dir: Path = Path("lmgate-results")
    seed: int = 0
    langs: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    cache_dir: Path = field(default_factory=default_cache_dir)
    use_cache: bool = True

    def torch_device(self) -> str:
        return resolve_device(self.device)
