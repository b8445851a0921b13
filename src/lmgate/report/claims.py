"""Claims: each test's verdict and the comparisons that judged it, for rows, summary, terminal.

A *claim* is one test of a study (e.g. "the fine-tuned encoder beats the zero-shot LLM"); its
verdict is pytest's outcome, and its comparisons are what `assert_better` / `assert_not_worse`
computed (A, B, metric, difference with CI, p, margin).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from lmgate.metrics.stats import comparison_in_words

MARKS = {"passed": "✅ passed", "failed": "❌ FAILED", "xfailed": "⚠️ expected failure",
         "xpassed": "❗ unexpectedly passed", "skipped": "⏭ skipped", "error": "❌ ERROR"}


def attach(rows: Sequence[dict], comparisons: Sequence[dict], verdict: str) -> list[dict]:
    """The rows with their test's verdict and the comparisons in which they were A or B."""
    out = []
    for row in rows:
        mine = [c for c in comparisons if row["result"] in (c["a_name"], c["b_name"])]
        out.append({**row, "verdict": verdict,
                    **({"comparisons": mine} if mine else {})})
    return out


def claim_text(doc: str) -> str:
    """The 'Claim(s): ...' paragraph of a study's docstring (or its first line)."""
    match = re.search(r"^Claims?:.*?(?=\n\s*\n|\n[A-Z][\w ]+:|\Z)", doc or "", re.S | re.M)
    text = match.group(0) if match else (doc or "").strip().split("\n")[0]
    return " ".join(text.split())


def claim_line(claim: dict[str, Any]) -> str:
    """One line: verdict, test id, and its comparisons in words."""
    words = "; ".join(comparison_in_words(c) for c in claim.get("comparisons", []))
    reason = claim.get("reason") or ""
    if reason and claim["verdict"] != "passed":
        words = f"{words}; " if words else ""
        words += reason if len(reason) <= 300 else reason[:297] + "..."
    name = claim["nodeid"].split("::", 1)[-1]
    return f"{MARKS.get(claim['verdict'], claim['verdict'])} {name}" + (f": {words}" if words else "")


def image_lines(paths: Iterable[Path], out: Path) -> list[str]:
    return [f"![{p.stem}]({p.relative_to(out).as_posix()})\n" for p in paths]


def claims_markdown(claims: Iterable[dict[str, Any]],
                    plots: Mapping[str, Sequence[Path]] | None = None,
                    out: Path | None = None) -> str:
    """Per study (test module): its claims, one verdict line per test, then its plots."""
    by_module: dict[str, list[dict]] = {}
    for claim in sorted(claims, key=lambda c: c["nodeid"]):
        by_module.setdefault(claim.get("module") or claim["nodeid"].split("::")[0], []).append(claim)
    parts = []
    for module, items in by_module.items():
        counts = {}
        for c in items:
            counts[c["verdict"]] = counts.get(c["verdict"], 0) + 1
        tally = ", ".join(f"{n} {v}" for v, n in sorted(counts.items()))
        parts.append(f"### {module} ({tally})\n")
        doc = claim_text(items[0].get("doc", ""))
        if doc:
            parts.append(f"*{doc}*\n")
        parts += [f"- {claim_line(c)}" for c in items]
        parts.append("")
        if plots and out is not None:
            parts += image_lines(plots.get(module, ()), out)
    return "\n".join(parts)
