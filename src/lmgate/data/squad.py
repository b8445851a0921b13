"""SQuAD v1.1/v2.0 questions: the reader and the question type extractive-QA methods use."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lmgate.core.bounded_json import read_json_bounded
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
    doc = read_json_bounded(path, what="SQuAD file", error=DataError, max_bytes=2**30)
    if not isinstance(doc, dict) or "data" not in doc:
        raise DataError(f"{path}: not SQuAD JSON (no 'data' key)")
    try:
        return _questions(doc, path)
    except (KeyError, TypeError, AttributeError, IndexError) as exc:
        raise DataError(f"{path}: not SQuAD JSON ({type(exc).__name__}: {exc}); expected "
                        "data[].paragraphs[].qas[] with id, question, answers") from None


def _questions(doc: dict, path: str | Path) -> list[Question]:
    out = []
    seen: set[str] = set()
    for article in doc["data"]:
        for para in article["paragraphs"]:
            for qa in para["qas"]:
                # Answers are keyed by question id: a second question under one id would be
                # scored against the first one's answer.
                if qa["id"] in seen:
                    raise DataError(f"{path}: question id {qa['id']!r} appears more than once; "
                                    "each question needs its own id")
                seen.add(qa["id"])
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
