"""Baseline files: the JSON of measurements, its predictions side file, and the environment
of the run that wrote it; and the rows of a results folder to compare with one."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import asdict
from pathlib import Path
from typing import Any, Iterable, Mapping

from lmgate.core.errors import ConfigError
from lmgate.core.io import atomic_write_text
from lmgate.gate.measure import Measurement, of_tests
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
            entries[key] = Measurement(key=key, **value)
            if not isinstance(entries[key].value, (int, float)) or isinstance(entries[key].value, bool):
                raise TypeError(f"value {entries[key].value!r} is not a number")
        except TypeError as exc:
            raise ConfigError(f"baseline {path}: entry {key!r} is malformed ({exc})") from None
    examples: dict[str, list[dict]] = defaultdict(list)
    side = predictions_path(path)
    if side.exists():
        for number, line in enumerate(side.read_text(encoding="utf-8").splitlines(), 1):
            try:
                item = json.loads(line)
                examples[item.pop("key")].append(item)
                if not (isinstance(item["y_true"], list) and isinstance(item["y_pred"], list)):
                    raise TypeError("y_true/y_pred must be lists")
            except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
                raise ConfigError(f"baseline predictions {side}, line {number}: malformed "
                                  f"({type(exc).__name__}: {exc}); rewrite the baseline with "
                                  "--update-baseline") from None
    return entries, dict(examples)


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
