"""Architecture-faithful tiny stand-ins, by architecture family.

The way transformers tests itself: a model of the **same config class and layout** as the real
one (XLM-R, DistilBERT, Llama 3, GPT-Neo, Qwen2), with tiny random weights, and a tokenizer of
the same class with the same special tokens, padding behaviour (a pad token or none) and chat
template (or none). Saved as an ordinary `save_pretrained` folder in the run cache, so every
code path that loads the real model (Auto classes, chat templates, heads, LoRA) loads it.

Random weights mean a stand-in's predictions are noise: it proves code paths, not claims.
A model that declares `standin = "<family>"` (one of `RECIPES`) is registered with a
`<model>-standin` beside it (e.g. `xlmr-standin`, from `standin = "xlm-roberta"`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from lmgate.core.errors import ConfigError

if TYPE_CHECKING:
    from lmgate.core.cache import RunCache

SUFFIX = "-standin"
TINY = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4)

# Llama 3.x chat format (header / eot tokens); the real template also writes a dated system
# header, which changes the text, not the structure the code depends on.
LLAMA3_CHAT = (
    "{{- bos_token }}{%- for message in messages %}{{- '<|start_header_id|>' + message['role'] "
    "+ '<|end_header_id|>\n\n' + message['content'] | trim + '<|eot_id|>' }}{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}"
    "{%- endif %}")
# Qwen2.5 ChatML, with its default system message when the conversation has none.
QWEN25_CHAT = (
    "{%- if messages[0]['role'] != 'system' %}{{- '<|im_start|>system\nYou are Qwen, created by "
    "Alibaba Cloud. You are a helpful assistant.<|im_end|>\n' }}{%- endif %}"
    "{%- for message in messages %}{{- '<|im_start|>' + message['role'] + '\n' + "
    "message['content'] + '<|im_end|>' + '\n' }}{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\n' }}{%- endif %}")


@dataclass(frozen=True)
class StandIn:
    """The recipe of one stand-in: config class and shape, tokenizer family and specials."""

    family: str                      # the name a spec's `standin` gives
    kind: str                        # the ModelSpec kind it is: encoder-classifier | causal-lm
    config: str                      # transformers config class name
    config_kwargs: Mapping[str, Any]
    tokenizer: str                   # sentencepiece | wordpiece | byte-bpe
    tokenizer_class: str
    specials: Mapping[str, str]      # role (bos_token, eos_token, pad_token...) -> token
    extra_tokens: tuple[str, ...] = ()
    template: tuple[str, str] | None = None   # post-processor: (single, pair) or None
    chat_template: str | None = None
    notes: tuple[str, ...] = field(default=())


def _llama3(family: str, *, instruct: bool, tie: bool) -> StandIn:
    """Llama 3 with its chat format (3.1 8B Instruct's layout: untied embeddings, RoPE factor
    8) or as a base model (3.2 1B's: tied embeddings, RoPE factor 32)."""
    return StandIn(
        family, "causal-lm", "LlamaConfig",
        dict(TINY, num_key_value_heads=2, max_position_embeddings=131072, rope_theta=500000.0,
             rope_scaling={"rope_type": "llama3", "factor": 32.0 if tie else 8.0,
                           "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                           "original_max_position_embeddings": 8192},
             tie_word_embeddings=tie, hidden_act="silu", rms_norm_eps=1e-5),
        "byte-bpe", "PreTrainedTokenizerFast",
        {"bos_token": "<|begin_of_text|>",
         "eos_token": "<|eot_id|>" if instruct else "<|end_of_text|>"},
        extra_tokens=("<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>",
                      "<|end_header_id|>", "<|eot_id|>"),
        template=("<|begin_of_text|> $A", "<|begin_of_text|> $A $B"),
        chat_template=LLAMA3_CHAT if instruct else None,
        notes=("no pad token, as Llama 3", "chat template" if instruct else "no chat template"))


#: Stand-in recipes by architecture family: the values of a spec's `standin`.
RECIPES: dict[str, StandIn] = {r.family: r for r in (
    StandIn("xlm-roberta", "encoder-classifier", "XLMRobertaConfig",
            dict(TINY, max_position_embeddings=514, type_vocab_size=1, pad_token_id=1,
                 bos_token_id=0, eos_token_id=2),
            "sentencepiece", "XLMRobertaTokenizerFast",
            {"bos_token": "<s>", "pad_token": "<pad>", "eos_token": "</s>", "unk_token": "<unk>",
             "cls_token": "<s>", "sep_token": "</s>", "mask_token": "<mask>"},
            template=("<s> $A </s>", "<s> $A </s> </s> $B </s>"),
            notes=("positions offset by padding_idx + 1: 514 positions for max_length 512",)),
    StandIn("distilbert", "encoder-classifier", "DistilBertConfig",
            dict(dim=64, hidden_dim=128, n_layers=2, n_heads=4, max_position_embeddings=512,
                 pad_token_id=0),
            "wordpiece", "DistilBertTokenizerFast",
            {"pad_token": "[PAD]", "unk_token": "[UNK]", "cls_token": "[CLS]",
             "sep_token": "[SEP]", "mask_token": "[MASK]"},
            template=("[CLS] $A [SEP]", "[CLS] $A [SEP] $B [SEP]"), notes=("cased",)),
    _llama3("llama3-instruct", instruct=True, tie=False),
    _llama3("llama3-base", instruct=False, tie=True),
    StandIn("gpt-neo", "causal-lm", "GPTNeoConfig",
            dict(hidden_size=64, num_layers=2, num_heads=4, intermediate_size=128,
                 attention_types=[[["global", "local"], 1]], window_size=256,
                 max_position_embeddings=2048),
            "byte-bpe", "GPT2TokenizerFast",
            {"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>",
             "unk_token": "<|endoftext|>"},
            extra_tokens=("<|endoftext|>",), notes=("no pad token", "no chat template")),
    StandIn("qwen2-chatml", "causal-lm", "Qwen2Config",
            dict(TINY, num_key_value_heads=2, max_position_embeddings=32768,
                 rope_theta=1000000.0, tie_word_embeddings=False, use_sliding_window=False),
            "byte-bpe", "Qwen2TokenizerFast",
            {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"},
            extra_tokens=("<|endoftext|>", "<|im_start|>", "<|im_end|>"),
            chat_template=QWEN25_CHAT, notes=("pad <|endoftext|>, eos <|im_end|>", "ChatML")),
)}


def standin_name(model: str) -> str:
    """The name a model's stand-in is registered under: `<model>-standin`."""
    return model + SUFFIX


def recipe(family: str) -> StandIn:
    """The stand-in recipe of an architecture family, or an error listing the families."""
    try:
        return RECIPES[family]
    except KeyError:
        raise ConfigError(f"unknown stand-in family {family!r}; use one of "
                          f"{sorted(RECIPES)}") from None


def _corpus() -> list[str]:
    """Text to train the stand-in tokenizers on: Latin, Arabic, Devanagari, kana and common
    CJK characters, so multilingual data maps to real pieces rather than to unknowns, and
    common English words (label words included), whole tokens as in the real vocabularies."""
    ranges = [(0x20, 0x7F), (0xC0, 0x250), (0x600, 0x6FF), (0x900, 0x97F), (0x3040, 0x30FF),
              (0x4E00, 0x5400)]
    chars = [chr(c) for lo, hi in ranges for c in range(lo, hi)]
    words = ("the a of and to in is was for on that with as it by at from this be are not "
             "good bad movie film great love hate party government speech translation answer "
             "positive negative neutral opposition governing left right yes no").split()
    return [" ".join(words[i:] + words[:i]) for i in range(len(words))] + \
        ["".join(chars[i:i + 40]) for i in range(0, len(chars), 40)]


def build_tokenizer(standin: StandIn, vocab_size: int = 4000):
    """A fast tokenizer of the real model's class, family and special tokens."""
    import transformers
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    specials = list(dict.fromkeys([*standin.specials.values(), *standin.extra_tokens]))
    if standin.tokenizer == "sentencepiece":
        specials = ["<s>", "<pad>", "</s>", "<unk>"] + [s for s in specials
                                                       if s not in ("<s>", "<pad>", "</s>", "<unk>")]
        tok = Tokenizer(models.Unigram())
        tok.normalizer = normalizers.NFKC()
        tok.pre_tokenizer = pre_tokenizers.Metaspace()
        tok.decoder = decoders.Metaspace()
        trainer = trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=specials,
                                          unk_token="<unk>", show_progress=False)
    elif standin.tokenizer == "wordpiece":
        tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        tok.normalizer = normalizers.BertNormalizer(lowercase=False)
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.decoder = decoders.WordPiece()
        trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=specials,
                                            show_progress=False)
    else:
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                      show_progress=False)
    tok.train_from_iterator(_corpus(), trainer=trainer)
    if standin.template:
        used = {t for part in standin.template for t in part.split() if t not in ("$A", "$B")}
        tok.post_processor = processors.TemplateProcessing(
            single=standin.template[0], pair=standin.template[1],
            special_tokens=[(t, tok.token_to_id(t)) for t in sorted(used)])
    elif standin.tokenizer == "byte-bpe":
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
    cls = getattr(transformers, standin.tokenizer_class)
    extra = [t for t in standin.extra_tokens if t not in standin.specials.values()]
    tokenizer = cls(tokenizer_object=tok, **standin.specials,
                    **({"additional_special_tokens": extra} if extra else {}))
    if standin.chat_template:
        tokenizer.chat_template = standin.chat_template
    return tokenizer


def build_model(standin: StandIn, tokenizer, seed: int = 0):
    """A randomly initialised causal LM / encoder of the recipe's config class."""
    import torch
    import transformers

    config_cls = getattr(transformers, standin.config)
    ids = {f"{role.split('_')[0]}_token_id": tokenizer.convert_tokens_to_ids(token)
           for role, token in standin.specials.items() if role in ("bos_token", "eos_token",
                                                                   "pad_token")}
    config = config_cls(**{**ids, **standin.config_kwargs, "vocab_size": len(tokenizer)})
    torch.manual_seed(seed)
    if standin.kind == "encoder-classifier":
        return transformers.AutoModel.from_config(config)
    return transformers.AutoModelForCausalLM.from_config(config)


def standin_folder(family: str, cache: "RunCache") -> Path:
    """The family's stand-in as a save_pretrained folder, built once into the run cache."""
    from dataclasses import asdict

    standin = recipe(family)

    def compute():
        tokenizer = build_tokenizer(standin)
        return build_model(standin, tokenizer), tokenizer

    def save(built, folder: Path) -> dict[str, Any]:
        net, tokenizer = built
        net.save_pretrained(folder, safe_serialization=True)
        tokenizer.save_pretrained(folder)
        return {"family": family}

    return cache.memo("standins", dict(recipe=asdict(standin), version=1), compute, save,
                      lambda entry: entry.path).value
