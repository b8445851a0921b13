"""lmgate in other people's projects: the plugin loads in every pytest run of an environment that
installs it, so its options and fixtures must leave a project's own (and other plugins') alone.

Options are read from pytest's parser (what lmgate registered: the flags of a session with the
plugin less those of one without it), fixtures from lmgate's plugin modules, never from a list
written here: an option or fixture added later is covered too.
"""

from __future__ import annotations

import json

import pytest
from _pytest.fixtures import FixtureFunctionDefinition
from hypothesis import HealthCheck, given, settings, strategies as st

import lmgate.plugin.fixtures
import lmgate.plugin.recording

PREFIX = "--lmgate-"


def _long_flags(pytester: pytest.Pytester, *args: str) -> set[str]:
    with pytest.MonkeyPatch.context() as env:
        env.delenv("PYTEST_ADDOPTS", raising=False)   # (lmgate's own options in it)
        parser = pytester.parseconfig(*args)._parser
    return {name for group in parser._groups for option in group.options
            for name in option.names() if name.startswith("--")}


_FLAGS: list[str] = []


def lmgate_flags(pytester: pytest.Pytester) -> list[str]:
    """The long flags the lmgate plugin registers."""
    if not _FLAGS:
        _FLAGS.extend(sorted(_long_flags(pytester) - _long_flags(pytester, "-p", "no:lmgate")))
    return _FLAGS


def unprefixed(flag: str) -> str:
    return "--" + flag.removeprefix(PREFIX)


def user_options_conftest(values: dict[str, str]) -> str:
    """A project's conftest.py defining `--<name>` for each name, and a test that reads them."""
    lines = ["import pytest", "", "def pytest_addoption(parser):"]
    for i, flag in enumerate(values):
        lines.append(f"    parser.addoption({flag!r}, dest='mine_{i}', default=None)")
    lines += ["", "@pytest.fixture", "def mine(request):",
              f"    return {{flag: request.config.getoption(f'mine_{{i}}') for i, flag in "
              f"enumerate({list(values)!r})}}"]
    return "\n".join(lines) + "\n"


READS_MINE = """
import json

def test_reads_its_own_options(mine):
    assert mine == json.loads(open("expected.json").read())
"""


def run_with_user_options(pytester: pytest.Pytester, values: dict[str, str]):
    pytester.makeconftest(user_options_conftest(values))
    pytester.makepyfile(test_mine=READS_MINE)
    (pytester.path / "expected.json").write_text(json.dumps(values))
    return pytester.runpytest("-p", "no:cacheprovider", "-p", "no:randomly",
                              *(f"{flag}={value}" for flag, value in values.items()))


def test_the_plugin_registers_its_options_and_the_test_can_see_them(pytester):
    flags = lmgate_flags(pytester)
    assert {"--lmgate-device", "--lmgate-profile", "--lmgate-baseline",
            "--lmgate-no-cache"} <= set(flags)


def test_a_projects_own_common_options_work_with_lmgate_loaded(pytester):
    """The issue's case: a conftest.py with `--device`, `--model`, `--lang`, `--profile`,
    `--baseline`, `--tolerance`, `--results-dir` and `--force` (values lmgate would refuse as
    its own: an unknown device and profile, a missing baseline, a negative tolerance)."""
    values = {"--device": "tpu", "--model": "my-model", "--lang": "xx", "--profile": "fast",
              "--baseline": "nowhere.json", "--tolerance": "-1", "--results-dir": "mine",
              "--force": "yes"}
    result = run_with_user_options(pytester, values)
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    result.assert_outcomes(passed=1)


@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_every_lmgate_option_is_prefixed_and_leaves_its_plain_name_free(pytester, data):
    flags = lmgate_flags(pytester)
    assert all(flag.startswith(PREFIX) for flag in flags), flags
    chosen = data.draw(st.lists(st.sampled_from(flags), min_size=1, unique=True))
    values = {unprefixed(flag): data.draw(st.text("abcxyz019.-_/", min_size=1, max_size=8))
              for flag in chosen}
    result = run_with_user_options(pytester, values)
    assert result.ret == 0, result.stdout.str() + result.stderr.str()


def _lmgate_fixtures() -> dict[str, str]:
    """lmgate's fixtures by name, with their scope."""
    return {value.name: value._fixture_function_marker.scope
            for module in (lmgate.plugin.fixtures, lmgate.plugin.recording)
            for value in vars(module).values() if isinstance(value, FixtureFunctionDefinition)}


FIXTURES = _lmgate_fixtures()
#: The short names tests write; each yields to a project's fixture of that name.
ALIASES = sorted(name for name in FIXTURES if not name.lstrip("_").startswith("lmgate_"))
INTERNAL = sorted(name for name in FIXTURES if name.startswith("lmgate_"))


def user_fixtures_conftest(names: list[str]) -> str:
    """A project's conftest.py with a function-scoped fixture of each name (a sentinel)."""
    lines = ["import pytest"]
    for name in names:
        lines += ["", "", "@pytest.fixture", f"def {name}():", f"    return 'mine: {name}'"]
    return "\n".join(lines) + "\n"


def uses_both_conftest_and_lmgate(names: list[str]) -> str:
    """A test asking for the project's fixtures and for every fixture of lmgate's (by its
    `lmgate_` name: factories, nothing loads)."""
    args = ", ".join(dict.fromkeys([*names, *INTERNAL, "lmgate_device"]))
    checks = "\n".join(f"    assert {name} == 'mine: {name}'" for name in names)
    return f"""
import pytest

pytestmark = pytest.mark.study("s")

def test_both({args}):
{checks}
    assert lmgate_device == "cpu" and callable(lmgate_zero_shot) and callable(lmgate_causal_lm)
"""


def test_the_fixture_names_are_what_the_test_expects():
    assert {"device", "run_cache", "knobs", "finetune", "zero_shot", "causal_lm", "lora",
            "record"} <= set(ALIASES)
    assert {"lmgate_device", "lmgate_zero_shot", "lmgate_causal_lm"} <= set(INTERNAL)


@settings(max_examples=6, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(names=st.lists(st.sampled_from(ALIASES), min_size=1, unique=True))
def test_a_projects_fixture_of_an_lmgate_name_replaces_the_alias_and_breaks_nothing(pytester,
                                                                                    names):
    """A project's function-scoped `device` (or `run_cache`, `causal_lm`, ...) is what its tests
    get under that name, and lmgate's session fixtures (which depend only on `lmgate_*` names:
    no ScopeMismatch, no project value inside them) still work."""
    pytester.makepyprojecttoml("[tool.lmgate.profiles.smoke.studies.s]\nx = 1\n")
    pytester.makeconftest(user_fixtures_conftest(names))
    pytester.makepyfile(test_both=uses_both_conftest_and_lmgate(names))
    result = pytester.runpytest("-p", "no:cacheprovider", "-o", "lmgate_device=cpu")
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    result.assert_outcomes(passed=1)


def test_a_function_scoped_device_fixture_leaves_lmgates_model_fixtures_working(pytester):
    """The issue's case: a project's function-scoped `device` and a test using lmgate's
    `zero_shot` and `causal_lm` (ScopeMismatch before)."""
    pytester.makeconftest("""
import pytest

@pytest.fixture
def device():
    return "my-accelerator"
""")
    pytester.makepyfile(test_mine="""
def test_mine(device, zero_shot, causal_lm, run_cache):
    assert device == "my-accelerator" and callable(zero_shot) and callable(causal_lm)
""")
    result = pytester.runpytest("-p", "no:cacheprovider", "-o", "lmgate_device=cpu")
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    result.assert_outcomes(passed=1)
