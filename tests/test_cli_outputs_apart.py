"""`lmgate` never writes an output over what it reads: a --markdown, --out or --save-to
target inside an input folder (or equal to an input file) is one error line, exit 2, with
every input unchanged."""

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from lmgate.cli import main
from lmgate.report.rows import ResultRow
from lmgate.report.writers import write_results

ROWS = [{"nodeid": "t.py::test_a", "result": "m", "record_id": "r1", "params": {"seed": 0},
         "metrics": {"accuracy": 0.8}, "info": {"n": 20, "labels": ["neg", "pos"]}}]
PREDICTIONS = [{"record_id": "r1", "y_true": [0, 1] * 10, "y_pred": [0, 1] * 10}]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    for name in ("A", "B"):
        write_results([ResultRow.from_json(r) for r in ROWS], PREDICTIONS, root / name)
    (root / "base.json").write_text("{}")
    (root / "link").symlink_to(root / "A")
    return root


def _snapshot(root: Path) -> dict:
    return {p: p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _refused(argv, root, capsys, monkeypatch) -> None:
    before = _snapshot(root)
    monkeypatch.chdir(root)
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2 and len(err.splitlines()) == 1, (argv, code, err)
    assert "input" in err and err.startswith("lmgate: error: ")
    assert _snapshot(root) == before


@pytest.mark.parametrize("inside", ["A/results.jsonl", "A/summary.md", "B/x.md",
                                    "./A/../A/results.csv", "link/results.jsonl"])
def test_compare_markdown_inside_an_input_folder_is_refused(inside, inputs, capsys,
                                                            monkeypatch):
    _refused(["compare", "A", "B", "--markdown", inside], inputs, capsys, monkeypatch)


NAME = st.text(alphabet="abcé._- ", min_size=1, max_size=6).filter(lambda n: n not in (".", ".."))


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(folder=st.sampled_from(["A", "B", "link"]), parts=st.lists(NAME, min_size=1, max_size=3))
def test_any_markdown_path_under_an_input_folder_is_refused(folder, parts, inputs, capsys):
    with pytest.MonkeyPatch.context() as monkeypatch:
        _refused(["compare", "A", "B", "--markdown", "/".join([folder, *parts])], inputs,
                 capsys, monkeypatch)


@pytest.mark.parametrize("argv", [
    ["merge", "A", "B", "--out", "A"],
    ["merge", "A", "B", "--out", "B/merged"],
    ["merge", "A", "--out", "link", "--baseline", "base.json"],
    ["export", "--format", "every-eval-ever", "A", "--out", "link/eee", "--no-validate"],
    ["push", "A", "--repo", "o/n", "--save-to", "A/hub"],
])
def test_other_outputs_inside_their_inputs_are_refused(argv, inputs, capsys, monkeypatch):
    _refused(argv, inputs, capsys, monkeypatch)


def test_a_markdown_beside_the_inputs_is_written(inputs, tmp_path, capsys):
    out = tmp_path / "table.md"
    assert main(["compare", str(inputs / "A"), str(inputs / "B"), "--markdown", str(out)]) == 0
    assert out.read_text().startswith("## Compared with baseline")
