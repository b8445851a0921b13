"""Plots derived from recorded rows: learning curves, transfer heat-maps, per-language bars,
confusion matrices, BLEU/chrF and SQuAD bars, training curves.

A plot is drawn whenever the rows carry what it needs, whatever the study: learning curves
from rows with `n_per_class` (one line per `lang`), heat-maps from rows with `train_lang` and
`test_lang`, per-language bars from rows with `lang` (the largest `n_per_class` when there are
several), confusion matrices from `info.confusion`, bars with CIs from rows with `bleu`/`chrf`
or SQuAD's `HasAns_f1`/`NoAns_f1`, per-epoch curves from `info.history`. CIs come from
`info.<metric>_ci` (what `Result.intervals()` gave). A language keeps its colour in every plot.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from lmgate.core.extras import require
from lmgate.core.folder import slug
from lmgate.core.io import atomic_write
from lmgate.report.rows import ResultRow


def _frame(rows: Sequence[ResultRow], needed: Sequence[str], metric: str) -> pd.DataFrame:
    def ci(row: ResultRow, side: int) -> float | None:
        interval = row.ci(metric)
        return interval[side] if interval else None

    records = [{**{k: r.params.get(k) for k in needed}, "model": r.params.get("model", ""),
                "test": r.test, "system": r.params.get("system", r.result),
                "value": r.metrics.get(metric), "low": ci(r, 0), "high": ci(r, 1)}
               for r in rows
               if all(r.params.get(k) is not None for k in needed) and metric in r.metrics]
    return pd.DataFrame(records)


def _pyplot():
    """matplotlib's pyplot drawing into files, or MissingExtra naming lmgate's report extra."""
    require("matplotlib").use("Agg")  # files only: never needs a display
    return require("matplotlib.pyplot")


# Matplotlib's tab10, by language: "fr" is the same colour in the curves and the bars.
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")
MAX_CONFUSION_PANELS = 12


def language_colour(lang: str, languages: Sequence[str]) -> str:
    """A language's colour: its place among all languages of the run, sorted."""
    return PALETTE[sorted(set(languages)).index(lang) % len(PALETTE)]


def _save(fig, out_dir: Path, name: str) -> Path:
    """Save `fig` as `out_dir/<name>.png`; `name` (from models and tests) is made one file name."""
    path = out_dir / f"{slug(name)}.png"
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=110, bbox_inches="tight"), "wb")
    return path


def learning_curves(rows: Sequence[ResultRow], out_dir: Path,
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
        paths.append(_save(fig, out_dir, f"learning_curves_{model or 'model'}"))
        plt.close(fig)
    return paths


def transfer_heatmaps(rows: Sequence[ResultRow], out_dir: Path,
                      metric: str = "macro_f1") -> list[Path]:
    frame = _frame(rows, ("train_lang", "test_lang"), metric)
    if frame.empty:
        return []
    plt = _pyplot()
    paths = []
    for model, sub in frame.groupby("model"):
        cells = sub.pivot_table(index="train_lang", columns="test_lang",
                                values=["value", "low", "high"], dropna=False)
        matrix, low, high = cells["value"], cells["low"], cells["high"]
        fig, ax = plt.subplots(figsize=(1.2 + 1.0 * matrix.shape[1], 1 + 0.8 * matrix.shape[0]))
        im = ax.imshow(matrix.to_numpy(), cmap="viridis", vmin=0, vmax=1)
        ax.set_xticks(range(matrix.shape[1]), matrix.columns)
        ax.set_yticks(range(matrix.shape[0]), matrix.index)
        ax.set(xlabel="test language", ylabel="train language",
               title=f"Transfer {metric} ({model}), cell: value and 95% CI")
        for (i, j), v in pd.DataFrame(matrix.to_numpy()).stack().items():
            lo, hi = low.iat[i, j], high.iat[i, j]
            ci = "" if pd.isna(lo) else f"\n[{lo:.2f}, {hi:.2f}]"
            ax.text(j, i, f"{v:.2f}{ci}", ha="center", va="center", fontsize=7,
                    color="black" if v > 0.6 else "white")
        for i, lang in enumerate(matrix.index):   # the in-language cells, outlined
            if lang in matrix.columns:
                j = list(matrix.columns).index(lang)
                ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False,
                                           edgecolor="white", linewidth=2))
        fig.colorbar(im, ax=ax)
        paths.append(_save(fig, out_dir, f"transfer_{model or 'model'}"))
        plt.close(fig)
    return paths


def _languages(rows: Sequence[ResultRow]) -> list[str]:
    return sorted({str(r.params[k]) for r in rows for k in ("lang", "train_lang", "test_lang")
                   if r.params.get(k) is not None})


def language_bars(rows: Sequence[ResultRow], out_dir: Path,
                  metrics: Sequence[str] = ("macro_f1", "macro_precision", "macro_recall"),
                  languages: Sequence[str] = ()) -> list[Path]:
    """The per-language figure: each language's macro F1 / precision / recall (F1 with its 95% CI),
    at the largest training size a language was run with."""
    frame = _frame(rows, ("lang",), metrics[0])
    if frame.empty:
        return []
    sized = [r for r in rows if r.params.get("lang") is not None and metrics[0] in r.metrics]
    frame["n"] = [r.params.get("n_per_class") or 0 for r in sized]
    for m in metrics[1:]:
        frame[m] = [r.metrics.get(m) for r in sized]
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
        paths.append(_save(fig, out_dir, f"languages_{model or 'model'}"))
        plt.close(fig)
    return paths


def confusion_matrices(rows: Sequence[ResultRow], out_dir: Path) -> list[Path]:
    """One figure per test: a confusion matrix (rows true, columns predicted) per result that
    recorded one, at most MAX_CONFUSION_PANELS (the title says how many were left out)."""
    import numpy as np

    by_test: dict[str, list[ResultRow]] = {}
    for r in rows:
        if r.info.get("confusion") and r.info.get("labels"):
            by_test.setdefault(r.test, []).append(r)
    plt = _pyplot()
    paths = []
    for test, results in sorted(by_test.items()):
        shown = results[:MAX_CONFUSION_PANELS]
        cols = min(len(shown), 4)
        lines = -(-len(shown) // cols)
        fig, axes = plt.subplots(lines, cols, figsize=(2.6 * cols, 2.5 * lines), squeeze=False)
        for ax, r in zip(axes.flat, shown):
            matrix, labels = np.asarray(r.info["confusion"]), r.info["labels"]
            ax.imshow(matrix, cmap="Blues")
            for (i, j), v in np.ndenumerate(matrix):
                ax.text(j, i, str(v), ha="center", va="center", fontsize=7,
                        color="white" if v > matrix.max() / 2 else "black")
            short = [str(l)[:4] for l in labels]
            ax.set_xticks(range(len(labels)), short, fontsize=7)
            ax.set_yticks(range(len(labels)), short, fontsize=7)
            case = r.nodeid.partition("[")[2].rstrip("]")   # the parametrised case, if any
            title = f"{r.result} [{case}]" if case else r.result
            ax.set_title(textwrap.shorten(title, 60), fontsize=7, wrap=True)
            ax.set_xlabel("predicted", fontsize=7)
            ax.set_ylabel("true", fontsize=7)
        for ax in list(axes.flat)[len(shown):]:
            ax.axis("off")
        left_out = len(results) - len(shown)
        fig.suptitle(f"Confusion matrices, counts of examples ({test})"
                     + (f"; {left_out} more in results.jsonl" if left_out else ""), fontsize=9)
        fig.tight_layout()
        paths.append(_save(fig, out_dir, f"confusion_{test}"))
        plt.close(fig)
    return paths


#: Bar panels drawn per test from the rows that carry the group's first metric:
#: (file stem, metrics, title).
METRIC_PANELS = (("generation", ("bleu", "chrf"), "BLEU and chrF by system"),
                 ("squad", ("HasAns_f1", "NoAns_f1", "f1"),
                  "SQuAD F1: answerable, unanswerable, all"))


def metric_bars(rows: Sequence[ResultRow], out_dir: Path) -> list[Path]:
    """Per test, one panel per metric of a METRIC_PANELS group (BLEU/chrF, SQuAD F1 by
    HasAns/NoAns), one bar per system with its bootstrap 95% CI, a colour per system."""
    plt = _pyplot()
    paths = []
    for stem, metrics, title in METRIC_PANELS:
        group = [r for r in rows if metrics[0] in r.metrics]
        frames = {m: _frame(group, (), m) for m in metrics}
        present = [m for m in metrics if not frames[m].empty]
        if not present:
            continue
        for test in sorted({t for m in present for t in frames[m]["test"]}):
            systems = sorted({s for m in present for s in frames[m].loc[frames[m]["test"] == test,
                                                                         "system"]})
            fig, axes = plt.subplots(1, len(present), squeeze=False,
                                     figsize=(0.5 + len(present) * (1 + 0.9 * len(systems)), 3.8))
            for ax, metric in zip(axes.flat, present):
                sub = frames[metric][frames[metric]["test"] == test].groupby(
                    "system", as_index=False)[["value", "low", "high"]].mean()
                xs = [systems.index(s) for s in sub["system"]]
                ax.bar(xs, sub["value"], color=[PALETTE[x % len(PALETTE)] for x in xs])
                if sub["low"].notna().all():
                    ax.errorbar(xs, sub["value"], yerr=[sub["value"] - sub["low"],
                                                        sub["high"] - sub["value"]],
                                fmt="none", ecolor="black", capsize=3, linewidth=0.8)
                tops = sub["high"].fillna(sub["value"]).clip(lower=sub["value"])
                for x, v, top in zip(xs, sub["value"], tops):   # above the whisker
                    ax.text(x, top, f"{v:.2f}", ha="center", va="bottom", fontsize=7)
                ax.set_xticks(range(len(systems)),
                              [textwrap.fill(str(s), 14) for s in systems], fontsize=7)
                ax.set(title=metric.replace("_", " "), ylabel=f"{metric} (0-100, 95% CI)")
            fig.suptitle(f"{title} ({test})", fontsize=9)
            fig.tight_layout()
            paths.append(_save(fig, out_dir, f"{stem}_{test}"))
            plt.close(fig)
    return paths


def _history(row: ResultRow) -> list[dict[str, float]]:
    # `loss_history`: the name LoRA results used before every method recorded `history`.
    return row.info.get("history") or row.info.get("loss_history") or []


#: Colours of runs trained on no single language (joint runs, LoRA systems, heads).
NEUTRAL = ("#222222", "#777777", "#aaaaaa", "#bcbd22", "#17becf")
MARKERS = ("o", "s", "^", "D", "v", "P")


def training_curves(rows: Sequence[ResultRow], out_dir: Path,
                    languages: Sequence[str] = ()) -> list[Path]:
    """Per-epoch curves of every trained run the rows come from (each run once, by its cache
    key): train loss (solid) and validation loss (dashed), and validation macro F1 where the
    training evaluated it. A run whose rows all name one training language takes the
    language's colour (runs of one language differ by marker); other runs are grey."""
    runs: dict[Any, dict[str, Any]] = {}
    for r in rows:
        history = _history(r)
        if history:
            label = str(r.info.get("run") or r.params.get("system") or r.result)
            run = runs.setdefault(r.info.get("run_key") or (r.test, label),
                                  {"label": label, "history": history, "langs": set()})
            run["langs"].add(r.params.get("train_lang") or r.params.get("lang"))
    if not runs:
        return []
    plt = _pyplot()
    languages = languages or _languages(rows)
    # Fine-tunes score the validation split each epoch (`eval_macro_f1`, used to pick the
    # best epoch); frozen heads log `macro_f1` of the set they are evaluated on (monitoring).
    keys = {k for run in runs.values() for k in run["history"][0]} & {"eval_macro_f1", "macro_f1"}
    scored = bool(keys)
    fig, axes = plt.subplots(1, 2 if scored else 1, figsize=(11 if scored else 6.5, 4),
                             squeeze=False)
    seen: dict[str | None, int] = {}
    for run in sorted(runs.values(), key=lambda run: run["label"]):
        lang = next(iter(run["langs"])) if len(run["langs"]) == 1 else None
        k = seen[lang] = seen.get(lang, -1) + 1
        colour = (language_colour(lang, languages) if lang in languages
                  else NEUTRAL[k % len(NEUTRAL)])
        style = dict(color=colour, marker=MARKERS[k % len(MARKERS)] if lang in languages else ".",
                     markersize=4)
        history = run["history"]
        epochs = [h["epoch"] for h in history]
        for key, line in (("train_loss", "-"), ("eval_loss", "--")):
            if all(key in h for h in history):
                axes[0, 0].plot(epochs, [h[key] for h in history], line,
                                label=run["label"] if line == "-" else None, **style)
        score = "eval_macro_f1" if "eval_macro_f1" in history[0] else "macro_f1"
        if scored and score in history[0]:
            axes[0, 1].plot(epochs, [h[score] for h in history], **style)
    axes[0, 0].set(xlabel="epoch", ylabel="loss (solid: train, dashed: validation)",
                   title=f"Training loss per epoch ({len(runs)} run(s))")
    if scored:
        axes[0, 1].set(xlabel="epoch", ylabel="macro F1", ylim=(0, 1), title={
            frozenset({"eval_macro_f1"}): "Validation macro F1 per epoch",
            frozenset({"macro_f1"}): "Macro F1 per epoch on the evaluated set (monitoring)",
        }.get(frozenset(keys), "Macro F1 per epoch (validation; heads: evaluated set)"))
    axes[0, -1].legend(*axes[0, 0].get_legend_handles_labels(), title="run", fontsize=7,
                       loc="upper left", bbox_to_anchor=(1.01, 1))
    for ax in axes.flat:
        ax.xaxis.get_major_locator().set_params(integer=True)
    path = _save(fig, out_dir, "training_curves")
    plt.close(fig)
    return [path]


def rows_by_study(rows: Sequence[ResultRow]) -> dict[str, list[ResultRow]]:
    """The rows of each study (test module file name), studies sorted."""
    by_study: dict[str, list[ResultRow]] = {}
    for row in rows:
        by_study.setdefault(row.study, []).append(row)
    return dict(sorted(by_study.items()))


def plots_by_study(rows: Sequence[ResultRow], out_dir: str | Path) -> dict[str, list[Path]]:
    """Every study's plots, drawn from its own rows only, under plots/<study>/ (colours by the
    languages of all studies, so a language looks the same in every study's plots)."""
    languages = _languages(rows)
    plots = {study: all_plots(study_rows, Path(out_dir) / "plots" / slug(Path(study).stem),
                              languages)
             for study, study_rows in rows_by_study(rows).items()}
    return {study: paths for study, paths in plots.items() if paths}


def all_plots(rows: Sequence[ResultRow], out_dir: str | Path,
              languages: Sequence[str] = ()) -> list[Path]:
    """Every plot the rows support; `languages` fixes the colour order (default: the rows')."""
    out_dir = Path(out_dir)
    return (learning_curves(rows, out_dir, languages=languages)
            + transfer_heatmaps(rows, out_dir)
            + language_bars(rows, out_dir, languages=languages) + confusion_matrices(rows, out_dir)
            + metric_bars(rows, out_dir) + training_curves(rows, out_dir, languages))
