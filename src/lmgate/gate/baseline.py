"""Baseline files: the JSON of measurements, its predictions side file, and the environment
of the run that wrote it; and the rows of a results folder to compare with one."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import asdict
from pathlib import Path
from typing import Any, Iterable, Mapping

from lmgate.core.errors import ConfigError
from lmgate.core.io import atomic_write_text
from lmgate.gate.measure import Measurement, of_tests
from lmgate.metrics.registry import metric_info
from lmgate.report.writers import read_results

FORMAT_VERSION = 1


def carried_over(old: Mapping[str, Measurement], old_examples: Mapping[str, list[dict]],
                 ran: Iterable[str]) -> tuple[dict[str, Measurement], dict[str, list[dict]]]:
    """The baseline entries of tests that did not run this session (kept on update)."""
    ran = list(ran)
    return ({k: m for k, m in old.items() if not of_tests(k, ran)},
            {k: e for k, e in old_examples.items() if not of_tests(k, ran)})


# ---- baseline files -------------------------------------------------------------------------
def predictions_path(baseline: Path) -> Path:
    return baseline.with_name(baseline.stem + ".predictions.jsonl")


def write_baseline(path: str | Path, found: Mapping[str, Measurement],
                   examples: Mapping[str, list[dict]],
                   environment: Mapping[str, Any] | None = None) -> list[Path]:
    """Write the baseline JSON (one entry per test x metric, from `measurements`) and its
    predictions side file."""
    path = Path(path)
    doc = {"lmgate_baseline": FORMAT_VERSION, "environment": dict(environment or {}),
           "entries": {k: {f: v for f, v in asdict(m).items() if f != "key"}
                       for k, m in sorted(found.items())}}
    written = [atomic_write_text(path, json.dumps(doc, indent=1, sort_keys=True) + "\n")]
    # Excerpts stay out of the baseline: flip reports show the current run's (same data).
    lines = [json.dumps({"key": k, **{f: v for f, v in e.items() if f != "examples"}},
                        sort_keys=True) for k in sorted(examples) for e in examples[k]]
    written.append(atomic_write_text(predictions_path(path), "".join(l + "\n" for l in lines)))
    return written


def read_baseline(path: str | Path) -> tuple[dict[str, Measurement], dict[str, list[dict]]]:
    """Read and validate a baseline and its predictions side file; ConfigError names the
    file (and line) of anything malformed."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"baseline {path} does not exist; create it with "
                          "--update-baseline") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"baseline {path} is not valid JSON ({exc}); rewrite it with "
                          "--update-baseline") from None
    if not isinstance(doc, dict) or doc.get("lmgate_baseline") != FORMAT_VERSION:
        raise ConfigError(f"{path} is not an lmgate baseline (an object with "
                          f"lmgate_baseline: {FORMAT_VERSION})")
    if not isinstance(doc.get("entries"), dict):
        raise ConfigError(f"baseline {path}: 'entries' must be an object of measurements")
    entries = {}
    for key, value in doc["entries"].items():
        try:
            if not isinstance(value, dict):
                raise TypeError("an entry must be an object")
            entries[key] = checked_measurement(Measurement(key=key, **value))
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"baseline {path}: entry {key!r} is malformed ({exc}); rewrite "
                              "it with --update-baseline") from None
    examples: dict[str, list[dict]] = defaultdict(list)
    side = predictions_path(path)
    if side.exists():
        for number, line in enumerate(side.read_text(encoding="utf-8").splitlines(), 1):
            try:
                item = json.loads(line)
                examples[item.pop("key")].append(item)
                if not (isinstance(item["y_true"], list) and isinstance(item["y_pred"], list)):
                    raise TypeError("y_true/y_pred must be lists")
                if len(item["y_true"]) != len(item["y_pred"]):
                    raise ValueError(f"{len(item['y_true'])} gold labels but "
                                     f"{len(item['y_pred'])} predictions")
                if not all(_is_int(y) for y in item["y_true"] + item["y_pred"]):
                    raise ValueError("labels must be integer ids")
            except (json.JSONDecodeError, KeyError, TypeError, AttributeError,
                    ValueError) as exc:
                raise ConfigError(f"baseline predictions {side}, line {number}: malformed "
                                  f"({type(exc).__name__}: {exc}); rewrite the baseline with "
                                  "--update-baseline") from None
    return entries, dict(examples)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def checked_measurement(m: Measurement) -> Measurement:
    """`m` if every number in it is one the gate can judge: finite values (one per seed),
    a CI of two finite numbers in order, a count >= 0; ValueError/TypeError saying which."""
    if not _is_number(m.value) or not math.isfinite(m.value):
        raise ValueError(f"value {m.value!r} is not a finite number")
    if not isinstance(m.values, list) or not m.values or \
            not all(_is_number(v) and math.isfinite(v) for v in m.values):
        raise ValueError(f"values {m.values!r} must be a non-empty list of finite numbers")
    info = metric_info(m.key.rsplit("::", 1)[-1])
    outside = [v for v in (m.value, *m.values) if info is not None and not info.within(v)]
    if outside:
        raise ValueError(f"value {outside[0]!r} is outside the range {list(info.bounds)} of "
                         f"metric {info.name!r}")
    if not isinstance(m.seeds, list) or len(m.seeds) != len(m.values):
        raise ValueError(f"seeds {m.seeds!r} must be a list with one seed per value")
    if m.ci is not None and not (isinstance(m.ci, list) and len(m.ci) == 2
                                 and all(_is_number(v) and math.isfinite(v) for v in m.ci)
                                 and m.ci[0] <= m.ci[1]):
        raise ValueError(f"ci {m.ci!r} must be [low, high], two finite numbers")
    if m.n is not None and not (_is_int(m.n) and m.n >= 0):
        raise ValueError(f"n {m.n!r} must be a count")
    if m.higher_is_better not in (True, False, None):
        raise ValueError(f"higher_is_better {m.higher_is_better!r} must be true, false or null")
    for name in ("data_fingerprint", "model_fingerprint"):
        if not isinstance(getattr(m, name), (str, type(None))):
            raise ValueError(f"{name} must be a string")
    return m


def baseline_environment(path: str | Path) -> dict[str, Any]:
    """The environment stored with a (validated) baseline."""
    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    return dict(doc.get("environment") or {})


# ---- comparison -----------------------------------------------------------------------------


def environment_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """What differs between the run that wrote the baseline and this one, by name."""
    keys = ("profile", "seed", "repeats", "device", "torch", "transformers", "tokenizers", "peft",
            "lmgate")
    return [f"{k}: baseline {old.get(k)!r}, now {new.get(k)!r}" for k in keys
            if k in old and old.get(k) != new.get(k)]


def read_results_dir(folder: str | Path) -> tuple[list[dict], list[dict]]:
    """Rows and predictions of a results folder written by the plugin."""
    rows, predictions, _, _ = read_results(folder)
    return rows, predictions
