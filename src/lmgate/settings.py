"""Profiles (smoke | paper), device choice and the resolved settings of one pytest session.

A profile is plain data: the training hyper-parameters every study starts from plus per-study
knobs. `smoke` runs the whole suite on 2 CPU cores in minutes; `paper` is the studies' own
configuration, meant for a GPU. Nothing here imports torch at module import time.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from lmgate.errors import ConfigError

DATA_DIR_ENV = "LMGATE_DATA_DIR"
CACHE_DIR_ENV = "LMGATE_CACHE_DIR"


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

    def replace(self, **changes: Any) -> "TrainConfig":
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ConfigError(f"unknown training setting(s) {sorted(unknown)}; known: "
                              f"{[f.name for f in dataclasses.fields(self)]}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Profile:
    """A named bundle of defaults: training config plus per-study knobs."""

    name: str
    train: TrainConfig
    studies: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def study(self, name: str) -> Mapping[str, Any]:
        """Knobs of one study in this profile (read-only)."""
        if name not in self.studies:
            raise ConfigError(f"profile {self.name!r} has no settings for study {name!r}; "
                              f"known: {sorted(self.studies)}")
        return MappingProxyType(dict(self.studies[name]))


SMOKE = Profile(
    name="smoke",
    # A small pretrained encoder needs a larger learning rate than the paper's 2e-5 to move in
    # so few steps.
    train=TrainConfig(epochs=3, learning_rate=1e-4, batch_size=16, max_length=64,
                      early_stopping_patience=2),
    studies={
        "sentiment": {
            # all-MiniLM-L6-v2 from PyPI: the config-built tiny encoder does not learn tweet
            # sentiment from a few hundred examples (macro F1 stays at 0.17-0.39 here).
            "model": "minilm",
            "languages": ("en", "fr", "ar", "hi", "ja", "ms"),
            "train_sizes": (30, 200),  # examples per class and language
            "val_per_class": 30,
            "test_per_class": 100,
        },
        "parliament": {
            "encoders": ("tiny-encoder",),         # the embedded encoder: any language, offline
            "llms": ("smollm2-135m-instruct",),
            "country": "tr",
            # A from-scratch encoder needs a larger step and more epochs than a pretrained one.
            "train": {"epochs": 8, "learning_rate": 1e-3, "batch_size": 16, "max_length": 128,
                      "early_stopping_patience": 3},
            "zero_shot_per_class": 50,              # cap of the balanced 50:50 zero-shot subset
            "margin": 0.05,                         # fine-tuned must beat zero-shot by this
            "max_invalid_rate": 0.25,
        },
        "sst2": {
            "llms": ("smollm2-135m-instruct",),
            "zero_shot_per_class": 100,             # from GLUE validation
            "bases": ("smollm2-135m-instruct",),    # frozen base + classification head
            "train_per_class": 1000,                # sampled from GLUE train, then split 80:20
            "head_train": {"epochs": 3, "learning_rate": 1e-3, "batch_size": 16,
                           "max_length": 64},
        },
        "squad": {
            "bases": ("smollm2-135m-instruct",),
            "train_questions": 200,                 # from the first articles (split by article)
            "test_questions": 80,                   # from the last article
            "max_length": 192, "stride": 64,
            "head_train": {"epochs": 3, "learning_rate": 1e-3, "batch_size": 16},
        },
        "translation": {
            "model": "smollm2-135m-instruct",
            # "student": model B translates new German sentences (self-training, said in the
            # results); otherwise a registered model name.
            "teacher": "student",
            "n_train": 128, "n_validation": 32, "n_test": 48,
            "synthetic_ratio": 1.0,                 # synthetic pairs per real training pair
            # CPU minutes: LoRA on a 135M model needs a larger step than the paper's 1e-4.
            "lora": {"r": 16, "alpha": 64, "dropout": 0.1, "learning_rate": 1e-3, "epochs": 2,
                     "batch_size": 8, "max_length": 48},
            "max_new_tokens": 32,                   # the captions are short
        },
    },
)

PAPER = Profile(
    name="paper",
    train=TrainConfig(epochs=5, learning_rate=2e-5, batch_size=32, max_length=128,
                      early_stopping_patience=3),
    studies={
        "sentiment": {
            "model": "mdistilbert",
            "languages": ("en", "fr", "ar", "hi", "ja", "ms"),
            # The study's N = 100..2000 per language, split evenly over 3 classes.
            "train_sizes": (33, 166, 333, 500, 666),
            "val_per_class": None,  # None: the whole split
            "test_per_class": None,
        },
        "parliament": {
            "encoders": ("xlmr",),
            "llms": ("llama31-8b-instruct",),
            "country": "tr",
            # Seed 000: batch 32, 3 epochs, AdamW 2e-5, 10% warm-up, linear decay, wd 0.01,
            # early stopping patience 3, max_length 512.
            "train": {"epochs": 3, "learning_rate": 2e-5, "batch_size": 32, "max_length": 512,
                      "early_stopping_patience": 3, "warmup_ratio": 0.1, "weight_decay": 0.01},
            "zero_shot_per_class": None,            # None: all of the balanced test subset
            "margin": 0.05,
            "max_invalid_rate": 0.10,
        },
        "sst2": {
            "llms": ("llama32-1b",),
            "zero_shot_per_class": None,
            "bases": ("llama32-1b",),
            "train_per_class": None,                # all of GLUE train, split 80:20
            "head_train": {"epochs": 3, "learning_rate": 1e-3, "batch_size": 32,
                           "max_length": 128},
        },
        "squad": {
            "bases": ("llama32-1b",),
            "train_questions": None, "test_questions": None,
            "max_length": 384, "stride": 128,
            "head_train": {"epochs": 3, "learning_rate": 1e-3, "batch_size": 32},
        },
        "translation": {
            "model": "gpt-neo-1.3b",
            "teacher": "qwen25-32b-instruct",
            # Seed 002: 1000 OPUS-100 pairs split 80/20; 10% of train held out for validation.
            "n_train": 720, "n_validation": 80, "n_test": 200,
            "synthetic_ratio": 2.0,
            "lora": {"r": 16, "alpha": 64, "dropout": 0.1, "learning_rate": 1e-4, "epochs": 2,
                     "batch_size": 4, "max_length": 256},
            "max_new_tokens": 128,
        },
    },
)

PROFILES: dict[str, Profile] = {p.name: p for p in (SMOKE, PAPER)}


def get_profile(name: str) -> Profile:
    """Look up a profile by name, with an error naming the known ones."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ConfigError(f"unknown profile {name!r}; choose one of {sorted(PROFILES)}") from None


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

    def torch_device(self) -> str:
        return resolve_device(self.device)
