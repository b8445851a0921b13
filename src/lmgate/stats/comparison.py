"""The outcome of a paired comparison of two systems, its one-line rendering, and how p-values
are printed."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from lmgate.metrics.resampling import Interval

#: Below this a p-value is printed as "p < 0.001": with 1,000 bootstrap resamples the smallest
#: p a bootstrap can give is 1/1001, and an exact test's tinier values say no more.
P_PRINT_FLOOR = 0.001


def format_p(p: float) -> str:
    """'p = 0.018', or 'p < 0.001' (never 'p = 0')."""
    return f"p < {P_PRINT_FLOOR:g}" if p < P_PRINT_FLOOR else f"p = {p:.3g}"


@dataclass(frozen=True)
class Comparison:
    """A paired comparison of A and B on the same examples (or of A with a fixed value), with
    the test that decided a claim: `p_value` is the p of `hypothesis` (the null the claim had
    to reject, or for `assert_not_worse` the one it fails on), computed by `method`, judged at
    `alpha`."""

    metric: str
    a_name: str
    b_name: str
    a: float
    b: float
    diff: Interval          # A - B, with the interval the claim prints
    margin: float
    p_value: float
    n: int
    method: str = "paired bootstrap"
    hypothesis: str = "H0: A - B <= 0"
    alpha: float = 0.05
    units: int | None = None   # what was resampled: clusters where given, else examples
    #: Sequential claims: the examples scored before the claim stopped, and why it stopped
    #: ("settled: held", "settled: failed", "examples exhausted", "budget spent").
    examples_used: int | None = None
    stopped: str | None = None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["diff"] = asdict(self.diff)
        return d

    def describe(self) -> str:
        units = "" if self.units in (None, self.n) else f" ({self.units} clusters)"
        if self.stopped is not None:
            units += f"; stopped after {self.examples_used} of {self.n} examples ({self.stopped})"
        return (f"{self.metric}: {self.a_name} = {self.a:.4f} vs {self.b_name} = {self.b:.4f}; "
                f"difference {self.diff} on n={self.n}{units}; margin {self.margin:+.4f}; "
                f"{self.hypothesis}: {format_p(self.p_value)} ({self.method}, "
                f"alpha {self.alpha:g})")


def comparison_in_words(c: dict) -> str:
    """'A 0.77 vs B 0.68 macro_f1, +0.09 [0.05, 0.13], p = 0.001' from a reported comparison."""
    diff = c["diff"]
    margin = f", margin {c['margin']:+.2f}" if c.get("margin") else ""
    if c.get("claim") in ("equivalent", "non-inferior"):   # judged on a (2 conf - 1) CI
        bound = "±" if c["claim"] == "equivalent" else "-"
        margin = (f", {c['claim']} margin {bound}{c['margin']:.2f} on the "
                  f"{diff.get('confidence', 0.9):.0%} CI")
    n = (f"n = {c['examples_used']} of {c['n']}, {c['stopped']}" if c.get("stopped")
         else f"n = {c['n']}")
    return (f"{c['a_name']} {c['a']:.3f} vs {c['b_name']} {c['b']:.3f} {c['metric']}, "
            f"{diff['point']:+.3f} [{diff['low']:+.3f}, {diff['high']:+.3f}], "
            f"{format_p(c['p_value'])}{margin} ({n})")
