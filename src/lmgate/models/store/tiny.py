"""Embedded tiny models: a config-built encoder with a BPE tokenizer trained on the data.

They exercise the same transformers code paths as XLM-R (AutoModelForSequenceClassification,
fast tokenizers, Trainer) in seconds on a CPU, for any script: the tokenizer is trained on
the experiment's own texts, SentencePiece-style (Metaspace + BPE), like XLM-R's.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Sequence

from lmgate.core.io import atomic_write_text

if TYPE_CHECKING:
    from lmgate.core.cache import RunCache

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

TINY_ENCODER = dict(hidden_size=128, num_hidden_layers=2, num_attention_heads=2,
                    intermediate_size=256, hidden_dropout_prob=0.1,
                    attention_probs_dropout_prob=0.1)


def texts_fingerprint(texts: Sequence[str]) -> str:
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode())
        h.update(b"\x00")
    return h.hexdigest()[:16]


def train_tokenizer(texts: Sequence[str], vocab_size: int = 8000, cache: "RunCache | None" = None):
    """A fast tokenizer trained on `texts`; cached (checksummed) by a hash of the texts."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    def compute() -> str:
        return _train_backend(texts, vocab_size).to_str()

    def save(backend: str, folder) -> None:
        atomic_write_text(folder / "tokenizer.json", backend)

    if cache is None:
        backend_json = compute()
    else:
        backend_json = cache.memo(
            "tokenizers", dict(texts=texts_fingerprint(texts), vocab_size=vocab_size,
                               algorithm="bpe-v1"), compute, save,
            lambda entry: (entry.path / "tokenizer.json").read_text(encoding="utf-8")).value
    return PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer.from_str(backend_json), pad_token="[PAD]",
        unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")


def _train_backend(texts: Sequence[str], vocab_size: int):
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE(unk_token="[UNK]"))
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS,
                                  min_frequency=2, show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    return tok


def tiny_encoder_classifier(tokenizer, num_labels: int, max_length: int, seed: int,
                            labels: Sequence[str] = ()):
    """A freshly initialised (seeded) BERT-style sequence classifier sized for CPU smoke runs."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    config = BertConfig(vocab_size=len(tokenizer), max_position_embeddings=max_length + 2,
                        num_labels=num_labels, pad_token_id=tokenizer.pad_token_id,
                        id2label=dict(enumerate(labels)) if labels else None,
                        label2id={n: i for i, n in enumerate(labels)} if labels else None,
                        **TINY_ENCODER)
    torch.manual_seed(seed)
    return BertForSequenceClassification(config)
