"""Imported runs as lmgate results folders, and back: `write_imported` records each task x
model x seed of another tool's run as one row (its per-document scores in
predictions.jsonl), and `imported_run` reads one task of such a folder as a `ScoredResult`
for claims.

A row's measurement key is `<tool>::<task>::<task>`: the same for the runs of any model, so
`lmgate compare MAIN PR` pairs the main branch's run of a task with the pull request's. A
folder holding several models of one task names each result `<task> @ <model>`.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from lmgate.core.errors import ConfigError
from lmgate.report.records import Recorder
from lmgate.report.rows import ResultRow
from lmgate.results.scored import ScoredResult


@dataclass
class Imported:
    """One task x model x seed of another tool's run, scored per document."""

    tool: str                        # "lm-eval", "inspect"
    task: str
    model: str                       # the model's path or hub id
    result: ScoredResult
    location: str                    # the file it was read from
    seed: int | None = None          # Inspect's epoch; None for a single run
    #: Metric directions the tool declared (lm-eval's higher_is_better).
    directions: Mapping[str, bool] = field(default_factory=dict)
    #: What the tool recorded of the run: its version, the model's arguments, the task's
    #: version and shots, seeds, hashes.
    facts: Mapping[str, Any] = field(default_factory=dict)


def model_label(model: str) -> str:
    """A model's short name: the last part of its path or hub id."""
    return Path(model.rstrip("/")).name or model


def documents_fingerprint(ids: Sequence[Any], hashes: Sequence[str]) -> str:
    """What a run's documents were (their ids and hashes) as one digest: the gate marks a
    comparison whose documents changed."""
    import hashlib

    text = "\n".join(f"{i}\t{h}" for i, h in zip(ids, hashes))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def imported_rows(items: Sequence[Imported]) -> tuple[list[ResultRow], list[dict]]:
    """The rows and predictions of `items`; ConfigError where two items are one task x
    model x seed (two runs of one model: import them into separate folders)."""
    seen: dict[tuple, str] = {}
    models: dict[tuple[str, str], set[str]] = defaultdict(set)
    for item in items:
        key = (item.tool, item.task, item.model, item.seed)
        if key in seen:
            raise ConfigError(f"{item.tool} task {item.task!r} of model {item.model!r}"
                              + (f" (epoch {item.seed})" if item.seed is not None else "")
                              + f" is in both {seen[key]} and {item.location}: import one run "
                              "of a model per folder (give the one results file or log)")
        seen[key] = item.location
        models[(item.tool, item.task)].add(item.model)
    rows: list[ResultRow] = []
    predictions: list[dict] = []
    for item in items:
        several = len(models[(item.tool, item.task)]) > 1
        group = f"{item.tool}::{item.task}"
        nodeid = group if item.seed is None else f"{group}[epoch{item.seed}]"
        params = {"task": item.task, "model": item.model}
        if item.seed is not None:
            params["seed"] = item.seed
        recorder = Recorder(nodeid, item.task, params, group=group)
        result = item.result
        result.name = f"{item.task} @ {model_label(item.model)}" if several else item.task
        result.info = {**result.info, "imported": {"tool": item.tool, **item.facts},
                       "higher_is_better": dict(item.directions)}
        recorder(result)
        what = f"{item.tool} task {item.task}"
        rows += [dataclasses.replace(row, provenance=(
            {"source": item.tool, "what": what, "location": item.location},))
            for row in recorder.rows]
        predictions += recorder.predictions
    return rows, predictions


def write_imported(items: Sequence[Imported], out: str | Path) -> list[Path]:
    """`items` as the results folder `out` (results.jsonl, predictions.jsonl, summary.md,
    report.html), published as one set like every lmgate results folder; the paths written."""
    from lmgate.core.folder import foreign_results, publish
    from lmgate.report.writers import write_folder

    if not items:
        raise ConfigError("nothing to import: no task was found")
    rows, predictions = imported_rows(items)
    out = Path(out)
    theirs = foreign_results(out)
    if theirs:
        raise ConfigError(f"{out} holds {', '.join(theirs)}, which lmgate did not write: "
                          "choose another --out")
    tools = sorted({f"{i.tool} {i.facts.get('version') or ''}".strip() for i in items})
    header = {"imported from": ", ".join(tools),
              "models": ", ".join(sorted({i.model for i in items})),
              "tasks": ", ".join(sorted({i.task for i in items}))}
    return publish(out, lambda stage: write_folder(stage, rows, predictions, header=header,
                                                   with_plots=False))


def imported_run(path: str | Path, task: str, model: str | None = None,
                 name: str | None = None) -> ScoredResult:
    """Task `task` of the imported results folder `path` as a result claims compare::

        assert_better(imported_run("runs/pr", task="arc_easy"),
                      imported_run("runs/main", task="arc_easy"), metric="acc")

    `model` picks one where the folder holds several (its path, hub id or short name). The
    seeds (Inspect's epochs) of one run are averaged per document. `name` defaults to
    `<folder>:<task>`."""
    from lmgate.report.writers import read_results

    rows, predictions = read_results(path)[:2]
    ours = [r for r in rows if "imported" in r.info and r.params.get("task") == task]
    if not ours:
        tasks = sorted({str(r.params.get("task")) for r in rows if "imported" in r.info})
        raise ConfigError(f"{path} holds no imported task {task!r}"
                          + (f"; it holds {tasks}" if tasks else
                             " (not a folder written by `lmgate import`)"))
    found = sorted({str(r.params.get("model")) for r in ours})
    if model is not None:
        ours = [r for r in ours if model in (r.params.get("model"),
                                             model_label(str(r.params.get("model"))))]
        if not ours:
            raise ConfigError(f"{path}: task {task!r} has no model {model!r}; it has {found}")
    elif len(found) > 1:
        raise ConfigError(f"{path}: task {task!r} was run with {len(found)} models {found}: "
                          "pick one with model=")
    by_id = {p["record_id"]: p for p in predictions}
    ours.sort(key=lambda r: (str(r.params.get("model")), str(r.params.get("seed"))))
    lines = [by_id.get(r.record_id) for r in ours]
    if any(line is None or not isinstance(line.get("scores"), dict) for line in lines):
        raise ConfigError(f"{path}: task {task!r} has no per-document scores in "
                          "predictions.jsonl")
    first = lines[0]
    for line in lines[1:]:
        if line["ids"] != first["ids"] or line.get("hashes") != first.get("hashes"):
            raise ConfigError(f"{path}: the seeds of task {task!r} scored different "
                              "documents")
    scores = {m: np.mean([line["scores"][m] for line in lines], axis=0)
              for m in first["scores"]}
    given = {m: float(np.mean([r.metrics[m] for r in ours if r.metrics.get(m) is not None]))
             for m in ours[0].metrics if m not in scores and ours[0].metrics[m] is not None}
    params = {k: v for k, v in ours[0].params.items() if k != "seed"}
    if len(ours) > 1:
        params["seeds"] = [r.params.get("seed") for r in ours]
    return ScoredResult(name or f"{Path(path).name}:{task}", first["ids"], scores, params,
                        dict(ours[0].info), given, first.get("hashes"), first.get("clusters"))
