"""Trackers on real back ends: `pytest evals -k baselines --lmgate-track mlflow` logs one MLflow
run to a SQLite store, read back through MlflowClient; a store that cannot start stops the
session before any test; nothing of MLflow is imported by a run that does not ask."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


READ_BACK = """
import json, sys
from mlflow.tracking import MlflowClient
client = MlflowClient(sys.argv[1])
runs = client.search_runs([client.get_experiment_by_name("lmgate").experiment_id])
def listing(run, path):
    return [a.path for a in client.list_artifacts(run.info.run_id, path)]
print(json.dumps([{"status": r.info.status, "metrics": r.data.metrics, "params": r.data.params,
                   "tags": r.data.tags, "results": listing(r, "results"),
                   "plots": listing(r, "results/plots/test_baselines")} for r in runs]))
"""


def read_back(uri: str) -> list[dict]:
    """The store's runs through MlflowClient, in a process of its own: MLflow (its SQLite
    migrations reconfigure logging) stays out of this session, whose later in-process pytest
    runs it disturbed."""
    done = subprocess.run([sys.executable, "-c", READ_BACK, uri], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.splitlines()[-1])


def needs_mlflow() -> None:
    if importlib.util.find_spec("mlflow") is None:
        pytest.skip('the MLflow tracker needs "lmgate[mlflow]"')


@pytest.fixture
def mlflow_uri(tmp_path, monkeypatch):
    needs_mlflow()
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri


def test_baselines_study_logs_metrics_claims_and_plots_to_mlflow(pytester, mlflow_uri):
    out = pytester.path / "out"
    # In its own process, like read_back: MLflow stays out of this session.
    result = pytester.runpytest_subprocess(str(ROOT / "evals"), "-k", "baselines", "-p",
                                           "no:cacheprovider", "--lmgate-track", "mlflow",
                                           "--results-dir", str(out))
    assert result.ret == 0, result.stdout.str()[-3000:]
    assert "lmgate: logged to mlflow: " in result.stdout.str()
    (run,) = read_back(mlflow_uri)
    assert run["status"] == "FINISHED"
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    english = next(r for r in rows if r["nodeid"].endswith("[en]") and r["result"] == "tfidf-logreg")
    key = "evals/test_baselines.py/test_tfidf_beats_majority_class_en_/tfidf-logreg/macro_f1"
    assert run["metrics"][key] == pytest.approx(english["metrics"]["macro_f1"])
    low, high = english["info"]["macro_f1_ci"]
    assert run["metrics"][key + "_ci_low"] == pytest.approx(low)
    assert run["metrics"][key + "_ci_high"] == pytest.approx(high)
    claim = run["tags"]["claim/evals/test_baselines.py/test_tfidf_beats_majority_class_en_"]
    assert claim.startswith("passed: tfidf-logreg vs majority macro_f1: held, diff +")
    assert run["params"]["profile"] == "smoke" and run["params"]["seed"] == "0"
    assert "torch" in run["params"] and run["tags"]["lmgate.status"] == "passed"
    assert {"results/results.jsonl", "results/summary.md", "results/report.html",
            "results/plots"} <= set(run["results"])
    assert any(p.endswith(".png") for p in run["plots"])


def test_a_tracker_that_cannot_start_stops_the_session_before_any_test(pytester, tmp_path,
                                                                        monkeypatch):
    needs_mlflow()
    pytester.makepyfile(test_x="def test_x():\n    raise AssertionError('ran')\n")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")   # nothing listens there
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    result = pytester.runpytest_subprocess("--lmgate-track", "mlflow")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "MLflow at http://127.0.0.1:9 cannot start a run" in result.stderr.str()
    assert "ran" not in result.stdout.str()
    unknown = pytester.runpytest("--lmgate-track", "tensorboard")
    assert unknown.ret == pytest.ExitCode.USAGE_ERROR
    assert "unknown tracker 'tensorboard'; installed: ['mlflow']" in unknown.stderr.str()
