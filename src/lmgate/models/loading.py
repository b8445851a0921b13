"""Load a resolved model for a task: tokenizer + model, seeded, with a content fingerprint."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from lmgate.cache import RunCache
from lmgate.errors import ConfigError
from lmgate.models.resolve import ResolvedModel
from lmgate.models.fingerprint import model_fingerprint
from lmgate.models.tiny import tiny_encoder_classifier, train_tokenizer


@dataclass
class LoadedModel:
    model: Any
    tokenizer: Any
    fingerprint: str      # identifies the weights + tokenizer this run starts from


def load_classifier(resolved: ResolvedModel, labels: Sequence[str], *, seed: int,
                    max_length: int, cache: RunCache,
                    tokenizer_texts: Sequence[str] | None = None) -> LoadedModel:
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
