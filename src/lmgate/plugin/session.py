"""The settings of one pytest session, decided once from options, ini keys and environment."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lmgate.core.config import default_cache_dir
from lmgate.core.device import resolve_device
from lmgate.core.profiles import Profile


@dataclass(frozen=True)
class Settings:
    """Everything a session decided from options, ini keys and environment."""

    profile: Profile
    device: str = "auto"
    results_dir: Path = Path("lmgate-results")
    seed: int = 0
    langs: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    cache_dir: Path = field(default_factory=default_cache_dir)
    use_cache: bool = True
    plots: bool = True                  # --lmgate-plots
    keep_freed_memory: bool = False     # --lmgate-keep-freed-memory (process-wide; opt-in)

    def torch_device(self) -> str:
        return resolve_device(self.device)
