"""The `lmgate` command at its boundaries (issue 51, item 7): every usage or input error is
exit 2 with one line `lmgate: error: ...` (1 is the regression exit code), never a traceback;
output survives an ASCII locale; files are written whole, in UTF-8."""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from lmgate.cli import main
from lmgate.report.rows import ResultRow
from lmgate.report.writers import write_results

ROWS = [{"nodeid": "t.py::test_a", "result": "modèle→ü", "record_id": "r1",
         "params": {"seed": 0}, "metrics": {"accuracy": 0.8},
         "info": {"n": 20, "labels": ["neg", "pos"]}}]
PREDICTIONS = [{"record_id": "r1", "y_true": [0, 1] * 10, "y_pred": [0, 1] * 10}]


def _folder(path: Path, rows=ROWS, predictions=PREDICTIONS) -> str:
    write_results([ResultRow.from_json(r) for r in rows], predictions, path)
    return str(path)


def _cli(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    """The real `lmgate` command, in its own process."""
    return subprocess.run([sys.executable, "-m", "lmgate.cli", *args], cwd=cwd, text=True,
                          capture_output=True, timeout=120,
                          env={**os.environ, **(env or {})}, encoding="utf-8", errors="replace")


def _one_error_line(result) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("lmgate: error: "), result.stderr


def test_file_and_folder_mixups_and_bad_inputs_are_one_line_exit_2(tmp_path, monkeypatch,
                                                                     capsys):
    """Each was a traceback with exit 1, which CI reads as a regression."""
    old = _folder(tmp_path / "old")
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "a_folder").mkdir()
    folder_rows = tmp_path / "folder_rows"
    folder_rows.mkdir()
    (folder_rows / "results.jsonl").mkdir()   # results.jsonl that is a folder
    no_id = Path(_folder(tmp_path / "no_id"))
    (no_id / "predictions.jsonl").write_text(json.dumps({"y_true": [0], "y_pred": [1]}) + "\n")
    cases = [("export", "--format", "every-eval-ever", old, "--out", "a_file", "--no-validate"),
             ("compare", old, old, "--markdown", "a_folder"),
             ("compare", old, str(folder_rows)),
             ("compare", old, str(no_id)),
             ("merge", old, "--out", "a_file/merged"),
             ("export", "--format", "every-eval-ever", str(folder_rows), "--out", "e"),
             ("compare", old),                                    # argparse's own usage error
             ("compare", old, old, "--alpha", "2")]
    _one_error_line(_cli(*cases[0], cwd=tmp_path))   # the real command, in its own process
    monkeypatch.chdir(tmp_path)
    for args in cases[1:]:
        try:
            code = main(list(args))
        except SystemExit as exit_:   # argparse's own usage error
            code = exit_.code
        err = capsys.readouterr().err
        assert code == 2 and len(err.splitlines()) == 1 and err.startswith("lmgate: error: "), \
            (args, err)
    assert (tmp_path / "a_file").read_text() == "x" and not any((tmp_path / "a_folder").iterdir())


def test_compare_under_an_ascii_locale_prints_and_writes_the_whole_table(tmp_path):
    """An ASCII stdout raised UnicodeEncodeError and left an empty --markdown file."""
    old = _folder(tmp_path / "old")
    ascii_env = {"LC_ALL": "C", "LANG": "C", "PYTHONIOENCODING": "ascii", "PYTHONUTF8": "0"}
    result = _cli("compare", old, old, "--markdown", "gate.md", cwd=tmp_path, env=ascii_env)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "## Compared with baseline" in result.stdout
    written = (tmp_path / "gate.md").read_text(encoding="utf-8")
    assert "modèle→ü" in written and "| Δ |" in written and written.endswith("\n")


#: Pieces of command lines: the commands, their flags, good and bad paths, hostile text.
TOKENS = ["compare", "merge", "export", "--out", "--markdown", "--baseline", "--tolerance",
          "--alpha", "--format", "every-eval-ever", "--no-validate", "--changes-only",
          "--strict-missing", "old", "new", "a_file", "a_folder", "rows_dir", "bad_lines",
          "missing", "out", "0.1", "-1", "nan", "1e999", "", "-", "--", "\x1b[31m", "é→"]


def _bad_lines(folder: Path, lines: list) -> None:
    folder.mkdir()
    (folder / "results.jsonl").write_text(json.dumps(ROWS[0]) + "\n")
    (folder / "predictions.jsonl").write_text("".join(
        (line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))


JSONISH = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                       lambda inner: st.lists(inner, max_size=3)
                       | st.dictionaries(st.sampled_from(["record_id", "y_true", "y_pred", "x"]),
                                         inner, max_size=3), max_leaves=8)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(argv=st.lists(st.sampled_from(TOKENS) | st.text(max_size=4), max_size=7),
       lines=st.lists(JSONISH | st.text(max_size=8), max_size=3))
def test_any_command_line_is_a_result_or_one_error_line(argv, lines, tmp_path, monkeypatch,
                                                         capsys):
    """Fuzzed argv and predictions lines: exit 0/1 with output, or exit 2 with one line on
    stderr; never an exception out of the command."""
    work = Path(tempfile.mkdtemp(dir=tmp_path))
    monkeypatch.chdir(work)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    _folder(work / "old")
    _folder(work / "new")
    (work / "a_file").write_text("x")
    (work / "a_folder").mkdir()
    (work / "rows_dir").mkdir()
    (work / "rows_dir" / "results.jsonl").mkdir()
    _bad_lines(work / "bad_lines", lines)
    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as exit_:   # argparse: --help, or a usage error
        code = exit_.code
    out, err = capsys.readouterr()
    assert code in (0, 1, 2), code
    if code == 2 and "--help" not in argv and "-h" not in argv:
        assert len(err.splitlines()) == 1 and err.startswith("lmgate: error: "), err
    elif code in (0, 1):
        assert out.strip()
    assert "\x1b" not in out + err


@pytest.mark.parametrize("line", [{"y_true": [0], "y_pred": [1]}, {"record_id": 3},
                                  {"record_id": "r1", "y_true": [0, 1], "y_pred": [1]},
                                  {"record_id": "r1", "y_true": ["a"], "y_pred": [1]}, [1]])
def test_a_malformed_predictions_line_is_named_with_its_line(tmp_path, capsys, line):
    old = _folder(tmp_path / "old")
    bad = tmp_path / "bad"
    _bad_lines(bad, [line])
    assert main(["compare", old, str(bad)]) == 2
    err = capsys.readouterr().err
    assert "predictions.jsonl, line 1" in err and len(err.splitlines()) == 1
