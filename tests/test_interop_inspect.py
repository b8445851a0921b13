"""`lmgate import inspect` against Inspect itself (issue 54): inspect-ai 0.3.285 runs for real,
offline, through its Hugging Face provider (`hf/local`, greedy) on 20 SST-2 sentences with
two tiny random models built here (one whose generations start with "positive"), 2 epochs
each, one log written as .eval and one as .json; the logs are imported and compared.

Run time: about 30 s on 2 CPU cores, nearly all of it the two Inspect runs (side by side).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from interop_support import DATA, SST2, one_line_error, run_side_by_side, tiny_causal_lm
from lmgate.cli import main
from lmgate.gate.decide import compare
from lmgate.gate.measure import measurements
from lmgate.report.interop import imported_run
from lmgate.report.writers import read_results
from lmgate.stats.claims import assert_better


@pytest.fixture(scope="module")
def logs(tmp_path_factory) -> list[Path]:
    """The logs of two Inspect runs: a model that answers "positive" (.eval) and one of
    random weights (.json)."""
    tmp = tmp_path_factory.mktemp("inspect")
    commands = []
    for seed, favours, form in ((0, "positive", "eval"), (1, None, "json")):
        model = tiny_causal_lm(tmp / "models" / f"tiny-{seed}", seed, favours)
        commands.append(["-m", "inspect_ai", "eval", f"{DATA / 'inspect_sst2.py'}@sst2",
                         "--model", "hf/local", "-M", f"model_path={model}", "-M", "device=cpu",
                         "-M", "do_sample=false", "-T", f"data={SST2}", "--epochs", "2",
                         "--seed", "1234", "--log-dir", str(tmp / "logs" / model.name),
                         "--log-format", form, "--display", "none"])
    run_side_by_side(commands, cwd=tmp)
    found = [next((tmp / "logs" / f"tiny-{seed}").glob(f"*.{form}"))
             for seed, form in ((0, "eval"), (1, "json"))]
    return found


@pytest.fixture(scope="module")
def imported(logs) -> list[Path]:
    folders = [log.parent.parent.parent / "imported" / log.parent.name for log in logs]
    for log, folder in zip(logs, folders):
        assert main(["import", "inspect", str(log), "--out", str(folder)]) == 0
    return folders


def test_imported_accuracy_is_inspects_own(logs, imported):
    from inspect_ai.log import read_eval_log

    for log_file, folder, expected in zip(logs, imported, (0.5, 0.0)):
        log = read_eval_log(str(log_file))
        own = log.results.scores[0].metrics["accuracy"].value
        assert abs(imported_run(folder, task="sst2")["accuracy"] - own) <= 1e-9
        assert own == expected
        rows = sorted(read_results(folder)[0], key=lambda r: r.params["seed"])
        assert [r.params["seed"] for r in rows] == [1, 2]           # one result per epoch
        found = measurements(rows)[0]["inspect::sst2::sst2::accuracy"]
        assert abs(found.value - own) <= 1e-9 and found.seeds == [1, 2]
        usage = log.stats.model_usage["hf/local"]
        assert sum(r.info["input_tokens"] for r in rows) == usage.input_tokens > 0
        assert sum(r.info["output_tokens"] for r in rows) == usage.output_tokens > 0
        facts = rows[0].info["imported"]
        assert (facts["tool"], facts["version"], facts["epochs"]) == ("inspect", "0.3.285", 2)
        assert rows[0].params["model"] == log.eval.model_args["model_path"]


def test_documents_pair_across_runs_in_claims(imported):
    a, b = (imported_run(folder, task="sst2") for folder in imported)
    assert a.ids == b.ids == tuple(str(i) for i in range(20)) and a.hashes == b.hashes
    assert assert_better(a, b, metric="accuracy").p_value < 0.05
    assert assert_better(a, b, metric="accuracy", sequential=True).method.startswith("betting")


def test_lmgate_compare_gives_paired_p_values(imported, tmp_path):
    table = tmp_path / "compare.md"
    assert main(["compare", *map(str, reversed(imported)), "--markdown", str(table)]) == 0
    (line,) = [line for line in table.read_text(encoding="utf-8").splitlines()
               if line.startswith("| sst2 | sst2 | accuracy")]
    assert float(line.split("|")[7]) < 0.01 and "improvement" in line
    old, old_ex = measurements(*read_results(imported[1])[:2])
    new, new_ex = measurements(*read_results(imported[0])[:2])
    report = compare(old, new, old_ex, new_ex)
    (check,) = report.checks
    assert "paired bootstrap on 20 documents paired by id" in check.basis
    (flips,) = report.flips
    assert (flips.right_to_wrong, flips.wrong_to_right, flips.n) == (0, 10, 20)



def test_a_damaged_log_is_a_one_line_error(logs, tmp_path, capsys):
    for log in logs:
        broken = tmp_path / f"broken{log.suffix}"
        broken.write_bytes(log.read_bytes()[:2000])
        err = one_line_error(capsys, "import", "inspect", str(broken), "--out",
                             str(tmp_path / "out"))
        assert "not an Inspect log inspect_ai can read" in err
    assert not (tmp_path / "out").exists()


def test_without_inspect_ai_the_error_names_the_extra(logs, tmp_path, capsys, monkeypatch):
    for name in [m for m in sys.modules if m == "inspect_ai" or m.startswith("inspect_ai.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "inspect_ai", None)
    err = one_line_error(capsys, "import", "inspect", str(logs[0]), "--out",
                         str(tmp_path / "out"))
    assert "pip install 'lmgate[interop]'" in err


@pytest.mark.parametrize("damage, says", [
    (lambda samples: (setattr(samples[0], "id", 1), setattr(samples[1], "id", "1")),
     "appear more than once"),
    (lambda samples: setattr(next(iter(samples[0].scores.values())), "value", float("nan")),
     "not finite"),
], ids=["ids 1 and '1'", "a NaN score"])
def test_a_log_whose_samples_cannot_be_scored_is_a_one_line_error(logs, tmp_path, capsys,
                                                                  damage, says):
    """Sample ids 1 and "1" are one document id, and a NaN score no score: a one-line error
    naming the log (ScoredResult's ValueError was a traceback with exit status 1)."""
    from inspect_ai.log import read_eval_log, write_eval_log

    log = read_eval_log(str(logs[1]))
    damage([s for s in log.samples if s.epoch == 1])
    edited = tmp_path / "edited.json"
    write_eval_log(log, str(edited))
    err = one_line_error(capsys, "import", "inspect", str(edited), "--out",
                         str(tmp_path / "out"))
    assert str(edited) in err and says in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("damage", [
    lambda sample: sample.model_usage.clear(),
    lambda sample: setattr(next(iter(sample.model_usage.values())), "input_tokens", -5),
], ids=["no usage", "negative tokens"])
def test_a_sample_without_well_formed_usage_makes_no_token_count(logs, tmp_path, damage):
    """A sample whose usage is missing or negative counted as 0 or below it: the epoch's row
    then records how many samples did not report, as served results do, and no token sum."""
    from inspect_ai.log import read_eval_log, write_eval_log

    log = read_eval_log(str(logs[1]))
    damage(next(s for s in log.samples if s.epoch == 1))
    edited = tmp_path / "edited.json"
    write_eval_log(log, str(edited))
    assert main(["import", "inspect", str(edited), "--out", str(tmp_path / "out")]) == 0
    rows = {r.params["seed"]: r for r in read_results(tmp_path / "out")[0]}
    assert rows[1].info["answers_without_usage"] == 1 and "input_tokens" not in rows[1].info
    assert rows[2].info["input_tokens"] > 0 and "answers_without_usage" not in rows[2].info
