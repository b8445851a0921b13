"""Metric directions, declared, never guessed from a name.

Each metric name (or glob pattern, e.g. `f1/*`) is registered with whether higher is better
and whether it is a model-quality metric the gate should compare at all (timings and counts are
recorded but not gated). A metric nobody declared is reported by the gate and not gated, with
a message saying how to declare it:

    import lmgate
    lmgate.register_metric("wer", higher_is_better=False)
    lmgate.register_metric("perplexity", higher_is_better=False)
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

from lmgate.core.errors import ConfigError


@dataclass(frozen=True)
class MetricInfo:
    """What the gate and the reports know about a metric."""

    name: str                       # a name or a glob pattern
    higher_is_better: bool
    gated: bool = True              # False: recorded and shown, never a regression
    description: str = ""


_EXACT: dict[str, MetricInfo] = {}
_PATTERNS: dict[str, MetricInfo] = {}


def register_metric(name: str, *, higher_is_better: bool, gated: bool = True,
                    description: str = "", replace: bool = False) -> MetricInfo:
    """Declare a metric's direction (`name` may be a glob such as `wer/*`)."""
    if not isinstance(higher_is_better, bool) or not isinstance(gated, bool):
        raise ConfigError(f"register_metric({name!r}): higher_is_better and gated must be "
                          f"True or False, got {higher_is_better!r} and {gated!r}")
    info = MetricInfo(name, higher_is_better, gated, description)
    table = _PATTERNS if any(c in name for c in "*?[") else _EXACT
    existing = table.get(name)
    if existing is not None and existing != info and not replace:
        raise ConfigError(f"metric {name!r} is already registered as {existing}; pass "
                          "replace=True to change it")
    table[name] = info
    return info


def metric_info(name: str) -> MetricInfo | None:
    """The declaration of `name` (exact names first, then the longest matching pattern)."""
    if name in _EXACT:
        return _EXACT[name]
    matches = [info for pattern, info in _PATTERNS.items() if fnmatchcase(name, pattern)]
    return max(matches, key=lambda info: len(info.name)) if matches else None


def undeclared_message(name: str) -> str:
    return (f"direction of metric {name!r} is not declared, so it is not gated; declare it with "
            f"lmgate.register_metric({name!r}, higher_is_better=True|False)")


def _builtin() -> None:
    higher = ["accuracy", "macro_f1", "macro_precision", "macro_recall", "weighted_f1",
              "weighted_precision", "weighted_recall", "f1/*", "precision/*", "recall/*",
              # SQuAD v2 and text overlap
              "exact", "f1", "best_exact", "best_f1", "HasAns_*", "NoAns_*",
              "bleu", "chrf", "rouge1", "rouge2", "rougeL", "rougeLsum", "meteor",
              "*_bleu", "*_rouge1", "*_rouge2", "*_rougeL", "*_meteor", "eval_accuracy",
              "eval_macro_f1"]
    lower = ["loss", "*_loss", "invalid_rate", "ter", "wer", "cer", "perplexity", "mae", "mse",
             "rmse"]
    for name in higher:
        register_metric(name, higher_is_better=True)
    for name in lower:
        register_metric(name, higher_is_better=False)
    # Recorded, never gated: machine timings, thresholds, sizes and counts.
    for name in ("*_s", "*seconds", "*_per_s", "latency*", "*_thresh", "n", "n_*",
                 "*_parameters", "*_count"):
        register_metric(name, higher_is_better=False, gated=False)


_builtin()
