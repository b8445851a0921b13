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
