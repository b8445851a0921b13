"""Configuration validated with its types and ranges before any test runs (issue 30, "late
failures"): training and LoRA settings, profile tables."""

import pytest

from lmgate.core.config import LoraSettings, TrainConfig
from lmgate.core.errors import ConfigError


@pytest.mark.parametrize("change, words", [
    ({"epochs": "two"}, "epochs must be a whole number, not 'two'"),
    ({"epochs": 2.5}, "epochs must be a whole number"),
    ({"batch_size": 0}, "batch_size must be >= 1, not 0"),
    ({"warmup_ratio": 7}, "warmup_ratio must be in [0, 1], not 7"),
    ({"learning_rate": float("nan")}, "learning_rate must be a finite number"),
    ({"learning_rate": -1e-4}, "learning_rate must be in (0, 10)"),
    ({"launcher": "rm -rf /"}, "launcher must be one of ('torchrun', 'accelerate')"),
    ({"group_by_length": "yes"}, "group_by_length must be true or false"),
    ({"max_length": True}, "max_length must be a whole number"),
])
def test_training_settings_are_checked_when_made(change, words):
    with pytest.raises(ConfigError) as error:
        TrainConfig().replace(**change)
    assert words in str(error.value)


@pytest.mark.parametrize("change, words", [
    ({"r": 0}, "r must be >= 1"), ({"dropout": 1.0}, "dropout must be in [0, 1)"),
    ({"target_modules": ("q", 3)}, "target_modules must be a list of module names"),
])
def test_lora_settings_are_checked_when_made(change, words):
    with pytest.raises(ConfigError) as error:
        LoraSettings(**change)
    assert words in str(error.value)


@pytest.mark.parametrize("table, words", [
    ("[tool.lmgate.profiles.smoke.train]\nepochs = \"two\"\n", "epochs must be a whole number"),
    ("[tool.lmgate.profiles.smoke.train]\nlauncher = \"rm -rf /\"\n", "launcher must be one of"),
    ("[tool.lmgate.profiles.fast]\nstudies = 5\n", "studies must be a table of study tables"),
    ("[tool.lmgate.profiles.fast.studies]\nreviews = 3\n", "studies.reviews must be a table"),
    ("[tool.lmgate]\nprofiles = \"x\"\n", "profiles"),
    # Study knobs declared as training settings are checked when the profiles load.
    ("[tool.lmgate.knob_types]\nhead_train = \"train\"\n"
     "[tool.lmgate.profiles.smoke.studies.sst2]\nhead_train = { epochs = \"two\" }\n",
     "studies.sst2: knob head_train (train settings): TrainConfig setting epochs must be a "
     "whole number"),
    ("[tool.lmgate.knob_types]\nlora = \"lora\"\n"
     "[tool.lmgate.profiles.fast]\nextends = \"smoke\"\n"
     "[tool.lmgate.profiles.fast.studies.translation]\nlora = { r = 0, alpha = 64 }\n",
     "knob lora (lora settings): LoraSettings setting r must be >= 1"),
    ("[tool.lmgate.knob_types]\nlora = \"lora\"\n"
     "[tool.lmgate.profiles.smoke.studies.translation]\nlora = { rank = 16 }\n",
     "unknown training setting(s) ['rank']"),
    ("[tool.lmgate.knob_types]\nlora = \"lora\"\n"
     "[tool.lmgate.profiles.smoke.studies.translation]\nlora = 8\n",
     "knob lora must be a table of lora settings"),
    ("[tool.lmgate.knob_types]\nhead_train = \"trainer\"\n"
     "[tool.lmgate.profiles.smoke.studies.sst2]\nhead_train = {}\n",
     "[tool.lmgate.knob_types] in"),
])
def test_bad_profile_tables_are_usage_errors_before_any_test(pytester, table, words):
    pytester.makepyfile(test_one="def test_one():\n    raise AssertionError('ran')\n")
    pytester.makefile(".toml", pyproject=table)
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert words in result.stderr.str() and "INTERNALERROR" not in result.stdout.str()


def test_a_cache_folder_that_is_a_file_stops_the_run_before_any_test(pytester):
    pytester.makepyfile(test_one="def test_one():\n    raise AssertionError('ran')\n")
    (pytester.path / "cachefile").write_text("not a folder")
    result = pytester.runpytest("--lmgate-cache-dir", "cachefile/x")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--lmgate-cache-dir (or LMGATE_CACHE_DIR)" in result.stderr.str()
    assert "is a file, not a folder" in result.stderr.str()
