"""One identity for a model's starting point, computable without loading any weights."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Sequence

from lmgate.models.store.resolve import ResolvedModel
from lmgate.models.store.tiny import texts_fingerprint


def model_fingerprint(resolved: ResolvedModel, tokenizer_texts: Sequence[str] | None = None) -> str:
    """Hash of the spec and where its weights are: the weights folder's config (and GGUF file)
    for real models, the builder and the tokenizer's training texts for embedded ones."""
    if resolved.source == "embedded":
        ident = {"builder": resolved.spec.builder, "texts": texts_fingerprint(tokenizer_texts or [])}
    else:
        config = Path(resolved.location) / "config.json"
        ident = {"location": resolved.location,
                 "config": config.read_text() if config.exists() else "",
                 "gguf": resolved.load_kwargs.get("gguf_file")}
    ident["spec"] = repr(resolved.spec)
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:16]
