"""Numbers the gate cannot judge are errors, never passes (issue 30, "the gate passes what it
cannot judge")."""

import json
import math

import pytest

from lmgate.cli import main as lmgate_cli
from lmgate.core.errors import ConfigError
from lmgate.gate.baseline import read_baseline
from lmgate.gate.decide import compare
from lmgate.gate.measure import Measurement

BASE = {"key": "t.py::test_x::model::macro_f1", "value": 0.805, "values": [0.805],
        "seeds": [0], "ci": [0.78, 0.83], "n": 400}


def measurement(**changes) -> Measurement:
    return Measurement(**{**BASE, **changes})


@pytest.mark.parametrize("args, words", [
    (["--alpha", "0"], "--alpha must be in (0, 1)"),
    (["--alpha", "-1"], "--alpha must be in (0, 1)"),
    (["--alpha", "nan"], "--alpha must be in (0, 1)"),
    (["--alpha", "x"], "--alpha must be a number"),
    (["--tolerance", "nan"], "--tolerance must be a finite number"),
    (["--tolerance", "inf"], "--tolerance must be a finite number"),
    (["--tolerance", "-1"], "--tolerance must be >= 0"),
])
@pytest.mark.parametrize("command", [["compare", "old", "new"], ["merge", "a", "--out", "o"]])
def test_cli_refuses_gate_settings_it_cannot_use(command, args, words, capsys):
    with pytest.raises(SystemExit) as stop:
        lmgate_cli([*command, *args])
    assert stop.value.code == 2 and words in capsys.readouterr().err


@pytest.mark.parametrize("alpha, tolerance", [(0, None), (float("nan"), None), (1.5, None),
                                              (0.01, float("nan")), (0.01, -1.0)])
def test_compare_refuses_alpha_and_tolerance_out_of_range(alpha, tolerance):
    with pytest.raises(ConfigError):
        compare({}, {}, alpha=alpha, tolerance=tolerance)


def test_a_real_regression_fails_whatever_the_valid_settings():
    old = {BASE["key"]: measurement()}
    new = {BASE["key"]: measurement(value=0.713, values=[0.713], ci=[0.69, 0.74])}
    for kwargs in ({}, {"alpha": 0.5}, {"tolerance": 0.0}, {"tolerance": 0.05}):
        assert not compare(old, new, **kwargs).passed, kwargs


@pytest.mark.parametrize("side", ["baseline", "now"])
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf"), 1e308, -0.2])
def test_a_metric_that_is_not_a_finite_number_fails_the_gate(side, bad):
    good, broken = measurement(), measurement(value=bad, values=[bad])
    old, new = (broken, good) if side == "baseline" else (good, broken)
    report = compare({BASE["key"]: old}, {BASE["key"]: new})
    assert not report.passed
    assert [c.status for c in report.checks] == ["unjudgeable"]
    assert ("not a finite number" if not math.isfinite(bad) else
            "outside the range [0.0, 1.0] of macro_f1") in report.checks[0].describe()


@pytest.mark.parametrize("entry, words", [
    ({"value": float("nan")}, "value nan is not a finite number"),
    ({"value": float("inf")}, "value inf is not a finite number"),
    ({"values": ["abc"]}, "must be a non-empty list of finite numbers"),
    ({"values": "abc"}, "must be a non-empty list of finite numbers"),
    ({"values": [0.8, 0.81]}, "one seed per value"),
    ({"ci": [0.9, 0.1]}, "must be [low, high]"),
    ({"ci": [0.1, float("nan")]}, "must be [low, high]"),
    ({"value": 1e308, "values": [1e308]}, "outside the range [0.0, 1.0] of metric 'macro_f1'"),
    ({"value": -0.5, "values": [-0.5]}, "outside the range"),
    ({"n": -3}, "must be a count"),
    ({"n": 2.5}, "must be a count"),
    ({"higher_is_better": "yes"}, "must be true, false or null"),
])
def test_baseline_entries_are_validated_with_file_and_entry_named(tmp_path, entry, words):
    fields = {k: v for k, v in {**BASE, **entry}.items() if k != "key"}
    path = tmp_path / "main.json"
    # json.dumps writes NaN/Infinity, which json.loads reads back: the check is lmgate's.
    path.write_text(json.dumps({"lmgate_baseline": 1, "entries": {BASE["key"]: fields}}))
    with pytest.raises(ConfigError) as error:
        read_baseline(path)
    assert str(path) in str(error.value) and repr(BASE["key"]) in str(error.value)
    assert words in str(error.value)


@pytest.mark.parametrize("line, words", [
    ({"y_true": [0, 1, 1], "y_pred": [0, 1]}, "3 gold labels but 2 predictions"),
    ({"y_true": [0, 1], "y_pred": [0, "x"]}, "labels must be integer ids"),
    ({"y_true": [0.5, 1], "y_pred": [0, 1]}, "labels must be integer ids"),
])
def test_baseline_predictions_of_the_wrong_shape_are_errors(tmp_path, line, words):
    path = tmp_path / "main.json"
    fields = {k: v for k, v in BASE.items() if k != "key"}
    path.write_text(json.dumps({"lmgate_baseline": 1, "entries": {BASE["key"]: fields}}))
    (tmp_path / "main.predictions.jsonl").write_text(json.dumps(
        {"key": "t.py::test_x::model", "seed": 0, "labels": 2, **line}) + "\n")
    with pytest.raises(ConfigError) as error:
        read_baseline(path)
    assert "line 1" in str(error.value) and words in str(error.value)


STUDY = '''
import numpy as np
import pytest
from lmgate import EvalResult

@pytest.mark.parametrize("ckpt, errors", [("bert-seed1", 10), ("bert-seed2", 200)])
def test_ckpt(ckpt, errors, record, lmgate_seed):
    y = np.array([0, 1] * 500)
    pred = y.copy()
    pred[:errors] = 1 - pred[:errors]
    record(EvalResult("model", ("neg", "pos"), y, pred))
'''


def test_a_tests_own_seed_like_ids_stay_separate_entries(pytester):
    pytester.makepyfile(test_study=STUDY)
    assert pytester.runpytest("--lmgate-baseline", "b.json", "--lmgate-update-baseline").ret == 0
    entries = json.loads((pytester.path / "b.json").read_text())["entries"]
    keys = sorted(k for k in entries if k.endswith("::accuracy"))
    assert keys == ["test_study.py::test_ckpt[bert-seed1-10]::model::accuracy",
                    "test_study.py::test_ckpt[bert-seed2-200]::model::accuracy"]
    assert all(len(entries[k]["values"]) == 1 for k in keys)
    # Repeats still group by the seed id lmgate adds, and only by it.
    assert pytester.runpytest("--lmgate-baseline", "r.json", "--lmgate-update-baseline",
                              "--lmgate-repeats", "2").ret == 0
    entries = json.loads((pytester.path / "r.json").read_text())["entries"]
    keys = sorted(k for k in entries if k.endswith("::accuracy"))
    assert keys == ["test_study.py::test_ckpt[bert-seed1-10]::model::accuracy",
                    "test_study.py::test_ckpt[bert-seed2-200]::model::accuracy"]
    assert [entries[k]["seeds"] for k in keys] == [[0, 1], [0, 1]]
    assert math.isclose(entries[keys[0]]["value"], 0.99)


def test_a_rootdir_picked_from_the_baseline_path_is_an_error_not_other_keys(pytester):
    """Without a pytest configuration file, `--lmgate-baseline /elsewhere/main.json` (two tokens)
    makes pytest pick the common ancestor as rootdir, and every key would change."""
    project = pytester.mkdir("proj")
    elsewhere = pytester.mkdir("elsewhere")
    (project / "test_x.py").write_text(STUDY)
    pytester.chdir()
    import os

    os.chdir(project)
    assert pytester.runpytest("--lmgate-baseline", str(elsewhere / "main.json"),
                              "--lmgate-update-baseline").ret == 0   # rootdir: proj (the cwd)
    os.chdir(project)
    result = pytester.runpytest("test_x.py", "--lmgate-baseline", str(elsewhere / "main.json"))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "which pytest chose from the command line's paths" in result.stderr.str()
    (project / "pytest.ini").write_text("[pytest]\n")
    assert pytester.runpytest("test_x.py", "--lmgate-baseline", str(elsewhere / "main.json")).ret == 0


def test_declared_bounds_are_checked_and_declarations_validated():
    from lmgate.metrics.registry import metric_info, register_metric

    assert metric_info("macro_f1").bounds == (0.0, 1.0) and metric_info("bleu").bounds == (0, 100)
    assert metric_info("my_own_score") is None            # undeclared: no bounds, not gated
    info = register_metric("fuzz_score", higher_is_better=True, bounds=(0, 5))
    assert info.within(5.0) and not info.within(5.1)
    for bad in [(1, 0), ("a", 1), (0,)]:
        with pytest.raises(ConfigError):
            register_metric("fuzz_score2", higher_is_better=True, bounds=bad)


def test_a_pipe_in_a_name_keeps_the_baseline_tables_cells():
    import re

    from lmgate.gate.render import markdown
    from lmgate.report.html import html_report

    key = "t.py::test_x[a|b]::model|v2::macro_f1"
    old = {key: measurement(key=key)}
    new = {key: measurement(key=key, value=0.5, values=[0.5], ci=[0.45, 0.55])}
    page = html_report(markdown(compare(old, new)), __import__("pathlib").Path("."))
    rows = re.findall(r"<tr>(.*?)</tr>", page, re.S)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", rows[1], re.S)
    # Python-Markdown pads or cuts a row to the header's 9 columns: the names must stay whole.
    assert len(rows) == 2 and cells[:4] == ["test_x[a|b]", "model|v2", "macro_f1", "0.8050"]


def test_update_over_a_newer_format_baseline_leaves_it_and_says_why(pytester):
    pytester.makepyfile(test_study=STUDY)
    newer = json.dumps({"lmgate_baseline": 2, "entries": {}})
    (pytester.path / "b.json").write_text(newer)
    result = pytester.runpytest("--lmgate-baseline", "b.json", "--lmgate-update-baseline")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "cannot be read" in result.stderr.str() and "not an lmgate baseline" in \
        result.stderr.str()
    assert (pytester.path / "b.json").read_text() == newer
