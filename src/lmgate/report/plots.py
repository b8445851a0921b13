"""Plots derived from recorded rows: learning curves, transfer heat-maps, BLEU bars, losses.

A plot is drawn whenever the rows carry what it needs, whatever the study: learning curves
from rows with `n_per_class` (one line per `lang`), heat-maps from rows with `train_lang` and
`test_lang`, bar charts from rows with a `bleu` metric, loss curves from `info.loss_history`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from lmgate.io import atomic_write


def _frame(rows: Sequence[dict[str, Any]], needed: Sequence[str], metric: str) -> pd.DataFrame:
    def ci(row: dict, side: int) -> float | None:
        interval = row["info"].get(f"{metric}_ci")
        return interval[side] if interval else None

    records = [{**{k: r["params"].get(k) for k in needed}, "model": r["params"].get("model", ""),
                "value": r["metrics"].get(metric), "low": ci(r, 0), "high": ci(r, 1)}
               for r in rows
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
        fig, ax = plt.subplots(figsize=(7, 4))
        for lang, curve in sub.groupby("lang"):
            curve = curve.groupby("n_per_class", as_index=False)[["value", "low", "high"]].mean()
            line, = ax.plot(curve["n_per_class"], curve["value"], marker="o", label=lang)
            if curve["low"].notna().all():   # the bootstrap 95% CI of each point
                ax.fill_between(curve["n_per_class"], curve["low"], curve["high"],
                                color=line.get_color(), alpha=0.15, linewidth=0)
        sizes = sorted(sub["n_per_class"].unique())
        ax.set(xlabel="training examples per class", ylabel=f"{metric} (95% CI band)",
               title=f"Learning curves ({model})", xscale="log")
        ax.set_xticks(sizes, [str(int(n)) for n in sizes])   # the sizes used, in plain numbers
        ax.minorticks_off()
        ax.legend(title="language", loc="center left", bbox_to_anchor=(1.01, 0.5))
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
        for i, lang in enumerate(matrix.index):   # the in-language cells, outlined
            if lang in matrix.columns:
                j = list(matrix.columns).index(lang)
                ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False,
                                           edgecolor="white", linewidth=2))
        fig.colorbar(im, ax=ax)
        paths.append(_save(fig, out_dir / f"transfer_{model or 'model'}.png"))
        plt.close(fig)
    return paths


def generation_bars(rows: Sequence[dict[str, Any]], out_dir: Path,
                    metric: str = "bleu") -> list[Path]:
    """One bar per system (`params.system`) of each test that recorded `metric`."""
    frame = pd.DataFrame([{"test": r["test"], "system": r["params"].get("system", r["result"]),
                           "value": r["metrics"][metric]} for r in rows if metric in r["metrics"]])
    if frame.empty:
        return []
    plt = _pyplot()
    paths = []
    for test, sub in frame.groupby("test"):
        sub = sub.groupby("system", as_index=False, sort=True)["value"].mean()
        fig, ax = plt.subplots(figsize=(1.5 + 1.1 * len(sub), 3.5))
        ax.bar(sub["system"], sub["value"], color="tab:blue")
        for x, v in enumerate(sub["value"]):
            ax.text(x, v, f"{v:.2f}", ha="center", va="bottom", fontsize=8)
        ax.set(ylabel=metric, title=f"{metric} by system ({test})")
        paths.append(_save(fig, out_dir / f"{metric}_{test}.png"))
        plt.close(fig)
    return paths


def loss_curves(rows: Sequence[dict[str, Any]], out_dir: Path) -> list[Path]:
    """Train/validation loss per epoch of every row whose info carries a `loss_history`."""
    runs = [(r["test"], r["params"].get("system", r["result"]), r["info"]["loss_history"])
            for r in rows if r["info"].get("loss_history")]
    if not runs:
        return []
    plt = _pyplot()
    paths = []
    for test in sorted({t for t, _, _ in runs}):
        fig, ax = plt.subplots(figsize=(6, 4))
        for _, system, history in (r for r in runs if r[0] == test):
            epochs = [h["epoch"] for h in history]
            for key, style in (("train_loss", "-"), ("eval_loss", "--")):
                if all(key in h for h in history):
                    ax.plot(epochs, [h[key] for h in history], style, marker="o",
                            label=f"{system} {key.split('_')[0]}")
        ax.set(xlabel="epoch", ylabel="loss", title=f"Training loss ({test})")
        ax.legend(fontsize=8)
        paths.append(_save(fig, out_dir / f"loss_{test}.png"))
        plt.close(fig)
    return paths


def all_plots(rows: Sequence[dict[str, Any]], out_dir: str | Path) -> list[Path]:
    out_dir = Path(out_dir)
    return (learning_curves(rows, out_dir) + transfer_heatmaps(rows, out_dir)
            + generation_bars(rows, out_dir) + loss_curves(rows, out_dir))
