"""The session's lmgate lines in the terminal: one line per claim, the report's path, the
baseline written or the gate's verdict."""

from __future__ import annotations

from typing import Any

import pytest


def write_summary(collector: Any, terminalreporter, config: pytest.Config) -> None:
    """What the collector tells the terminal at the end of the session."""
    from lmgate.core.markup import terminal_text

    def say(line: str, **markup: bool) -> None:
        # names, reasons and versions come from data and models: shown, never run
        terminalreporter.write_line(terminal_text(line), **markup)

    if collector.rows or collector.claims:
        from lmgate.report.claims import (by_attention, claim_line, scoreboard,
                                           sequential_fdr_line)
        from lmgate.report.writers import key_table

        terminalreporter.section("lmgate results")
        if config.option.verbose > 0 and collector.rows:   # the metric dump only with -v
            table = key_table(collector.rows)
            limit = 40
            say(table.head(limit).to_string(
                index=False, float_format="%.4f", na_rep=""))
            if len(table) > limit:
                say(f"... {len(table) - limit} more rows")
        # One screen for the whole suite: a line per claim, many comparisons summed up
        # (-v: every comparison in words).
        style = "words" if config.option.verbose > 0 else "compact"
        if collector.claims:
            bad = any(c["verdict"] in ("failed", "error") for c in collector.claims)
            say(f"scoreboard: {scoreboard(collector.claims)}", bold=True,
                                        red=bad, green=not bad)
            fdr = sequential_fdr_line(collector.claims)
            if fdr:
                say(fdr)
        for claim in by_attention(collector.claims):
            say(claim_line(claim, style),
                                        red=claim["verdict"] in ("failed", "error"),
                                        green=claim["verdict"] == "passed")
        if collector.written:
            report = collector.out / "report.html"
            if not report.exists():   # lmgate's report extra is not installed
                report = collector.out / "summary.md"
            say(f"report: {report} (metrics: -v, or results.csv)")
    if collector.baseline_written:
        say(f"lmgate: baseline written to {collector.baseline_written[0]}"
                                    + (f"; kept {collector.baseline_kept} entries of tests that "
                                       "did not run" if collector.baseline_kept else ""))
        if collector.baseline_pruned:
            say(f"lmgate: dropped {len(collector.baseline_pruned)} stale "
                                        f"entries: {', '.join(collector.baseline_pruned[:5])}"
                                        + (" ..." if len(collector.baseline_pruned) > 5 else ""))
    if collector.write_error:
        say(f"lmgate: {collector.write_error}", red=True)
    if collector.baseline_refused:
        say(f"lmgate: {collector.baseline_refused}", red=True)
    if collector.gate is not None:
        from lmgate.gate.render import data_changes, failure_message, power_summary

        terminalreporter.section("lmgate baseline check")
        counts = ", ".join(f"{n} {s}" for s, n in sorted(collector.gate.counts().items()))
        say(f"{len(collector.gate.checks)} metric(s) compared: {counts}")
        for change in data_changes(collector.gate):
            say(f"lmgate: {change}", yellow=True)
        for change in collector.gate.environment_changes:
            say(f"lmgate: environment differs from the baseline's: "
                                        f"{change}", yellow=True)
        moved = [f for f in collector.gate.flips if f.right_to_wrong or f.wrong_to_right]
        for flip in sorted(moved, key=lambda f: f.p_value)[:10]:
            say(f"lmgate: flips: {flip.describe()}")
        if len(moved) > 10:
            say(f"lmgate: flips in {len(moved) - 10} more result(s) "
                                        "(summary.md lists them)")
        power = power_summary(collector.gate)
        if power:
            say(f"lmgate: {power}")
        for warning in collector.gate.power_warnings:
            say(f"lmgate: too blind: {warning}",
                                        red=collector.gate.strict_power,
                                        yellow=not collector.gate.strict_power)
        if collector.gate.passed:
            say("no regression beyond noise", green=True)
        else:
            say(failure_message(collector.gate), red=True)


