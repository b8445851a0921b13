"""P10: LoRA training with logits for the target positions only, against the naive way.

The naive way is transformers' own: right-padded batches, the model's loss over the logits of
every position. lmgate's way (`lmgate.methods.lora.target_loss`) pads on the left and asks the
model for the logits of the last positions only. Same pairs, settings and seed; each way trained
in a fresh process. Reported: training seconds and the per-epoch losses (they must agree).

    python benchmarks/p10_lora_target_logits.py [--model gemma3-270m] [--n-train 128]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

WAYS = ("naive", "target_logits", "target_logits_bf16")


def one_run(way: str, model: str, n_train: int) -> dict:
    from transformers import DataCollatorForSeq2Seq, Trainer, TrainingArguments

    from lmgate.core.cache import RunCache
    from lmgate.core.config import LoraSettings, default_cache_dir
    from _datasets import translation_pairs
    from lmgate.methods import lora
    from lmgate.methods.trainer import epoch_history
    from lmgate.methods.translation import TranslationPrompt
    from lmgate.models.load import load_model

    cache = RunCache(default_cache_dir() / "runs")
    lm = load_model(model, "prompting", cache, device="cpu")
    pairs = translation_pairs("train")[0]
    train, validation = pairs[:n_train], pairs[n_train:n_train + 32]
    settings = LoraSettings(r=16, alpha=64, dropout=0.1, learning_rate=1e-3, epochs=2,
                            batch_size=8, max_length=48)
    prompt = TranslationPrompt("German", "French")
    peft_model = lora.new_adapter(lm.model, settings, seed=0)
    start = time.perf_counter()
    with cache.scratch("bench") as workdir:
        if way.startswith("target_logits"):
            # Each way fixes its precision: lmgate's policy (lora_trainer_flags) picks bf16 on
            # CPUs with native bf16, which would make "target_logits" a bf16 run there.
            flags = {"use_cpu": True, **({"bf16": True} if way.endswith("bf16") else {})}
            lora.lora_trainer_flags = lambda device: flags
            trainer = lora.run_lora_training(peft_model, lm.tokenizer, train, validation, settings,
                                             seed=0, prompt=prompt, device="cpu", name=model,
                                             workdir=workdir)
        else:
            lm.tokenizer.padding_side = "right"
            args = TrainingArguments(
                output_dir=str(workdir), num_train_epochs=settings.epochs,
                learning_rate=settings.learning_rate,
                per_device_train_batch_size=settings.batch_size,
                per_device_eval_batch_size=settings.batch_size, eval_strategy="epoch",
                logging_strategy="epoch", save_strategy="no", lr_scheduler_type="linear",
                prediction_loss_only=True, seed=0, data_seed=0, report_to="none", use_cpu=True)
            trainer = Trainer(model=peft_model, args=args,
                              train_dataset=lora._encode(lm.tokenizer, prompt, train, 48),
                              eval_dataset=lora._encode(lm.tokenizer, prompt, validation, 48),
                              data_collator=DataCollatorForSeq2Seq(lm.tokenizer, padding=True,
                                                                   label_pad_token_id=-100))
            trainer.train()
    seconds = time.perf_counter() - start
    return {"way": way, "train_s": round(seconds, 1),
            "history": epoch_history(trainer.state.log_history)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="gemma3-270m")
    parser.add_argument("--n-train", type=int, default=128)
    parser.add_argument("--way", help=argparse.SUPPRESS)   # the child process
    parser.add_argument("--ways", default=",".join(WAYS))
    args = parser.parse_args()
    if args.way:
        print(json.dumps(one_run(args.way, args.model, args.n_train)))
        return
    from _report import report

    runs = {}
    for way in args.ways.split(","):
        out = subprocess.run([sys.executable, __file__, "--model", args.model, "--n-train",
                              str(args.n_train), "--way", way],
                             capture_output=True, text=True, check=True)
        runs[way] = json.loads(out.stdout.strip().splitlines()[-1])
    rows = [{"way": way, "train_s": r["train_s"],
             **{f"{k}_epoch{int(h['epoch'])}": round(h[k], 4) for h in r["history"]
                for k in ("train_loss", "eval_loss") if k in h}} for way, r in runs.items()]
    report(f"p10_lora_target_logits_{args.model}", rows,
           {f"speedup_{way}": runs["naive"]["train_s"] / runs[way]["train_s"] for way in runs if way != "naive"})


if __name__ == "__main__":
    main()
