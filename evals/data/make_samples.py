"""Rebuild the embedded samples from full local copies: `python evals/data/make_samples.py DIR`
(DIR laid out like $LMGATE_DATA_DIR). Seeded, so the files are reproducible."""

import json
import shutil
import sys
from pathlib import Path

import pandas as pd

SEED = 0
#: rows per (language, class): what the smoke profile's sentiment study draws, no more.
SENTIMENT_PER_CLASS = {"train": 200, "validation": 30, "test": 100}
#: Japanese Amazon reviews are under research-only terms: never redistributed here.
SENTIMENT_EXCLUDED = {"ja"}
SST2_ROWS = {"train": 1000}       # per class; validation (872 rows) ships whole
TRANSLATION_ROWS = {"train": 800, "validation": 40, "test": 200}


def sentiment(src: Path, out: Path) -> None:
    (out / "multilingual_sentiment").mkdir(parents=True, exist_ok=True)
    for split, n in SENTIMENT_PER_CLASS.items():
        frame = pd.read_json(src / "multilingual_sentiment" / f"{split}.jsonl", lines=True,
                             dtype=False)
        frame = frame[~frame["language"].isin(SENTIMENT_EXCLUDED)]
        sample = pd.concat([group.sample(min(n, len(group)), random_state=SEED)
                            for _, group in frame.groupby(["language", "label_name"])])
        sample.to_json(out / "multilingual_sentiment" / f"{split}.jsonl", orient="records",
                       lines=True, force_ascii=False)


def sst2(src: Path, out: Path) -> None:
    (out / "sst2").mkdir(parents=True, exist_ok=True)
    train = pd.read_csv(src / "sst2" / "train.tsv", sep="\t", quoting=3, dtype=str,
                        keep_default_na=False)
    train = pd.concat([group.sample(SST2_ROWS["train"], random_state=SEED)
                       for _, group in train.groupby("label")])
    train.to_csv(out / "sst2" / "train.tsv", sep="\t", index=False, quoting=3)
    shutil.copy(src / "sst2" / "validation.tsv", out / "sst2" / "validation.tsv")


def translation(src: Path, out: Path) -> None:
    (out / "translation_de_fr").mkdir(parents=True, exist_ok=True)
    for split, n in TRANSLATION_ROWS.items():
        lines = (src / "translation_de_fr" / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()
        (out / "translation_de_fr" / f"{split}.jsonl").write_text(
            "".join(line + "\n" for line in lines[:n]), encoding="utf-8")


def squad(src: Path, out: Path) -> None:
    (out / "squad").mkdir(parents=True, exist_ok=True)
    doc = json.loads((src / "squad" / "dev-v2.0-5articles.json").read_text(encoding="utf-8"))
    (out / "squad" / "dev-v2.0-5articles.json").write_text(json.dumps(doc, ensure_ascii=False),
                                                           encoding="utf-8")


if __name__ == "__main__":
    source, target = Path(sys.argv[1]), Path(__file__).parent
    for build in (sentiment, sst2, translation, squad):
        build(source, target)
