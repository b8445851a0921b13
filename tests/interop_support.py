"""What the interop tests share: a tiny random causal LM saved with `save_pretrained` (no
hub), the offline environment lm-evaluation-harness and Inspect run in, and a runner that
starts the tools' own command lines side by side; an lm-eval output written here in its
shape, for tests of what the import makes of any input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Sequence

import pytest

DATA = Path(__file__).resolve().parent / "data" / "interop"
SST2 = DATA / "sst2_20.jsonl"
WORDS = ("the a of and to in is was for on that with as it by at from this be are not good bad "
         "movie film great love hate positive negative yes no answer sentence question sentiment "
         "review slow charming bleak funny boring").split()


def tiny_causal_lm(out: Path, seed: int, favours: str | None = None) -> Path:
    """A 2-layer Llama of random weights with a byte-level BPE tokenizer (and a ChatML
    template, for chat callers such as Inspect's hf provider), saved to `out`. `favours`: a
    word its greedy generations always start with (a `sequence_bias` in its generation
    config), so a generation task scores it above nothing."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import (GenerationConfig, LlamaConfig, LlamaForCausalLM,
                              PreTrainedTokenizerFast)

    corpus = [" ".join(WORDS[i:] + WORDS[:i]) for i in range(len(WORDS))]
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.post_processor = processors.ByteLevel(trim_offsets=False)
    bpe.train_from_iterator(corpus, trainers.BpeTrainer(
        vocab_size=512, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    end = "<|endoftext|>"
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token=end, eos_token=end,
                                        pad_token=end, unk_token=end)
    tokenizer.chat_template = (
        "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + "
        "'<|im_end|>\n' }}{% endfor %}{% if add_generation_prompt %}"
        "{{ '<|im_start|>assistant\n' }}{% endif %}")
    eos = tokenizer.convert_tokens_to_ids(end)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=512, bos_token_id=eos, eos_token_id=eos,
                         pad_token_id=eos, tie_word_embeddings=True)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config).eval()
    if favours is not None:
        word = tokenizer(favours, add_special_tokens=False)["input_ids"]
        model.generation_config = GenerationConfig(
            bos_token_id=eos, eos_token_id=eos, pad_token_id=eos,
            sequence_bias=[[[word[0]], 100.0]])
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def offline_env(tmp: Path) -> dict[str, str]:
    """The environment the tools run in: no hub, and every cache under `tmp`."""
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
            "HF_DATASETS_OFFLINE": "1", "HF_DATASETS_CACHE": str(tmp / "hf-datasets"),
            "HF_HOME": str(tmp / "hf-home"), "TOKENIZERS_PARALLELISM": "false",
            "OMP_NUM_THREADS": "1", "INSPECT_LOG_LEVEL": "warning"}


def run_side_by_side(commands: Sequence[Sequence[str]], cwd: Path,
                     timeout: float = 300) -> None:
    """Run each command (`python -m <tool> ...`) at once, in the offline environment, from
    `cwd`; AssertionError with the end of its output where one fails."""
    env = offline_env(cwd)
    running = [subprocess.Popen([sys.executable, *command], cwd=cwd, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
               for command in commands]
    for command, process in zip(commands, running):
        output, _ = process.communicate(timeout=timeout)
        assert process.returncode == 0, f"{' '.join(command)} failed:\n{output[-3000:]}"


def one_line_error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """The error `lmgate ARGV` prints: exit status 2 and one line `lmgate: error: ...`."""
    from lmgate.cli import main

    assert main(list(argv)) == 2
    err = capsys.readouterr().err
    assert err.startswith("lmgate: error: ") and err.count("\n") == 1, err
    return err


STAMP = "2026-01-01T00-00-00.000000"


def lm_eval_output(folder: Path, task: str, model_args: object = None) -> Path:
    """A two-document lm-eval run of `task` in `folder` (`--log_samples`): its results file
    and its samples file, named as lm-eval names them."""
    folder.mkdir(parents=True, exist_ok=True)
    results = {"results": {task: {"acc,none": 0.5, "acc_stderr,none": 0.5}},
               "configs": {task: {}}, "n-samples": {task: {"effective": 2}},
               "higher_is_better": {task: {"acc": True}},
               "config": {"model": "hf", "model_args": model_args or {"pretrained": "/m/tiny"}}}
    (folder / f"results_{STAMP}.json").write_text(json.dumps(results), encoding="utf-8")
    lines = [{"doc_id": i, "doc": {"x": i}, "filter": "none", "metrics": ["acc"],
              "doc_hash": f"h{i}", "acc": float(i)} for i in range(2)]
    try:
        (folder / f"samples_{task}_{STAMP}.jsonl").write_text(
            "".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    except (OSError, ValueError):
        pass   # a task name no file can have: the import must say its samples are missing
    return folder
