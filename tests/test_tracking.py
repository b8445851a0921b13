"""Trackers on real back ends: `pytest evals -k baselines --lmgate-track mlflow` logs one MLflow
run to a SQLite store, read back through MlflowClient; `--lmgate-track wandb` with
WANDB_MODE=offline writes one W&B run folder, read back from W&B's own run file; a store that
cannot start stops the session before any test; nothing of either is imported by a run that
does not ask."""

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


def test_baselines_study_logs_metrics_claims_and_plots_to_mlflow(tracked_baselines):
    needs_mlflow()
    # The study ran in its own process (tests/conftest.py), and read_back runs in one too:
    # MLflow stays out of this session.
    run_ = tracked_baselines
    assert run_.returncode == 0, run_.stdout[-3000:]
    assert "lmgate: logged to mlflow: " in run_.stdout
    out = run_.results
    (run,) = read_back(run_.mlflow_uri)
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
    assert "unknown tracker 'tensorboard'; installed: ['mlflow', 'wandb']" in unknown.stderr.str()


def wandb_records(run_file: Path) -> dict[str, list]:
    """The records of a W&B run file (`run-<id>.wandb`, what `wandb sync` uploads) by type,
    parsed with W&B's own protobufs. The file is W&B's header (":W&B", magic, version: 7
    bytes), then LevelDB log framing: 32 KiB blocks of records (crc32c 4, length 2, type 1:
    full/first/middle/last); wandb 0.31 has no Python reader of its own any more."""
    import struct

    from wandb.proto import wandb_internal_pb2

    data = run_file.read_bytes()
    assert data[:4] == b":W&B", data[:7]
    records: dict[str, list] = {}
    pos, pending, block = 7, b"", 32768
    while pos + 7 <= len(data):
        if block - pos % block < 7:   # a block's tail too short for a header is padding
            pos += block - pos % block
            continue
        length, kind = struct.unpack("<HB", data[pos + 4:pos + 7])
        payload, pos = data[pos + 7:pos + 7 + length], pos + 7 + length
        if kind == 0:   # zero-filled end of the file
            break
        pending = payload if kind in (1, 2) else pending + payload
        if kind in (1, 4):   # full, last
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            records.setdefault(record.WhichOneof("record_type"), []).append(record)
    return records


def test_baselines_study_logs_metrics_claims_and_plots_to_wandb_offline(tracked_baselines):
    if importlib.util.find_spec("wandb") is None:
        pytest.skip('the W&B tracker needs "lmgate[wandb]"')
    out, runs = tracked_baselines.results, tracked_baselines.wandb_dir
    assert tracked_baselines.returncode == 0, tracked_baselines.stdout[-3000:]
    assert "lmgate: logged to wandb: W&B project 'lmgate', run " in tracked_baselines.stdout
    (folder,) = (runs / "wandb").glob("offline-run-*")
    records = wandb_records(next(folder.glob("run-*.wandb")))

    def items(kind: str) -> dict:
        return {(i.key or "/".join(i.nested_key)): json.loads(i.value_json)
                for r in records[kind] for i in getattr(r, kind).update}

    summary, config = items("summary"), items("config")
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    english = next(r for r in rows if r["nodeid"].endswith("[en]") and r["result"] == "tfidf-logreg")
    key = "evals/test_baselines.py/test_tfidf_beats_majority_class[en]/tfidf-logreg/macro_f1"
    assert summary[key] == pytest.approx(english["metrics"]["macro_f1"])
    low, high = english["info"]["macro_f1_ci"]
    assert summary[key + "_ci_low"] == pytest.approx(low)
    assert summary[key + "_ci_high"] == pytest.approx(high)
    claim = "claim/evals/test_baselines.py/test_tfidf_beats_majority_class[en]/macro_f1/diff"
    assert summary[claim] > 0 and summary["lmgate.status"] == "passed"
    assert config["profile"] == "smoke" and config["seed"] == 0
    assert "torch" in config
    # The claims table and the plots are media files of the run; the folder is an artifact.
    media = {p.relative_to(folder / "files").as_posix() for p in (folder / "files").rglob("*")
             if p.is_file()}
    assert any(m.startswith("media/table/claims_") for m in media), media
    assert any(m.startswith("media/images/plots/test_baselines/") and m.endswith(".png")
               for m in media), media
    table = json.loads(next((folder / "files" / "media" / "table").glob("claims_*.json"))
                       .read_text())
    assert table["columns"] == ["test", "verdict", "comparisons"]
    assert ["evals/test_baselines.py::test_tfidf_beats_majority_class[en]", "passed"] in \
        [row[:2] for row in table["data"]]
    (artifact,) = [r.artifact for r in records["artifact"] if r.artifact.type == "lmgate-results"]
    assert {"results.jsonl", "summary.md", "report.html"} <= {e.path for e in artifact.manifest.contents}
    assert [r.exit.exit_code for r in records["exit"]] == [0]


def test_wandb_online_without_a_key_stops_the_session_before_any_test(pytester, monkeypatch):
    if importlib.util.find_spec("wandb") is None:
        pytest.skip('the W&B tracker needs "lmgate[wandb]"')
    pytester.makepyfile(test_x="def test_x():\n    raise AssertionError('ran')\n")
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    result = pytester.runpytest("--lmgate-track", "wandb")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "set WANDB_API_KEY (or WANDB_MODE=offline" in result.stderr.str()
    assert "ran" not in result.stdout.str()


COSTED_SUITE = '''
import numpy as np
from lmgate import EvalResult
y = np.array([0, 1] * 10)

def test_costed(record):
    record(EvalResult("api", ("n", "p"), y, y, info={"input_tokens": 1234, "output_tokens": 20,
                                                     "seconds": 1.5, "cost_usd": 0.0002}),
           EvalResult("free", ("n", "p"), y, y))
'''


def test_each_results_cost_is_logged_to_mlflow_beside_its_metrics(pytester, tmp_path,
                                                                 monkeypatch):
    needs_mlflow()
    pytester.makepyfile(test_costed=COSTED_SUITE)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    result = pytester.runpytest_subprocess("--lmgate-track", "mlflow",
                                           "--lmgate-results-dir", "out")
    assert result.ret == 0, result.stdout.str()[-3000:]
    (run,) = read_back(uri)
    key = "test_costed.py/test_costed/api/cost."
    costs = {k.removeprefix(key): v for k, v in run["metrics"].items() if k.startswith(key)}
    assert costs == {"input_tokens": 1234, "output_tokens": 20, "seconds": 1.5,
                     "cost_usd": pytest.approx(0.0002)}
    assert run["metrics"]["test_costed.py/test_costed/api/accuracy"] == 1.0
    assert not any("/free/cost." in k for k in run["metrics"])   # it recorded no cost
