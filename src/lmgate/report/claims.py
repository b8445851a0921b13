"""Claims: each test's verdict and the comparisons that judged it, for rows, summary, terminal.

A *claim* is one test of a study (e.g. "the fine-tuned encoder beats the zero-shot LLM"); its
verdict is pytest's outcome, and its comparisons are what `assert_better` / `assert_not_worse`
computed (A, B, metric, difference with CI, p, margin).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from lmgate.core.markup import md_inline
from lmgate.report.rows import ResultRow, module_file
from lmgate.stats.comparison import comparison_in_words

#: Verdict marks in plain letters: emoji marks drew empty boxes where no emoji font is
#: installed (headless Chromium on Debian).
MARKS = {"passed": "PASS", "failed": "FAIL", "xfailed": "XFAIL (expected failure)",
         "xpassed": "XPASS (unexpectedly passed)", "skipped": "SKIP", "error": "ERROR"}
HELD = {True: "[held]", False: "[not held]"}
#: The mark of a passed test that recorded results but checked no claim.
NO_CLAIM = "RECORDED (no claim)"
#: The scoreboard's order: what needs attention first.
VERDICT_ORDER = ("failed", "error", "xpassed", "xfailed", "skipped", "passed")
VERDICT_WORDS = {"failed": "failed", "error": "in error", "xfailed": "expected to fail",
                 "xpassed": "unexpectedly passed", "skipped": "skipped"}


def study_of(record: Mapping[str, Any]) -> str:
    """The study a claim or section belongs to: its test module's file name (a row's is
    `ResultRow.study`)."""
    return record.get("module") or module_file(record["nodeid"])


#: The heading of a study's full metric table (report.html folds it away).
ALL_METRICS = "All recorded metrics"


def attach(rows: Sequence[ResultRow], comparisons: Sequence[dict],
           verdict: str) -> list[ResultRow]:
    """The rows with their test's verdict and the comparisons in which they were A or B."""
    return [dataclasses.replace(row, verdict=verdict, comparisons=tuple(
        c for c in comparisons if row.result in (c["a_name"], c["b_name"]))) for row in rows]


def claim_text(doc: str) -> str:
    """The 'Claim(s): ...' paragraph of a study's docstring (or its first line)."""
    match = re.search(r"^Claims?:.*?(?=\n\s*\n|\n[A-Z][\w ]+:|\Z)", doc or "", re.S | re.M)
    text = match.group(0) if match else (doc or "").strip().split("\n")[0]
    return " ".join(text.split())


#: A claim with more comparisons than this is summed up (terminal) or listed (report).
COMPACT_AFTER = 2


def _held_count(comparisons: Sequence[dict[str, Any]]) -> str:
    held = sum(bool(c.get("held")) for c in comparisons)
    metrics = ", ".join(dict.fromkeys(c["metric"] for c in comparisons))
    return f"{held} of {len(comparisons)} held ({metrics})"


def _compact(comparisons: Sequence[dict[str, Any]]) -> str:
    """'4 of 6 held (macro_f1): en@n=200 vs en@n=30 +0.046 ✗, ...' for a many-comparison claim."""
    return (f"{_held_count(comparisons)}: " + ", ".join(
        f"{c['a_name']} vs {c['b_name']} {c['diff']['point']:+.3f} {HELD[bool(c.get('held'))]}"
        for c in comparisons))


def claim_line(claim: dict[str, Any], style: str = "words") -> str:
    """One line: verdict, test id, and its comparisons. A claim of many comparisons reads, by
    `style`: "words" (each in words), "compact" (the terminal: a signed difference and ✓/✗
    each) or "count" (only how many held: the report lists them below)."""
    comparisons = claim.get("comparisons", [])
    if len(comparisons) > COMPACT_AFTER and style != "words":
        words = _compact(comparisons) if style == "compact" else _held_count(comparisons)
    else:
        words = "; ".join(comparison_in_words(c) for c in comparisons)
    reason = claim.get("reason") or ""
    if reason and claim["verdict"] != "passed":
        words = f"{words}; " if words else ""
        words += reason if len(reason) <= 300 else reason[:297] + "..."
    name = claim["nodeid"].split("::", 1)[-1]
    mark = MARKS.get(claim["verdict"], claim["verdict"])
    if claim["verdict"] == "passed" and not is_claim(claim):
        mark = NO_CLAIM
    return f"{mark} {name}" + (f": {words}" if words else "")


def by_attention(claims: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Claims with the failing ones first, then in node-id order."""
    rank = {v: i for i, v in enumerate(VERDICT_ORDER)}
    return sorted(claims, key=lambda c: (rank.get(c["verdict"], 0), c["nodeid"]))


def scoreboard(claims: Sequence[dict[str, Any]]) -> str:
    """The verdict in one line: how many claims held, failed, were expected failures or were
    skipped, the failing ones named."""
    measured = [c for c in claims if not is_claim(c)]
    claims = [c for c in claims if is_claim(c)]
    counts: dict[str, int] = {}
    for c in claims:
        counts[c["verdict"]] = counts.get(c["verdict"], 0) + 1
    tally = ", ".join(f"{counts[v]} {VERDICT_WORDS[v]}" for v in VERDICT_ORDER
                      if counts.get(v) and v in VERDICT_WORDS)
    bad = [c["nodeid"].split("::", 1)[-1] for c in by_attention([*claims, *measured])
           if c["verdict"] in ("failed", "error")]
    head = f"{counts.get('passed', 0)} of {len(claims)} claims held"
    rest = (f"; {len(measured)} test(s) recorded results without a claim" if measured else "")
    return (head + (f"; {tally}" if tally else "") + rest
            + (f"; failing: {', '.join(bad)}" if bad else ""))


def sequential_fdr_line(claims: Sequence[Mapping[str, Any]], alpha: float = 0.05) -> str | None:
    """e-BH over the session's sequential comparisons (their e-values are 1/p): which held
    claims remain discoveries with the false discovery rate of the whole set at most `alpha`,
    whatever their dependence. None without sequential comparisons."""
    from lmgate.stats.sequential import e_bh

    found = [(c["nodeid"].split("::", 1)[-1], cmp) for c in claims
             for cmp in c.get("comparisons", ()) if cmp.get("stopped")]
    if not found:
        return None
    e_values = [1 / max(cmp["p_value"], 1e-300) for _, cmp in found]
    kept = e_bh(e_values, alpha)
    held = [name for (name, cmp) in found if cmp.get("held")]
    lost = [name for (name, cmp), keep in zip(found, kept) if cmp.get("held") and not keep]
    return (f"sequential claims: {sum(kept)} of {len(found)} remain discoveries under e-BH at "
            f"FDR {alpha:g} ({len(held)} held alone)"
            + (f"; not under e-BH: {', '.join(lost)}" if lost else ""))


def is_claim(test: Mapping[str, Any]) -> bool:
    """Whether a test checked a claim (assert_better, assert_claim, ...); one that only
    recorded results is listed, but no claim held or failed. Folders written before this
    flag existed count tests with comparisons."""
    return bool(test.get("claimed", test.get("comparisons")))


def image_lines(paths: Iterable[Path], out: Path) -> list[str]:
    return [f"![{p.stem}]({p.relative_to(out).as_posix()})\n" for p in paths]


def claims_markdown(claims: Iterable[dict[str, Any]],
                    plots: Mapping[str, Sequence[Path]] | None = None,
                    out: Path | None = None,
                    sections: Mapping[str, Sequence[tuple[str, str]]] | None = None,
                    metric_tables: Mapping[str, str] | None = None) -> str:
    """Per study (test module): its claims, one verdict line per test, its plots, the tables
    it recorded (`sections`: (title, Markdown) per study), then all its metrics
    (`metric_tables`: a Markdown table per study)."""
    by_module: dict[str, list[dict]] = {}
    for claim in sorted(claims, key=lambda c: c["nodeid"]):
        by_module.setdefault(study_of(claim), []).append(claim)
    parts = []
    for module, items in by_module.items():
        counts = {}
        for c in items:
            counts[c["verdict"]] = counts.get(c["verdict"], 0) + 1
        tally = ", ".join(f"{n} {v}" for v, n in sorted(counts.items()))
        parts.append(f"### {md_inline(module)} ({tally})\n")
        doc = claim_text(items[0].get("doc", ""))
        if doc:
            parts.append(f"*{doc}*\n")
        for c in items:   # many comparisons: how many held, then one sub-item each
            parts.append(f"- {md_inline(claim_line(c, 'count'))}")
            if len(c.get("comparisons", [])) > COMPACT_AFTER:
                parts += [f"    - {HELD[bool(cmp.get('held'))]} "
                          f"{md_inline(comparison_in_words(cmp))}" for cmp in c["comparisons"]]
        parts.append("")
        if plots and out is not None:
            parts += image_lines(plots.get(module, ()), out)
        for title, body in (sections or {}).get(module, ()):
            parts += [f"#### {title}\n", body]
        if module in (metric_tables or {}):
            parts += [f"#### {ALL_METRICS} of {md_inline(module)}\n", metric_tables[module]]
    return "\n".join(parts)
