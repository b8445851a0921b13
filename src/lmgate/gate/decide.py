"""Regression gating: a stored baseline of every recorded metric and a noise-aware comparison.

The rule (docs/guide/gate.md): for each metric, delta = now - baseline (sign flipped for
metrics where lower is better). It is a regression when delta < -tolerance, where tolerance is
a fixed tolerance if given (`--lmgate-tolerance`), else z * sigma with
  sigma = the larger of (a) the bootstrap standard deviation of the difference - paired on the
          same examples when the baseline's predictions are at hand, else combined from both
          bootstrap CIs - and (b) the seed spread stored in the baseline (sigma_seeds * sqrt(1/k_old
          + 1/k_new); for one run each this is the 2.8-sigma repeatability limit at z = 1.96),
  z     = Holm's step-down over the m gated metrics: sorted by two-sided p-value, the k-th
          (from 0) is tested at alpha / (m - k) until the first that passes, so the whole session
          has at most `alpha` chance of a false alarm (default 0.01) and never fewer detections
          than Bonferroni (z at 1 - alpha / (2 m) for all).
Each gated metric also reports its minimum detectable drop with 80% power (`mde`).
Metrics with no noise estimate and no fixed tolerance are reported, never failed. A metric
measured on fewer examples than any test could judge at `alpha` (`lmgate.stats.claims.min_units`)
is unjudgeable, which fails the gate: a tiny sample never passes as "within noise".
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from lmgate.core.errors import ConfigError
from lmgate.core.numbers import parse_decimal
from lmgate.gate.flips import Flips, flips
from lmgate.gate.measure import Measurement, higher_is_better, of_tests
from lmgate.gate.scored import is_scored, paired_sigma
from lmgate.metrics.classification import RESAMPLABLE
from lmgate.metrics.registry import metric_info, undeclared_message
from lmgate.metrics.resampling import DEFAULT_RESAMPLES
from lmgate.stats.claims import min_units
from lmgate.stats.paired import paired_diff_sigma
from lmgate.stats.seeds import summarise_seeds

DEFAULT_ALPHA = 0.01


def checked_alpha(alpha: object, name: str = "alpha") -> float:
    """`alpha` as a false-alarm probability in (0, 1); ConfigError otherwise (NaN included)."""
    value = _as_number(alpha, name)
    if not 0 < value < 1:
        raise ConfigError(f"{name} must be in (0, 1), got {alpha!r}")
    return value


def checked_tolerance(tolerance: object, name: str = "tolerance") -> float:
    """`tolerance` as a finite number >= 0; ConfigError otherwise."""
    value = _as_number(tolerance, name)
    if not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {tolerance!r}")
    if value < 0:
        raise ConfigError(f"{name} must be >= 0, got {tolerance!r}")
    return value


def _as_number(value: object, name: str) -> float:
    if isinstance(value, bool):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    try:   # text: ASCII decimal only (float() would read ٠.٠٥ and 0_5)
        return parse_decimal(value) if isinstance(value, str) else float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number, got {value!r}") from None


@dataclass
class Check:
    key: str
    #: regression | unjudgeable | improvement | within-noise | new | missing | stale | not-gated
    status: str
    old: float | None = None
    new: float | None = None
    delta: float | None = None
    tolerance: float | None = None
    basis: str = ""
    data_changed: bool = False      # the test data's fingerprint differs from the baseline's
    p: float | None = None          # two-sided p-value of the difference (noise-gated metrics)
    mde: float | None = None        # minimum drop detectable with 80% power at the gate's alpha

    def describe(self) -> str:
        head = f"{self.key}: {self.status}"
        if self.status == "unjudgeable":
            return f"{head}: {self.basis}"
        if self.old is None or self.new is None:
            return head
        data = "; the test data changed since the baseline" if self.data_changed else ""
        return (f"{head}: {self.old:.4f} -> {self.new:.4f} (delta {self.delta:+.4f}); allowed "
                f"{self.tolerance:.4f} ({self.basis}){data}")


@dataclass
class GateReport:
    checks: list[Check] = field(default_factory=list)
    strict_missing: bool = False
    environment_changes: list[str] = field(default_factory=list)
    power_warnings: list[str] = field(default_factory=list)
    strict_power: bool = False
    flips: list[Flips] = field(default_factory=list)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.status in ("regression", "unjudgeable")
                or (self.strict_missing and c.status == "missing")]

    @property
    def underpowered(self) -> bool:
        """--lmgate-strict-power with metrics that cannot detect the --lmgate-gate-mde drop."""
        return self.strict_power and bool(self.power_warnings)

    @property
    def compared(self) -> int:
        """Metrics actually compared with a tolerance (not new, missing or not gated)."""
        return sum(c.status in ("regression", "improvement", "within-noise") for c in self.checks)

    @property
    def nothing_compared(self) -> bool:
        """A baseline with entries, and not one of them could be compared: not a pass."""
        return bool(self.checks) and self.compared == 0 and \
            any(c.status == "missing" for c in self.checks)

    @property
    def passed(self) -> bool:
        return not self.failures and not self.nothing_compared and not self.underpowered

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = defaultdict(int)
        for c in self.checks:
            out[c.status] += 1
        return dict(out)


def _sigma(old: Measurement, new: Measurement, old_ex: list[dict] | None,
           new_ex: list[dict] | None) -> tuple[float | None, str]:
    metric = old.key.rsplit("::", 1)[1]
    sigmas: list[tuple[float, str]] = []
    apart = ""   # why per-document scores did not pair
    if is_scored(old_ex) and is_scored(new_ex):
        found = paired_sigma(old_ex, new_ex, metric)
        if isinstance(found, tuple):
            sigmas.append(found)
        elif found is not None:
            apart = f"; {found}"
        old_ex = new_ex = None
    paired = bool(metric in RESAMPLABLE and old_ex and new_ex
                  and old_ex[0]["y_true"] == new_ex[0]["y_true"])
    # The same examples: a baseline line without a label count takes this run's.
    n_labels = (old_ex[0].get("labels") or new_ex[0].get("labels")) if paired else None
    if paired and n_labels and all(-1 <= y < n_labels for y in old_ex[0]["y_pred"]):
        clusters = new_ex[0].get("clusters")
        clusters = clusters if clusters is not None and clusters == old_ex[0].get("clusters") \
            else None
        s = paired_diff_sigma(old_ex[0]["y_true"], old_ex[0]["y_pred"], new_ex[0]["y_pred"],
                              n_labels, metric, clusters=clusters)
        # Averages over k seeds shrink the noise of the difference.
        s /= math.sqrt(min(len(old_ex), len(new_ex)))
        unit = (f"{len(set(clusters))} clusters of {len(clusters)} examples" if clusters
                else f"{len(old_ex[0]['y_true'])} examples")
        sigmas.append((s, f"paired bootstrap on {unit}"))
    elif old.ci_sigma is not None and new.ci_sigma is not None and not sigmas:
        sigmas.append((math.hypot(old.ci_sigma, new.ci_sigma), f"bootstrap CIs{apart}"))
    if len(old.values) >= 2:
        spread = summarise_seeds(old.values).std
        sigmas.append((spread * math.sqrt(1 / len(old.values) + 1 / len(new.values)),
                       f"spread of {len(old.values)} seeds"))
    if not sigmas:
        return None, ""
    return max(sigmas)


def _data_changed(old: Measurement, new: Measurement) -> bool:
    return bool(old.data_fingerprint and new.data_fingerprint
                and old.data_fingerprint != new.data_fingerprint)


def compare(baseline: Mapping[str, Measurement], current: Mapping[str, Measurement],
            baseline_examples: Mapping[str, list[dict]] | None = None,
            current_examples: Mapping[str, list[dict]] | None = None, *,
            tolerance: float | None = None, alpha: float = DEFAULT_ALPHA,
            strict_missing: bool = False, settings: Mapping[str, Mapping[str, Any]] | None = None,
            passed_tests: Iterable[str] = (), correction: str = "holm") -> GateReport:
    """Compare every metric of the current run with the baseline (see the module docstring).

    `settings` (per `group::result`, from `@pytest.mark.lmgate_gate`) fix a test's tolerance
    or leave metrics ungated; a baseline metric of a test that passed without producing it
    is *stale* (listed, dropped by --lmgate-update-baseline), of any other test *missing*.
    `correction` is "holm" (step-down) or "bonferroni" (every metric at alpha / m), the latter
    for comparison (benchmarks/gate_calibration.py)."""
    if correction not in CORRECTIONS:
        raise ConfigError(f"unknown correction {correction!r}; use one of {CORRECTIONS}")
    alpha = checked_alpha(alpha)
    tolerance = None if tolerance is None else checked_tolerance(tolerance)
    baseline_examples, current_examples = baseline_examples or {}, current_examples or {}
    settings, passed_tests = settings or {}, list(passed_tests)
    report = GateReport(strict_missing=strict_missing)
    pending = []
    for key in sorted(set(baseline) | set(current)):
        old, new = baseline.get(key), current.get(key)
        if old is None:
            report.checks.append(Check(key, "new", None, new.value))
            continue
        if new is None:
            report.checks.append(Check(key, "stale" if of_tests(key, passed_tests) else
                                       "missing", old.value, None))
            continue
        base, metric = key.rsplit("::", 1)
        info = metric_info(metric)
        # Undeclared here: the direction both runs' rows declared (an imported tool's).
        direction = higher_is_better(metric)
        if direction is None and old.higher_is_better == new.higher_is_better:
            direction = new.higher_is_better
        bad = [f"{side} {m.value!r}" for side, m in (("baseline", old), ("now", new))
               if not math.isfinite(m.value) or any(not math.isfinite(v) for v in m.values)]
        outside = [f"{side} {m.value!r}" for side, m in (("baseline", old), ("now", new))
                   if not bad and info is not None and not info.within(m.value)]
        few = [f"{side} n = {m.n}" for side, m in (("baseline", old), ("now", new))
               if m.n is not None and m.n < min_units(alpha)]
        if bad or outside or few:  # NaN compares as "not worse" with everything: never a pass
            why = (f"not a finite number ({', '.join(bad)})" if bad else
                   f"outside the range {list(info.bounds)} of {info.name} ({', '.join(outside)})"
                   if outside else f"too few examples to judge ({', '.join(few)}; at least "
                                   f"{min_units(alpha)} needed at alpha {alpha:g})")
            report.checks.append(Check(key, "unjudgeable", old.value, new.value, None, None, why))
            continue
        own = settings.get(base, {})
        if metric in own.get("ignore", ()):
            report.checks.append(Check(key, "not-gated", old.value, new.value,
                                       new.value - old.value, None,
                                       "ignored by the test's lmgate_gate marker"))
            continue
        if direction is None or (info is not None and not info.gated):
            reason = undeclared_message(metric) if direction is None else \
                "declared as recorded, not gated (timings, counts)"
            report.checks.append(Check(key, "not-gated", old.value, new.value,
                                       new.value - old.value, None, reason))
            continue
        fixed = own.get("tolerance", {})
        fixed = fixed.get(metric, fixed.get("*"))
        if fixed is not None:
            sigma, basis = None, "fixed by the test's lmgate_gate marker"
        elif tolerance is not None:
            fixed, sigma, basis = tolerance, None, "fixed tolerance"
        else:
            sigma, basis = _sigma(old, new, baseline_examples.get(base), current_examples.get(base))
        pending.append(_Pending(key, old, new, (new.value - old.value) * (1 if direction else -1),
                                sigma, basis, _power_sigma(old, new, sigma), fixed))
    report.checks.extend(_decide(pending, alpha, correction))
    report.flips = flips(baseline_examples, current_examples)
    return report


Z_POWER_80 = 0.8416212335729143   # the normal quantile at 0.80
CORRECTIONS = ("holm", "bonferroni")


@dataclass
class _Pending:
    """A gated metric on its way to a decision."""

    key: str
    old: Measurement
    new: Measurement
    signed: float                   # new - old, positive when better
    sigma: float | None             # noise of the difference (None: no estimate)
    basis: str                      # where sigma comes from
    power_sigma: float | None       # the noise a changed model would face (for the MDE)
    tolerance: float | None = None  # a fixed threshold (the option or the test's marker)
    p: float = 1.0


def _power_sigma(old: Measurement, new: Measurement, sigma: float | None) -> float | None:
    """The noise a *changed* model would face. A paired s.d. is ~0 when the predictions did
    not change (a rerun), which says nothing of power; both bootstrap CIs combined (as if
    unpaired) bound it from above, so the larger is a conservative basis."""
    unpaired = (math.hypot(old.ci_sigma, new.ci_sigma)
                if old.ci_sigma is not None and new.ci_sigma is not None else None)
    candidates = [s for s in (sigma, unpaired) if s is not None]
    return max(candidates) if candidates else None


def minimum_detectable_drop(sigma: float, alpha: float, m: int) -> float:
    """The smallest true drop the gate catches with 80% power: (z_(1-alpha/2m) + z_0.8) x sigma,
    at the strictest (Bonferroni) level of the Holm procedure, so it is a guarantee."""
    from scipy.stats import norm

    return (float(norm.isf(alpha / (2 * max(1, m)))) + Z_POWER_80) * sigma


def _decide(pending: list[_Pending], alpha: float, correction: str = "holm") -> list[Check]:
    """Holm step-down over the gated metrics' two-sided p-values (same family-wise false-alarm
    rate as Bonferroni, never fewer detections); a fixed tolerance is a plain threshold."""
    from scipy.stats import norm

    checks: dict[str, Check] = {}
    noisy: list[_Pending] = []
    for item in pending:
        check = Check(item.key, "not-gated", item.old.value, item.new.value,
                      item.new.value - item.old.value, None, item.basis,
                      _data_changed(item.old, item.new))
        checks[item.key] = check
        if item.tolerance is not None:
            check.tolerance = item.tolerance
            check.status = ("regression" if item.signed < -item.tolerance else
                            "improvement" if item.signed > item.tolerance else "within-noise")
        elif item.sigma is not None:
            # No spread at all (every resample moved alike): the bootstrap's own floor, not 0.
            item.p = (float(2 * norm.sf(abs(item.signed) / item.sigma)) if item.sigma > 0
                      else 1 / (DEFAULT_RESAMPLES + 1) if item.signed != 0 else 1.0)
            noisy.append(item)
        else:
            check.basis = "no noise estimate (give a fixed tolerance to gate it)"
    m = len(noisy)
    rejecting = True
    for rank, item in enumerate(sorted(noisy, key=lambda i: (i.p, i.key))):
        level = alpha / (m - rank) if correction == "holm" else alpha / m
        z = float(norm.isf(level / 2))
        check = checks[item.key]
        check.p, check.mde = item.p, minimum_detectable_drop(item.power_sigma, alpha, m)
        check.tolerance = z * item.sigma
        step = f"Holm step {rank + 1}/{m}" if correction == "holm" else f"Bonferroni, m={m}"
        check.basis = f"{step}: z={z:.2f} x sigma {item.sigma:.4f} ({item.basis})"
        # Holm stops at the first metric it cannot reject; Bonferroni judges each alone.
        rejecting = (rejecting if correction == "holm" else True) and item.p <= level
        check.status = ("within-noise" if not rejecting else
                        "regression" if item.signed < 0 else "improvement")
    return [checks[item.key] for item in pending]


def power_warnings(report: "GateReport", mde: float) -> list[str]:
    """Gated metrics whose minimum detectable drop exceeds `mde`, with the examples (or seeds)
    they would need: the noise falls as 1/sqrt(n)."""
    out = []
    for c in report.checks:
        if c.mde is not None and c.mde > mde:
            factor = (c.mde / mde) ** 2
            out.append(f"{c.key}: detects drops of {c.mde:.4f} or more with 80% power, not "
                       f"{mde:.4f}; it needs ~{factor:.1f}x the test examples (or seeds)")
    return out
