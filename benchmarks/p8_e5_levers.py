"""P8: fine-tuning multilingual-e5-small on CPU: is its 96M-parameter embedding matrix a cost?

Three ways to train the same classifier on the sentiment study's tweets, in one process and
run: (a) every parameter trained (the naive way), (b) the input embeddings frozen (AdamW then
keeps no moments for 96M parameters, and no gradient is built for them), (c) the vocabulary
trimmed to the pieces the data uses (the embedding matrix cut to those rows, ids remapped).
all-MiniLM-L6-v2 (6 layers, 30k vocabulary) is timed the same way for scale. Reported per
optimiser step (batch 16, dynamic padding, max_length 64) after 3 warm-up steps.

    LMGATE_DATA_DIR=../shared/data python benchmarks/p8_e5_levers.py [--steps 20]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import report  # noqa: E402

from lmgate.core.cache import RunCache  # noqa: E402
from lmgate.core.config import default_cache_dir  # noqa: E402
from _datasets import multilingual_sentiment  # noqa: E402
from lmgate.models.load import load_model  # noqa: E402


def batches(tokenizer, texts, labels, batch: int, steps: int, remap=None):
    import torch
    from transformers import DataCollatorWithPadding

    enc = tokenizer(texts, truncation=True, max_length=64)
    collate = DataCollatorWithPadding(tokenizer)
    rng = np.random.default_rng(0)
    for _ in range(steps):
        idx = rng.choice(len(texts), size=batch, replace=False)
        out = collate([{"input_ids": enc["input_ids"][i],
                        "attention_mask": enc["attention_mask"][i]} for i in idx])
        if remap is not None:
            out["input_ids"] = torch.as_tensor(remap[out["input_ids"].numpy()])
        out["labels"] = torch.as_tensor(labels[idx])
        yield out


def time_steps(model, data, steps: int) -> float:
    """Seconds per AdamW step over `steps` steps after 3 warm-up steps."""
    import torch

    torch.manual_seed(0)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-5)
    model.train()
    times = []
    for i, batch in enumerate(data):
        start = time.perf_counter()
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        if i >= 3:
            times.append(time.perf_counter() - start)
    return float(np.median(times))


def trimmed(model, used: np.ndarray):
    """`model` with its word embeddings cut to the rows `used`, and the old -> new id map."""
    import torch

    emb = model.get_input_embeddings()
    new = torch.nn.Embedding(len(used), emb.embedding_dim, padding_idx=None)
    new.weight.data = emb.weight.data[torch.as_tensor(used)].clone()
    model.set_input_embeddings(new)
    remap = np.zeros(emb.num_embeddings, dtype=np.int64)
    remap[used] = np.arange(len(used))
    return model, remap


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    cache = RunCache(default_cache_dir())
    data = multilingual_sentiment(["en", "fr", "ar", "hi", "ja", "ms"])
    texts, labels = data.train.texts, data.train.y
    steps = args.steps + 3
    rows = []
    for name, how in (("minilm", "all parameters"), ("me5-small", "all parameters"),
                      ("me5-small", "input embeddings frozen"),
                      ("me5-small", "vocabulary trimmed to the data's pieces")):
        loaded = load_model(name, "classifier", cache, labels=data.labels, seed=0, max_length=64)
        model, remap = loaded.model, None
        if how.startswith("input embeddings frozen"):
            model.get_input_embeddings().weight.requires_grad_(False)
        if how.startswith("vocabulary trimmed"):
            ids = loaded.tokenizer(texts, truncation=True, max_length=64)["input_ids"]
            used = np.unique(np.concatenate([np.asarray(x) for x in ids] +
                                            [np.arange(4)]))
            model, remap = trimmed(model, used)
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        seconds = time_steps(model, batches(loaded.tokenizer, texts, labels, 16, steps, remap),
                             steps)
        rows.append({"model": name, "trained": how, "trainable params": trainable,
                     "s per step": round(seconds, 3)})
    naive = rows[1]["s per step"]
    report("p8_e5_levers", rows, {
        "speedup frozen embeddings": naive / rows[2]["s per step"],
        "speedup trimmed vocabulary": naive / rows[3]["s per step"],
        "e5 full vs minilm": naive / rows[0]["s per step"]})


if __name__ == "__main__":
    main()
