"""`lmgate import lm-eval` on outputs nobody wrote by hand: task names that are no file name
(a slash, `..`, a NUL, markup, 300 characters) and model arguments holding API keys. The
lm-eval output is built here in its own shape (a results file and its --log_samples lines),
so these run without lm-eval.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from interop_support import STAMP, lm_eval_output, one_line_error
from lmgate.cli import main
from lmgate.core.errors import ConfigError
from lmgate.report.interop.lm_eval import read_lm_eval

TASK_NAMES = st.one_of(
    st.text(st.characters(codec="utf-8"), min_size=1, max_size=40),
    st.sampled_from(["a/../b", "../up", "..", "a\0b", "x" * 300, "<b>t</b>", "a\\b", "/abs"]))


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(task=TASK_NAMES)
def test_a_task_name_is_never_a_path(tmp_path_factory, task):
    """Whatever a results file names its task, the import reads that task's samples file
    from beside it, or says in a ConfigError that it has none: a name is never joined into a
    path (a slash or a NUL raised ValueError from pathlib, a traceback under the CLI)."""
    folder = lm_eval_output(tmp_path_factory.mktemp("run") / "out", task)
    try:
        items = read_lm_eval(folder)
    except ConfigError as exc:
        assert "samples file" in str(exc)
    else:
        assert [item.task for item in items] == [task]
        assert items[0].result.n == 2


def test_a_samples_file_outside_the_folder_is_never_read(tmp_path, capsys):
    """`../` in a task name cannot reach a samples file beside the output folder."""
    task = f"../samples_t_{STAMP}.jsonl/.."
    lm_eval_output(tmp_path, "t")                       # a real samples file one level up
    folder = lm_eval_output(tmp_path / "out", task)
    err = one_line_error(capsys, "import", "lm-eval", str(folder), "--out",
                         str(tmp_path / "imported"))
    assert "has no samples file" in err
    assert not (tmp_path / "imported").exists()


SECRET = "Zq8vK2mX9pL4wR7t"


@pytest.mark.parametrize("model_args", [
    {"pretrained": "/m/tiny", "api_key": SECRET},
    {"pretrained": "/m/tiny", "openai_api_key": SECRET},
    {"pretrained": "/m/tiny", "auth_token": SECRET, "password": SECRET + "x"},
    f"pretrained=/m/tiny,openai_api_key={SECRET},base_url=http://h",
    f"pretrained=/m/tiny,db_password={SECRET}",
], ids=["api_key", "openai_api_key", "token+password", "string", "string-password"])
def test_an_api_key_in_model_args_is_written_nowhere(tmp_path, model_args):
    """lm-eval records the model's arguments as given, a key among them: no file of the
    imported folder holds it (results.csv held it as the cell under its column's name, and
    `openai_api_key=...` escaped the text pattern, which wanted `api_key` to start a word)."""
    folder = lm_eval_output(tmp_path / "run", "t", model_args=model_args)
    out = tmp_path / "imported"
    assert main(["import", "lm-eval", str(folder), "--out", str(out)]) == 0
    written = [p for p in out.rglob("*") if p.is_file()]
    assert {p.name for p in written} >= {"results.jsonl", "results.csv"}
    assert not [p.name for p in written if SECRET in p.read_text(encoding="utf-8")]
    assert "pretrained" in (out / "results.jsonl").read_text(encoding="utf-8")


def test_an_inspect_archive_that_unpacks_past_the_limit_is_refused_unread(tmp_path, capsys,
                                                                          monkeypatch):
    """An .eval log is a zip: its size on disk says nothing of what it unpacks to, which
    inspect_ai would hold in memory; the entries' sizes are checked before it reads any."""
    import zipfile

    from lmgate.report.interop import inspect_log

    monkeypatch.setattr(inspect_log, "MAX_BYTES", 2**20)
    log = tmp_path / "bomb.eval"
    with zipfile.ZipFile(log, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("header.json", "{}")
        archive.writestr("samples/1_epoch_1.json", " " * (2**20 + 1))
    assert log.stat().st_size < 2**14
    read = []
    monkeypatch.setattr("inspect_ai.log.read_eval_log", lambda *args: read.append(args))
    err = one_line_error(capsys, "import", "inspect", str(log), "--out", str(tmp_path / "out"))
    assert f"unpacks to {2**20 + 3} bytes" in err and not read
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("aggregate, values", [(None, 1.0), ("N/A", 1.0), (None, "yes")],
                         ids=["no aggregate", "text aggregate", "text values too"])
def test_a_metric_that_cannot_be_imported_is_named_in_the_notes(tmp_path, aggregate, values):
    """A metric with neither per-document numbers averaging to a numeric aggregate nor such an
    aggregate cannot be compared; it was left out without a word."""
    import json

    folder = lm_eval_output(tmp_path / "run", "t")
    results = next(folder.glob("results_*.json"))
    doc = json.loads(results.read_text(encoding="utf-8"))
    doc["results"]["t"]["f1,none"] = aggregate
    results.write_text(json.dumps(doc), encoding="utf-8")
    samples = next(folder.glob("samples_*.jsonl"))
    lines = [{**json.loads(line), "metrics": ["acc", "f1"], "f1": values}
             for line in samples.read_text(encoding="utf-8").splitlines()]
    samples.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    [item] = read_lm_eval(folder)
    assert "f1" not in item.result.metrics
    assert [n for n in item.result.info["notes"] if n.startswith("t: f1 not imported")]


def test_an_imported_name_prints_one_line(tmp_path, capsys):
    """A task or model name holding a line break printed a line of its own, one that could
    read as lmgate's ("lmgate: error: ..."): each imported result is one line of output."""
    task, model = "t\nlmgate: error: fake", "/m/x\r\u2028y"
    folder = lm_eval_output(tmp_path / "run", task, model_args={"pretrained": model})
    capsys.readouterr()
    assert main(["import", "lm-eval", str(folder), "--out", str(tmp_path / "out")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[0].startswith("lm-eval t\\x0almgate: error: fake (")
    assert not [line for line in lines if line.startswith("lmgate: error")]
