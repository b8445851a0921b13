"""LoRA fine-tuning of a causal LM for translation, and batched greedy translation.

Training uses peft's LoraConfig on transformers' Trainer; the loss covers the target tokens
only (prompt positions are labelled -100). The adapter (safetensors + JSON config) is stored in
the run cache and reloaded onto the base model, so a cached run reproduces its translations.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from lmgate.cache import Entry, RunCache
from lmgate.errors import DataError
from lmgate.models.causal import CausalLM
from lmgate.models.params import count_parameters
from lmgate.prompting import greedy_generate
from lmgate.settings import check_processes
from lmgate.training import cuda_flags, epoch_history
from lmgate.progress import training_progress

if TYPE_CHECKING:
    from lmgate.metrics.generation import GenerationResult


@dataclass(frozen=True)
class LoraSettings:
    """Seed 002's LoRA recipe (paper values as defaults)."""

    r: int = 16
    alpha: int = 64
    dropout: float = 0.1
    learning_rate: float = 1e-4
    epochs: int = 2
    batch_size: int = 4
    max_length: int = 256
    target_modules: tuple[str, ...] | None = None   # None: peft's default for the architecture
    # processes > 1: trained under torchrun / accelerate (lmgate.distributed), as TrainConfig.
    processes: int = 1
    launcher: str = "torchrun"
    accelerate_config: str | None = None

    def __post_init__(self) -> None:
        check_processes(self.processes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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


def _encode(tokenizer, prompt: TranslationPrompt, pairs: Sequence[Pair], max_length: int):
    from datasets import Dataset

    rows = {"input_ids": [], "attention_mask": [], "labels": []}
    eos = [tokenizer.eos_token_id]
    for src, tgt in pairs:
        context = tokenizer(prompt(src), add_special_tokens=False)["input_ids"]
        target = tokenizer(" " + tgt + "\n", add_special_tokens=False)["input_ids"] + eos
        ids = (context + target)[:max_length]
        labels = ([-100] * len(context) + target)[:max_length]
        rows["input_ids"].append(ids)
        rows["attention_mask"].append([1] * len(ids))
        rows["labels"].append(labels)
    return Dataset.from_dict(rows)


@dataclass
class LoraRun:
    key: str
    entry: Entry
    cache_hit: bool
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def history(self) -> list[dict[str, float]]:
        return self.entry.meta["history"]

    @property
    def adapter_dir(self) -> Path:
        return self.entry.path


def train_lora(lm: CausalLM, train: Sequence[Pair], validation: Sequence[Pair],
               settings: LoraSettings, *, seed: int, cache: RunCache,
               prompt: TranslationPrompt = TranslationPrompt()) -> LoraRun:
    """Train (or fetch from the cache) a LoRA adapter on `lm` for the prompt's translation."""
    train, validation = check_pairs(train, "train pairs"), check_pairs(validation, "validation pairs")
    key_parts = dict(base=lm.fingerprint, train=train, validation=validation,
                     settings=settings.to_dict(), prompt=asdict(prompt), seed=seed)
    memo = cache.memo("lora", key_parts, lambda: _fit_lora(lm, train, validation, settings,
                                                             seed=seed, prompt=prompt,
                                                             cache=cache),
                      _save_adapter, lambda entry: entry)
    return LoraRun(memo.key, memo.entry, memo.hit, dict(memo.entry.meta["info"]))


def _save_adapter(fitted: tuple[Any, dict[str, Any]], folder: Path) -> dict[str, Any]:
    adapter_weights, meta = fitted
    for name, content in adapter_weights.items():
        (folder / name).write_bytes(content)
    return meta


def _fit_lora(lm: CausalLM, train: list[Pair], validation: list[Pair], settings: LoraSettings,
              *, seed: int, prompt: TranslationPrompt,
              cache: RunCache) -> tuple[dict[str, bytes], dict[str, Any]]:
    """Train an adapter; returns its saved files (name -> bytes) and the run's metadata."""
    if settings.processes > 1:
        from lmgate.distributed import fit_lora_distributed

        with cache.scratch("lora") as workdir:
            return fit_lora_distributed(lm, train, validation, settings, seed=seed,
                                        prompt=prompt, workdir=workdir)
    start = time.perf_counter()
    model = new_adapter(lm.model, settings, seed)
    try:
        with cache.scratch("lora") as workdir:
            trainer = run_lora_training(model, lm.tokenizer, train, validation, settings,
                                        seed=seed, prompt=prompt, device=lm.device,
                                        name=lm.name, workdir=workdir)
        with cache.scratch("adapter") as folder:
            return adapter_output(model, trainer, time.perf_counter() - start, len(train),
                                  folder)
    finally:
        # Give the base model back without the adapter layers, for the next run.
        lm.model = model.unload() if hasattr(model, "unload") else lm.model
        lm.tokenizer.padding_side = "left"


def new_adapter(model, settings: LoraSettings, seed: int):
    """`model` wrapped with a freshly initialised (seeded) LoRA adapter."""
    from peft import LoraConfig, get_peft_model
    from transformers import set_seed

    set_seed(seed)
    return get_peft_model(model, LoraConfig(
        r=settings.r, lora_alpha=settings.alpha, lora_dropout=settings.dropout,
        task_type="CAUSAL_LM",
        target_modules=list(settings.target_modules) if settings.target_modules else None))


def run_lora_training(model, tokenizer, train: Sequence[Pair], validation: Sequence[Pair],
                      settings: LoraSettings, *, seed: int, prompt: TranslationPrompt,
                      device: str, name: str, workdir: str | Path):
    """Train the adapter of the peft `model` (loss on target tokens only); returns the Trainer."""
    from transformers import DataCollatorForSeq2Seq, Trainer, TrainingArguments

    tokenizer.padding_side = "right"
    args = TrainingArguments(
        output_dir=str(workdir), num_train_epochs=settings.epochs,
        learning_rate=settings.learning_rate, per_device_train_batch_size=settings.batch_size,
        per_device_eval_batch_size=settings.batch_size, eval_strategy="epoch",
        logging_strategy="epoch", save_strategy="no", lr_scheduler_type="linear",
        seed=seed, data_seed=seed, report_to="none", **cuda_flags(device))
    trainer = Trainer(model=model, args=args,
                      train_dataset=_encode(tokenizer, prompt, train, settings.max_length),
                      eval_dataset=_encode(tokenizer, prompt, validation, settings.max_length),
                      data_collator=DataCollatorForSeq2Seq(tokenizer, padding=True,
                                                           label_pad_token_id=-100),
                      callbacks=[training_progress(f"LoRA training of {name}")])
    trainer.train()
    return trainer


def adapter_output(model, trainer, seconds: float, n_train: int,
                   folder: Path) -> tuple[dict[str, bytes], dict[str, Any]]:
    """Save the adapter into `folder`; its files (name -> bytes) and the run's metadata."""
    params = count_parameters(model)
    info = {"train_s": round(seconds, 2), "n_train": n_train,
            "trainable_parameters": params["trainable"], "total_parameters": params["total"],
            "trainable_share": params["trainable"] / params["total"]}
    model.save_pretrained(folder)
    files = {p.name: p.read_bytes() for p in Path(folder).iterdir() if p.is_file()}
    return files, {"history": epoch_history(trainer.state.log_history), "info": info}


@contextmanager
def adapter(lm: CausalLM, run: LoraRun) -> Iterator[CausalLM]:
    """`lm` with the run's cached adapter loaded; the bare base is restored on exit."""
    from peft import PeftModel

    model = PeftModel.from_pretrained(lm.model, str(run.adapter_dir)).eval()
    try:
        yield CausalLM(lm.spec, model, lm.tokenizer, lm.device, f"{lm.fingerprint}+{run.key[:16]}",
                       lm.source)
    finally:
        lm.model = model.unload()


def translate(lm: CausalLM, sources: Sequence[str], *, prompt: TranslationPrompt = TranslationPrompt(),
              batch_size: int = 16, max_new_tokens: int = 64) -> list[str]:
    """Batched greedy translation; the first line of each output, stripped."""
    outputs = greedy_generate(lm, [prompt(s) for s in sources], batch_size=batch_size,
                              max_new_tokens=max_new_tokens)
    return [prompt.postprocess(o) for o in outputs]


def evaluate_translation(lm: CausalLM, pairs: Sequence[Pair], system: str, *,
                         prompt: TranslationPrompt = TranslationPrompt(), max_new_tokens: int = 64,
                         run: LoraRun | None = None) -> "GenerationResult":
    """Translate the sources of `pairs` greedily and score them against the targets (BLEU/chrF);
    a LoRA run's training info and per-epoch history go into the result's info."""
    from lmgate.metrics.generation import GenerationResult

    sources, references = [s for s, _ in pairs], [t for _, t in pairs]
    hypotheses = translate(lm, sources, prompt=prompt, max_new_tokens=max_new_tokens)
    info: dict[str, Any] = {"postprocessing": "first line of the greedy output, stripped"}
    if run is not None:
        info.update(run.info, history=run.history, cache_hit=run.cache_hit)
    return GenerationResult(system, sources, hypotheses, references,
                            params={"model": lm.name, "system": system}, info=info)
