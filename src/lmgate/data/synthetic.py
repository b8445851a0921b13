"""Synthetic parallel data from a teacher model, filtered, with every drop accounted for.

The teacher translates source sentences (a callable `list[str] -> list[str]`: any model, e.g.
a large instruct LM in the paper profile, or the LoRA student itself in smoke, which makes the
experiment self-training). Filters: empty output, copy of the source, implausible length ratio,
duplicates, and any overlap with the test set (source or target): none may leak.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Sequence

Pair = tuple[str, str]


@dataclass
class SyntheticPairs:
    pairs: list[Pair]
    requested: int
    dropped: Counter = field(default_factory=Counter)
    teacher: str = ""

    def report(self) -> dict:
        return {"teacher": self.teacher, "requested": self.requested, "kept": len(self.pairs),
                "dropped": dict(self.dropped)}


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def filter_pairs(candidates: Sequence[Pair], *, test_pairs: Sequence[Pair] = (),
                 min_ratio: float = 0.5, max_ratio: float = 2.0) -> tuple[list[Pair], Counter]:
    """Keep plausible, unique pairs that share no side with the test set; count the drops."""
    test_texts = {_norm(t) for pair in test_pairs for t in pair}
    seen: set[tuple[str, str]] = set()
    kept, dropped = [], Counter()
    for src, tgt in candidates:
        s, t = _norm(src), _norm(tgt)
        if not s or not t:
            dropped["empty"] += 1
        elif s == t:
            dropped["copy of source"] += 1
        elif not (min_ratio <= len(t) / len(s) <= max_ratio):
            dropped["length ratio"] += 1
        elif s in test_texts or t in test_texts:
            dropped["overlaps test set"] += 1
        elif (s, t) in seen or any(s == x for x, _ in seen):
            dropped["duplicate"] += 1
        else:
            seen.add((s, t))
            kept.append((src.strip(), tgt.strip()))
    return kept, dropped


def synthesize_by_translation(teacher: Callable[[list[str]], list[str]], sources: Sequence[str],
                              *, test_pairs: Sequence[Pair] = (), teacher_name: str = "teacher",
                              ) -> SyntheticPairs:
    """Translate `sources` with the teacher and filter the pairs."""
    sources = list(sources)
    outputs = teacher(sources)
    kept, dropped = filter_pairs(list(zip(sources, outputs)), test_pairs=test_pairs)
    return SyntheticPairs(kept, len(sources), dropped, teacher_name)
