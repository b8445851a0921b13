"""`lmgate export --format every-eval-ever`: a real results folder as the format's documents,
validated against the schema its own package ships (fetched like model weights)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lmgate.cli import main
from lmgate.core.cache import RunCache
from lmgate.core.errors import ConfigError
from lmgate.report import every_eval_ever as eee
from lmgate.report.rows import ResultRow

@pytest.fixture(scope="module")
def results(tracked_baselines) -> Path:
    """The baselines study's results folder, as a user's run wrote it (tests/conftest.py)."""
    assert tracked_baselines.returncode == 0, tracked_baselines.stdout[-2000:]
    return tracked_baselines.results


@pytest.fixture(scope="module")
def schema(_test_cache_dir):
    return eee.schema(RunCache(_test_cache_dir))


def test_a_results_folder_exports_valid_documents_with_its_scores_and_intervals(
        results, schema, tmp_path, capsys):
    import jsonschema

    out = tmp_path / "eee"
    assert main(["export", "--format", "every-eval-ever", str(results), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    rows = {(r["nodeid"], r["result"]): r for r in map(json.loads, (results / "results.jsonl")
                                                       .read_text().splitlines())}
    files = sorted(out.glob("*.json"))
    assert files and f"wrote {files[0]} (valid Every Eval Ever 0.3.0)" in printed
    assert schema["version"] == "0.3.0"
    exported = 0
    for path in files:
        doc = json.loads(path.read_text())
        jsonschema.Draft7Validator(schema).validate(doc)      # the format's own check
        assert doc["eval_library"]["name"] == "lmgate"
        assert doc["source_metadata"]["evaluator_relationship"] == "third_party"
        for entry in doc["evaluation_results"]:
            details = entry["score_details"]["details"]
            row = rows[details["test"], details["result"]]
            metric = entry["metric_config"]["metric_id"]
            assert entry["score_details"]["score"] == row["metrics"][metric]
            assert row["params"].get("model", "unspecified") == doc["model_info"]["name"]
            ci = row["info"].get(f"{metric}_ci")
            if ci:
                interval = entry["score_details"]["uncertainty"]["confidence_interval"]
                assert [interval["lower"], interval["upper"]] == ci
            assert entry["metric_config"]["lower_is_better"] is False
            exported += 1
    recorded = sum(1 for r in rows.values() for m in r["metrics"])
    left_out = printed.count("left out: ")
    assert exported + left_out == recorded and exported >= 4   # nothing silently dropped
    # A second export into the same folder would replace files: refused, nothing written.
    before = {p: p.read_bytes() for p in files}
    assert main(["export", "--format", "every-eval-ever", str(results), "--out", str(out)]) == 2
    assert "already holds" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in files} == before


def test_the_schema_check_catches_a_broken_document(results, schema):
    rows = [ResultRow.from_json(json.loads(line))
            for line in (results / "results.jsonl").read_text().splitlines()]
    export = eee.to_every_eval_ever(rows, organization="lab", relationship="first_party",
                                    evaluated_at=0.0)
    doc = next(iter(export.documents.values()))
    eee.validate(doc, schema)
    del doc["model_info"]["additional_details"]["deployment_type"]
    with pytest.raises(ConfigError, match="model_info/additional_details: 'deployment_type'"):
        eee.validate(doc, schema)
    with pytest.raises(ConfigError, match="relationship must be one of"):
        eee.to_every_eval_ever(rows, organization="lab", relationship="friends",
                               evaluated_at=0.0)


def test_bad_usage_is_exit_2_before_anything_is_written(tmp_path, capsys):
    folder, out = tmp_path / "not-results", tmp_path / "out"
    folder.mkdir()
    assert main(["export", "--format", "every-eval-ever", str(folder), "--out", str(out)]) == 2
    assert "not an lmgate results folder" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:
        main(["export", "--format", "csv", str(folder), "--out", str(out)])
    assert usage.value.code == 2 and not out.exists()


def test_push_builds_and_saves_the_dataset_and_says_why_it_did_not_push_offline(
        results, tmp_path, monkeypatch, capsys):
    """The hub is unreachable here: the three configs are built and saved, and the push is
    skipped with the reason (exit 1); the token never reaches the output or the files."""
    from datasets import load_from_disk

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_TOKEN", "hf_do_not_leak_0123456789")
    saved = tmp_path / "dataset"
    assert main(["push", str(results), "--repo", "lab/lmgate-runs", "--save-to", str(saved)]) == 1
    out, err = capsys.readouterr()
    assert "not pushed to lab/lmgate-runs: the hub is offline here (HF_HUB_OFFLINE is set)" in err
    assert f"the dataset is saved at {saved}" in err and "hf_do_not_leak" not in out + err
    rows = [json.loads(line) for line in (results / "results.jsonl").read_text().splitlines()]
    table = load_from_disk(str(saved / "results"))
    assert len(table) == sum(len(r["metrics"]) for r in rows)
    first = next(t for t in table if t["metric"] == "macro_f1")
    row = next(r for r in rows if (r["nodeid"], r["result"]) == (first["test"], first["result"]))
    assert first["value"] == row["metrics"]["macro_f1"]
    assert [first["ci_low"], first["ci_high"]] == row["info"]["macro_f1_ci"]
    predictions = load_from_disk(str(saved / "predictions"))
    lines = [json.loads(line) for line in (results / "predictions.jsonl").read_text().splitlines()]
    assert len(predictions) == sum(len(line["y_pred"]) for line in lines)
    assert len(load_from_disk(str(saved / "claims"))) >= 2
    assert not any(b"hf_do_not_leak" in p.read_bytes() for p in saved.rglob("*") if p.is_file())
    # Usage errors come before any work: a repo that is a path, a folder already there.
    assert main(["push", str(results), "--repo", "../etc", "--save-to", str(tmp_path / "x")]) == 2
    assert main(["push", str(results), "--repo", "lab/runs", "--save-to", str(saved)]) == 2
    assert not (tmp_path / "x").exists()
    # Online and without a token: whatever the caller's environment, whose HF_HUB_OFFLINE or
    # TRANSFORMERS_OFFLINE huggingface_hub read once when it was imported.
    from huggingface_hub import constants

    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    assert main(["push", str(results), "--repo", "lab/runs", "--save-to", str(tmp_path / "y")]) == 2
    assert "set HF_TOKEN" in capsys.readouterr().err and not (tmp_path / "y").exists()
