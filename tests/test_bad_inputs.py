"""Bad input, found up front and said clearly (issue: reliability and security)."""

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from lmgate.core.cache import RunCache
from lmgate.data.loaders import labeled, read_table
from lmgate.core.errors import ConfigError, DataError
from lmgate.models.store.registry import ModelSpec, spec_from_mapping
from lmgate.models.store.resolve import resolve_model

EXPERIMENT = '''
import numpy as np
from lmgate import EvalResult

def test_one(record):
    y = np.array([0, 1] * 20)
    record(EvalResult("model", ("neg", "pos"), y, y))
'''


def run_with(pytester, *args, pyproject: str = ""):
    pytester.makepyfile(test_study=EXPERIMENT)
    if pyproject:
        pytester.makefile(".toml", pyproject=pyproject)
    return pytester.runpytest(*args)


def bad_baselines(folder):
    """Corrupt baseline files, each with the words its error must contain."""
    cases = {"truncated.json": ('{"lmgate_baseline": 1, "entr', "not valid JSON"),
             "list.json": ("[1, 2]", "is not an lmgate baseline"),
             "novalue.json": (json.dumps({"lmgate_baseline": 1, "entries": {
                 "t::r::accuracy": {"values": [1.0], "seeds": [0]}}}), "is malformed")}
    for name, (text, _) in cases.items():
        (folder / name).write_text(text)
    return {name: words for name, (_, words) in cases.items()}


@pytest.mark.parametrize("args, words", [
    (["--lmgate-tolerance", "-1"], "--lmgate-tolerance must be >= 0"),
    (["--lmgate-tolerance", "nan"], "--lmgate-tolerance must be a finite number"),
    (["--lmgate-tolerance", "abc"], "--lmgate-tolerance must be a number, got 'abc'"),
    (["--lmgate-repeats", "abc"], "--lmgate-repeats must be an integer"),
    (["--lmgate-seed", "x"], "--lmgate-seed must be an integer, got 'x'"),
    (["--lmgate-gate-alpha", "2"], "--lmgate-gate-alpha must be in (0, 1)"),
    (["--lmgate-device", "tpu"], "unknown --lmgate-device 'tpu'"),
    (["--lmgate-plots", "maybe"], "--lmgate-plots must be on or off, got 'maybe'"),
    (["--lmgate-keep-freed-memory", "yes"],
     "--lmgate-keep-freed-memory must be on or off, got 'yes'"),
    (["--lmgate-profile", "fast"], "unknown profile 'fast'; choose one of ['paper', 'smoke']"),
])
def test_bad_options_are_usage_errors_naming_the_option(pytester, args, words):
    result = run_with(pytester, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert words in result.stderr.str()


@pytest.mark.parametrize("table, words", [
    ('trust_remote_code = "no"', "trust_remote_code must be a bool (true or false, not a string)"),
    ('cpu_bf16_features = "yes"', "cpu_bf16_features must be a bool (true or false, not a string)"),
    ('max_length = "abc"', "max_length must be a int, got 'abc'"),
    ("path = 5", "path must be a str, got 5"),
    ('name = "x"', "unknown key(s) ['name']"),
    ('pypi = { package = "x" }', ".pypi: missing required key(s) ['module']"),
])
def test_malformed_model_tables_are_usage_errors(pytester, table, words):
    pyproject = f'[tool.lmgate.models.mine]\nkind = "encoder-classifier"\nhub_id = "org/mine"\n{table}\n'
    result = run_with(pytester, pyproject=pyproject)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "[tool.lmgate.models.mine]" in result.stderr.str() and words in result.stderr.str()


def test_model_table_without_kind(pytester):
    result = run_with(pytester, pyproject='[tool.lmgate.models.mine]\nhub_id = "org/mine"\n')
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "missing required key(s) ['kind']" in result.stderr.str()


def test_trust_remote_code_string_never_becomes_true():
    with pytest.raises(ConfigError, match="trust_remote_code must be a bool"):
        spec_from_mapping("m", {"kind": "causal-lm", "hub_id": "x", "trust_remote_code": "false"})
    with pytest.raises(ConfigError, match="trust_remote_code must be True or False"):
        ModelSpec("m", "causal-lm", hub_id="x", trust_remote_code="no")


def test_pickle_only_weights_are_refused_unless_allowed(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "pytorch_model.bin").write_bytes(b"not really a pickle")
    spec = ModelSpec("pickled", "encoder-classifier", path=str(tmp_path))
    with pytest.raises(ConfigError, match="only pickled weights.*allow_pickle = true"):
        resolve_model(spec, tmp_path / "cache")
    allowed = ModelSpec("pickled", "encoder-classifier", path=str(tmp_path), allow_pickle=True)
    assert resolve_model(allowed, tmp_path / "cache").location == str(tmp_path)


def test_edited_manifest_metadata_is_not_trusted(tmp_path):
    cache = RunCache(tmp_path)
    compute_calls = []

    def compute():
        compute_calls.append(1)
        return {"n_train": 100}
    memo = cache.memo("runs", {"a": 1}, compute, lambda v, folder: v, lambda e: e.meta["n_train"])
    manifest = memo.entry.path / "manifest.json"
    doc = json.loads(manifest.read_text())
    doc["meta"]["n_train"] = 999_999
    manifest.write_text(json.dumps(doc))
    again = cache.memo("runs", {"a": 1}, compute, lambda v, folder: v, lambda e: e.meta["n_train"])
    assert (again.value, again.hit, len(compute_calls)) == (100, False, 2)


@pytest.mark.parametrize("name", ["truncated.json", "list.json", "novalue.json"])
def test_corrupt_baseline_stops_the_run_before_any_test(pytester, name):
    words = bad_baselines(pytester.path)[name]
    result = run_with(pytester, "--lmgate-baseline", name)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert words in result.stderr.str() and name in result.stderr.str()


def test_truncated_baseline_predictions_are_named_with_their_line(pytester):
    assert run_with(pytester, "--lmgate-baseline", "b.json", "--lmgate-update-baseline").ret == 0
    side = pytester.path / "b.predictions.jsonl"
    side.write_text(side.read_text()[:40])
    result = pytester.runpytest("--lmgate-baseline", "b.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "b.predictions.jsonl, line 1: malformed" in result.stderr.str()


@pytest.mark.parametrize("layout, words", [("file", "is a file, not a folder"),
                                           ("inside-file", "is a file, not a folder"),
                                           ("read-only", "is not writable")])
def test_bad_results_dir_is_found_up_front(pytester, layout, words):
    if layout == "read-only" and os.geteuid() == 0:
        pytest.skip("root writes into read-only folders")
    target = pytester.path / "out"
    if layout == "file":
        target.write_text("x")
    elif layout == "inside-file":
        target.write_text("x")
        target = target / "deeper"
    else:
        target.mkdir()
        target.chmod(0o500)
    result = run_with(pytester, "--lmgate-results-dir", str(target))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert words in result.stderr.str()


def test_results_of_a_previous_session_do_not_survive_an_all_skipped_run(pytester):
    assert run_with(pytester).ret == 0
    assert (pytester.path / "lmgate-results" / "results.jsonl").exists()
    pytester.makepyfile(test_study="import pytest\ndef test_one():\n    pytest.skip('no data')\n")
    pytester.runpytest().assert_outcomes(skipped=1)
    assert not (pytester.path / "lmgate-results" / "results.jsonl").exists()


def test_update_baseline_refuses_a_failing_run(pytester):
    pytester.makepyfile(test_study=EXPERIMENT + "\ndef test_broken():\n    assert False\n")
    result = pytester.runpytest("--lmgate-baseline", "b.json", "--lmgate-update-baseline")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*1 test(s) failed: the baseline*was not updated*"])
    assert not (pytester.path / "b.json").exists()
    forced = pytester.runpytest("--lmgate-baseline", "b.json", "--lmgate-update-baseline", "--lmgate-force")
    assert forced.ret == pytest.ExitCode.TESTS_FAILED
    assert (pytester.path / "b.json").exists()
    alone = pytester.runpytest("--lmgate-force")
    assert alone.ret == pytest.ExitCode.USAGE_ERROR
    assert "--lmgate-force only applies to --lmgate-update-baseline" in alone.stderr.str()


def test_changed_test_data_is_named_in_the_gate(pytester):
    assert run_with(pytester, "--lmgate-baseline", "b.json", "--lmgate-update-baseline").ret == 0
    changed = EXPERIMENT.replace('record(EvalResult("model", ("neg", "pos"), y, y))',
                                 'record(EvalResult("model", ("neg", "pos"), y, y, '
                                 'info={"data_fingerprint": "other"}))')
    baseline = json.loads((pytester.path / "b.json").read_text())
    for entry in baseline["entries"].values():
        entry["data_fingerprint"] = "before"
    (pytester.path / "b.json").write_text(json.dumps(baseline))
    pytester.makepyfile(test_study=changed)
    result = pytester.runpytest("--lmgate-baseline", "b.json")
    result.stdout.fnmatch_lines(["*lmgate: test data changed: test_study.py::test_one*"])
    summary = (pytester.path / "lmgate-results" / "summary.md").read_text()
    assert "Test data differ from the baseline's" in summary and "(data changed)" in summary


@pytest.mark.parametrize("name, content, words", [
    ("data.csv", b"", "is empty (0 bytes)"),
    ("data.jsonl", b"", "is empty (0 bytes)"),
    ("data.csv", b"text,label\nok,1\n\xff\xfebad,0\n", "line 3 (byte 16): not valid UTF-8"),
    ("data.jsonl", b'{"text": "ok", "label": 1}\n{"text": "\xff\xfe", "label": 0}\n',
     "line 2 (byte 37): not valid UTF-8"),
    ("data.jsonl", b'{"text": "ok", "label": 1}\n{"text"', "cannot be read as .jsonl"),
])
def test_data_errors_name_the_file_and_line(tmp_path, name, content, words):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataError) as excinfo:
        read_table(path)
    assert str(path) in str(excinfo.value) and words in str(excinfo.value)


def test_label_ids_that_disagree_with_label_names_are_an_error():
    frame = pd.DataFrame({"text": ["a", "b", "c"], "label": [2, 0, 1],
                          "label_name": ["negative", "neutral", "positive"]})
    with pytest.raises(DataError, match="label ids disagree with column 'label_name' on 3 row"):
        labeled(frame, ("negative", "neutral", "positive"))
    agreeing = frame.assign(label=[0, 1, 2])
    assert labeled(agreeing, ("negative", "neutral", "positive")).y.tolist() == [0, 1, 2]


def test_corrupt_cached_tokenizer_is_rebuilt_and_cache_clear_empties_everything(tmp_path):
    from lmgate.models.store.tiny import train_tokenizer

    cache = RunCache(tmp_path)
    texts = ["a b c d", "e f g h"] * 20
    train_tokenizer(texts, vocab_size=60, cache=cache)
    [stored] = list((tmp_path / "runs" / "tokenizers").rglob("tokenizer.json"))
    stored.write_text(stored.read_text()[:50])
    assert len(train_tokenizer(texts, vocab_size=60, cache=cache)) > 10
    cache.clear()
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


def test_staging_folders_of_dead_writers_are_removed(tmp_path):
    cache = RunCache(tmp_path)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    cache.put("runs", "ab" * 32, lambda folder: None, {})
    folder = tmp_path / "runs" / "runs" / "ab"
    stale, alive = folder / f".abababab-{dead}-x1", folder / f".abababab-{os.getpid()}-x2"
    stale.mkdir()
    alive.mkdir()
    cache.put("runs", "ab" * 31 + "cd", lambda folder: None, {})
    assert not stale.exists() and alive.exists()


def test_a_class_without_training_rows_is_noted():
    from lmgate.methods.baselines import majority_class
    from lmgate.data import LabeledData

    labels = ("neg", "neutral", "pos")
    train = LabeledData(pd.DataFrame({"text": ["a", "b"], "label": [0, 2]}), labels)
    test = LabeledData(pd.DataFrame({"text": ["c", "d", "e"], "label": [0, 1, 2]}), labels)
    result = majority_class(train, test)
    assert any("['neutral'] have no training rows" in note for note in result.info["notes"])
    assert np.isfinite(result["macro_f1"])


def test_leakage_between_splits_is_noted_or_an_error():
    from lmgate.data import DataSplits, LabeledData, train_val_test

    rows = [{"text": f"text {i % 12}", "label": i % 2} for i in range(120)]  # every text 10x
    data = LabeledData(pd.DataFrame(rows), ("neg", "pos"), "dupes")
    splits = train_val_test(data, seed=0)
    [note] = [n for n in splits.notes if n.startswith("leakage: ")]
    assert f"of {len(splits.test)} test texts also in train" in note
    with pytest.raises(DataError, match="leakage: .* test texts also in train"):
        train_val_test(data, seed=0, leakage="error")
    clean = LabeledData(pd.DataFrame([{"text": f"unique {i}", "label": i % 2} for i in range(40)]),
                        ("neg", "pos"))
    assert not any(n.startswith("leakage") for n in train_val_test(clean).notes)
    assert DataSplits(clean, clean, clean).leaked() == {"train": 40, "validation": 40}


def test_leakage_reaches_the_results_of_a_finetuned_run(tmp_path):
    from lmgate.data import LabeledData, train_val_test
    from lmgate.core.config import TrainConfig
    from lmgate.methods.finetune import finetune

    rows = [{"text": f"word{i % 30} thing", "label": i % 2} for i in range(120)]
    splits = train_val_test(LabeledData(pd.DataFrame(rows), ("neg", "pos")), seed=0)
    run = finetune("tiny-encoder", splits, config=TrainConfig(epochs=1, max_length=16),
                   seed=0, device="cpu", cache=RunCache(tmp_path),
                   tokenizer_texts=splits.train.texts)
    result = run.predict(splits.test)
    assert any(n.startswith("leakage: ") for n in result.info["notes"])


def test_trainer_scratch_lives_in_the_cache_and_dead_writers_scratch_is_removed(tmp_path):
    cache = RunCache(tmp_path)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    stale = tmp_path / "scratch" / f".train-{dead}-x1"
    stale.mkdir(parents=True)
    with cache.scratch("train") as workdir:
        assert workdir.parent == tmp_path / "scratch" and workdir.is_dir()
        (workdir / "checkpoint-1").mkdir()
    assert not workdir.exists() and not stale.exists()


def test_language_codes_in_another_case_or_unknown_are_said_not_dropped(tmp_path, monkeypatch):
    from fixtures.datasets import multilingual_sentiment

    folder = tmp_path / "multilingual_sentiment"
    folder.mkdir()
    names = ("negative", "neutral", "positive")
    for split in ("train", "validation", "test"):
        rows = [{"text": f"{split} {i}", "label": i % 3, "label_name": names[i % 3],
                 "language": ("EN" if i < 6 else "xx" if i < 9 else "en")} for i in range(30)]
        (folder / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    monkeypatch.setenv("LMGATE_DATA_DIR", str(tmp_path))
    data = multilingual_sentiment(["en"], source="local")
    assert len(data.train) == 27 and len(data.test) == 27   # the EN rows kept as en
    notes = " ".join(data.test.notes)
    assert "6 row(s) with language codes spelled ['EN'] read as ['en']" in notes
    assert "3 row(s) with unknown language code(s) ['xx'] left out" in notes


def test_leakage_reaches_results_of_methods_that_take_the_splits_apart():
    """The baselines study's way: `tfidf_logreg(splits.train, splits.test)`, no DataSplits."""
    from lmgate.data import LabeledData, train_val_test
    from lmgate.methods.baselines import tfidf_logreg

    rows = [{"text": f"text {i % 40} of many", "label": i % 2} for i in range(200)]
    splits = train_val_test(LabeledData(pd.DataFrame(rows), ("neg", "pos")), seed=0)
    result = tfidf_logreg(splits.train, splits.test)
    assert any(n.startswith("leakage: ") for n in result.info["notes"])


def test_a_write_that_fills_the_disk_leaves_no_staging_and_later_runs_sweep_the_cache(tmp_path):
    import errno

    cache = RunCache(tmp_path)

    def full_disk(folder):
        (folder / "weights.safetensors").write_bytes(b"x" * 100)
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError):
        cache.put("runs", "ef" * 32, full_disk, {})
    assert not [p for p in (tmp_path / "runs").rglob(".*") if p.is_dir()]
    # A writer killed under some other key: the next cache object removes its staging.
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    stale = tmp_path / "runs" / "other" / "12" / f".12121212-{dead}-x"
    stale.mkdir(parents=True)
    RunCache(tmp_path).put("runs", "ab" * 32, lambda folder: None, {})
    assert not stale.exists()
