"""What a cost is read from, whatever it holds: `--lmgate-budget`'s text and `CostBudget`'s
numbers, and a served answer's `usage` block, as properties over their inputs."""

from __future__ import annotations

import math
from types import SimpleNamespace

from hypothesis import given, settings, strategies as st

from lmgate.core.errors import ConfigError
from lmgate.models.serving.answers import reported_usage
from lmgate.models.serving.client import Usage
from lmgate.models.store.registry import Price, cost_usd
from lmgate.stats.comparison import system_cost
from lmgate.stats.sequential import CostBudget, Spend

#: Integers of every size a JSON reader hands over: small, around the float range, past it.
HUGE_INTS = st.one_of(st.integers(-10, 10**6), st.integers(2**52, 2**64),
                      st.integers(10**300, 10**420))
NUMBERS = st.one_of(HUGE_INTS, st.floats(allow_nan=True, allow_infinity=True), st.booleans())


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(
    st.text(max_size=40),
    st.builds(lambda name, digits, sep: f"{name}={digits}{sep}",
              st.sampled_from(["tokens", "seconds", "usd"]),
              st.from_regex(r"[+-]?[0-9]{1,420}(\.[0-9]{0,5})?([eE][+-]?[0-9]{1,4})?",
                            fullmatch=True),
              st.sampled_from(["", ",", ",tokens=5"]))))
def test_a_budget_text_is_a_budget_or_a_value_error(text):
    """--lmgate-budget's text parses or raises ValueError (the plugin's one-line error);
    `tokens=1` followed by 400 zeros raised OverflowError from float()."""
    try:
        budget = CostBudget.parse(text)
    except ValueError:
        return
    assert budget.exceeded(Spend(tokens=0, seconds=0.0, usd=0.0)) is None


@settings(max_examples=300, deadline=None)
@given(tokens=st.one_of(st.none(), NUMBERS), seconds=st.one_of(st.none(), NUMBERS),
       usd=st.one_of(st.none(), NUMBERS))
def test_a_budget_of_any_numbers_is_a_budget_or_a_value_error(tokens, seconds, usd):
    try:
        budget = CostBudget(tokens=tokens, seconds=seconds, usd=usd)
    except ValueError:
        return
    for value in (budget.tokens, budget.seconds, budget.usd):
        assert value is None or value > 0
    assert budget.exceeded(Spend(tokens=0, seconds=0.0, usd=0.0)) is None


@settings(max_examples=200, deadline=None)
@given(value=NUMBERS)
def test_a_price_of_any_number_is_a_price_or_a_config_error(value):
    """An int price past the float range raised OverflowError from math.isfinite."""
    try:
        price = Price(input_per_mtok=value, output_per_mtok=value)
    except ConfigError:
        return
    assert cost_usd(SimpleNamespace(price=price), 10**6, 10**6) >= 0


JSON_VALUES = st.recursive(st.one_of(st.none(), NUMBERS, st.text(max_size=5)),
                           lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                           max_leaves=6)


@settings(max_examples=300, deadline=None)
@given(usages=st.lists(st.one_of(
    JSON_VALUES,
    st.fixed_dictionaries({"prompt_tokens": JSON_VALUES, "completion_tokens": JSON_VALUES}),
    st.fixed_dictionaries({"prompt_tokens": HUGE_INTS, "completion_tokens": HUGE_INTS})),
    min_size=1, max_size=4))
def test_any_usage_block_counts_into_a_finite_cost(usages):
    """Whatever usage blocks a server sends, the counts it keeps price to a finite cost and
    a claim sums them: a count past the float range raised OverflowError there."""
    usage = Usage()
    for block in usages:
        usage = usage.plus(reported_usage({"choices": [], "usage": block}))
    assert usage.reported + usage.unreported == len(usages)
    info = usage.token_counts()
    if "input_tokens" in info:
        priced = SimpleNamespace(price=Price(input_per_mtok=3.0, output_per_mtok=15.0))
        info["cost_usd"] = cost_usd(priced, info["input_tokens"], info["output_tokens"])
        assert math.isfinite(info["cost_usd"])
        cost = system_cost(SimpleNamespace(info=info))
        assert set(cost) == {"input_tokens", "output_tokens", "cost_usd"}
