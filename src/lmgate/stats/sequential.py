"""Anytime-valid sequential paired claims: stop scoring as soon as a claim is settled.

The paired per-example differences d = score(A) - score(B) of a metric that is a mean of
per-example scores in [0, 1] (accuracy, exact match, per-question F1, sentence chrF / 100) are
consumed in a seeded random order, in batches. Each one-sided null hypothesis of a claim is
tested by a betting e-process (Waudby-Smith & Ramdas 2023, "Estimating means of bounded random
variables by betting", JRSS-B; predictable plug-in bets, their eq. (26)-(27)): the capital
K_t(m) = prod_i (1 + lambda_i (x_i - m)) of a gambler betting against H0: mean(x) <= m, with
x = (d + 1) / 2 in [0, 1], is a nonnegative supermartingale under H0, so by Ville's inequality
P(sup_t K_t >= 1/alpha) <= alpha: the claim may be checked after every batch and stopped at any
time without inflating its false-claim rate. The same bets over a grid of m give the two-sided
betting confidence sequence (hedged capital) that is reported, and that settles a claim as failed
once it excludes the claim.

With clusters (examples of one speaker or paragraph), whole clusters are drawn and each
cluster's mean difference is one observation: the claim is then about the mean over clusters.
"""

from __future__ import annotations

import math
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from lmgate.core.numbers import finite_real, parse_decimal

#: The bets' cap (the paper's c): capital can lose at most this share of itself per example.
BET_CAP = 0.5
#: Points of the grid of means on which the confidence sequence is computed.
GRID_POINTS = 2001


@dataclass(frozen=True)
class Spend:
    """What the systems of a claim have spent on it so far: model tokens, model seconds, and
    money where their models declare a price (None: no price known)."""

    tokens: int = 0
    seconds: float = 0.0
    usd: float | None = None

    def __add__(self, other: "Spend") -> "Spend":
        usd = (None if self.usd is None and other.usd is None
               else (self.usd or 0.0) + (other.usd or 0.0))
        return Spend(self.tokens + other.tokens, self.seconds + other.seconds, usd)


_BUDGET_UNITS = {"tokens": int, "seconds": float, "usd": float}


@dataclass(frozen=True)
class CostBudget:
    """The most a sequential claim may spend on scoring: tokens, model seconds and/or money
    (USD, counted only for models that declare a price). A claim that reaches any of them
    before it is settled stops as inconclusive; what was scored stays cached."""

    tokens: int | None = None
    seconds: float | None = None
    usd: float | None = None

    def __post_init__(self) -> None:
        for name, kind in _BUDGET_UNITS.items():
            value = getattr(self, name)
            if value is None:
                continue
            if not finite_real(value) or (kind is int and not float(value).is_integer()) \
                    or value <= 0:
                raise ValueError(f"a budget's {name} must be a positive "
                                 f"{'whole number' if kind is int else 'number'}, got {value!r}")
        if self.tokens is None and self.seconds is None and self.usd is None:
            raise ValueError("a budget needs tokens, seconds or usd")

    @classmethod
    def parse(cls, text: str) -> "CostBudget":
        """`tokens=200000,seconds=600,usd=1.5` (any of them, once each)."""
        values: dict[str, float] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, eq, number = part.partition("=")
            name = name.strip()
            if not eq or name not in _BUDGET_UNITS:
                raise ValueError(f"budget part {part!r}: use tokens=N, seconds=S or usd=X, "
                                 "comma-separated")
            if name in values:
                raise ValueError(f"budget names {name} twice")
            try:
                values[name] = parse_decimal(number, _BUDGET_UNITS[name])
            except ValueError as exc:
                raise ValueError(f"budget {name}: {exc}") from None
        return cls(**values)

    def exceeded(self, spent: Spend) -> str | None:
        """Which limit `spent` has reached, said with both figures; None while within all."""
        if self.tokens is not None and spent.tokens >= self.tokens:
            return f"{spent.tokens:,} of {self.tokens:,} tokens"
        if self.seconds is not None and spent.seconds >= self.seconds:
            return f"{spent.seconds:.1f} of {self.seconds:g} model seconds"
        if self.usd is not None and spent.usd is not None and spent.usd >= self.usd:
            return f"${spent.usd:.4f} of ${self.usd:g}"
        return None


#: The budget of every sequential claim whose policy sets none (`--lmgate-budget`); unset
#: unless the plugin or a caller sets it.
SESSION_BUDGET: ContextVar[CostBudget | None] = ContextVar("lmgate_session_budget", default=None)


@dataclass(frozen=True)
class SequentialPolicy:
    """How a sequential claim consumes examples: checked after every `batch_size` units (at
    least `min_examples` before any stop), at most `max_examples` (None: all), in an order drawn
    with `seed`; `budget` caps the units scored (None: no cap), `cost_budget` what scoring
    may spend (tokens, model seconds, money; None: `--lmgate-budget`'s, if given). A claim
    still open when the examples or a budget run out is inconclusive: `on_inconclusive` =
    "fail" (default) or "skip" (reported as skipped with the numbers, never as held)."""

    batch_size: int = 50
    min_examples: int = 50
    max_examples: int | None = None
    budget: int | None = None
    seed: int = 0
    on_inconclusive: str = "fail"
    cost_budget: CostBudget | None = None

    def __post_init__(self) -> None:
        for name in ("batch_size", "min_examples"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"SequentialPolicy.{name} must be an integer >= 1, got {value!r}")
        for name in ("max_examples", "budget"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                                      or value < 1):
                raise ValueError(f"SequentialPolicy.{name} must be None or an integer >= 1, "
                                 f"got {value!r}")
        if self.cost_budget is not None and not isinstance(self.cost_budget, CostBudget):
            raise ValueError("SequentialPolicy.cost_budget must be a CostBudget or None, got "
                             f"{self.cost_budget!r}")
        if self.on_inconclusive not in ("fail", "skip"):
            raise ValueError("SequentialPolicy.on_inconclusive must be 'fail' or 'skip', got "
                             f"{self.on_inconclusive!r}")


def min_units(alpha: float) -> int:
    """The fewest independent units at which any test can reject at one-sided level `alpha`:
    the smallest n with 0.5**n < alpha (an exact sign test with every unit on one side)."""
    if not 0 < alpha < 1:
        raise ValueError(f"a claim's level must be in (0, 1), got {alpha}")
    return math.floor(math.log2(1 / alpha)) + 1


def as_policy(sequential: bool | SequentialPolicy) -> SequentialPolicy | None:
    """`sequential=True` -> the default policy; False -> None; a policy stays as it is."""
    if isinstance(sequential, SequentialPolicy):
        return sequential
    if sequential is True:
        return SequentialPolicy()
    if sequential is False or sequential is None:
        return None
    raise TypeError(f"sequential must be True, False or a SequentialPolicy, not {sequential!r}")


class BettingProcess:
    """Predictable plug-in bets on observations in [0, 1], for every mean on `grid` at once:
    the capital of betting that the mean is above m (`up`) and below m (`down`)."""

    def __init__(self, grid: np.ndarray, alpha: float) -> None:
        self.grid = np.asarray(grid, dtype=np.float64)
        self.alpha = alpha
        self.log_up = np.zeros_like(self.grid)
        self.log_down = np.zeros_like(self.grid)
        self.t = 0
        self._sum = 0.0
        self._sq = 0.0        # sum of (x_i - running mean before x_i)^2

    def update(self, xs: np.ndarray) -> None:
        """Bet on each of `xs` in turn, each bet sized from the observations before it."""
        xs = np.asarray(xs, dtype=np.float64)
        lams = np.empty(xs.size)
        for i, x in enumerate(xs):            # the predictable bets: scalars, in order
            self.t += 1
            mean = (0.5 + self._sum) / self.t                     # mu_hat_{t-1}
            var = (0.25 + self._sq) / self.t                      # sigma_hat^2_{t-1}
            lams[i] = math.sqrt(2 * math.log(2 / self.alpha)
                                / (var * self.t * math.log(1 + self.t)))
            self._sq += (x - mean) ** 2
            self._sum += x
        grid = self.grid[None, :]
        up = np.minimum(lams[:, None], BET_CAP / np.maximum(grid, 1e-12))
        down = np.minimum(lams[:, None], BET_CAP / np.maximum(1 - grid, 1e-12))
        gap = xs[:, None] - grid
        self.log_up += np.log1p(up * gap).sum(axis=0)
        self.log_down += np.log1p(-down * gap).sum(axis=0)

    def log_capital_above(self, m: float) -> float:
        """log K_t of the bet against H0: mean <= m (m on the grid)."""
        return float(self.log_up[self._index(m)])

    def log_capital_below(self, m: float) -> float:
        """log K_t of the bet against H0: mean >= m."""
        return float(self.log_down[self._index(m)])

    def interval(self) -> tuple[float, float]:
        """The hedged-capital confidence sequence at level alpha: the means whose
        max(K_up, K_down) / 2 stays below 1 / alpha."""
        log_half = math.log(0.5)
        hedged = np.maximum(self.log_up, self.log_down) + log_half
        inside = self.grid[hedged < math.log(1 / self.alpha)]
        if inside.size == 0:      # every mean excluded: the running mean's grid point
            mean = self._sum / max(self.t, 1)
            return mean, mean
        return float(inside.min()), float(inside.max())

    def _index(self, m: float) -> int:
        return int(np.argmin(np.abs(self.grid - m)))


def grid_with(points: list[float]) -> np.ndarray:
    """The grid of means, holding exactly the hypotheses' boundaries too."""
    grid = np.linspace(0.0, 1.0, GRID_POINTS)
    return np.unique(np.concatenate([grid, np.clip(points, 0.0, 1.0)]))


@dataclass(frozen=True)
class Hypothesis:
    """One one-sided null a claim must reject: H0: Δ <= bound ("above") or Δ >= bound
    ("below"), Δ the mean paired difference in [-1, 1]."""

    side: str
    bound: float

    @property
    def on_grid(self) -> float:
        return (self.bound + 1) / 2


@dataclass(frozen=True)
class SequentialOutcome:
    """Where a sequential claim stopped and why."""

    held: bool | None           # None: inconclusive
    reason: str                 # "settled: held", "settled: failed", "examples exhausted", ...
    units_used: int
    units_available: int
    examples_used: int
    mean_diff: float
    cs_low: float               # the confidence sequence of the mean difference at stop
    cs_high: float
    e_value: float              # the smallest capital of the claim's nulls (>= 1/alpha: held)

    @property
    def p_value(self) -> float:
        """The anytime-valid p, min(1, 1/e): never 0, and 1 where the capital was lost (an
        e-value that underflowed to 0 is no division by zero)."""
        return 1.0 if self.e_value <= 1 else 1 / self.e_value


def run_sequential(diff_of: Callable[[np.ndarray], np.ndarray], units: int,
                   unit_sizes: np.ndarray | None, nulls: list[Hypothesis],
                   fails_when: Callable[[float, float], bool], alpha: float,
                   policy: SequentialPolicy,
                   spent: Callable[[], Spend] | None = None) -> SequentialOutcome:
    """Consume units in a seeded random order, `policy.batch_size` at a time, asking
    `diff_of(unit indices)` for their mean paired differences (in [-1, 1]; computed lazily by
    the caller), until every null in `nulls` is rejected (held), `fails_when(cs_low, cs_high)`
    (failed), or the units or a budget run out (inconclusive). `spent()` says what scoring has
    cost so far, checked against the cost budget after every batch."""
    cost_budget = policy.cost_budget or SESSION_BUDGET.get()
    order = np.random.default_rng(policy.seed).permutation(units)
    limit = min(units, policy.max_examples or units, policy.budget or units)
    process = BettingProcess(grid_with([h.on_grid for h in nulls]), alpha)
    used, total, examples = 0, 0.0, 0
    threshold = math.log(1 / alpha)
    low = high = float("nan")
    log_e = 0.0
    while used < limit:
        batch = order[used:min(limit, used + policy.batch_size)]
        diffs = np.asarray(diff_of(batch), dtype=np.float64)
        if diffs.shape != batch.shape or not np.all(np.abs(diffs) <= 1 + 1e-9):
            raise ValueError("a sequential claim needs paired differences in [-1, 1], one per "
                             "unit")
        process.update((np.clip(diffs, -1, 1) + 1) / 2)
        used += batch.size
        total += float(diffs.sum())
        examples += int(batch.size if unit_sizes is None else unit_sizes[batch].sum())
        g_low, g_high = process.interval()
        low, high = 2 * g_low - 1, 2 * g_high - 1
        log_e = min(process.log_capital_above(h.on_grid) if h.side == "above"
                    else process.log_capital_below(h.on_grid) for h in nulls)
        if used >= min(policy.min_examples, limit):
            if log_e >= threshold:
                return SequentialOutcome(True, "settled: held", used, units, examples,
                                         total / used, low, high, math.exp(min(log_e, 700)))
            if fails_when(low, high):
                return SequentialOutcome(False, "settled: failed", used, units, examples,
                                         total / used, low, high, math.exp(min(log_e, 700)))
        over = cost_budget.exceeded(spent()) if cost_budget and spent and used < limit else None
        if over:
            return SequentialOutcome(None, f"budget spent ({over})", used, units, examples,
                                     total / used, low, high, math.exp(min(log_e, 700)))
    reason = ("budget spent" if policy.budget is not None and limit == policy.budget < units
              else "examples exhausted")
    return SequentialOutcome(None, reason, used, units, examples, total / max(used, 1), low,
                             high, math.exp(min(log_e, 700)))


def per_example_scores(result: Any, metric: str) -> tuple[np.ndarray, Any, float]:
    """A result's per-example scores of `metric` in [0, 1], the clusters they belong to (None:
    independent examples) and the metric's scale (100 for SQuAD F1 and chrF, reported in
    0-100), for metrics that are means of per-example scores; ValueError naming the
    alternatives for corpus- or class-averaged metrics (macro F1, corpus BLEU), which no
    per-example sequence estimates."""
    if hasattr(result, "per_example"):          # a user's result: (scores, clusters, scale)
        return result.per_example(metric)
    if metric == "accuracy" and getattr(result, "y_pred", None) is not None:
        right = (np.asarray(result.y_true) == np.asarray(result.y_pred)).astype(np.float64)
        clusters = getattr(result, "clusters", None)
        return right, None if clusters is None else np.asarray(clusters), 1.0
    subset = getattr(result, "_subset", None)   # QA: per-question token F1 in [0, 1]
    if subset is not None and metric in ("f1", "HasAns_f1", "NoAns_f1"):
        scores, _ = subset(metric)
        # Questions about one passage are one unit, even where all share one passage.
        _, contexts = result.unit_outputs(metric)
        return np.asarray(scores, dtype=np.float64), np.asarray(contexts), 100.0
    if metric == "sentence_chrf" and getattr(result, "sentence_chrf", None) is not None:
        return np.asarray(result.sentence_chrf, dtype=np.float64) / 100, None, 100.0
    raise ValueError(
        f"{getattr(result, 'name', result)!r}: {metric} is not a mean of per-example scores, so "
        "no anytime-valid sequence estimates it; sequential claims take accuracy, QA f1 / "
        "HasAns_f1 / NoAns_f1 or sentence_chrf (or a result with per_example(metric)); judge "
        f"{metric} with the fixed-n claim (sequential=False)")


def e_bh(e_values: list[float], alpha: float) -> list[bool]:
    """e-BH (Wang & Ramdas 2022): which of m hypotheses with e-values `e_values` to reject so
    that the false discovery rate is at most `alpha` under any dependence between them: the k
    largest, for the largest k with e_(k) >= m / (alpha k)."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    m = len(e_values)
    order = sorted(range(m), key=lambda i: -e_values[i])
    k = max((rank for rank in range(1, m + 1)
             if e_values[order[rank - 1]] >= m / (alpha * rank)), default=0)
    rejected = [False] * m
    for i in order[:k]:
        rejected[i] = True
    return rejected
