"""The outcome of a paired comparison of two systems, its one-line rendering, and how p-values
are printed."""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass, replace
from typing import Any, Iterator

from lmgate.core.numbers import finite_real
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
    #: What producing the two systems' outputs cost (`COST_KEYS`, summed over both; None when
    #: neither result says): tokens, model seconds, money where a price is declared.
    cost: dict[str, float] | None = None

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
                f"alpha {self.alpha:g})" + (f"; cost {cost_in_words(self.cost)}"
                                            if cost_in_words(self.cost) else ""))


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
    cost = cost_in_words(c.get("cost"))
    return (f"{c['a_name']} {c['a']:.3f} vs {c['b_name']} {c['b']:.3f} {c['metric']}, "
            f"{diff['point']:+.3f} [{diff['low']:+.3f}, {diff['high']:+.3f}], "
            f"{format_p(c['p_value'])}{margin} ({n}{'; ' + cost if cost else ''})")


#: The cost keys a result's info may carry, summed into a claim's `Comparison.cost`.
COST_KEYS = ("input_tokens", "output_tokens", "seconds", "cost_usd")
_SYSTEMS: ContextVar[tuple[Any, ...]] = ContextVar("lmgate_claim_systems", default=())




def system_cost(system: Any) -> dict[str, float]:
    """The cost keys of one system: a lazily scored one's spending so far (`cost_info()`),
    else its result's info."""
    info = system.cost_info() if callable(getattr(system, "cost_info", None)) \
        else getattr(system, "info", None)
    if not isinstance(info, dict):
        return {}
    return {key: info[key] for key in COST_KEYS if finite_real(info.get(key)) and info[key] >= 0}


def claim_cost(systems: tuple[Any, ...]) -> dict[str, float] | None:
    """The cost of a claim's systems, each key summed over the systems that report it."""
    costs = [system_cost(s) for s in systems]
    total = {key: sum(c[key] for c in costs if key in c) for key in COST_KEYS
             if any(key in c for c in costs)}
    return total or None


def cost_in_words(cost: dict[str, float] | None) -> str:
    """'1,234 tokens in, 56 out, 12.3 model-s, $0.0004' where tokens or money were counted
    (model seconds alone, which every result has, say nothing about a claim's price)."""
    if not cost or not ({"input_tokens", "cost_usd"} & set(cost)):
        return ""
    parts = []
    if "input_tokens" in cost:
        parts.append(f"{int(cost['input_tokens']):,} tokens in, "
                     f"{int(cost.get('output_tokens', 0)):,} out")
    if "seconds" in cost:
        parts.append(f"{cost['seconds']:.1f} model-s")
    if "cost_usd" in cost:
        parts.append(f"${cost['cost_usd']:.4f}")
    return ", ".join(parts)


@contextmanager
def judging(*systems: Any) -> Iterator[None]:
    """Inside the block, the claims' comparisons carry the cost of `systems`."""
    token = _SYSTEMS.set(systems)
    try:
        yield
    finally:
        _SYSTEMS.reset(token)


def with_cost(cmp: Comparison) -> Comparison:
    """`cmp` with the cost of the systems being judged (see `judging`)."""
    cost = claim_cost(_SYSTEMS.get())
    return replace(cmp, cost=cost) if cost else cmp
