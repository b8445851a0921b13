"""`lmgate import lm-eval` against lm-evaluation-harness itself (issue 54): lm-eval 0.4.13
runs for real, offline, on a local JSON task (20 SST-2 sentences) with two tiny random
models built here (`--model hf`, `--log_samples`); their outputs are imported and compared.

Run time: about 30 s on 2 CPU cores, nearly all of it the two lm-eval runs (side by side).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from interop_support import SST2, one_line_error, run_side_by_side, tiny_causal_lm
from lmgate.cli import main
from lmgate.gate.decide import compare
from lmgate.gate.measure import measurements
from lmgate.gate.scored import paired_sigma
from lmgate.report.interop import imported_run
from lmgate.report.writers import read_results
from lmgate.stats.claims import assert_non_inferior
from lmgate.stats.listeners import ClaimFailed
from lmgate.stats.paired import paired_bootstrap

TASK = "sst2_tiny"
YAML = f"""task: {TASK}
dataset_path: json
dataset_kwargs:
  data_files:
    test: {SST2}
test_split: test
output_type: multiple_choice
doc_to_text: "{{{{sentence}}}}\\nQuestion: Is this sentence positive or negative?\\nAnswer:"
doc_to_target: label
doc_to_choice: ["negative", "positive"]
metric_list:
  - {{metric: acc, aggregation: mean, higher_is_better: true}}
  - {{metric: acc_norm, aggregation: mean, higher_is_better: true}}
metadata: {{version: 3.0}}
"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, list[Path]]:
    """Two lm-eval runs (tiny models of seeds 0 and 1), each in its own --output_path."""
    tmp = tmp_path_factory.mktemp("lm-eval")
    (tmp / "tasks").mkdir()
    (tmp / "tasks" / f"{TASK}.yaml").write_text(YAML, encoding="utf-8")
    outs = []
    commands = []
    for seed in (0, 1):
        model = tiny_causal_lm(tmp / "models" / f"tiny-{seed}", seed)
        outs.append(tmp / "out" / model.name)
        commands.append(["-m", "lm_eval", "--model", "hf", "--model_args",
                         f"pretrained={model},dtype=float32", "--tasks", TASK,
                         "--include_path", str(tmp / "tasks"), "--log_samples",
                         "--output_path", str(outs[-1]), "--device", "cpu", "--batch_size", "8",
                         "--seed", "1234"])
    run_side_by_side(commands, cwd=tmp)
    return tmp, outs


@pytest.fixture(scope="module")
def imported(runs) -> list[Path]:
    tmp, outs = runs
    folders = [tmp / "imported" / out.name for out in outs]
    for out, folder in zip(outs, folders):
        assert main(["import", "lm-eval", str(out), "--out", str(folder)]) == 0
    return folders


def _own(out: Path) -> dict:
    """lm-eval's own results file of a run."""
    return json.loads(next(out.rglob("results_*.json")).read_text(encoding="utf-8"))


def test_imported_accuracy_is_lm_evals_own(runs, imported):
    for out, folder in zip(runs[1], imported):
        own = _own(out)
        (row,) = read_results(folder)[0]
        for metric in ("acc", "acc_norm"):
            assert abs(row.metrics[metric] - own["results"][TASK][f"{metric},none"]) <= 1e-9
        facts = row.info["imported"]
        assert facts["tool"] == "lm-eval" and facts["version"] == "0.4.13"
        assert (facts["task_version"], facts["n_shot"], facts["seed"]) == (3.0, 0, 1234)
        assert row.params == {"task": TASK, "model": own["config"]["model_args"]["pretrained"]}
        assert row.info["higher_is_better"] == {"acc": True, "acc_norm": True}
        assert row.info["n"] == 20 and row.provenance[0]["source"] == "lm-eval"


def test_documents_pair_across_runs_in_claims(imported):
    a, b = (imported_run(folder, task=TASK) for folder in imported)
    assert a.ids == b.ids == tuple(str(i) for i in range(20))
    assert a.hashes == b.hashes and len(set(a.hashes)) == 20
    cmp = paired_bootstrap(a, b, "acc")
    assert cmp.n == 20 and 0 < cmp.p_value <= 1
    try:   # judged either way: what matters is that the scores pair, sequentially too
        cmp = assert_non_inferior(a, b, metric="acc", margin=0.1, sequential=True)
    except ClaimFailed as failed:
        cmp = failed.comparison
    assert cmp.method.startswith("betting e-process") and cmp.n == 20


def test_lmgate_compare_gives_paired_p_values(imported, tmp_path, capsys):
    table = tmp_path / "compare.md"
    assert main(["compare", *map(str, imported), "--markdown", str(table)]) in (0, 1)
    lines = [line for line in table.read_text(encoding="utf-8").splitlines()
             if line.startswith(f"| {TASK} | {TASK} | acc")]
    assert len(lines) == 2
    for line in lines:
        p = line.split("|")[7].strip()
        assert 0 < float(p) <= 1, line
    old, old_ex = measurements(*read_results(imported[0])[:2])
    new, new_ex = measurements(*read_results(imported[1])[:2])
    report = compare(old, new, old_ex, new_ex)
    assert all("paired bootstrap on 20 documents paired by id" in c.basis
               and "Holm" in c.basis for c in report.checks)
    assert {f.key for f in report.flips} == {f"lm-eval::{TASK}::{TASK} ({m})"
                                             for m in ("acc", "acc_norm")}


def test_unpaired_document_ids_are_reported_not_dropped(imported):
    old = measurements(*read_results(imported[0])[:2])[1][f"lm-eval::{TASK}::{TASK}"]
    new = measurements(*read_results(imported[1])[:2])[1][f"lm-eval::{TASK}::{TASK}"]
    fewer = [{**new[0], "ids": new[0]["ids"][1:],
              "scores": {m: s[1:] for m, s in new[0]["scores"].items()}}]
    assert paired_sigma(old, fewer, "acc") == \
        "not paired: 1 document id(s) only in the baseline (0)"


def test_malformed_lm_eval_output_is_a_one_line_error(runs, tmp_path, capsys):
    out = runs[1][0]
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    results = next(copy.rglob("results_*.json"))
    samples = next(copy.rglob(f"samples_{TASK}_*.jsonl"))
    target = str(tmp_path / "imported")
    usage = ("import", "lm-eval", str(copy), "--out", target)
    lines = samples.read_text(encoding="utf-8").splitlines(keepends=True)
    samples.write_text("".join(lines[1:]), encoding="utf-8")
    assert "samples_" in one_line_error(capsys, *usage)
    samples.unlink()
    assert "--log_samples" in one_line_error(capsys, *usage)
    results.write_text(results.read_text(encoding="utf-8")[:100], encoding="utf-8")
    assert "malformed" in one_line_error(capsys, *usage[:2], str(results), *usage[3:])
    assert "does not exist" in one_line_error(capsys, *usage[:2], str(tmp_path / "none"),
                                              *usage[3:])
    assert not (tmp_path / "imported").exists()


def test_two_runs_of_one_model_in_one_folder_are_refused(runs, tmp_path, capsys):
    out = runs[1][0]
    twice = tmp_path / "twice"
    shutil.copytree(out, twice / "first")
    shutil.copytree(out, twice / "again")
    err = one_line_error(capsys, "import", "lm-eval", str(twice), "--out",
                         str(tmp_path / "imported"))
    assert "import one run of a model per folder" in err


def test_documents_of_one_cluster_are_resampled_together(runs, tmp_path):
    folders = [tmp_path / out.name for out in runs[1]]
    for out, folder in zip(runs[1], folders):
        assert main(["import", "lm-eval", str(out), "--out", str(folder),
                     "--cluster-by", "label"]) == 0
    a = imported_run(folders[0], task=TASK)
    assert sorted(set(a.clusters)) == ["0", "1"]
    old, old_ex = measurements(*read_results(folders[0])[:2])
    new, new_ex = measurements(*read_results(folders[1])[:2])
    assert all("2 clusters of 20 documents" in c.basis
               for c in compare(old, new, old_ex, new_ex).checks)


def test_imported_runs_go_through_a_baseline_file(imported, tmp_path):
    from lmgate.gate.baseline import read_baseline, write_baseline

    found, examples = measurements(*read_results(imported[0])[:2])
    write_baseline(tmp_path / "main.json", found, examples)
    old, old_ex = read_baseline(tmp_path / "main.json")
    assert old_ex == examples
    new, new_ex = measurements(*read_results(imported[1])[:2])
    assert all("paired by id" in c.basis for c in compare(old, new, old_ex, new_ex).checks)
