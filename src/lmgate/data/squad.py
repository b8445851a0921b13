"""SQuAD v1.1/v2.0 questions: the reader and the question type extractive-QA methods use."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from lmgate.core.errors import DataError


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    context: str
    answers: tuple[str, ...]            # () when unanswerable
    starts: tuple[int, ...]
    article: str = ""


def read_squad(path: str | Path) -> list[Question]:
    """SQuAD v1.1/v2.0 JSON (`data[].paragraphs[].qas[]`) as a flat list of questions."""
    doc = json.loads(Path(path).read_text())
    if "data" not in doc:
        raise DataError(f"{path}: not SQuAD JSON (no 'data' key)")
    out = []
    for article in doc["data"]:
        for para in article["paragraphs"]:
            for qa in para["qas"]:
                answers = [] if qa.get("is_impossible") else qa.get("answers", [])
                for a in answers:
                    if para["context"][a["answer_start"]:a["answer_start"] + len(a["text"])] != a["text"]:
                        raise DataError(f"{path}: question {qa['id']}: answer {a['text']!r} is not "
                                        f"at offset {a['answer_start']} of its context")
                out.append(Question(qa["id"], qa["question"], para["context"],
                                    tuple(a["text"] for a in answers),
                                    tuple(a["answer_start"] for a in answers),
                                    article.get("title", "")))
    return out
