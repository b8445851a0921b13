"""Where an echoed prompt's tokens lie in the prompt that was sent.

A server answering `/completions` with `echo` returns the prompt's tokens as it tokenised
them: as decoded text (OpenAI, recent vLLM), or as the tokenizer's own pieces (byte-level BPE
characters such as `Ġ`, or SentencePiece's `▁` and `<0xNN>`), perhaps after a start-of-text
token (`<s>`, `<|begin_of_text|>`) that stands for no text. Scores are only meaningful for
tokens that spell exactly the prompt sent, so the tokens are read back to bytes and aligned
with it; `text_offset` must then agree with them, counted either in the prompt's characters or
as the running length of the token strings (as vLLM counts).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from itertools import accumulate
from typing import Callable, Sequence


def _byte_level_alphabet() -> dict[str, int]:
    """The character byte-level BPE tokenizers (GPT-2, Llama 3, Qwen, SmolLM) write for each
    byte: printable Latin-1 bytes as themselves, the rest shifted past U+0100."""
    printable = {*range(0x21, 0x7F), *range(0xA1, 0xAD), *range(0xAE, 0x100)}
    alphabet, shifted = {}, 0
    for byte in range(256):
        if byte in printable:
            alphabet[chr(byte)] = byte
        else:
            alphabet[chr(0x100 + shifted)] = byte
            shifted += 1
    return alphabet


_BYTE_LEVEL = _byte_level_alphabet()
_PIECE_BYTE = re.compile(r"<0x([0-9A-Fa-f]{2})>")
_SPECIAL = re.compile(r"<[^<>\s]+>|\[[A-Z]+\]|")


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def _as_text(token: str) -> bytes | None:
    return _utf8(token)


def _as_byte_level(token: str) -> bytes | None:
    if not all(c in _BYTE_LEVEL for c in token):
        return None
    return bytes(_BYTE_LEVEL[c] for c in token)


def _as_sentencepiece(token: str) -> bytes | None:
    byte = _PIECE_BYTE.fullmatch(token)
    return bytes([int(byte.group(1), 16)]) if byte else _utf8(token.replace("\u2581", " "))


#: The ways a server may write a token, each turning one token back into its bytes.
READINGS: tuple[Callable[[str], bytes | None], ...] = (_as_text, _as_byte_level,
                                                       _as_sentencepiece)


def _starts(prompt: bytes, pieces: Sequence[bytes], space_first: bool) -> list[int] | None:
    """Byte offset of each piece if the pieces spell exactly `prompt` (or, `space_first`,
    SentencePiece's space before the first word and then `prompt`)."""
    joined = b"".join(pieces)
    skip = 0
    if joined != prompt:
        if not (space_first and joined == b" " + prompt):
            return None
        skip = 1
    starts, at = [], -skip
    for piece in pieces:
        starts.append(max(at, 0))
        at += len(piece)
    return starts


def token_starts(prompt: str, tokens: Sequence[str], first_unscored: bool) -> list[int] | None:
    """The byte offset in `prompt` (UTF-8) where each of `tokens` (the echoed prompt's tokens,
    the generated one excluded) starts, if they spell exactly `prompt` under one reading; a
    first token without a log-probability (`first_unscored`) that looks like a special token
    may be a start-of-text token that spells nothing (offset 0). None where they spell
    another text."""
    sent = _utf8(prompt)
    special_first = first_unscored and bool(tokens) and _SPECIAL.fullmatch(tokens[0]) is not None
    for reading in READINGS:
        pieces = [reading(t) for t in tokens]
        if any(p is None for p in pieces):
            continue
        space_first = reading is _as_sentencepiece
        starts = _starts(sent, pieces, space_first)   # type: ignore[arg-type]
        if starts is None and special_first:
            rest = _starts(sent, pieces[1:], space_first)   # type: ignore[arg-type]
            starts = None if rest is None else [0, *rest]
        if starts is not None:
            return starts
    return None


def offsets_agree(prompt: str, tokens: Sequence[str], starts: Sequence[int],
                  offsets: Sequence[int]) -> bool:
    """Whether `offsets` (text_offset of the prompt's tokens and the generated one) place the
    tokens where `starts` (bytes, from `token_starts`) does: in the prompt's characters, or as
    the running length of the token strings from 0."""
    ends = list(accumulate(len(_utf8(c)) for c in prompt))   # byte end of each character
    # A token starting inside a character (a byte-level piece) starts at that character.
    in_chars = [bisect_right(ends, b) for b in starts] + [len(prompt)]
    running = [0]
    for token in tokens:
        running.append(running[-1] + len(token))
    return list(offsets) in (in_chars, running)
