"""Translation with a causal LM: the prompt, batched greedy translation and its evaluation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, Sequence

from lmgate.core.errors import DataError
from lmgate.models.engines.language_model import LanguageModel
from lmgate.results.generation import GenerationResult


class TrainingRecord(Protocol):
    """What a translation result keeps of the run that trained the model (a `LoraRun`)."""

    info: dict[str, Any]
    cache_hit: bool

    @property
    def history(self) -> list[dict[str, float]]: ...


@dataclass(frozen=True)
class TranslationPrompt:
    """A fixed plain-text prompt; the translation ends at the first newline."""

    source_lang: str = "German"
    target_lang: str = "French"

    def __call__(self, source: str) -> str:
        return f"Translate {self.source_lang} to {self.target_lang}.\n{self.source_lang}: {source}\n{self.target_lang}:"

    @staticmethod
    def postprocess(generated: str) -> str:
        """Keep the first line, stripped (recorded with the results)."""
        return generated.strip().split("\n", 1)[0].strip()


Pair = tuple[str, str]

#: What a translation result says was done to the model's output.
POSTPROCESSING = "first line of the greedy output, stripped"


def check_pairs(pairs: Sequence[Any], name: str) -> list[Pair]:
    """Validate (source, target) pairs: both sides non-empty strings."""
    out = []
    for i, pair in enumerate(pairs):
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
            raise DataError(f"{name}: row {i} is not a (source, target) pair: {pair!r}")
        src, tgt = pair
        if not isinstance(src, str) or not isinstance(tgt, str) or not src.strip() or not tgt.strip():
            raise DataError(f"{name}: row {i} has an empty or non-text side: {pair!r}")
        out.append((src, tgt))
    if not out:
        raise DataError(f"{name}: no pairs")
    return out


def translate(lm: LanguageModel, sources: Sequence[str], *, prompt: TranslationPrompt = TranslationPrompt(),
              batch_size: int = 64, max_new_tokens: int = 64) -> list[str]:
    """Batched greedy translation; the first line of each output, stripped. Batches of 64:
    finished rows leave a batch as it decodes, so larger batches mean fewer decoding steps
    (benchmarks/p13_pruned_generation.py)."""
    outputs = lm.generate([prompt(s) for s in sources], max_new_tokens=max_new_tokens,
                          stop=("\n",), batch_size=batch_size)
    return [prompt.postprocess(o) for o in outputs]


def evaluate_translation(lm: LanguageModel, pairs: Sequence[Pair], system: str, *,
                         prompt: TranslationPrompt = TranslationPrompt(), max_new_tokens: int = 64,
                         run: TrainingRecord | None = None) -> GenerationResult:
    """Translate the sources of `pairs` greedily and score them against the targets (BLEU/chrF);
    a LoRA run's training info and per-epoch history go into the result's info."""
    sources, references = [s for s, _ in pairs], [t for _, t in pairs]
    hypotheses = translate(lm, sources, prompt=prompt, max_new_tokens=max_new_tokens)
    info: dict[str, Any] = {"postprocessing": POSTPROCESSING}
    if run is not None:
        info.update(run.info, history=run.history, cache_hit=run.cache_hit)
    return GenerationResult(system, sources, hypotheses, references,
                            params={"model": lm.name, "system": system}, info=info)
