"""Numbers in options, ini values and the CLI are plain ASCII decimal: Python's int() and
float() would also read other scripts' digits (١٢ is 12) and underscores (1_000)."""

import math

import pytest
from hypothesis import given, settings, strategies as st

from lmgate.cli import main
from lmgate.core.numbers import parse_decimal

ASCII_NUMBER = set("0123456789+-.eE") | set("infatyINFATY")


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=12) | st.from_regex(r"\A[+-]?[0-9_٠-٩]{1,6}(\.[0-9_٠-٩]{0,3})?\Z"))
def test_only_ascii_decimal_text_is_read_as_a_number(text):
    for kind in (int, float):
        try:
            value = parse_decimal(text, kind)
        except ValueError:
            continue
        assert set(text.strip()) <= ASCII_NUMBER and "_" not in text
        assert value == kind(text.strip()) or math.isnan(value)


@settings(max_examples=100, deadline=None)
@given(n=st.integers(), x=st.floats(allow_nan=False))
def test_every_ascii_number_still_reads(n, x):
    assert parse_decimal(str(n), int) == n and parse_decimal(f" {x!r} ") == x


@pytest.mark.parametrize("argv", [["--lmgate-seed", "١٢"], ["--lmgate-seed", "1_000"],
                                  ["--lmgate-repeats", "٣"],
                                  ["--lmgate-gate-alpha", "٠.٠٥"],
                                  ["-o", "lmgate_seed=１２"],
                                  ["-o", "lmgate_progress_interval=٣", "-p", "xdist", "-n", "1"]])
def test_option_numbers_in_other_digits_are_usage_errors(pytester, argv):
    if "-n" in argv:
        pytest.importorskip("xdist")
    pytester.makepyfile(test_a="def test_a():\n    pass\n")
    result = pytester.runpytest(*argv)
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()
    assert "lmgate:" in result.stderr.str()


@pytest.mark.parametrize("flag,value", [("--alpha", "٠.٠٥"), ("--tolerance", "0_1"),
                                        ("--alpha", "0.0５")])
def test_cli_numbers_in_other_digits_are_usage_errors(flag, value, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["compare", "a", "b", flag, value])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.startswith("lmgate: error: ")
