"""Scale-out: shards that merge into the unsharded run, xdist groups and worker pinning."""

import json
import os
import re

import pytest

from lmgate.cli import main as lmgate_cli
from lmgate.plugin.scaleout import deal

SUITE = '''
import numpy as np
import pytest
from lmgate import EvalResult

@pytest.mark.parametrize("model", ["m1", "m2", "m3", "m4"])
@pytest.mark.parametrize("lang", ["en", "fr"])
def test_case(model, lang, record):
    y = np.array([0, 1] * 30)
    pred = np.where(np.arange(60) % (3 + int(model[1])) == 0, 1 - y, y)
    record(EvalResult(f"{model}-{lang}", ("neg", "pos"), y, pred))
    record.section("Cases", f"| model | lang |\\n|---|---|\\n| {model} | {lang} |\\n")

def test_plain(record):
    record(accuracy_of_nothing=1.0)
'''


def _files(folder):
    """The exported files, wall-clock timings of the rows left out (they differ run to run)."""
    files = {name: (folder / name).read_text() for name in
             ("predictions.jsonl", "sections.jsonl", "claims.jsonl")}
    # The run-facts line (wall time, cache hits) belongs to one session, not to the results.
    files["summary.md"] = [line for line in (folder / "summary.md").read_text().splitlines()
                           if line.strip() and not line.startswith("**profile**")]
    rows = [json.loads(line) for line in (folder / "results.jsonl").read_text().splitlines()]
    files["results.jsonl"] = [{k: v for k, v in r.items() if k != "elapsed_s"} for r in rows]
    return files


def test_deal_keeps_groups_whole_and_balances():
    groups = {"a": [1] * 5, "b": [1] * 3, "c": [1] * 3, "d": [1]}
    assert deal(groups, 2) == [["a", "d"], ["b", "c"]]
    assert deal(groups, 1) == [["a", "b", "c", "d"]]


def test_merged_shards_equal_one_unsharded_run(pytester):
    pytester.makepyfile(test_suite=SUITE)
    # `lmgate merge` writes the plots, whatever the shards were told. One unsharded run is
    # compared with the merge of 1, 2 and 3 shards.
    assert pytester.runpytest("--lmgate-results-dir", "whole", "--lmgate-plots=on").ret == 0
    for shards in (1, 2, 3):
        folders = []
        for i in range(1, shards + 1):
            result = pytester.runpytest("--lmgate-shard", f"{i}/{shards}", "--lmgate-results-dir",
                                        f"{shards}-shard{i}")
            assert result.ret in (0, pytest.ExitCode.NO_TESTS_COLLECTED)
            assert (pytester.path / f"{shards}-shard{i}" / "results.jsonl").exists()
            folders.append(str(pytester.path / f"{shards}-shard{i}"))
        nodeids = [{json.loads(l)["nodeid"] for l in open(f"{f}/results.jsonl")} for f in folders]
        assert sum(map(len, nodeids)) == len(set().union(*nodeids)) == 9   # disjoint, complete
        merged = pytester.path / f"merged-{shards}"
        assert lmgate_cli(["merge", *folders, "--out", str(merged)]) == 0
        assert _files(merged) == _files(pytester.path / "whole"), f"{shards} shard(s)"


def test_merge_gives_one_gate_verdict_and_refuses_overlaps(pytester):
    pytester.makepyfile(test_suite=SUITE)
    assert pytester.runpytest("--lmgate-baseline", "b.json", "--lmgate-update-baseline").ret == 0
    for i in (1, 2):
        pytester.runpytest("--lmgate-shard", f"{i}/2", "--lmgate-results-dir", f"s{i}")
    folders = [str(pytester.path / "s1"), str(pytester.path / "s2")]
    assert lmgate_cli(["merge", *folders, "--out", str(pytester.path / "m"), "--baseline",
                       str(pytester.path / "b.json")]) == 0
    assert "**passed**" in (pytester.path / "m" / "summary.md").read_text()
    assert lmgate_cli(["merge", folders[0], folders[0], "--out", str(pytester.path / "x")]) == 2


def test_a_shard_that_selects_nothing_still_writes_a_folder_to_merge(pytester):
    pytester.makepyfile(test_suite="def test_plain(record):\n    record(accuracy_of_nothing=1.0)\n")
    results = [pytester.runpytest("--lmgate-shard", f"{i}/3", "--lmgate-results-dir", f"s{i}").ret
               for i in (1, 2, 3)]
    assert sorted(results) == [0, pytest.ExitCode.NO_TESTS_COLLECTED,
                               pytest.ExitCode.NO_TESTS_COLLECTED]
    folders = [str(pytester.path / f"s{i}") for i in (1, 2, 3)]
    assert lmgate_cli(["merge", *folders, "--out", str(pytester.path / "m")]) == 0
    assert len((pytester.path / "m" / "results.jsonl").read_text().splitlines()) == 1
    # Outside a shard matrix, a run that selects nothing still touches nothing.
    assert pytester.runpytest("-k", "nothing", "--lmgate-results-dir", "none").ret == \
        pytest.ExitCode.NO_TESTS_COLLECTED
    assert not (pytester.path / "none").exists()


def test_bad_shard_is_a_usage_error(pytester):
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest("--lmgate-shard", "3/2")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--lmgate-shard must be I/N with 1 <= I <= N" in result.stderr.str()


def test_loadgroup_keeps_models_together_and_node_ids_plain(pytester):
    pytest.importorskip("xdist")
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest("-n", "2", "--dist", "loadgroup", "--lmgate-results-dir", "x")
    assert result.ret == 0
    rows = [json.loads(l) for l in (pytester.path / "x" / "results.jsonl").read_text().splitlines()]
    assert all("@" not in r["nodeid"] for r in rows)
    serial = pytester.runpytest("-p", "no:xdist", "--lmgate-results-dir", "s")
    assert serial.ret == 0
    assert _files(pytester.path / "x")["results.jsonl"] == _files(pytester.path / "s")["results.jsonl"]


def test_workers_get_their_gpu_or_a_share_of_the_cores(pytester, monkeypatch):
    pytest.importorskip("xdist")
    pytester.makepyfile(test_pin='''
import os

def test_a(worker_id):
    open(f"pin-{worker_id}-a.txt", "w").write(os.environ.get("CUDA_VISIBLE_DEVICES", ""))

def test_b(worker_id):
    open(f"pin-{worker_id}-b.txt", "w").write(os.environ.get("CUDA_VISIBLE_DEVICES", ""))
''')
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,7")
    result = pytester.runpytest("-n", "2", "-p", "no:cacheprovider")
    assert result.ret == 0
    pins = {p.name.split("-")[1]: p.read_text() for p in pytester.path.glob("pin-*.txt")}
    assert pins == {"gw0": "4", "gw1": "7"}
    pytester.makepyfile(test_threads='''
import os
import torch

def test_threads(worker_id):
    open(f"threads-{worker_id}.txt", "w").write(str(torch.get_num_threads()))
''')
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")      # no GPU: the workers split the cores
    assert pytester.runpytest("-n", "2", "-p", "no:cacheprovider",
                              "test_threads.py").ret == 0
    threads = {p.read_text() for p in pytester.path.glob("threads-*.txt")}
    assert threads == {str(max(1, (os.cpu_count() or 1) // 2))}


def test_workers_progress_shows_as_one_controller_line(pytester):
    pytester.makeini("[pytest]\nlmgate_progress_interval = 0.3\n")
    pytester.makepyfile(test_slow='''
import time
import pytest
from lmgate.core.progress import report

@pytest.mark.parametrize("i", [0, 1])
def test_work(i):
    for step in range(1, 9):
        report(f"job{i}", step, 8)
        time.sleep(0.4)
''')
    result = pytester.runpytest("-n", "2", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    lines = [l for l in result.stdout.lines if l.startswith("lmgate progress: ")]
    assert any(re.search(r"gw\d test_work\[\d\]: job\d \d/8 \(\d+%\)", l) for l in lines), lines
    # Nothing of the workers' own bars reaches the terminal, and the board folder is gone.
    assert not any("\r" in l for l in result.stdout.lines)


def test_progress_reports_only_where_asked(tmp_path, monkeypatch):
    from lmgate.core.progress import ENV, board_line, read_board, report, set_test

    monkeypatch.delenv(ENV, raising=False)
    report("nothing", 1, 2)                         # no file named: nothing written
    assert read_board(tmp_path) == []
    monkeypatch.setenv(ENV, str(tmp_path / "gw3.json"))
    set_test("evals/test_x.py::test_y[a]")
    report("predict", 5, 10)
    report("predict", 10, 10)                       # the last step is always written
    assert board_line(read_board(tmp_path)) == "gw3 test_y[a]: predict 10/10 (100%)"


def test_a_finished_tests_report_leaves_the_board_and_child_processes_report_under_it(
        tmp_path, monkeypatch):
    """Under xdist a worker's last report stayed on the controller's line, as if its finished
    test were still at 9/9, while it ran others; a DDP rank's reports had no test name."""
    import subprocess
    import sys

    from lmgate.core.progress import ENV, TEST_ENV, board_line, end_test, read_board, set_test

    monkeypatch.setenv(ENV, str(tmp_path / "gw1.json"))
    monkeypatch.delenv(TEST_ENV, raising=False)
    set_test("tests/test_x.py::test_ddp")
    subprocess.run([sys.executable, "-c", "from lmgate.core.progress import report; "
                    "report('LoRA training of m', 4, 4)"], check=True)   # a rank, say
    assert board_line(read_board(tmp_path)) == "gw1 test_ddp: LoRA training of m 4/4 (100%)"
    end_test()
    assert read_board(tmp_path) == [] and TEST_ENV not in os.environ
    end_test()                                      # nothing reported: nothing to remove


def test_a_worker_clears_its_report_when_each_test_ends(pytester):
    pytester.makepyfile(test_two="""
import os
from lmgate.core.progress import ENV, report

def test_reports():
    report("job", 8, 8)
    assert os.path.exists(os.environ[ENV])

def test_after_it():
    assert not os.path.exists(os.environ[ENV])
""")
    pytester.runpytest("-n", "1", "-p", "no:cacheprovider").assert_outcomes(passed=2)
