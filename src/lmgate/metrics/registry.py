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
from typing import Any, Mapping

from lmgate.core.errors import ConfigError


@dataclass(frozen=True)
class MetricInfo:
    """What the gate and the reports know about a metric."""

    name: str                       # a name or a glob pattern
    higher_is_better: bool
    gated: bool = True              # False: recorded and shown, never a regression
    description: str = ""
    bounds: tuple[float, float] | None = None   # the values it can take (a value outside: an error)

    def within(self, value: float) -> bool:
        """Whether `value` is one this metric can take (always, without declared bounds)."""
        return self.bounds is None or self.bounds[0] - 1e-9 <= value <= self.bounds[1] + 1e-9


_EXACT: dict[str, MetricInfo] = {}
_PATTERNS: dict[str, MetricInfo] = {}


def register_metric(name: str, *, higher_is_better: bool, gated: bool = True,
                    description: str = "", replace: bool = False,
                    bounds: tuple[float, float] | None = None) -> MetricInfo:
    """Declare a metric's direction (`name` may be a glob such as `wer/*`) and, optionally,
    the `bounds` of its values (e.g. (0, 1)): the gate refuses a value outside them."""
    if not isinstance(higher_is_better, bool) or not isinstance(gated, bool):
        raise ConfigError(f"register_metric({name!r}): higher_is_better and gated must be "
                          f"True or False, got {higher_is_better!r} and {gated!r}")
    if bounds is not None:
        try:
            low, high = (float(b) for b in bounds)
        except (TypeError, ValueError):
            raise ConfigError(f"register_metric({name!r}): bounds must be (low, high), got "
                              f"{bounds!r}") from None
        if not low < high:
            raise ConfigError(f"register_metric({name!r}): bounds {bounds!r} are not low < high")
        bounds = (low, high)
    info = MetricInfo(name, higher_is_better, gated, description, bounds)
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


def declared_direction(metric: str, info: Mapping[str, Any]) -> bool | None:
    """The registered direction of `metric`, else the one its result row declares in
    `info["higher_is_better"]` (an imported run's, as its tool declared it), else None."""
    registered = metric_info(metric)
    if registered is not None:
        return registered.higher_is_better
    declared = info.get("higher_is_better")
    value = declared.get(metric) if isinstance(declared, Mapping) else None
    return value if isinstance(value, bool) else None


def undeclared_message(name: str) -> str:
    return (f"direction of metric {name!r} is not declared, so it is not gated; declare it with "
            f"lmgate.register_metric({name!r}, higher_is_better=True|False)")


def _builtin() -> None:
    fractions = ["accuracy", "acc", "acc_norm", "macro_f1", "macro_precision", "macro_recall",
                 "weighted_f1", "weighted_precision", "weighted_recall", "f1/*", "precision/*",
                 "recall/*", "eval_accuracy", "eval_macro_f1"]
    # SQuAD v2 and text overlap, on the 0-100 scale of their reference implementations.
    percents = ["exact", "f1", "best_exact", "best_f1", "HasAns_exact", "HasAns_f1",
                "NoAns_exact", "NoAns_f1", "bleu", "chrf", "rouge1", "rouge2", "rougeL",
                "rougeLsum", "meteor", "*_bleu", "*_rouge1", "*_rouge2", "*_rougeL", "*_meteor"]
    for name in fractions:
        register_metric(name, higher_is_better=True, bounds=(0, 1))
    for name in percents:
        register_metric(name, higher_is_better=True, bounds=(0, 100))
    register_metric("HasAns_*", higher_is_better=True)
    register_metric("NoAns_*", higher_is_better=True)
    register_metric("invalid_rate", higher_is_better=False, bounds=(0, 1))
    for name in ["loss", "*_loss", "ter", "wer", "cer", "perplexity", "mae", "mse", "rmse"]:
        register_metric(name, higher_is_better=False,
                        bounds=(1.0 if name == "perplexity" else 0.0, float("inf")))
    # Recorded, never gated: machine timings, thresholds, sizes and counts.
    for name in ("*_s", "*seconds", "*_per_s", "latency*", "*_thresh", "n", "n_*",
                 "*_parameters", "*_count"):
        register_metric(name, higher_is_better=False, gated=False)


_builtin()
