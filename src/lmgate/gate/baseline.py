"""Baseline files: the JSON of measurements, its predictions side file, and the environment
of the run that wrote it; and the rows of a results folder to compare with one."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from lmgate.core.bounded_json import read_json_bounded, read_jsonl_bounded
from lmgate.core.errors import ConfigError
from lmgate.core.io import atomic_write_all
from lmgate.gate.measure import Measurement, of_tests
from lmgate.metrics.registry import metric_info
from lmgate.report.rows import ResultRow
from lmgate.report.writers import checked_scores, read_results

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
    predictions side file as one unit: both or neither (lmgate.core.io.atomic_write_all), the
    baseline naming its side file's content (`predictions_sha256`), which reading checks. A
    symbolic link at either path is written through."""
    path = Path(path)
    # Excerpts stay out of the baseline: flip reports show the current run's (same data).
    side = predictions_text({k: [{f: v for f, v in e.items() if f != "examples"} for e in es]
                             for k, es in examples.items()})
    doc = {"lmgate_baseline": FORMAT_VERSION, "environment": dict(environment or {}),
           "predictions_sha256": _digest(side),
           "entries": {k: {f: v for f, v in asdict(m).items() if f != "key"}
                       for k, m in sorted(found.items())}}
    return atomic_write_all({predictions_path(path): side,
                             path: json.dumps(doc, indent=1, sort_keys=True) + "\n"})[::-1]


def predictions_text(examples: Mapping[str, list[dict]]) -> str:
    """The predictions side file of `examples`, in its one canonical form."""
    return "".join(json.dumps({"key": k, **e}, sort_keys=True) + "\n"
                   for k in sorted(examples) for e in examples[k])


def _digest(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _check_pair(path: Path, doc: Mapping[str, Any], examples: dict[str, list[dict]]
                ) -> dict[str, list[dict]]:
    """`examples` if they are the ones written with the baseline `doc` (its
    `predictions_sha256`; a baseline without one predates the check); else ConfigError."""
    expected = doc.get("predictions_sha256")
    if expected is None or _digest(predictions_text(examples)) == expected:
        return examples
    side = predictions_path(path)
    why = ("the predictions file is missing" if not side.exists()
           else "its content is not the one the baseline names")
    raise ConfigError(f"baseline {path} and its predictions {side} are not from the same write "
                      f"({why}): comparing them would report flips that did not happen; "
                      "restore both from one commit, or rewrite them with "
                      "--lmgate-update-baseline")


@dataclass(frozen=True)
class BaselineFile:
    """A baseline as read, once: its entries, the predictions of its side file and the
    environment of the run that wrote it."""

    entries: dict[str, Measurement]
    examples: dict[str, list[dict]]
    environment: dict[str, Any]


#: What a baseline's `environment` may hold per key (what `write_baseline` stores).
_SCALARS = (str, int, float, bool, type(None))


def load_baseline(path: str | Path) -> BaselineFile:
    """Read and validate a baseline and its predictions side file, each read once and
    bounded (lmgate.core.bounded_json); ConfigError names the file (and line) of anything
    malformed."""
    path = Path(path)
    rewrite = "rewrite it with --lmgate-update-baseline"
    try:
        # NaN/Infinity get through to checked_measurement, which names the entry.
        doc = read_json_bounded(path, what="baseline", nonfinite=True)
    except FileNotFoundError:
        raise ConfigError(f"baseline {path} does not exist; create it with "
                          "--lmgate-update-baseline") from None
    except ConfigError as exc:
        raise ConfigError(f"{exc}; {rewrite}") from None
    version = doc.get("lmgate_baseline") if isinstance(doc, dict) else None
    if type(version) is not int or version != FORMAT_VERSION:   # true and 1.0 are not 1
        raise ConfigError(f"{path} is not an lmgate baseline (an object with "
                          f"lmgate_baseline: {FORMAT_VERSION})")
    if not isinstance(doc.get("entries"), dict):
        raise ConfigError(f"baseline {path}: 'entries' must be an object of measurements")
    environment = doc.get("environment", {})
    if not isinstance(environment, dict) or not all(
            isinstance(v, _SCALARS) for v in environment.values()):
        raise ConfigError(f"baseline {path}: 'environment' must be an object of names to "
                          f"strings, numbers or null, not {_kind(environment)}; {rewrite}")
    entries = {}
    for key, value in doc["entries"].items():
        try:
            if not isinstance(value, dict):
                raise TypeError("an entry must be an object")
            entries[key] = checked_measurement(Measurement(key=key, **value))
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"baseline {path}: entry {key!r} is malformed ({exc}); "
                              f"{rewrite}") from None
    return BaselineFile(entries, _check_pair(path, doc, _side_examples(predictions_path(path))),
                        environment)


def _kind(value: Any) -> str:
    return "an object holding lists or objects" if isinstance(value, dict) else \
        f"a JSON {type(value).__name__}"


def _side_examples(side: Path) -> dict[str, list[dict]]:
    """The predictions side file's examples by entry, one per seed (none when absent)."""
    examples: dict[str, list[dict]] = defaultdict(list)
    seen: set[tuple[str, str]] = set()
    try:
        lines = read_jsonl_bounded(side, what="baseline predictions")
    except FileNotFoundError:
        return {}
    except ConfigError as exc:
        raise ConfigError(f"{exc}; rewrite the baseline with --lmgate-update-baseline") from None
    for number, item in lines:
        try:
            if not isinstance(item, dict) or not isinstance(item.get("key"), str):
                raise TypeError("each line must be an object with a string 'key'")
            key = item.pop("key")
            if "scores" in item:   # per-document scores (an imported run)
                checked_scores(item)
            elif not (isinstance(item["y_true"], list) and isinstance(item["y_pred"], list)):
                raise TypeError("y_true/y_pred must be lists")
            else:
                if len(item["y_true"]) != len(item["y_pred"]):
                    raise ValueError(f"{len(item['y_true'])} gold labels but "
                                     f"{len(item['y_pred'])} predictions")
                if not all(_is_int(y) for y in item["y_true"] + item["y_pred"]):
                    raise ValueError("labels must be integer ids")
                _check_example_fields(item)
            seed = json.dumps(item.get("seed"))
            if (key, seed) in seen:
                raise ValueError(f"a second line for {key!r} with seed {seed}: one per seed")
            seen.add((key, seed))
            examples[key].append(item)
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"baseline predictions {side}, line {number}: malformed "
                              f"({type(exc).__name__}: {exc}); rewrite the baseline with "
                              "--lmgate-update-baseline") from None
    return dict(examples)


def _check_example_fields(item: dict) -> None:
    """What the gate reads of a predictions line beside y_true/y_pred, as lmgate writes it:
    the label count (optional), ids within it (a prediction may be -1, none), optional label
    names, cluster ids and excerpts, one per example."""
    n, size = item.get("labels"), len(item["y_true"])
    if n is not None and not (_is_int(n) and n >= 1):
        raise ValueError(f"labels {n!r} must be the number of labels")
    top = n if n is not None else 2**31      # without a count (written by hand): int32 ids
    if not all(0 <= y < top for y in item["y_true"]) or not all(-1 <= y < top
                                                              for y in item["y_pred"]):
        raise ValueError(f"label ids must be in 0..{top - 1} (a prediction may be -1)")
    names = item.get("label_names")
    if names is not None and not (isinstance(names, list) and len(names) == n
                                  and all(isinstance(x, str) for x in names)):
        raise ValueError(f"label_names must be a list of {n} names")
    for field, kinds in (("clusters", (str, int)), ("examples", (str,))):
        values = item.get(field)
        if values is not None and not (isinstance(values, list) and len(values) == size and
                                       all(isinstance(v, kinds) for v in values)):
            raise ValueError(f"{field} must be a list with one entry per example")


def read_baseline(path: str | Path) -> tuple[dict[str, Measurement], dict[str, list[dict]]]:
    """The entries and predictions of `load_baseline(path)`."""
    baseline = load_baseline(path)
    return baseline.entries, baseline.examples


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
    if len({json.dumps(s, sort_keys=True) for s in m.seeds}) != len(m.seeds):
        raise ValueError(f"seeds {m.seeds!r} name a seed twice: one value per seed")
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


# ---- comparison -----------------------------------------------------------------------------


def environment_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """What differs between the run that wrote the baseline and this one, by name."""
    keys = ("profile", "seed", "repeats", "device", "torch", "transformers", "tokenizers", "peft",
            "lmgate")
    return [f"{k}: baseline {old.get(k)!r}, now {new.get(k)!r}" for k in keys
            if k in old and old.get(k) != new.get(k)]


def read_results_dir(folder: str | Path) -> tuple[list[ResultRow], list[dict]]:
    """Rows and predictions of a results folder written by the plugin."""
    rows, predictions, _, _ = read_results(folder)
    return rows, predictions
