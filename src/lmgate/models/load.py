"""One entry point that loads a registered model for a regime, dispatching on `ModelSpec.kind`.

| regime | kinds | returns |
|---|---|---|
| "classifier" (full fine-tuning) | encoder-classifier, causal-lm | `LoadedModel` (fresh seeded head) |
| "prompting" (zero-shot, generation, LoRA base) | causal-lm | `CausalLM` |
| "frozen-head" (`task` = classification or qa) | causal-lm | `FrozenBaseModel` |

Everything goes through the same offline-first resolution, pickle check and fingerprint.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from lmgate.errors import ConfigError
from lmgate.models.registry import ModelSpec, get_model_spec

if TYPE_CHECKING:
    from lmgate.cache import RunCache

REGIMES: dict[str, tuple[str, ...]] = {
    "classifier": ("encoder-classifier", "causal-lm"),
    "prompting": ("causal-lm",),
    "frozen-head": ("causal-lm",),
}


def load_model(model: str | ModelSpec, regime: str, cache: "RunCache", *, device: str = "cpu",
               labels: Sequence[str] = (), task: str = "classification", seed: int = 0,
               max_length: int = 128, tokenizer_texts: Sequence[str] | None = None,
               dtype: str = "auto") -> Any:
    """Load `model` for `regime` (see the module table); a kind the regime cannot use is a
    ConfigError naming both."""
    spec = get_model_spec(model) if isinstance(model, str) else model
    if regime not in REGIMES:
        raise ConfigError(f"unknown regime {regime!r}; use one of {sorted(REGIMES)}")
    if spec.kind not in REGIMES[regime]:
        raise ConfigError(f"model {spec.name!r} is a {spec.kind}; the {regime} regime needs "
                          f"one of {REGIMES[regime]}")
    if regime == "prompting":
        from lmgate.models.causal import load_causal_lm

        return load_causal_lm(spec, cache, device, dtype=dtype)
    if regime == "frozen-head":
        from lmgate.models.heads import load_frozen_base

        return load_frozen_base(spec, task, cache, labels=labels, seed=seed)
    from lmgate.models.loading import load_classifier
    from lmgate.models.resolve import resolve_model

    return load_classifier(resolve_model(spec, cache.root.parent), labels, seed=seed,
                           max_length=max_length, cache=cache, tokenizer_texts=tokenizer_texts)
