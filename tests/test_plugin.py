"""Inner pytest sessions (pytester) exercising the plugin as a user would."""

import json
import xml.etree.ElementTree as ET

import pandas as pd
import pytest

EXPERIMENT = '''
import numpy as np
import pytest
from lmgate import EvalResult

@pytest.mark.parametrize("model", ["tiny-encoder", "big"])
@pytest.mark.parametrize("lang", ["en", "fr"])
def test_sentiment(lang, model, record):
    rng = np.random.default_rng(len(lang + model))
    y = rng.integers(0, 2, 40)
    record(EvalResult(model, ("neg", "pos"), y, np.where(rng.random(40) < 0.8, y, 1 - y)))
'''


@pytest.fixture
def suite(pytester):
    pytester.makepyfile(test_study=EXPERIMENT)
    return pytester


def test_help_shows_lmgate_group(pytester):
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(["lmgate: NLP experiments as tests:", "*--lmgate-profile*",
                                 "*--lmgate-device*", "*--lmgate-results-dir*", "*--lmgate-lang*", "*--lmgate-model*",
                                 "*--lmgate-seed*", "*--lmgate-no-cache*"])


def test_derived_markers_select_with_m(suite):
    result = suite.runpytest("-m", "lang_fr and not model_big", "--strict-markers", "-v")
    result.assert_outcomes(passed=1, deselected=3)
    result.stdout.fnmatch_lines(["*test_sentiment[[]fr-tiny-encoder[]] PASSED*"])
    assert suite.runpytest("-m", "task_study", "--strict-markers").ret == 0


def test_k_selects_by_name(suite):
    suite.runpytest("-k", "fr and big").assert_outcomes(passed=1, deselected=3)


def test_lang_and_model_options_deselect(suite):
    result = suite.runpytest("--lmgate-lang", "fr", "--lmgate-model", "tiny-encoder")
    result.assert_outcomes(passed=1, deselected=3)


@pytest.mark.parametrize("option, value, known", [("--lmgate-lang", "xx", "en, fr"),
                                                  ("--lmgate-model", "tiny-encoder,nope", "big, tiny_encoder")])
def test_unknown_lang_or_model_is_a_usage_error(suite, option, value, known):
    result = suite.runpytest(option, value)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{option} * matches no collected case*{known}*"])


def test_markers_are_listed(suite):
    result = suite.runpytest("--markers")
    result.stdout.fnmatch_lines(["*slow:*", "*gpu:*"])


def test_unknown_profile_is_a_usage_error(suite):
    result = suite.runpytest("--lmgate-profile", "fast")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown profile 'fast'; choose one of [[]'paper', 'smoke'[]]*"])


def test_bad_device_and_seed_are_usage_errors(suite):
    assert suite.runpytest("--lmgate-device", "tpu").ret == pytest.ExitCode.USAGE_ERROR
    assert suite.runpytest("--lmgate-seed", "x").ret == pytest.ExitCode.USAGE_ERROR


def test_exports_results_files(suite):
    result = suite.runpytest("--lmgate-results-dir", "out", "--junitxml", "junit.xml")
    result.assert_outcomes(passed=4)
    out = suite.path / "out"
    records = pd.read_json(out / "results.jsonl", lines=True)
    assert len(records) == 4 and set(records["result"]) == {"tiny-encoder", "big"}
    assert {"lang", "model"} <= set(records["params"].iloc[0])
    csv = pd.read_csv(out / "results.csv")
    assert {"metrics.macro_f1", "params.lang", "info.n"} <= set(csv.columns)
    preds = [json.loads(l) for l in (out / "predictions.jsonl").read_text().splitlines()]
    assert {p["record_id"] for p in preds} == set(records["record_id"])
    assert "| test | result | accuracy | macro_f1" in (out / "summary.md").read_text()
    page = (out / "report.html").read_text()
    assert "<table>" in page and "<th>macro_f1</th>" in page and "test_sentiment[en-big]" in page
    # pytest's default junit_family (xunit2) takes properties per suite, not per test case.
    root = ET.parse(suite.path / "junit.xml").getroot()
    assert not any(case.find("properties") is not None for case in root.iter("testcase"))
    suite_props = {p.get("name") for p in root.find("testsuite").find("properties")}
    assert "test_study.py::test_sentiment[en-big]::big.macro_f1" in suite_props
    suite.runpytest("--lmgate-results-dir", "out", "--junitxml", "j1.xml", "-o", "junit_family=xunit1")
    per_test = [p.get("name") for case in ET.parse(suite.path / "j1.xml").getroot().iter("testcase")
                for p in case.iter("property")]
    assert "big.macro_f1" in per_test
    # One line per claim (verdict), then the report; the metric dump only with -v.
    result.stdout.fnmatch_lines(["*lmgate results*", "RECORDED (no claim) test_sentiment[[]en-big[]]",
                                 "report: *out/report.html*"])
    assert "macro_f1" not in result.stdout.str().split("lmgate results")[1]
    verbose = suite.runpytest("--lmgate-results-dir", "out", "-v")
    verbose.stdout.fnmatch_lines(["*lmgate results*", "*test_sentiment[[]en-big[]]*big*"])
    rows = [json.loads(l) for l in (out / "results.jsonl").read_text().splitlines()]
    assert {r["verdict"] for r in rows} == {"passed"}


def test_no_records_writes_nothing(pytester):
    pytester.makepyfile("def test_plain(): pass")
    pytester.runpytest().assert_outcomes(passed=1)
    assert not (pytester.path / "lmgate-results").exists()


def test_plugin_costs_plain_pytest_runs_no_heavy_imports(pytester):
    # pytest loads the plugin in every run once lmgate is installed, lmgate tests or not.
    pytester.makepyfile("""
        import sys

        def test_nothing_heavy_loaded():
            heavy = {"numpy", "sklearn", "torch", "pandas", "transformers",
                     "mlflow", "wandb", "httpx"} & set(sys.modules)
            assert not heavy
    """)
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_unavailable_resource_is_a_skip_with_reason(pytester):
    pytester.makepyfile('''
        import pytest
        from lmgate.core.errors import DataUnavailable

        @pytest.fixture
        def data():
            raise DataUnavailable("parliament/ not found; put the TSVs in $LMGATE_DATA_DIR/parliament")

        def test_study(data):
            pass

        def test_in_body():
            raise DataUnavailable("no weights")

        def test_real_error():
            raise ValueError("bug")
    ''')
    result = pytester.runpytest("-rs")
    result.assert_outcomes(skipped=2, failed=1)
    result.stdout.fnmatch_lines(["*parliament/ not found; put the TSVs*", "*no weights*"])


def test_gpu_marker_skips_without_cuda(pytester):
    pytester.makepyfile('''
        import pytest

        @pytest.mark.gpu
        def test_on_gpu():
            pass
    ''')
    import torch
    result = pytester.runpytest("-rs", "--strict-markers")
    if torch.cuda.is_available():
        result.assert_outcomes(passed=1)
    else:
        result.assert_outcomes(skipped=1)
        result.stdout.fnmatch_lines(["*CUDA is not available*"])


def test_xdist_results_match_serial_run(suite):
    serial = suite.runpytest("--lmgate-results-dir", "serial", "-p", "no:randomly")
    serial.assert_outcomes(passed=4)
    parallel = suite.runpytest("-n", "2", "--lmgate-results-dir", "parallel")
    parallel.assert_outcomes(passed=4)

    def comparable(folder):
        rows = [json.loads(l) for l in (suite.path / folder / "results.jsonl").read_text().splitlines()]
        for row in rows:
            row.pop("elapsed_s")
        return rows

    assert comparable("serial") == comparable("parallel")
    assert (suite.path / "serial" / "predictions.jsonl").read_text() == \
        (suite.path / "parallel" / "predictions.jsonl").read_text()


def test_inner_sessions_survive_a_thread_that_imports_meanwhile(pytester):
    """tests/conftest.py's module snapshot: CI once lost 27 tests when a thread's import changed
    sys.modules while pytester restored it after an inner session."""
    import sys
    import threading
    import types

    stop = threading.Event()

    def import_forever() -> None:
        i = 0
        while not stop.is_set():
            i += 1
            sys.modules[f"_lmgate_probe_{i % 50}"] = types.ModuleType("probe")
            sys.modules.pop(f"_lmgate_probe_{(i + 25) % 50}", None)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)   # switch threads as often as the interpreter can
    thread = threading.Thread(target=import_forever, daemon=True)
    thread.start()
    try:
        for expected in range(1, 9):
            pytester.makepyfile(test_study="".join(
                f"def test_{i}():\n    pass\n" for i in range(expected)))
            pytester.runpytest().assert_outcomes(passed=expected)
    finally:
        stop.set()
        thread.join()
        sys.setswitchinterval(interval)
        for name in [name for name in sys.modules if name.startswith("_lmgate_probe_")]:
            del sys.modules[name]
