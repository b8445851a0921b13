"""lm-evaluation-harness output read as imported runs: a `results_<time>.json` (configs,
versions, aggregates) with the `samples_<task>_<time>.jsonl` files it wrote beside it with
`--log_samples` (one line per document and filter, holding its metrics).

A metric whose per-document values are numbers averaging to lm-eval's own aggregate keeps
them, so runs pair document by document (`doc_id`, with `doc_hash` saying what the document
held); any other (corpus BLEU, perplexity, an aggregation other than the mean) keeps lm-eval's
aggregate and its stderr, without per-document scores.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping

from lmgate.core.bounded_json import read_json_bounded, read_jsonl_bounded
from lmgate.core.errors import ConfigError
from lmgate.report.interop.runs import Imported, documents_fingerprint
from lmgate.results.scored import ScoredResult

TOOL = "lm-eval"
#: How close the mean of per-document values must be to lm-eval's aggregate to stand for it.
AGREEMENT = 1e-9
#: The normal quantile of a 95% interval (an aggregate's CI from lm-eval's stderr).
Z95 = 1.959963984540054


def results_files(path: str | Path) -> list[Path]:
    """The results files of `path`: the file itself, or every `results_*.json` under the
    folder (lm-eval's `--output_path`)."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(f"{path} does not exist")
    found = sorted(p for p in path.rglob("results_*.json") if p.is_file())
    if not found:
        raise ConfigError(f"{path} holds no lm-eval results file (results_*.json): give the "
                          "folder lm-eval's --output_path wrote")
    return found


def read_lm_eval(path: str | Path, cluster_by: str | None = None) -> list[Imported]:
    """Every task x model of the lm-eval output at `path` (a results file or a folder of
    them), with per-document scores; ConfigError says what is wrong with a malformed file.
    `cluster_by`: a document field whose equal values make one cluster."""
    return [item for file in results_files(path) for item in _read_run(file, cluster_by)]


def _object(value: Any, what: str, where: Path) -> dict:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: {what} must be an object: not lm-eval results written "
                          "with --log_samples")
    return value


def _read_run(file: Path, cluster_by: str | None) -> list[Imported]:
    doc = _object(read_json_bounded(file, what="lm-eval results"), "the file", file)
    results = _object(doc.get("results"), "'results'", file)
    configs = _object(doc.get("configs"), "'configs'", file)
    config = _object(doc.get("config", {}), "'config'", file)
    stamp = file.stem.rsplit("_", 1)[-1]
    model = _model(config, doc)
    facts = {"version": doc.get("lm_eval_version"), "model_backend": config.get("model"),
             "model_args": config.get("model_args"), "seed": config.get("random_seed"),
             "limit": config.get("limit"), "transformers": doc.get("transformers_version"),
             "results_file": file.name}
    # A task's name is data: its samples file is found among the files beside `file` by
    # name, never by joining the name into a path (`a/../b`, a NUL, a name too long).
    beside = {p.name: p for p in file.parent.iterdir()}
    out = []
    for task in sorted(results):
        if task not in configs:    # a group's aggregate: its tasks are imported one by one
            continue
        name = f"samples_{task}_{stamp}.jsonl"
        samples = beside.get(name)
        if samples is None or not samples.is_file():
            raise ConfigError(f"{file}: task {task!r} has no samples file {name!r} beside "
                              "it: rerun lm-eval with --log_samples")
        counts = _of_task(doc, "n-samples", task)
        task_facts = {**facts, "task_version": _plain(_of_task(doc, "versions", task)),
                      "n_shot": _plain(_of_task(doc, "n-shot", task)),
                      "task_hash": _plain(_of_task(doc, "task_hashes", task)),
                      "documents": counts.get("effective") if isinstance(counts, dict) else None}
        directions = _of_task(doc, "higher_is_better", task)
        directions = {m: v for m, v in directions.items() if isinstance(v, bool)} \
            if isinstance(directions, dict) else {}
        out.append(_task(file, samples, task, model,
                         _object(results[task], f"results of {task!r}", file), directions,
                         task_facts, cluster_by))
    return out


def _of_task(doc: Mapping[str, Any], key: str, task: str) -> Any:
    """`doc[key][task]` of a results file (versions, shots, hashes...), or None."""
    table = doc.get(key)
    return table.get(task) if isinstance(table, dict) else None


def _plain(value: Any) -> Any:
    return value if isinstance(value, (str, int, float, bool)) or value is None else str(value)


def _model(config: Mapping[str, Any], doc: Mapping[str, Any]) -> str:
    """The model's path or hub id: `pretrained` of its arguments (a dict, or lm-eval's
    `key=value,...` string), else lm-eval's model name, else the backend's."""
    args = config.get("model_args")
    if isinstance(args, str):
        args = dict(part.split("=", 1) for part in args.split(",") if "=" in part)
    if isinstance(args, dict) and isinstance(args.get("pretrained"), str):
        return args["pretrained"]
    for value in (doc.get("model_name"), config.get("model")):
        if isinstance(value, str) and value:
            return value
    return "unknown model"


def _task(file: Path, samples: Path, task: str, model: str, aggregates: Mapping[str, Any],
          directions: Mapping[str, bool], facts: Mapping[str, Any],
          cluster_by: str | None) -> Imported:
    """One task's per-document scores (one metric per metric x filter) with its aggregates."""
    docs: dict[int, dict[str, Any]] = {}
    values: dict[str, dict[int, Any]] = {}
    for number, line in read_jsonl_bounded(samples, what="lm-eval samples"):
        where = f"{samples}, line {number}"
        if not isinstance(line, dict):
            raise ConfigError(f"{where}: not a JSON object")
        doc_id, names, filt = line.get("doc_id"), line.get("metrics"), line.get("filter", "none")
        if isinstance(doc_id, bool) or not isinstance(doc_id, int) or not isinstance(filt, str) \
                or not isinstance(names, list) or not all(isinstance(m, str) for m in names):
            raise ConfigError(f"{where}: needs an integer 'doc_id', a 'filter' and a list of "
                              "'metrics' (lm-eval's --log_samples lines)")
        docs.setdefault(doc_id, line)
        for metric in names:
            per_doc = values.setdefault(_name(metric, filt), {})
            if doc_id in per_doc:
                raise ConfigError(f"{where}: document {doc_id} appears twice for {metric} "
                                  f"(filter {filt})")
            if metric not in line:
                raise ConfigError(f"{where}: names metric {metric!r} but holds no value for it")
            per_doc[doc_id] = line[metric]
    scored = facts.get("documents")
    if not docs or (isinstance(scored, int) and scored != len(docs)):
        raise ConfigError(f"{samples} holds {len(docs)} documents, but lm-eval scored "
                          f"{scored}: not the samples file of this run")
    ids = sorted(docs)
    scores, given, info, notes = {}, {}, {}, []
    for metric in sorted(values):
        per_doc = values[metric]
        if sorted(per_doc) != ids:
            missing = sorted(set(ids) - set(per_doc))[:5]
            raise ConfigError(f"{samples}: {metric} has no value for document(s) {missing}")
        aggregate = aggregates.get(_key(metric))
        row = [per_doc[i] for i in ids]
        if _numbers(row) and _is_number(aggregate) \
                and abs(math.fsum(map(float, row)) / len(row) - aggregate) <= AGREEMENT:
            scores[metric] = [float(v) for v in row]
        elif _is_number(aggregate):
            given[metric] = float(aggregate)
            stderr = aggregates.get(_key(metric, stderr=True))
            if _is_number(stderr):
                info[f"{metric}_ci"] = [aggregate - Z95 * stderr, aggregate + Z95 * stderr]
            notes.append(f"{task}: {metric} is lm-eval's aggregate ({aggregate:.6g}), not a "
                         "mean of per-document values: compared without pairing")
        else:
            notes.append(f"{task}: {metric} not imported: lm-eval gave it no numeric aggregate "
                         f"({_key(metric)}: {aggregate!r})"
                         + ("" if _numbers(row) else " and per-document values that are not "
                            "all numbers"))
    if not scores and not given:
        raise ConfigError(f"{samples}: no metric with a numeric value")
    hashes = [str(docs[i].get("doc_hash", "")) for i in ids]
    clusters = _clusters(docs, ids, cluster_by, samples) if cluster_by else None
    info.update(data_fingerprint=documents_fingerprint(ids, hashes), notes=notes,
                tool_metrics={_name(*k.split(",", 1)): v for k, v in aggregates.items()
                              if "," in k and _is_number(v)})
    result = ScoredResult(task, [str(i) for i in ids], scores, info=info, metrics=given,
                          hashes=hashes, clusters=clusters)
    declared = {m: directions[m.partition(",")[0]] for m in (*scores, *given)
                if m.partition(",")[0] in directions}
    return Imported(TOOL, task, model, result, str(file), directions=declared, facts=facts)


def _name(metric: str, filt: str) -> str:
    """lmgate's name of a metric under a filter: `acc` for lm-eval's `acc,none`, else
    lm-eval's own `exact_match,strict-match`."""
    return metric if filt == "none" else f"{metric},{filt}"


def _key(name: str, stderr: bool = False) -> str:
    """lm-eval's aggregate key of lmgate's metric name (`acc` -> `acc,none`)."""
    metric, _, filt = name.partition(",")
    return f"{metric}{'_stderr' if stderr else ''},{filt or 'none'}"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and \
        math.isfinite(value)


def _numbers(values: list[Any]) -> bool:
    """Per-document values that are numbers (lm-eval writes booleans for some metrics)."""
    return all(isinstance(v, bool) or _is_number(v) for v in values)


def _clusters(docs: Mapping[int, Mapping[str, Any]], ids: list[int], field: str,
              samples: Path) -> list[str]:
    out = []
    for i in ids:
        doc = docs[i].get("doc")
        if not isinstance(doc, dict) or field not in doc:
            raise ConfigError(f"{samples}: document {i} has no field {field!r} to cluster by")
        out.append(str(doc[field]))
    return out
