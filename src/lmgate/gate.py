"""Regression gating: a stored baseline of every recorded metric and a noise-aware comparison.

The rule (README, "Gating CI"): for each metric, delta = now - baseline (sign flipped for
metrics where lower is better). It is a regression when delta < -tolerance, where tolerance is
`--tolerance` if given, else z * sigma with
  sigma = the larger of (a) the bootstrap standard deviation of the difference - paired on the
          same examples when the baseline's predictions are at hand, else combined from both
          bootstrap CIs - and (b) the seed spread stored in the baseline (sigma_seeds * sqrt(1/k_old
          + 1/k_new); for one run each this is the 2.8-sigma repeatability limit at z = 1.96),
  z     = Holm's step-down over the m gated metrics: sorted by two-sided p-value, the k-th
          (from 0) is tested at alpha / (m - k) until the first that passes, so the whole session
          has at most `alpha` chance of a false alarm (default 0.01) and never fewer detections
          than Bonferroni (z at 1 - alpha / (2 m) for all).
Each gated metric also reports its minimum detectable drop with 80% power (`mde`).
Metrics with no noise estimate and no `--tolerance` are reported, never failed.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from lmgate.io import atomic_write_text
from lmgate.errors import ConfigError
from lmgate.metrics.classification import RESAMPLABLE
from lmgate.metrics.registry import metric_info, undeclared_message
from lmgate.metrics.stats import bootstrap_ci, paired_diff_sigma, summarise_seeds

FORMAT_VERSION = 1
DEFAULT_ALPHA = 0.01


def higher_is_better(metric: str) -> bool | None:
    """The declared direction (lmgate.metrics.registry); None when nobody declared it."""
    info = metric_info(metric)
    return None if info is None else info.higher_is_better


def _recorded_only(metric: str) -> bool:
    """Declared as not a quality metric (timings, counts): stored nowhere in baselines."""
    info = metric_info(metric)
    return info is not None and not info.gated


def row_group(row: Mapping[str, Any]) -> str:
    """The test a row belongs to, the same for every seed of a repeated experiment."""
    return row.get("group") or row["nodeid"]


@dataclass
class Measurement:
    """One metric of one result of one test: its value(s) over seeds and its noise."""

    key: str
    value: float
    values: list[float]
    seeds: list[Any]
    ci: list[float] | None = None          # bootstrap CI of the (first seed's) value
    n: int | None = None
    higher_is_better: bool | None = True
    data_fingerprint: str | None = None
    model_fingerprint: str | None = None

    @property
    def ci_sigma(self) -> float | None:
        if not self.ci:
            return None
        return (self.ci[1] - self.ci[0]) / (2 * 1.959964)


def measurements(rows: Sequence[Mapping[str, Any]],
                 predictions: Iterable[Mapping[str, Any]] = ()) -> tuple[dict[str, Measurement],
                                                                         dict[str, list[dict]]]:
    """Measurements keyed `group::result::metric`, and per-example predictions keyed
    `group::result` (one entry per seed), from recorded rows."""
    preds = {p["record_id"]: p for p in predictions}
    grouped: dict[str, list[tuple[Any, float, Mapping]]] = defaultdict(list)
    examples: dict[str, list[dict]] = defaultdict(list)
    for row in sorted(rows, key=lambda r: (row_group(r), r["result"], str(r["params"].get("seed")))):
        base = f"{row_group(row)}::{row['result']}"
        seed = row["params"].get("seed")
        pred = preds.get(row["record_id"])
        if pred is not None and "y_true" in pred:  # classification; generation/QA keep their own
            examples[base].append({"seed": seed, "labels": len(row["info"].get("labels", [])),
                                   "label_names": list(row["info"].get("labels", [])),
                                   "y_true": pred["y_true"], "y_pred": pred["y_pred"],
                                   **({"clusters": pred["clusters"]} if pred.get("clusters")
                                      else {}),
                                   **({"examples": pred["examples"]} if pred.get("examples")
                                      else {})})
        for metric, value in row["metrics"].items():
            if value is None or _recorded_only(metric) or isinstance(value, bool):
                continue
            grouped[f"{base}::{metric}"].append((seed, float(value), row))
    out = {}
    for key, items in grouped.items():
        metric = key.rsplit("::", 1)[1]
        seeds, values, first = [s for s, _, _ in items], [v for _, v, _ in items], items[0][2]
        info = first["info"]
        ci = None
        base = key.rsplit("::", 1)[0]
        if metric in RESAMPLABLE and examples.get(base):
            ex = examples[base][0]
            interval = bootstrap_ci(np.asarray(ex["y_true"]), np.asarray(ex["y_pred"]),
                                    ex["labels"], metric, clusters=ex.get("clusters"))
            ci = [interval.low, interval.high]
        out[key] = Measurement(key, float(np.mean(values)), values, seeds, ci, info.get("n"),
                               higher_is_better(metric), info.get("data_fingerprint"),
                               info.get("model_fingerprint") or info.get("run_key"))
    return out, dict(examples)


def gate_settings(marker_kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Validate `@pytest.mark.lmgate_gate(tolerance=..., ignore=[...])`: tolerance is a number
    (every metric of the test) or {metric: number}; ignore lists metrics not to gate."""
    unknown = set(marker_kwargs) - {"tolerance", "ignore"}
    if unknown:
        raise ConfigError(f"lmgate_gate takes tolerance= and ignore=, not {sorted(unknown)}")
    out: dict[str, Any] = {}
    tolerance = marker_kwargs.get("tolerance")
    if tolerance is not None:
        items = tolerance.items() if isinstance(tolerance, Mapping) else [("*", tolerance)]
        try:
            out["tolerance"] = {str(k): float(v) for k, v in items}
        except (TypeError, ValueError):
            raise ConfigError(f"lmgate_gate tolerance must be a number or {{metric: number}}, "
                              f"not {tolerance!r}") from None
        if any(v < 0 for v in out["tolerance"].values()):
            raise ConfigError(f"lmgate_gate tolerance must be >= 0, not {tolerance!r}")
    ignore = marker_kwargs.get("ignore", ())
    if isinstance(ignore, str) or not all(isinstance(m, str) for m in ignore):
        raise ConfigError(f"lmgate_gate ignore must be a list of metric names, not {ignore!r}")
    if ignore:
        out["ignore"] = sorted(ignore)
    return out


def settings_by_result(rows: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per `group::result`, the gate settings its test declared (rows carry them)."""
    return {f"{row_group(r)}::{r['result']}": r["gate"] for r in rows if r.get("gate")}


def passed_tests_of(rows: Sequence[Mapping[str, Any]]) -> set[str]:
    """The tests whose rows say they passed (for comparisons made from results folders)."""
    return {row_group(r) for r in rows if r.get("verdict") == "passed"}


def _of_tests(key: str, tests: Iterable[str]) -> bool:
    return any(key.startswith(f"{t}::") for t in tests)


def carried_over(old: Mapping[str, Measurement], old_examples: Mapping[str, list[dict]],
                 ran: Iterable[str]) -> tuple[dict[str, Measurement], dict[str, list[dict]]]:
    """The baseline entries of tests that did not run this session (kept on update)."""
    ran = list(ran)
    return ({k: m for k, m in old.items() if not _of_tests(k, ran)},
            {k: e for k, e in old_examples.items() if not _of_tests(k, ran)})


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
@dataclass
class Check:
    key: str
    status: str                     # regression | improvement | within-noise | new | missing | stale | not-gated
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
        if self.old is None or self.new is None:
            return head
        data = "; the test data changed since the baseline" if self.data_changed else ""
        return (f"{head}: {self.old:.4f} -> {self.new:.4f} (delta {self.delta:+.4f}); allowed "
                f"{self.tolerance:.4f} ({self.basis}){data}")


@dataclass
class Flips:
    """How one classification result's predictions changed against the baseline's."""

    key: str                        # group::result
    right_to_wrong: int
    wrong_to_right: int
    p_value: float                  # McNemar's exact test on the flipped examples
    n: int
    examples: list[dict[str, Any]]  # the first flipped examples: index, gold, old, new

    def describe(self) -> str:
        return (f"{self.key}: {self.right_to_wrong} right->wrong, {self.wrong_to_right} "
                f"wrong->right of {self.n} (McNemar exact p = {self.p_value:.3g})")


FLIP_EXAMPLES = 5


def flips(baseline_examples: Mapping[str, list[dict]],
          current_examples: Mapping[str, list[dict]]) -> list[Flips]:
    """Per classification result scored on the same examples as the baseline (first seed):
    the examples that went right->wrong and wrong->right, with McNemar's exact p."""
    from lmgate.metrics.stats import mcnemar_arrays

    out = []
    for key in sorted(set(baseline_examples) & set(current_examples)):
        old, new = baseline_examples[key][0], current_examples[key][0]
        if old["y_true"] != new["y_true"]:
            continue
        truth, before, after = (np.asarray(old["y_true"]), np.asarray(old["y_pred"]),
                                np.asarray(new["y_pred"]))
        test = mcnemar_arrays(truth, after, before)
        names = new.get("label_names") or old.get("label_names") or []
        name = lambda i: names[i] if 0 <= i < len(names) else "invalid"  # noqa: E731
        changed = np.flatnonzero((before == truth) != (after == truth))
        texts = new.get("examples") or old.get("examples") or []
        shown = [{"index": int(i), "gold": name(int(truth[i])), "baseline": name(int(before[i])),
                  "now": name(int(after[i])), **({"text": texts[i]} if i < len(texts) else {})}
                 for i in changed[:FLIP_EXAMPLES]]
        out.append(Flips(key, test.b_only, test.a_only, test.p_value, len(truth), shown))
    return out


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
        return [c for c in self.checks if c.status == "regression"
                or (self.strict_missing and c.status == "missing")]

    @property
    def underpowered(self) -> bool:
        """--strict-power with metrics that cannot detect the --gate-mde drop."""
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


ARROWS = {"regression": "🔻 regression", "improvement": "🔺 improvement",
          "within-noise": "= within noise", "new": "+ new", "missing": "− missing",
          "stale": "− stale", "not-gated": "· not gated"}


def _sigma(old: Measurement, new: Measurement, old_ex: list[dict] | None,
           new_ex: list[dict] | None) -> tuple[float | None, str]:
    metric = old.key.rsplit("::", 1)[1]
    sigmas: list[tuple[float, str]] = []
    if metric in RESAMPLABLE and old_ex and new_ex and old_ex[0]["y_true"] == new_ex[0]["y_true"]:
        clusters = new_ex[0].get("clusters")
        clusters = clusters if clusters is not None and clusters == old_ex[0].get("clusters") \
            else None
        s = paired_diff_sigma(old_ex[0]["y_true"], old_ex[0]["y_pred"], new_ex[0]["y_pred"],
                              old_ex[0]["labels"], metric, clusters=clusters)
        # Averages over k seeds shrink the noise of the difference.
        s /= math.sqrt(min(len(old_ex), len(new_ex)))
        unit = (f"{len(set(clusters))} clusters of {len(clusters)} examples" if clusters
                else f"{len(old_ex[0]['y_true'])} examples")
        sigmas.append((s, f"paired bootstrap on {unit}"))
    elif old.ci_sigma is not None and new.ci_sigma is not None:
        sigmas.append((math.hypot(old.ci_sigma, new.ci_sigma), "bootstrap CIs"))
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


def data_changes(report: "GateReport") -> list[str]:
    """Tests whose test data differ from the baseline's (by fingerprint), one line each."""
    tests = sorted({c.key.rsplit("::", 2)[0] for c in report.checks if c.data_changed})
    return [f"test data changed: {t}" for t in tests]


def compare(baseline: Mapping[str, Measurement], current: Mapping[str, Measurement],
            baseline_examples: Mapping[str, list[dict]] | None = None,
            current_examples: Mapping[str, list[dict]] | None = None, *,
            tolerance: float | None = None, alpha: float = DEFAULT_ALPHA,
            strict_missing: bool = False, settings: Mapping[str, Mapping[str, Any]] | None = None,
            passed_tests: Iterable[str] = (), correction: str = "holm") -> GateReport:
    """Compare every metric of the current run with the baseline (see the module docstring).

    `settings` (per `group::result`, from `@pytest.mark.lmgate_gate`) fix a test's tolerance
    or leave metrics ungated; a baseline metric of a test that passed without producing it
    is *stale* (listed, dropped by --update-baseline), of any other test *missing*.
    `correction` is "holm" (step-down) or "bonferroni" (every metric at alpha / m), the latter
    for comparison (benchmarks/gate_calibration.py)."""
    if correction not in CORRECTIONS:
        raise ConfigError(f"unknown correction {correction!r}; use one of {CORRECTIONS}")
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
            report.checks.append(Check(key, "stale" if _of_tests(key, passed_tests) else
                                       "missing", old.value, None))
            continue
        base, metric = key.rsplit("::", 1)
        direction, info = higher_is_better(metric), metric_info(metric)
        own = settings.get(base, {})
        if metric in own.get("ignore", ()):
            report.checks.append(Check(key, "not-gated", old.value, new.value,
                                       new.value - old.value, None,
                                       "ignored by the test's lmgate_gate marker"))
            continue
        if direction is None or not info.gated:
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
            fixed, sigma, basis = tolerance, None, "fixed --tolerance"
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
    tolerance: float | None = None  # a fixed threshold (--tolerance or the test's marker)
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
            item.p = (float(2 * norm.sf(abs(item.signed) / item.sigma)) if item.sigma > 0
                      else 0.0 if item.signed != 0 else 1.0)
            noisy.append(item)
        else:
            check.basis = "no noise estimate (give --tolerance to gate it)"
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


def power_summary(report: "GateReport") -> str | None:
    """One line: the range of minimum detectable drops over the gated metrics."""
    mdes = sorted(c.mde for c in report.checks if c.mde is not None)
    if not mdes:
        return None
    worst = max((c for c in report.checks if c.mde is not None), key=lambda c: c.mde)
    return (f"power: with 80% probability this gate catches a drop of {mdes[len(mdes) // 2]:.4f} "
            f"(median over {len(mdes)} gated metrics; smallest {mdes[0]:.4f}, largest "
            f"{worst.mde:.4f} for {worst.key})")


def markdown(report: GateReport, show_unchanged: bool = True) -> str:
    """The 'Compared with baseline' section: a table that reads well as a CI job summary."""
    counts = report.counts()
    verdict = ("**FAILED**: " + ", ".join(c.key for c in report.failures)) if report.failures \
        else "**FAILED**: nothing could be compared" if report.nothing_compared \
        else "**passed**: no regression beyond noise"
    if report.environment_changes:
        verdict += ("\n\n**Environment differs from the baseline's** (differences may come from "
                    "it): " + "; ".join(report.environment_changes))
    changed = data_changes(report)
    if changed:
        verdict += ("\n\n**Test data differ from the baseline's** (rows marked \"data changed\"; "
                    "a difference there is not a like-for-like comparison): " + "; ".join(changed))
    power = power_summary(report)
    warnings = [line for w in report.power_warnings for line in ("", f"**Power**: {w}")]
    lines = [verdict, "", " · ".join(f"{ARROWS[s]}: {n}" for s, n in sorted(counts.items())),
             *(["", power] if power else []), *warnings, "",
             "| test | result | metric | baseline | now | Δ | allowed | detectable (80%) | status |",
             "|---|---|---|---|---|---|---|---|---|"]
    stale = sum(c.status == "stale" for c in report.checks)
    if stale:
        lines[1:1] = ["", f"{stale} stale metric(s): their tests passed without producing them "
                          "(renamed or removed); `--update-baseline` drops them."]
    order = {"regression": 0, "missing": 1, "stale": 2, "improvement": 3, "new": 4,
             "not-gated": 5, "within-noise": 6}
    fmt = lambda v: "" if v is None else f"{v:.4f}"  # noqa: E731
    for c in sorted(report.checks, key=lambda c: (order[c.status], c.key)):
        if not show_unchanged and c.status == "within-noise":
            continue
        test, result, metric = c.key.rsplit("::", 2)
        delta = "" if c.delta is None else f"{c.delta:+.4f}"
        status = ARROWS[c.status] + (" (data changed)" if c.data_changed else "")
        lines.append(f"| {test.split('::')[-1]} | {result} | {metric} | {fmt(c.old)} | "
                     f"{fmt(c.new)} | {delta} | {fmt(c.tolerance)} | {fmt(c.mde)} | {status} |")
    return "\n".join(lines + flips_markdown(report.flips)) + "\n"


def _quoted(text: str | None) -> str:
    """ “excerpt” for a table cell (pipes escaped), or nothing."""
    return f" “{text.replace('|', '/')}”" if text else ""


def flips_markdown(found: Sequence[Flips]) -> list[str]:
    """A 'Flipped examples' block: results whose predictions changed, worst first."""
    changed = sorted((f for f in found if f.right_to_wrong or f.wrong_to_right),
                     key=lambda f: (f.p_value, -f.right_to_wrong))
    if not changed:
        return []
    lines = ["", "### Flipped examples (against the baseline's predictions)", "",
             "| test | result | right→wrong | wrong→right | n | McNemar p | first flips "
             "(index “text”: gold, baseline → now) |", "|---|---|---|---|---|---|---|"]
    for f in changed:
        test, result = f.key.rsplit("::", 1)
        shown = "; ".join(f"{e['index']}{_quoted(e.get('text'))}: {e['gold']}, "
                          f"{e['baseline']} → {e['now']}" for e in f.examples)
        lines.append(f"| {test.split('::')[-1]} | {result} | {f.right_to_wrong} | "
                     f"{f.wrong_to_right} | {f.n} | {f.p_value:.3g} | {shown} |")
    return lines


def environment_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """What differs between the run that wrote the baseline and this one, by name."""
    keys = ("profile", "seed", "repeats", "device", "torch", "transformers", "tokenizers", "peft",
            "lmgate")
    return [f"{k}: baseline {old.get(k)!r}, now {new.get(k)!r}" for k in keys
            if k in old and old.get(k) != new.get(k)]


def failure_message(report: GateReport) -> str:
    if report.underpowered and not report.failures:
        return ("lmgate: the gate cannot detect the --gate-mde drop (--strict-power):\n"
                + "\n".join("  " + w for w in report.power_warnings))
    if report.nothing_compared:
        return (f"lmgate: nothing could be compared with the baseline: all "
                f"{sum(c.status == 'missing' for c in report.checks)} of its metrics are missing "
                "from this run (different tests selected, or every test skipped)")
    regressed = sum(c.status == "regression" for c in report.failures)
    missing = len(report.failures) - regressed
    parts = ([f"{regressed} metric(s) regressed beyond their noise"] if regressed else []) + \
        ([f"{missing} metric(s) missing (--strict-missing)"] if missing else [])
    lines = [f"lmgate: {', '.join(parts)}:"]
    for c in report.failures:
        lines.append("  " + c.describe() + (
            "; real: the drop exceeds the tolerance derived from this metric's own noise"
            if c.status == "regression" else "; missing from this run (--strict-missing)"))
    return "\n".join(lines)


def read_results_dir(folder: str | Path) -> tuple[list[dict], list[dict]]:
    """Rows and predictions of a results folder written by the plugin."""
    from lmgate.report.writers import read_results

    rows, predictions, _, _ = read_results(folder)
    return rows, predictions
