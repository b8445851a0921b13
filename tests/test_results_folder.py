"""A results folder lmgate owns (issue 30, "files lost or written where they do not belong"):
it replaces or removes only what its manifest lists, runs that run nothing touch nothing, file
names never come from data, and a baseline is written only by a run that finished."""

import errno
import json
import subprocess
import sys

import pytest

from lmgate.core.errors import ConfigError
from lmgate.core.folder import MANIFEST, STAGING_PREFIX, owned, publish, slug

STUDY = '''
import os
import numpy as np
import pytest
from lmgate import EvalResult

MODEL = os.environ.get("TOY_MODEL", "bert")

def test_curve(record):
    y = np.array([0, 1] * 20)
    record(*[EvalResult(f"n{n}", ("neg", "pos"), y, y,
                        params={"model": MODEL, "lang": "en", "n_per_class": n})
             for n in (10, 20)])
'''


@pytest.fixture
def study(pytester, monkeypatch):
    monkeypatch.delenv("TOY_MODEL", raising=False)
    pytester.makepyfile(test_study=STUDY)
    return pytester


def files(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_a_users_own_files_in_the_results_folder_stop_the_run_untouched(study):
    out = study.path / "lmgate-results"
    out.mkdir()
    (out / "results.csv").write_text("my,own\n1,2\n")
    (out / "summary.md").write_text("# my notes\n")
    result = study.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "lmgate did not write" in result.stderr.str() and "results.csv" in result.stderr.str()
    assert (out / "results.csv").read_text() == "my,own\n1,2\n"
    assert (out / "summary.md").read_text() == "# my notes\n"
    # Anything else in the folder is the user's business: lmgate writes beside it.
    (out / "results.csv").unlink()
    (out / "summary.md").unlink()
    (out / "mine.txt").write_text("keep")
    assert study.runpytest().ret == 0 and (out / "mine.txt").read_text() == "keep"
    assert "results.jsonl" in owned(out) and "mine.txt" not in owned(out)


@pytest.mark.parametrize("args", [["--collect-only"], ["--lmgate-plan"], ["-k", "nothing"]])
def test_a_run_that_runs_nothing_touches_nothing(study, args):
    assert study.runpytest().ret == 0
    out = study.path / "lmgate-results"
    before = {f: (out / f).read_bytes() for f in files(out)}
    study.runpytest(*args)
    assert {f: (out / f).read_bytes() for f in files(out)} == before


def test_plots_of_an_earlier_run_go_and_names_from_data_stay_inside(study, monkeypatch):
    out = study.path / "lmgate-results"
    assert study.runpytest("--lmgate-plots=on").ret == 0
    assert "plots/test_study/learning_curves_bert.png" in files(out)
    for model in ("/../../../tmp/x/ESCAPED", "org/model"):
        monkeypatch.setenv("TOY_MODEL", model)
        assert study.runpytest("--lmgate-plots=on").ret == 0
        plots = [f for f in files(out) if f.startswith("plots/")]
        assert plots and all(p.count("/") == 2 for p in plots), plots   # plots/<study>/<file>
        assert not any("bert" in p for p in plots)                     # the last run's went
    assert not list(study.path.parent.rglob("ESCAPED*"))
    assert set(files(out)) - {MANIFEST} == owned(out)


def test_publish_keeps_the_previous_set_when_the_disk_fills(tmp_path):
    publish(tmp_path, lambda stage: [_write(stage / "results.jsonl", "old"),
                                     _write(stage / "plots" / "a.png", "old")])

    def full_disk(stage):
        _write(stage / "results.jsonl", "new")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError):
        publish(tmp_path, full_disk)
    assert (tmp_path / "results.jsonl").read_text() == "old"
    assert (tmp_path / "plots" / "a.png").read_text() == "old"
    assert not list(tmp_path.glob(f"{STAGING_PREFIX}*"))
    # A complete new set replaces the old one, and what it lacks goes.
    publish(tmp_path, lambda stage: [_write(stage / "results.jsonl", "new")])
    assert files(tmp_path) == [MANIFEST, "results.jsonl"]
    assert json.loads((tmp_path / MANIFEST).read_text())["state"] == "complete"


def test_publish_never_replaces_a_file_it_did_not_write(tmp_path):
    (tmp_path / "summary.md").write_text("mine")
    with pytest.raises(ConfigError, match="lmgate did not write") as error:
        publish(tmp_path, lambda stage: [_write(stage / "summary.md", "lmgate's")])
    assert (tmp_path / "summary.md").read_text() == "mine"
    kept = [p for p in tmp_path.iterdir() if p.name.startswith("lmgate-unpublished-")]
    assert len(kept) == 1 and (kept[0] / "summary.md").read_text() == "lmgate's"
    assert str(kept[0]) in str(error.value)


def test_staging_folders_of_dead_runs_are_removed(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    (tmp_path / f"{STAGING_PREFIX}{dead}-abcd").mkdir()
    publish(tmp_path, lambda stage: [_write(stage / "results.jsonl", "x")])
    assert not list(tmp_path.glob(f"{STAGING_PREFIX}*"))


def test_slugs_are_single_safe_names():
    for text in ("/../../../tmp/x/ESCAPED", "org/model", "..", ".hidden", "a b\\c", "x" * 300):
        name = slug(text)
        assert "/" not in name and "\\" not in name and not name.startswith(".")
        assert 0 < len(name) <= 80
    assert slug("learning_curves_minilm") == "learning_curves_minilm"
    assert slug("org/a") != slug("org_a")          # changed names carry a hash of the original


INTERRUPTED = '''
import numpy as np
from lmgate import EvalResult

def test_a(record):
    y = np.array([0, 1] * 20)
    record(EvalResult("a", ("neg", "pos"), y, y))

def test_b():
    raise KeyboardInterrupt
'''


def test_ctrl_c_writes_no_baseline_and_marks_the_results_partial(pytester):
    pytester.makepyfile(test_study=INTERRUPTED)
    # In its own process: pytester's in-process run would pass the Ctrl-C on to this session.
    result = pytester.runpytest_subprocess("--lmgate-baseline", "b.json", "--lmgate-update-baseline")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert not (pytester.path / "b.json").exists()
    assert "was interrupted: the baseline" in result.stdout.str()
    summary = (pytester.path / "lmgate-results" / "summary.md").read_text()
    assert "**interrupted** yes: stopped (Ctrl-C) after 1 of 2 tests" in summary
    # No model ran, so torch was never imported to say which device one would have used.
    assert "**device** none used (no model ran) · **dtype** n/a" in summary


def test_a_corrupt_baseline_is_not_overwritten_by_update(pytester):
    pytester.makepyfile(test_study=INTERRUPTED.replace("raise KeyboardInterrupt", "pass"))
    (pytester.path / "b.json").write_text('{"lmgate_baseline": 1, "entr')
    result = pytester.runpytest("--lmgate-baseline", "b.json", "--lmgate-update-baseline")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "cannot be read" in result.stderr.str() and "--lmgate-prune-baseline" in result.stderr.str()
    assert (pytester.path / "b.json").read_text() == '{"lmgate_baseline": 1, "entr'
    assert pytester.runpytest("--lmgate-baseline", "b.json", "--lmgate-update-baseline",
                              "--lmgate-prune-baseline").ret == 0


SLOW_PAIR = '''
import time
import numpy as np
from lmgate import EvalResult

def test_one(record):
    time.sleep(2)
    y = np.array([0, 1] * 20)
    record(EvalResult("one", ("neg", "pos"), y, y))

def test_two(record):
    time.sleep(2)
    y = np.array([0, 1] * 20)
    record(EvalResult("two", ("neg", "pos"), y, y))
'''


def test_concurrent_baseline_updates_both_land(pytester):
    pytester.makepyfile(test_study=SLOW_PAIR)
    runs = [subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
                              "-k", name, "--lmgate-baseline", "b.json", "--lmgate-update-baseline",
                              "--lmgate-results-dir", f"out_{name}"], cwd=pytester.path,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            for name in ("one", "two")]
    assert [run.wait(timeout=120) for run in runs] == [0, 0]
    entries = json.loads((pytester.path / "b.json").read_text())["entries"]
    assert {k.split("::")[2] for k in entries} == {"one", "two"}


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_cuda_on_a_machine_without_it_stops_before_any_test(study):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    result = study.runpytest("--lmgate-device", "cuda")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "CUDA is not available" in result.stderr.str()
    assert study.runpytest("--lmgate-device", "cuda", "--lmgate-plan").ret == 0   # planning is fine


def test_plots_off_writes_every_other_file_and_says_so(study):
    out = study.path / "lmgate-results"
    assert study.runpytest("--lmgate-plots=on").ret == 0
    with_plots = set(files(out))
    assert study.runpytest("--lmgate-plots=off").ret == 0
    assert set(files(out)) == {f for f in with_plots if not f.startswith("plots/")}
    summary = (out / "summary.md").read_text()
    assert "**plots** off (--lmgate-plots off)" in summary and ".png" not in summary
    assert ".png" not in (out / "report.html").read_text()


def test_the_summary_says_what_was_done_to_the_allocator(pytester):
    """By default the allocator is left as it is and the summary says nothing of it; opted in
    (`--lmgate-keep-freed-memory on`), once a test asks for the CPU device (as every model
    fixture does) glibc's malloc keeps freed memory, and the summary says so; a session that
    ran no model leaves it. (In-process: this repository's own tests opt in already,
    pyproject.toml.)"""
    from lmgate.core.allocator import _glibc

    pytester.makepyfile(test_cpu="def test_cpu(device, record):\n    record(cpu=1.0)\n",
                        test_none="def test_none(record):\n    record(none=1.0)\n")
    summary = pytester.path / "lmgate-results" / "summary.md"
    assert pytester.runpytest("--lmgate-device", "cpu").ret == 0
    assert "**memory**" not in summary.read_text()
    on = ("--lmgate-device", "cpu", "--lmgate-keep-freed-memory=on")
    assert pytester.runpytest(*on).ret == 0
    kept = "freed memory kept for reuse, in the whole process (--lmgate-keep-freed-memory on)"
    assert (kept in summary.read_text()) == (_glibc() is not None)
    # Under xdist the workers run the models and the controller writes the summary.
    assert pytester.runpytest(*on, "-n", "2").ret == 0
    assert (kept in summary.read_text()) == (_glibc() is not None)
    assert pytester.runpytest(*on, "-k", "none").ret == 0
    assert "**memory**" not in summary.read_text()


def test_a_dangling_symlink_as_results_folder_stops_before_any_test(study):
    (study.path / "out").symlink_to(study.path / "gone")
    result = study.runpytest("--lmgate-results-dir", "out")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "is a symbolic link to" in result.stderr.str()


def test_results_that_cannot_be_written_say_so_and_keep_the_previous_set(study):
    """A disk that fills mid-write, made real for the run with a file-size limit (EFBIG on
    any file over 1 KiB, as root too): the results files themselves cannot be written (a
    plot that cannot be is only noted: tests/test_session_end_faults.py)."""
    import resource
    import signal

    assert study.runpytest("--lmgate-plots=on").ret == 0
    out = study.path / "lmgate-results"
    before = {f: (out / f).read_bytes() for f in files(out)}

    def small_files():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)   # a failed write, not a killed process
        resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))

    run = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--lmgate-plots=on"],
                         cwd=study.path, preexec_fn=small_files, capture_output=True, text=True,
                         env={**__import__("os").environ, "PYTHONDONTWRITEBYTECODE": "1",
                              "TOY_MODEL": "other"})
    assert run.returncode == pytest.ExitCode.INTERNAL_ERROR, run.stdout[-2000:]
    assert "results could not be written" in run.stdout
    assert {f: (out / f).read_bytes() for f in files(out)} == before
    assert not list(out.glob(f"{STAGING_PREFIX}*"))
