"""Plots derived from recorded rows: learning curves, transfer heat-maps, per-language bars,
confusion matrices, BLEU bars, losses.

A plot is drawn whenever the rows carry what it needs, whatever the study: learning curves
from rows with `n_per_class` (one line per `lang`), heat-maps from rows with `train_lang` and
`test_lang`, per-language bars from rows with `lang` (the largest `n_per_class` when there are
several), confusion matrices from `info.confusion`, bar charts from rows with a `bleu` metric,
loss curves from `info.loss_history`. A language keeps its colour in every plot.
"""

from __future__ import annotations

import textwrap
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


# Matplotlib's tab10, by language: "fr" is the same colour in the curves and the bars.
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")
MAX_CONFUSION_PANELS = 12


def language_colour(lang: str, languages: Sequence[str]) -> str:
    """A language's colour: its place among all languages of the run, sorted."""
    return PALETTE[sorted(set(languages)).index(lang) % len(PALETTE)]


def _save(fig, path: Path) -> Path:
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=110, bbox_inches="tight"), "wb")
    return path


def learning_curves(rows: Sequence[dict[str, Any]], out_dir: Path,
                    metric: str = "macro_f1", languages: Sequence[str] = ()) -> list[Path]:
    frame = _frame(rows, ("lang", "n_per_class"), metric)
    if frame.empty:
        return []
    plt = _pyplot()
    paths = []
    languages = languages or _languages(rows)
    for model, sub in frame.groupby("model"):
        fig, ax = plt.subplots(figsize=(7, 4))
        for lang, curve in sub.groupby("lang"):
            curve = curve.groupby("n_per_class", as_index=False)[["value", "low", "high"]].mean()
            line, = ax.plot(curve["n_per_class"], curve["value"], marker="o", label=lang,
                            color=language_colour(lang, languages))
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


def _languages(rows: Sequence[dict[str, Any]]) -> list[str]:
    return sorted({str(r["params"][k]) for r in rows for k in ("lang", "train_lang", "test_lang")
                   if r["params"].get(k) is not None})


def language_bars(rows: Sequence[dict[str, Any]], out_dir: Path,
                  metrics: Sequence[str] = ("macro_f1", "macro_precision", "macro_recall"),
                  languages: Sequence[str] = ()) -> list[Path]:
    """Seed 003's figure: each language's macro F1 / precision / recall (F1 with its 95% CI),
    at the largest training size a language was run with."""
    frame = _frame(rows, ("lang",), metrics[0])
    if frame.empty:
        return []
    sized = [r for r in rows if r["params"].get("lang") is not None and metrics[0] in r["metrics"]]
    frame["n"] = [r["params"].get("n_per_class") or 0 for r in sized]
    for m in metrics[1:]:
        frame[m] = [r["metrics"].get(m) for r in sized]
    plt = _pyplot()
    paths, languages = [], languages or _languages(rows)
    for model, sub in frame.groupby("model"):
        sub = sub[sub["n"] == sub.groupby("lang")["n"].transform("max")]
        sub = sub.groupby("lang", as_index=False)[["value", "low", "high", *metrics[1:]]].mean()
        fig, ax = plt.subplots(figsize=(1.5 + 1.2 * len(sub), 3.8))
        width = 0.8 / len(metrics)
        for k, m in enumerate(metrics):
            values = sub["value"] if k == 0 else sub[m]
            xs = [i + (k - (len(metrics) - 1) / 2) * width for i in range(len(sub))]
            ax.bar(xs, values, width, label=m.replace("macro_", "macro "),
                          color=[language_colour(l, languages) for l in sub["lang"]],
                          alpha=(1.0, 0.6, 0.35)[k % 3], edgecolor="black", linewidth=0.3)
            if k == 0 and sub["low"].notna().all():
                ax.errorbar(xs, values, yerr=[values - sub["low"], sub["high"] - values],
                            fmt="none", ecolor="black", capsize=3, linewidth=0.8)
        ax.set_xticks(range(len(sub)), sub["lang"])
        ax.set(ylabel="score (F1 with 95% CI)", ylim=(0, 1),
               title=f"Per-language scores at the largest N ({model})")
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
        paths.append(_save(fig, out_dir / f"languages_{model or 'model'}.png"))
        plt.close(fig)
    return paths


def confusion_matrices(rows: Sequence[dict[str, Any]], out_dir: Path) -> list[Path]:
    """One figure per test: a confusion matrix (rows true, columns predicted) per result that
    recorded one, at most MAX_CONFUSION_PANELS (the title says how many were left out)."""
    import numpy as np

    by_test: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        if r["info"].get("confusion") and r["info"].get("labels"):
            by_test.setdefault(r["test"], []).append(r)
    plt = _pyplot()
    paths = []
    for test, results in sorted(by_test.items()):
        shown = results[:MAX_CONFUSION_PANELS]
        cols = min(len(shown), 4)
        lines = -(-len(shown) // cols)
        fig, axes = plt.subplots(lines, cols, figsize=(2.6 * cols, 2.5 * lines), squeeze=False)
        for ax, r in zip(axes.flat, shown):
            matrix, labels = np.asarray(r["info"]["confusion"]), r["info"]["labels"]
            ax.imshow(matrix, cmap="Blues")
            for (i, j), v in np.ndenumerate(matrix):
                ax.text(j, i, str(v), ha="center", va="center", fontsize=7,
                        color="white" if v > matrix.max() / 2 else "black")
            short = [str(l)[:4] for l in labels]
            ax.set_xticks(range(len(labels)), short, fontsize=7)
            ax.set_yticks(range(len(labels)), short, fontsize=7)
            ax.set_title(textwrap.shorten(r["result"], 60), fontsize=7, wrap=True)
        for ax in list(axes.flat)[len(shown):]:
            ax.axis("off")
        left_out = len(results) - len(shown)
        fig.suptitle(f"Confusion matrices, true x predicted ({test})"
                     + (f"; {left_out} more in results.jsonl" if left_out else ""), fontsize=9)
        fig.tight_layout()
        paths.append(_save(fig, out_dir / f"confusion_{test}.png"))
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


def study_of_row(row: dict[str, Any]) -> str:
    """The study (test module file name) a row belongs to, as the claims are grouped."""
    return Path(row["nodeid"].split("::")[0]).name


def plots_by_study(rows: Sequence[dict[str, Any]], out_dir: str | Path) -> dict[str, list[Path]]:
    """Every study's plots, drawn from its own rows only, under plots/<study>/ (colours by the
    languages of all studies, so a language looks the same in every study's plots)."""
    by_study: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_study.setdefault(study_of_row(row), []).append(row)
    languages = _languages(rows)
    plots = {study: all_plots(study_rows, Path(out_dir) / "plots" / Path(study).stem, languages)
             for study, study_rows in sorted(by_study.items())}
    return {study: paths for study, paths in plots.items() if paths}


def all_plots(rows: Sequence[dict[str, Any]], out_dir: str | Path,
              languages: Sequence[str] = ()) -> list[Path]:
    """Every plot the rows support; `languages` fixes the colour order (default: the rows')."""
    out_dir = Path(out_dir)
    return (learning_curves(rows, out_dir, languages=languages)
            + transfer_heatmaps(rows, out_dir)
            + language_bars(rows, out_dir, languages=languages) + confusion_matrices(rows, out_dir)
            + generation_bars(rows, out_dir) + loss_curves(rows, out_dir))
