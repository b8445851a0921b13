"""Helpers for lmgate's own tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lmgate.data import LabeledData


def make_data(cells: dict[tuple[str, int], int], labels=("neg", "pos"), name="toy") -> LabeledData:
    """Rows for each (language, label id) cell; every text unique so rows are traceable."""
    rows = [{"text": f"{lang}-{label}-{i}", "label": label, "language": lang}
            for (lang, label), n in cells.items() for i in range(n)]
    return LabeledData(pd.DataFrame(rows), tuple(labels), name)


@pytest.fixture
def toy_data() -> LabeledData:
    return make_data({("en", 0): 10, ("en", 1): 10, ("fr", 0): 10, ("fr", 1): 3})


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("LMGATE_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "lmgate-cache"))
    np.random.seed(0)
