"""lmgate as a framework: project profiles, the knobs fixture, shipped fixtures, declared
metric directions, the plugin's module layout."""

import os

import pytest

from lmgate.core.errors import ConfigError
from lmgate.gate.decide import Measurement, compare
from lmgate.metrics.registry import metric_info, register_metric
from lmgate.core.profiles import BUILTIN, profiles_from_tables

PYPROJECT = '''
[tool.lmgate.profiles.smoke.train]
epochs = 2
[tool.lmgate.profiles.smoke.studies.reviews]
sizes = [10, 20]
models = ["a", "b"]
train = { learning_rate = 0.5 }

[tool.lmgate.profiles.nightly]
extends = "smoke"
[tool.lmgate.profiles.nightly.studies.reviews]
sizes = [10, 20, 40]
'''

STUDY = '''
import pytest

pytestmark = [pytest.mark.study("reviews"), pytest.mark.knob_params(model="models")]


def test_knobs(model, knobs, lmgate_settings, record):
    config = knobs.train_config("train")
    record(sizes=len(knobs.sizes), epochs=config.epochs, lr=config.learning_rate)
    assert model in ("a", "b")
    assert config.epochs == 2 and config.learning_rate == 0.5
    assert knobs.sizes == ((10, 20) if lmgate_settings.profile.name == "smoke" else (10, 20, 40))
'''


@pytest.fixture
def project(pytester):
    pytester.makefile(".toml", pyproject=PYPROJECT)
    pytester.makepyfile(test_reviews=STUDY)
    return pytester


def test_project_profiles_extend_builtins_and_parametrise_from_knobs(project):
    project.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=2)
    project.runpytest("--lmgate-profile", "nightly", "-m", "model_b").assert_outcomes(passed=1,
                                                                            deselected=1)


def test_unknown_profile_lists_the_projects_profiles(project):
    result = project.runpytest("--lmgate-profile", "weekly")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "unknown profile 'weekly'; choose one of ['nightly', 'paper', 'smoke']" in \
        result.stderr.str()


SESSION_KNOBS = '''
import pytest
from lmgate import study_knobs_fixture

reviews_knobs = study_knobs_fixture("reviews")
READS = []


@pytest.fixture(scope="session")
def reviews_sizes(reviews_knobs):
    READS.append(reviews_knobs)
    return reviews_knobs.sizes


@pytest.mark.parametrize("case", [1, 2])
def test_sizes(case, reviews_sizes, reviews_knobs, lmgate_settings):
    assert reviews_sizes == ((10, 20) if lmgate_settings.profile.name == "smoke" else (10, 20, 40))
    assert reviews_knobs.train_config("train").learning_rate == 0.5
    assert len(READS) == 1 and READS[0] is reviews_knobs          # one read per session
'''


def test_a_study_knobs_fixture_is_session_scoped_and_named_by_its_attribute(pytester):
    pytester.makefile(".toml", pyproject=PYPROJECT)
    pytester.makepyfile(test_sessions=SESSION_KNOBS)
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=2)
    pytester.runpytest("--lmgate-profile", "nightly").assert_outcomes(passed=2)
    result = pytester.runpytest("--fixtures")
    result.stdout.fnmatch_lines(["reviews_knobs [[]session scope[]]*",
                                 "*knobs of study 'reviews'*read once*"])


def test_a_study_knobs_fixture_of_an_undeclared_study_says_where_to_declare_it(pytester):
    pytester.makepyfile("from lmgate import study_knobs_fixture\n"
                        "other_knobs = study_knobs_fixture('other')\n"
                        "def test_x(other_knobs):\n    pass\n")
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*has no settings for study 'other'*"
                                 "[[]tool.lmgate.profiles.smoke.studies.other[]]*"])


def test_knobs_without_a_study_marker_is_an_error_that_says_so(pytester):
    pytester.makepyfile("def test_x(knobs):\n    pass\n")
    result = pytester.runpytest()
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*without @pytest.mark.study(name)*"])


def test_missing_knob_names_profile_study_and_known_knobs():
    profile = profiles_from_tables({"smoke": {"studies": {"reviews": {"sizes": [1]}}}}, "x")["smoke"]
    with pytest.raises(ConfigError, match=r"profile 'smoke' has no knob 'epochs' for study "
                                          r"'reviews'; its knobs: \['sizes'\]"):
        profile.study("reviews").epochs
    with pytest.raises(ConfigError, match="has no settings for study 'other'"):
        profile.study("other")


@pytest.mark.parametrize("tables, words", [
    ({"p": {"extends": "nope"}}, "extends unknown profile 'nope'"),
    ({"p": {"train": {"epoch": 1}}}, "unknown training setting(s) ['epoch']"),
    ({"p": {"knobs": {}}}, "unknown key(s) ['knobs']"),
    ({"a": {"extends": "b"}, "b": {"extends": "a"}}, "cycle"),
])
def test_bad_profile_tables(tables, words):
    with pytest.raises(ConfigError) as excinfo:
        profiles_from_tables(tables, "pyproject.toml")
    assert words in str(excinfo.value)


def test_library_ships_no_study_knobs():
    assert all(not profile.studies for profile in BUILTIN.values())


def test_fixtures_are_shipped_to_any_project(pytester):
    result = pytester.runpytest("--fixtures")
    for name in ("finetune", "zero_shot", "causal_lm", "frozen_head", "frozen_span_head", "lora",
                 "record", "knobs", "run_cache", "device", "lmgate_settings", "lmgate_seed"):
        result.stdout.fnmatch_lines([f"{name}*"])


def test_session_environment_changes_are_restored(pytester, tmp_path):
    before = os.environ.get("LMGATE_DATA_DIR")
    pytester.makepyfile("def test_x():\n    pass\n")
    pytester.runpytest("--lmgate-data-dir", str(tmp_path)).assert_outcomes(passed=1)
    assert os.environ.get("LMGATE_DATA_DIR") == before


def measurement(key, value):
    """What a recorded row gives the gate: the direction only where the metric declares one."""
    from lmgate.gate.measure import higher_is_better

    return Measurement(key, value, [value], [0], None, 100,
                       higher_is_better(key.rsplit("::", 1)[1]))


@pytest.mark.parametrize("metric, old, new, status", [
    ("perplexity", 10.0, 12.0, "regression"),
    ("perplexity", 12.0, 10.0, "improvement"),
    ("wer", 0.20, 0.30, "regression"),
    ("wer", 0.30, 0.20, "improvement"),
    ("accuracy", 0.80, 0.70, "regression"),
    ("latency_ms", 10.0, 100.0, "not-gated"),
])
def test_declared_directions_gate_both_ways(metric, old, new, status):
    key = f"t::r::{metric}"
    report = compare({key: measurement(key, old)}, {key: measurement(key, new)}, tolerance=0.01)
    assert report.checks[0].status == status


def test_undeclared_metric_is_reported_not_gated_with_how_to_declare():
    key = "t::r::bananas"
    report = compare({key: measurement(key, 5.0)}, {key: measurement(key, 1.0)}, tolerance=0.01)
    check = report.checks[0]
    assert check.status == "not-gated" and report.passed
    assert "lmgate.register_metric('bananas', higher_is_better=True|False)" in check.basis


def test_register_metric_declares_and_guards_redeclaration():
    register_metric("my_bleu_variant", higher_is_better=True)
    assert metric_info("my_bleu_variant").higher_is_better
    with pytest.raises(ConfigError, match="already registered"):
        register_metric("my_bleu_variant", higher_is_better=False)
    assert metric_info("f1/neutral").higher_is_better and not metric_info("train_s").gated
