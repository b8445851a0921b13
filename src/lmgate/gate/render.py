"""The gate's verdict in words: the Markdown section of summary.md (a CI job summary), the
terminal's failure message and one-line summaries."""

from __future__ import annotations

from typing import Sequence

from lmgate.core.markup import md_cell, md_inline
from lmgate.gate.decide import GateReport
from lmgate.gate.flips import Flips

#: Status words in plain letters (emoji arrows drew empty boxes without an emoji font).
ARROWS = {"regression": "REGRESSION", "unjudgeable": "CANNOT JUDGE", "improvement": "improvement",
          "within-noise": "= within noise", "new": "+ new", "missing": "− missing",
          "stale": "− stale", "not-gated": "· not gated"}


def data_changes(report: "GateReport") -> list[str]:
    """Tests whose test data differ from the baseline's (by fingerprint), one line each."""
    tests = sorted({c.key.rsplit("::", 2)[0] for c in report.checks if c.data_changed})
    return [f"test data changed: {t}" for t in tests]


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
    verdict = ("**FAILED**: " + ", ".join(md_inline(c.key) for c in report.failures)) \
        if report.failures \
        else "**FAILED**: nothing could be compared" if report.nothing_compared \
        else "**passed**: no regression beyond noise"
    if report.environment_changes:
        verdict += ("\n\n**Environment differs from the baseline's** (differences may come from "
                    "it): " + "; ".join(map(md_inline, report.environment_changes)))
    changed = data_changes(report)
    if changed:
        verdict += ("\n\n**Test data differ from the baseline's** (rows marked \"data changed\"; "
                    "a difference there is not a like-for-like comparison): "
                    + "; ".join(map(md_inline, changed)))
    power = power_summary(report)
    warnings = [line for w in report.power_warnings
                for line in ("", f"**Power**: {md_inline(w)}")]
    lines = [verdict, "", " · ".join(f"{ARROWS[s]}: {n}" for s, n in sorted(counts.items())),
             *(["", md_inline(power)] if power else []), *warnings, "",
             "| test | result | metric | baseline | now | Δ | p | allowed | detectable (80%) | "
             "status |", "|---|---|---|---|---|---|---|---|---|---|"]
    stale = sum(c.status == "stale" for c in report.checks)
    if stale:
        lines[1:1] = ["", f"{stale} stale metric(s): their tests passed without producing them "
                          "(renamed or removed); `--lmgate-update-baseline` drops them."]
    order = {"regression": 0, "unjudgeable": 0, "missing": 1, "stale": 2, "improvement": 3,
             "new": 4, "not-gated": 5, "within-noise": 6}
    fmt = lambda v: "" if v is None else f"{v:.4f}"  # noqa: E731
    for c in sorted(report.checks, key=lambda c: (order[c.status], c.key)):
        if not show_unchanged and c.status == "within-noise":
            continue
        test, result, metric = c.key.rsplit("::", 2)
        delta = "" if c.delta is None else f"{c.delta:+.4f}"
        status = ARROWS[c.status] + (" (data changed)" if c.data_changed else "")
        lines.append(f"| {md_cell(test.split('::')[-1])} | {md_cell(result)} | "
                     f"{md_cell(metric)} | {fmt(c.old)} | {fmt(c.new)} | {delta} | "
                     f"{'' if c.p is None else f'{c.p:.3g}'} | {fmt(c.tolerance)} | "
                     f"{fmt(c.mde)} | {status} |")
    return "\n".join(lines + flips_markdown(report.flips)) + "\n"


def _quoted(text: str | None) -> str:
    """ “excerpt” for a table cell (pipes escaped), or nothing."""
    return f" “{md_cell(text)}”" if text else ""


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
        shown = "; ".join(f"{e['index']}{_quoted(e.get('text'))}: {md_cell(e['gold'])}, "
                          f"{md_cell(e['baseline'])} → {md_cell(e['now'])}" for e in f.examples)
        lines.append(f"| {md_cell(test.split('::')[-1])} | {md_cell(result)} | {f.right_to_wrong} | "
                     f"{f.wrong_to_right} | {f.n} | {f.p_value:.3g} | {shown} |")
    return lines


def failure_message(report: GateReport, flags: str = "--lmgate-") -> str:
    """The gate's failure in lines for a terminal; `flags` is how the calling program's options
    begin (the pytest plugin's `--lmgate-`, `lmgate compare`'s `--`)."""
    if report.underpowered and not report.failures:
        return (f"lmgate: the gate cannot detect the {flags}gate-mde drop ({flags}strict-power):\n"
                + "\n".join("  " + w for w in report.power_warnings))
    if report.nothing_compared:
        return (f"lmgate: nothing could be compared with the baseline: all "
                f"{sum(c.status == 'missing' for c in report.checks)} of its metrics are missing "
                "from this run (different tests selected, or every test skipped)")
    regressed = sum(c.status == "regression" for c in report.failures)
    unjudgeable = sum(c.status == "unjudgeable" for c in report.failures)
    missing = len(report.failures) - regressed - unjudgeable
    parts = ([f"{regressed} metric(s) regressed beyond their noise"] if regressed else []) + \
        ([f"{unjudgeable} metric(s) could not be judged"] if unjudgeable else []) + \
        ([f"{missing} metric(s) missing ({flags}strict-missing)"] if missing else [])
    why = {"regression": "; real: the drop exceeds the tolerance derived from this metric's own "
                         "noise",
           "unjudgeable": "; a metric the gate cannot compare fails it",
           "missing": f"; missing from this run ({flags}strict-missing)"}
    lines = [f"lmgate: {', '.join(parts)}:"]
    for c in report.failures:
        lines.append("  " + c.describe() + why[c.status])
    return "\n".join(lines)
