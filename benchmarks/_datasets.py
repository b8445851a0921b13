"""This repository's study data (fixtures/datasets.py) for the benchmarks, which run as scripts
from benchmarks/: the repository root goes on sys.path once, here."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fixtures.datasets import (SENTIMENT_HUB_CONFIGS, multilingual_sentiment,  # noqa: E402
                               squad_questions, sst2, translation_pairs)

__all__ = ["SENTIMENT_HUB_CONFIGS", "multilingual_sentiment", "squad_questions", "sst2",
           "translation_pairs"]
