"""Write recorded rows as results.jsonl, results.csv, predictions.jsonl, summary.md and
report.html (report.html and the plots with lmgate's report extra; without it, summary.md
says so)."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import pandas as pd

from lmgate.core.bounded_json import read_jsonl_bounded
from lmgate.core.errors import ConfigError
from lmgate.core.extras import MissingExtra
from lmgate.core.io import atomic_write_text
from lmgate.core.markup import csv_cell, csv_header, md_cell, md_inline
from lmgate.core.redact import masked_fields
from lmgate.report.claims import study_of
from lmgate.report.html import html_report, renderer_modules
from lmgate.report.rows import ResultRow
from lmgate.stats.comparison import COST_KEYS

#: Metrics shown as columns of the terminal table and the summary, in this order, when present.
KEY_METRICS = ("accuracy", "macro_f1", "macro_precision", "macro_recall", "invalid_rate",
               "bleu", "chrf", "exact", "f1")


def to_frame(rows: Sequence[ResultRow]) -> pd.DataFrame:
    """Flatten rows: params.*, metrics.*, info.* columns (lists kept as JSON strings)."""
    if not rows:
        return pd.DataFrame()
    flat = pd.json_normalize([masked_fields(row.to_json()) for row in rows], sep=".")
    for col in flat.columns:
        if flat[col].map(lambda v: isinstance(v, (list, dict))).any():
            flat[col] = flat[col].map(lambda v: json.dumps(v) if isinstance(v, (list, dict)) else v)
    return flat


def spreadsheet_safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with every text cell and column name inert (`csv_cell`, `csv_header`): control
    characters shown escaped, a formula a spreadsheet would run shown as text."""
    safe = frame.rename(columns=csv_header)
    for col in safe.columns:
        if not pd.api.types.is_numeric_dtype(safe[col]):
            safe[col] = safe[col].map(csv_cell)
    return safe


def key_table(rows: Sequence[ResultRow], with_ci: bool = False) -> pd.DataFrame:
    """One line per row: test id, result name, the key metrics as columns, and any other
    scalar metrics (of rows without key metrics) in one compact `other` column. `with_ci`:
    a metric with a recorded 95% CI reads `0.4123 [0.3812, 0.4456]`."""
    def cell(row: ResultRow, metric: str) -> Any:
        value, ci = row.metrics[metric], row.ci(metric)
        return f"{value:.4f} [{ci[0]:.4f}, {ci[1]:.4f}]" if with_ci and ci else value

    table = []
    for row in rows:
        line = {"test": row.nodeid.split("::")[-1], "result": row.result}
        metrics = row.metrics
        line.update({m: cell(row, m) for m in KEY_METRICS if m in metrics})
        if not any(m in metrics for m in KEY_METRICS):
            line["other"] = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                      for k, v in metrics.items())
        table.append(line)
    frame = pd.DataFrame(table)
    keep = [c for c in ("test", "result", *KEY_METRICS, "other") if c in frame.columns]
    return frame[keep] if not frame.empty else frame


#: Each cost key a result may record in `info`, and its column in the Cost table.
COST_COLUMNS = dict(zip(COST_KEYS, ("input tokens", "output tokens", "model seconds",
                                    "cost (USD)"), strict=True))


def cost_table(rows: Sequence[ResultRow]) -> pd.DataFrame | None:
    """Per result that recorded its token counts: tokens, model seconds and money; None when
    no result did."""
    costed = [r for r in rows if "input_tokens" in r.info]
    if not costed:
        return None
    return pd.DataFrame([{"test": r.nodeid.split("::", 1)[-1], "result": r.result,
                          **{name: r.info.get(key) for key, name in COST_COLUMNS.items()}}
                         for r in costed])


def markdown_table(frame: pd.DataFrame) -> str:
    """A DataFrame as a GitHub Markdown table (floats to 4 places, blanks for missing)."""
    if frame.empty:
        return "_no rows_\n"
    cols = list(frame.columns)
    def fmt(v: Any) -> str:
        if v is None or (isinstance(v, float) and pd.isna(v)):
            return ""
        if isinstance(v, float):
            return f"{v:.4f}"
        return md_cell(v)
    lines = ["| " + " | ".join(md_cell(c) for c in cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(v) for v in rec) + " |" for rec in frame.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def merge_sections(sections: Iterable[dict[str, str]]) -> dict[str, list[tuple[str, str]]]:
    """Recorded sections per study (test module file) as (title, body): one per title,
    blocks in test-id order."""
    merged: dict[str, dict[str, list[str]]] = {}
    for s in sorted(sections, key=lambda s: (s["title"], s["nodeid"])):
        study = study_of(s)
        merged.setdefault(study, {}).setdefault(s["title"], []).append(
            s["markdown"].rstrip() + "\n")
    return {study: [(title, _join_blocks(blocks)) for title, blocks in titles.items()]
            for study, titles in sorted(merged.items())}


def _join_blocks(blocks: list[str]) -> str:
    """Join Markdown blocks; tables with the same header become one table."""
    out = [blocks[0]]
    for block in blocks[1:]:
        head, prev_head = block.splitlines()[:2], out[-1].splitlines()[:2]
        if head == prev_head and head and head[0].startswith("|"):
            out[-1] += "\n".join(block.splitlines()[2:]) + "\n"
        else:
            out.append(block)
    return "\n".join(out)


def read_results(folder: str | Path
                 ) -> tuple[list[ResultRow], list[dict], list[dict], list[dict]]:
    """Rows, predictions, recorded sections and claims of a results folder written by lmgate;
    ConfigError names the file and line of anything malformed."""
    folder = Path(folder)
    if not (folder / "results.jsonl").exists():
        raise FileNotFoundError(f"{folder / 'results.jsonl'} does not exist: not an lmgate "
                                "results folder")

    def lines(name: str, read: Callable[[Any], Any]) -> list[Any]:
        path = folder / name
        if not path.exists():
            return []
        out = []
        for number, item in read_jsonl_bounded(path, what="results file"):
            try:
                out.append(read(item))
            except ConfigError as problem:
                raise ConfigError(f"{path}, line {number}: {problem}: not a row lmgate "
                                  "wrote") from None
        return out

    return (lines("results.jsonl", ResultRow.from_json),
            lines("predictions.jsonl", _checked_prediction),
            lines("sections.jsonl", _json_object), lines("claims.jsonl", _json_object))


def _json_object(line: Any) -> dict:
    """A sections.jsonl or claims.jsonl line: a JSON object; ConfigError if not."""
    if not isinstance(line, dict):
        raise ConfigError("not a JSON object")
    return line


def _checked_prediction(line: Any) -> dict:
    """One predictions.jsonl line; ConfigError says what is wrong with it."""
    line = _json_object(line)
    if not isinstance(line.get("record_id"), str):
        raise ConfigError("'record_id' missing or not a str")
    if "y_true" in line or "y_pred" in line:   # a classification result's labels
        gold, pred = line.get("y_true"), line.get("y_pred")
        if not (isinstance(gold, list) and isinstance(pred, list) and len(gold) == len(pred)):
            raise ConfigError("'y_true' and 'y_pred' must be lists of the same length")
        if not all(isinstance(y, int) and not isinstance(y, bool) for y in gold + pred):
            raise ConfigError("'y_true' and 'y_pred' must hold integer label ids")
    if "scores" in line:
        try:
            checked_scores(line)
        except ValueError as problem:
            raise ConfigError(str(problem)) from None
    return line


def checked_scores(line: Mapping[str, Any]) -> None:
    """A per-document scores line (`ScoredResult.predictions`): string `ids`, each metric's
    finite `scores` one per id, and optional `hashes` and `clusters` one per id; ValueError
    says what is wrong."""
    ids, scores = line.get("ids"), line.get("scores")
    if not (isinstance(ids, list) and ids and all(isinstance(i, str) for i in ids)) \
            or len(set(ids)) != len(ids):
        raise ValueError("'ids' must be a list of distinct document ids (strings)")
    if not isinstance(scores, dict):
        raise ValueError("'scores' must be an object of per-document scores by metric")
    for metric, values in scores.items():
        if not (isinstance(values, list) and len(values) == len(ids) and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                for v in values)):
            raise ValueError(f"'scores' of {metric!r} must hold one finite number per id")
    for name, kinds in (("hashes", (str,)), ("clusters", (str, int))):
        values = line.get(name)
        if values is not None and not (isinstance(values, list) and len(values) == len(ids)
                                       and all(isinstance(v, kinds) for v in values)):
            raise ValueError(f"'{name}' must hold one entry per id")


def write_results(rows: Sequence[ResultRow], predictions: Iterable[dict[str, Any]],
                  out_dir: str | Path, plots: Mapping[str, Sequence[Path]] | None = None,
                  extra_sections: Sequence[tuple[str, str]] = (),
                  recorded_sections: Sequence[dict[str, str]] = (),
                  claims: Sequence[dict[str, Any]] = (),
                  header: Mapping[str, Any] | None = None) -> list[Path]:
    """Write every export atomically; returns the written paths. `recorded_sections` (the
    tests' `record.section` blocks) are kept in sections.jsonl so that results folders can be
    merged (`lmgate merge`) into the same summary."""
    out = Path(out_dir)
    rows = sorted(rows, key=lambda r: (r.nodeid, r.result, r.record_id))
    recorded = sorted(recorded_sections, key=lambda s: (s["title"], s["nodeid"], s["markdown"]))
    claims = sorted(claims, key=lambda c: c["nodeid"])
    try:
        renderer_modules()
        page = True
    except MissingExtra as missing:   # no sanitiser, no page: the summary says what installs it
        page = False
        extra_sections = [*extra_sections, ("Report", md_inline(
            f"report.html was not written: {missing}.") + "\n")]
    written = [
        atomic_write_text(out / "results.jsonl",
                          "".join(json.dumps(masked_fields(r.to_json()), sort_keys=True) + "\n"
                                  for r in rows)),
        # Every text cell quoted: a line break inside one must not start a new row.
        atomic_write_text(out / "results.csv", spreadsheet_safe_frame(to_frame(rows)).to_csv(
            index=False, quoting=csv.QUOTE_NONNUMERIC)),
        atomic_write_text(out / "predictions.jsonl", "".join(
            json.dumps(p, sort_keys=True) + "\n"
            for p in sorted(predictions, key=lambda p: p["record_id"]))),
        atomic_write_text(out / "sections.jsonl", "".join(
            json.dumps(s, sort_keys=True) + "\n" for s in recorded)),
        atomic_write_text(out / "claims.jsonl", "".join(
            json.dumps(c, sort_keys=True) + "\n" for c in claims)),
    ]
    summary = summary_markdown(rows, plots, out, extra_sections, claims, header,
                               merge_sections(recorded))
    written.append(atomic_write_text(out / "summary.md", summary))
    images = [path for paths in (plots or {}).values() for path in paths]
    if page:
        written.append(atomic_write_text(out / "report.html", html_report(summary, out, images)))
    return written


def write_folder(folder: str | Path, rows: Sequence[ResultRow],
                 predictions: Iterable[dict[str, Any]],
                 extra_sections: Sequence[tuple[str, str]] = (),
                 recorded_sections: Sequence[dict[str, str]] = (),
                 claims: Sequence[dict[str, Any]] = (),
                 header: Mapping[str, Any] | None = None, with_plots: bool = True) -> list[Path]:
    """Every export of one run into `folder`, its plots included unless `with_plots` is
    False; the paths written."""
    plots: dict[str, list[Path]] = {}
    if with_plots:
        plots, failure = drawn_plots(rows, folder)
        if failure:
            extra_sections = [*extra_sections, ("Plots", md_inline(failure) + "\n")]
    return write_results(rows, predictions, folder, plots, extra_sections, recorded_sections,
                         claims, header) + [p for paths in plots.values() for p in paths]


def drawn_plots(rows: Sequence[ResultRow],
                folder: str | Path) -> tuple[dict[str, list[Path]], str | None]:
    """`plots_by_study`, never at the cost of the results: a plotting library's warnings are
    recorded, not raised (a project's `filterwarnings = error` turns matplotlib's "Glyph
    missing" into an exception), and any failure (lmgate's report extra not installed among
    them) leaves no plots and says why."""
    import shutil
    import warnings

    from lmgate.report.plots import plots_by_study

    try:
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            return plots_by_study(rows, folder), None
    except Exception as exc:   # any library's bug: the run's results are written regardless
        shutil.rmtree(Path(folder) / "plots", ignore_errors=True)
        if isinstance(exc, MissingExtra):
            return {}, f"No plots were drawn: {exc}."
        return {}, f"The plots could not be drawn ({type(exc).__name__}: {exc})."


def header_markdown(header: Mapping[str, Any]) -> str:
    """One line of run facts: profile, device, seed(s), versions, wall time, cache hits."""
    return " · ".join(f"**{md_inline(k)}** {md_inline(v)}" for k, v in header.items()
                      if v not in (None, "")) + "\n"


def summary_markdown(rows: Sequence[ResultRow], plots: Mapping[str, Sequence[Path]] | None,
                     out: Path,
                     extra_sections: Sequence[tuple[str, str]] = (),
                     claims: Sequence[dict[str, Any]] = (),
                     header: Mapping[str, Any] | None = None,
                     recorded_sections: Mapping[str, Sequence[tuple[str, str]]] | None = None) -> str:
    """Top-down: run facts, baseline check, claims per study with verdicts, the study's plots
    and its own sections (`plots`, `recorded_sections`: per study file), the metric table,
    then the sections and plots of studies without claims, notes."""
    from lmgate.report.claims import (claims_markdown, image_lines, scoreboard,
                                       sequential_fdr_line)
    from lmgate.report.plots import rows_by_study

    plots, recorded_sections = dict(plots or {}), dict(recorded_sections or {})
    claimed = {study_of(c) for c in claims}
    parts = ["# lmgate results\n", f"{len(rows)} recorded result(s) from "
             f"{len({r.nodeid for r in rows})} test(s).\n"]
    if header:
        parts.append(header_markdown(header))
    for title, body in extra_sections:
        parts += [f"\n## {title}\n", body]
    if claims:
        tables = {study: markdown_table(key_table(study_rows, with_ci=True))
                  for study, study_rows in rows_by_study(rows).items()}
        parts += ["\n## Claims\n", claims_markdown(claims, plots, out, recorded_sections, tables)]
        fdr = sequential_fdr_line(claims)
        parts[2:2] = [f"**Scoreboard**: {md_inline(scoreboard(claims))}\n"] + (
            [f"{md_inline(fdr)}\n"] if fdr else [])
    unclaimed_rows = [r for r in rows if r.study not in claimed]
    if unclaimed_rows:
        parts += ["\n## Results\n", markdown_table(key_table(unclaimed_rows, with_ci=True))]
    for study, sections in recorded_sections.items():
        if study not in claimed:
            for title, body in sections:
                parts += [f"\n## {title}\n", body]
    unclaimed = [p for study, paths in plots.items() if study not in claimed for p in paths]
    if unclaimed:
        parts.append("\n## Plots\n")
        parts += image_lines(unclaimed, out)
    cost = cost_table(rows)
    if cost is not None:
        parts += ["\n## Cost\n", "What each result cost to compute (tokens as the server "
                  "reported them or the model's tokenizer counted them, seconds of model time, "
                  "money at a declared price).\n",
                  markdown_table(cost)]
    notes = sorted({n for r in rows for n in r.notes or ()})
    if notes:
        parts.append("\n## Notes\n")
        parts += [f"- {md_inline(n)}\n" for n in notes]
    return "\n".join(parts)
