"""Every claim says what its systems cost: tokens, model seconds and money, summed over the two
systems from what their results report, in the comparison, the failure and the claim lines."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

from lmgate import ClaimFailed, EvalResult, assert_better
from lmgate.stats.comparison import COST_KEYS, claim_cost, cost_in_words

LABELS = ("neg", "pos")
Y = np.array([0, 1] * 50)


def result(name: str, wrong_every: int, **info) -> EvalResult:
    y_pred = np.where(np.arange(Y.size) % wrong_every == 0, 1 - Y, Y)
    return EvalResult(name, LABELS, Y, y_pred, info=info)


values = st.one_of(st.integers(-5, 10**9), st.floats(allow_nan=True, allow_infinity=True),
                   st.booleans(), st.text(max_size=3), st.none())


@given(st.lists(st.dictionaries(st.sampled_from([*COST_KEYS, "other"]), values), max_size=3))
def test_a_claims_cost_sums_each_key_over_the_systems_that_report_it_validly(infos):
    class System:
        def __init__(self, info):
            self.name, self.info = "s", info

    def valid(v):
        return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) \
            and v >= 0

    expected = {k: sum(i[k] for i in infos if valid(i.get(k))) for k in COST_KEYS
                if any(valid(i.get(k)) for i in infos)}
    assert claim_cost(tuple(System(i) for i in infos)) == (expected or None)


def test_the_comparison_and_the_failure_carry_the_cost_of_both_systems():
    a = result("A", 7, input_tokens=1200, output_tokens=30, seconds=2.0, cost_usd=0.0004)
    b = result("B", 3, seconds=1.5)
    held = assert_better(a, b, "accuracy")
    assert held.cost == {"input_tokens": 1200, "output_tokens": 30, "seconds": 3.5,
                         "cost_usd": 0.0004}
    assert "cost 1,200 tokens in, 30 out, 3.5 model-s, $0.0004" in held.describe()
    with pytest.raises(ClaimFailed) as failure:
        assert_better(b, a, "accuracy")
    assert failure.value.comparison.cost == held.cost
    assert "1,200 tokens in" in str(failure.value)


def test_seconds_alone_are_kept_but_not_printed_as_a_price():
    cmp = assert_better(result("A", 7, seconds=2.0), result("B", 3), "accuracy")
    assert cmp.cost == {"seconds": 2.0} and "cost" not in cmp.describe()
    assert cost_in_words(None) == "" and cost_in_words({"seconds": 3.0}) == ""


def test_the_claim_line_and_claims_jsonl_show_the_cost(pytester):
    pytester.makepyfile(test_costed="""
        import numpy as np
        from lmgate import EvalResult, assert_better

        Y = np.array([0, 1] * 50)

        def test_costed(record):
            a = EvalResult("A", ("n", "p"), Y, Y.copy(), info={"input_tokens": 900,
                           "output_tokens": 9, "seconds": 1.0})
            b = EvalResult("B", ("n", "p"), Y, np.where(np.arange(100) % 3 == 0, 1 - Y, Y))
            record(a, b)
            assert_better(a, b, "accuracy")
    """)
    out = pytester.runpytest("-p", "no:cacheprovider", "--lmgate-results-dir", "res")
    out.assert_outcomes(passed=1)
    out.stdout.fnmatch_lines(["*PASS test_costed*900 tokens in, 9 out, 1.0 model-s*"])
    claims = [json.loads(line) for line in
              (pytester.path / "res" / "claims.jsonl").read_text().splitlines()]
    assert [c["cost"] for line in claims for c in line["comparisons"]] == [
        {"input_tokens": 900, "output_tokens": 9, "seconds": 1.0}]
