"""Plots derived from recorded rows: learning curves and cross-lingual transfer heat-maps.

A plot is drawn whenever the rows carry the parameters it needs, whatever the study:
learning curves from rows with `n_per_class` (one line per `lang`), heat-maps from rows with
`train_lang` and `test_lang`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from lmgate.io import atomic_write


def _frame(rows: Sequence[dict[str, Any]], needed: Sequence[str], metric: str) -> pd.DataFrame:
    records = [{**{k: r["params"].get(k) for k in needed}, "model": r["params"].get("model", ""),
                "value": r["metrics"].get(metric)} for r in rows
               if all(r["params"].get(k) is not None for k in needed) and metric in r["metrics"]]
    return pd.DataFrame(records)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only: never needs a display
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=110, bbox_inches="tight"), "wb")
    return path


def learning_curves(rows: Sequence[dict[str, Any]], out_dir: Path,
                    metric: str = "macro_f1") -> list[Path]:
    frame = _frame(rows, ("lang", "n_per_class"), metric)
    if frame.empty:
        return []
    plt = _pyplot()
    paths = []
    for model, sub in frame.groupby("model"):
        fig, ax = plt.subplots(figsize=(6, 4))
        for lang, curve in sub.groupby("lang"):
            curve = curve.groupby("n_per_class", as_index=False)["value"].mean()
            ax.plot(curve["n_per_class"], curve["value"], marker="o", label=lang)
        ax.set(xlabel="training examples per class", ylabel=metric,
               title=f"Learning curves ({model})", xscale="log")
        ax.legend(title="language")
        paths.append(_save(fig, out_dir / f"learning_curves_{model or 'model'}.png"))
        plt.close(fig)
    return paths


def transfer_heatmaps(rows: Sequence[dict[str, Any]], out_dir: Path,
                      metric: str = "macro_f1") -> list[Path]:
    frame = _frame(rows, ("train_lang", "test_lang"), metric)
    if frame.empty:
        return []
    plt = _pyplot()
    paths = []
    for model, sub in frame.groupby("model"):
        matrix = sub.pivot_table(index="train_lang", columns="test_lang", values="value")
        fig, ax = plt.subplots(figsize=(1 + 0.8 * matrix.shape[1], 1 + 0.7 * matrix.shape[0]))
        im = ax.imshow(matrix.to_numpy(), cmap="viridis", vmin=0, vmax=1)
        ax.set_xticks(range(matrix.shape[1]), matrix.columns)
        ax.set_yticks(range(matrix.shape[0]), matrix.index)
        ax.set(xlabel="test language", ylabel="train language",
               title=f"Transfer {metric} ({model})")
        for (i, j), v in pd.DataFrame(matrix.to_numpy()).stack().items():
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", color="w", fontsize=8)
        fig.colorbar(im, ax=ax)
        paths.append(_save(fig, out_dir / f"transfer_{model or 'model'}.png"))
        plt.close(fig)
    return paths


def all_plots(rows: Sequence[dict[str, Any]], out_dir: str | Path) -> list[Path]:
    out_dir = Path(out_dir)
    return learning_curves(rows, out_dir) + transfer_heatmaps(rows, out_dir)
