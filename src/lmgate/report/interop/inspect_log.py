"""Inspect logs (`.eval` or `.json`) read as imported runs, through inspect_ai's own reader
(`inspect_ai.log.read_eval_log`; lmgate's `interop` extra installs it).

Each epoch of a task becomes one result (seed = the epoch) holding every sample's score as
Inspect's `value_to_float` reads it ('C' 1, 'I' 0, 'P' 0.5, numbers as they are), and the
tokens its samples used. A scorer's `accuracy` and `mean` are means of those scores: lmgate
names them so (`<scorer>/accuracy` where a task has several scorers); its other metrics
(stderr, custom ones) are kept as Inspect reported them in the row's `tool_metrics`.
"""

from __future__ import annotations

import hashlib
import os
import stat
import zipfile
from collections import defaultdict
from pathlib import Path
from typing import Any

from lmgate.core.bounded_json import MAX_BYTES
from lmgate.core.errors import ConfigError
from lmgate.core.extras import require
from lmgate.report.interop.runs import Imported, documents_fingerprint
from lmgate.results.scored import ScoredResult

TOOL = "inspect"
#: Inspect's metrics that are the mean of the per-sample scores.
MEANS = ("accuracy", "mean")


def log_files(path: str | Path) -> list[Path]:
    """The logs of `path`: the file itself, or every `.eval` and `.json` under the folder."""
    path = Path(path)
    if path.is_dir():
        found = sorted(p for p in path.rglob("*") if p.suffix in (".eval", ".json")
                       and p.is_file())
        if not found:
            raise ConfigError(f"{path} holds no Inspect log (.eval or .json)")
        return found
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    return [path]


def read_inspect(path: str | Path, cluster_by: str | None = None) -> list[Imported]:
    """Every task x model x epoch of the Inspect log(s) at `path`; ConfigError says what is
    wrong with one inspect_ai cannot read or that did not finish. `cluster_by`: a sample
    metadata field whose equal values make one cluster."""
    log_module = require("inspect_ai.log", "lmgate import inspect")
    to_float = require("inspect_ai.scorer", "lmgate import inspect").value_to_float()
    out = []
    for file in log_files(path):
        _check_file(file)
        try:
            log = log_module.read_eval_log(str(file))
        except Exception as exc:   # inspect_ai's reader raises many kinds on a bad file
            raise ConfigError(f"{file}: not an Inspect log inspect_ai can read "
                              f"({type(exc).__name__}: {exc})") from None
        out += _epochs(file, log, to_float, cluster_by)
    return out


def _check_file(file: Path) -> None:
    """A regular file of at most MAX_BYTES, as every input lmgate reads."""
    info = os.stat(file)
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"Inspect log {file} is not a regular file")
    if info.st_size > MAX_BYTES:
        raise ConfigError(f"Inspect log {file} has {info.st_size} bytes, more than the "
                          f"{MAX_BYTES} bytes lmgate reads")
    # An .eval log is a zip archive: what it unpacks to is what inspect_ai holds in memory
    # (a few compressed kilobytes can unpack to gigabytes).
    try:
        with zipfile.ZipFile(file) as archive:
            unpacked = sum(entry.file_size for entry in archive.infolist())
    except (zipfile.BadZipFile, OSError):
        return   # a .json log, or a damaged archive inspect_ai's reader names
    if unpacked > MAX_BYTES:
        raise ConfigError(f"Inspect log {file} unpacks to {unpacked} bytes, more than the "
                          f"{MAX_BYTES} bytes lmgate reads")


def _text(value: Any) -> str:
    """A sample's input or target as text (chat messages by their text, in order)."""
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        return "\n".join(_text(getattr(v, "text", v)) for v in value)
    return str(value)


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _tokens(samples: list[Any]) -> dict[str, int]:
    """The tokens the samples' model calls used, as served results record them: summed when
    every sample reports well-formed usage; else how many did not (`answers_without_usage`),
    never a partial sum or a made-up 0."""
    usage = [list((s.model_usage or {}).values()) for s in samples]
    unreported = sum(1 for used in usage if not used or not all(
        _count(u.input_tokens) and _count(u.output_tokens) for u in used))
    if unreported:
        return {"answers_without_usage": unreported}
    return {"input_tokens": sum(u.input_tokens for used in usage for u in used),
            "output_tokens": sum(u.output_tokens for used in usage for u in used)}


def _epochs(file: Path, log: Any, to_float: Any, cluster_by: str | None) -> list[Imported]:
    if log.status != "success":
        raise ConfigError(f"{file}: the Inspect run ended as {log.status!r}, not 'success': "
                          "its samples are incomplete")
    if not log.samples or log.results is None:
        raise ConfigError(f"{file}: the log holds no samples (written with --no-log-samples?)")
    spec = log.eval
    args = spec.model_args or {}
    model = str(args.get("model_path") or spec.model)
    scorers = [s for s in log.results.scores if any(m in s.metrics for m in MEANS)]
    names = {(s.name, m): (m if len(scorers) == 1 else f"{s.name}/{m}")
             for s in scorers for m in MEANS if m in s.metrics}
    facts = {"version": (spec.packages or {}).get("inspect_ai"), "model_api": spec.model,
             "model_args": {k: str(v) for k, v in args.items()}, "task_version": spec.task_version,
             "task_args": {k: str(v) for k, v in (spec.task_args or {}).items()},
             "epochs": spec.config.epochs, "seed": getattr(spec.model_generate_config, "seed",
                                                           None),
             "dataset": spec.dataset.name, "run_id": spec.run_id, "log": file.name}
    tool_metrics = {f"{s.name}/{k}": float(m.value) for s in log.results.scores
                    for k, m in s.metrics.items() if isinstance(m.value, (int, float))}
    by_epoch: dict[int, list[Any]] = defaultdict(list)
    for sample in log.samples:
        by_epoch[int(sample.epoch)].append(sample)
    out = []
    for epoch in sorted(by_epoch):
        samples = sorted(by_epoch[epoch], key=lambda s: (str(type(s.id)), s.id))
        scores: dict[str, list[float]] = {}
        for (scorer, _), name in names.items():
            values = []
            for sample in samples:
                score = (sample.scores or {}).get(scorer)
                if score is None or isinstance(score.value, (dict, list)):
                    raise ConfigError(f"{file}: sample {sample.id} (epoch {epoch}) has no "
                                      f"single {scorer} score")
                values.append(float(to_float(score.value)))
            scores[name] = values
        hashes = [hashlib.sha256(f"{_text(s.input)}\0{_text(s.target)}".encode()).hexdigest()
                  for s in samples]
        ids = [str(s.id) for s in samples]
        clusters = None
        if cluster_by is not None:
            missing = [s.id for s in samples if cluster_by not in (s.metadata or {})]
            if missing:
                raise ConfigError(f"{file}: sample {missing[0]} has no metadata field "
                                  f"{cluster_by!r} to cluster by")
            clusters = [str(s.metadata[cluster_by]) for s in samples]
        info = {"data_fingerprint": documents_fingerprint(ids, hashes),
                "tool_metrics": tool_metrics, **_tokens(samples)}
        try:
            result = ScoredResult(spec.task, ids, scores, info=info, hashes=hashes,
                                  clusters=clusters)
        except ValueError as exc:   # ids alike as text (1 and "1"), a score NaN or infinite
            raise ConfigError(f"{file} (epoch {epoch}): {exc}") from None
        out.append(Imported(TOOL, spec.task, model, result, str(file), seed=epoch,
                            directions={n: True for (_, m), n in names.items()
                                        if m == "accuracy"},
                            facts=facts))
    return out
