"""The outcome of a paired comparison of two systems, and its one-line rendering."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from lmgate.metrics.resampling import Interval


@dataclass(frozen=True)
class Comparison:
    """Paired bootstrap comparison of A and B on the same examples."""

    metric: str
    a_name: str
    b_name: str
    a: float
    b: float
    diff: Interval          # A - B
    margin: float
    p_value: float          # share of resamples where A - B <= 0 (one-sided)
    n: int

    def to_dict(self) -> dict:
        d = asdict(self)
        d["diff"] = asdict(self.diff)
        return d

    def describe(self) -> str:
        return (f"{self.metric}: {self.a_name} = {self.a:.4f} vs {self.b_name} = {self.b:.4f}; "
                f"difference {self.diff} on n={self.n}; margin {self.margin:+.4f}; "
                f"one-sided p = {self.p_value:.4f}")


def comparison_in_words(c: dict) -> str:
    """'A 0.77 vs B 0.68 macro_f1, +0.09 [0.05, 0.13], p = 0.001' from a reported comparison."""
    diff = c["diff"]
    margin = f", margin {c['margin']:+.2f}" if c.get("margin") else ""
    if c.get("claim") in ("equivalent", "non-inferior"):   # judged on a (2 conf - 1) CI
        bound = "±" if c["claim"] == "equivalent" else "-"
        margin = (f", {c['claim']} margin {bound}{c['margin']:.2f} on the "
                  f"{diff.get('confidence', 0.9):.0%} CI")
    return (f"{c['a_name']} {c['a']:.3f} vs {c['b_name']} {c['b']:.3f} {c['metric']}, "
            f"{diff['point']:+.3f} [{diff['low']:+.3f}, {diff['high']:+.3f}], "
            f"p = {c['p_value']:.3g}{margin} (n = {c['n']})")
