"""Nothing outside the results folder is touched, and publishing is what it says (issue 51,
item 4): no delete or write through a symbolic link, a baseline and its predictions published
as one unit, the folder the previous complete set or the new one whatever write fails, file
modes from the umask, a symlinked baseline written through."""

import contextlib
import errno
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st

from lmgate.core.errors import ConfigError
from lmgate.core.folder import MANIFEST, RESULT_FILES, foreign_results, owned, publish
from lmgate.core.io import TornWrite, atomic_write_text
from lmgate.gate.baseline import predictions_path, read_baseline, write_baseline
from lmgate.gate.measure import Measurement


def _build(files):
    """A `build` for publish that writes `files` ({relative path: text}) with lmgate's writer."""
    return lambda stage: [atomic_write_text(stage / name, text) for name, text in files.items()]


def _manifest(folder, names, **more):
    import json

    (folder / MANIFEST).write_text(json.dumps({"files": names, "state": "complete", **more}))


def snapshot(root: Path) -> dict[str, object]:
    """Everything under `root`, links not followed: files by content, links by target."""
    out: dict[str, object] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            out[rel] = ("link", os.readlink(path))
        elif path.is_dir():
            out[rel] = "dir"
        else:
            out[rel] = (path.read_bytes(), stat.S_IMODE(path.stat().st_mode))
    return out


def published(folder: Path) -> dict[str, bytes]:
    """The folder's files as a reader sees them (lmgate's manifest, and its hidden working
    files, which stay only where removing them was the write that failed, left out)."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and not any(part.startswith(".")
                                       for part in p.relative_to(folder).parts)}


# ---- symbolic links: never followed for a delete or a write ---------------------------------
def test_a_manifest_entry_through_a_symlinked_folder_deletes_nothing_outside(tmp_path):
    outside, folder = tmp_path / "outside", tmp_path / "results"
    outside.mkdir()
    (outside / "keep.txt").write_text("not lmgate's")
    publish(folder, _build({"results.jsonl": "old"}))
    (folder / "link").symlink_to(outside, target_is_directory=True)
    _manifest(folder, ["results.jsonl", "link/keep.txt"])
    assert foreign_results(folder) == ["link/keep.txt (through the symbolic link link)"]
    with pytest.raises(ConfigError, match="symbolic link"):
        publish(folder, _build({"results.jsonl": "new"}))
    assert (outside / "keep.txt").read_text() == "not lmgate's"
    assert (folder / "results.jsonl").read_text() == "old"


def test_a_symlinked_plots_folder_is_neither_emptied_nor_written(tmp_path):
    outside, folder = tmp_path / "elsewhere", tmp_path / "results"
    outside.mkdir()
    (outside / "a.png").write_text("someone's picture")
    folder.mkdir()
    (folder / "plots").symlink_to(outside, target_is_directory=True)
    _manifest(folder, ["plots/a.png"])   # a results folder from another machine
    before = snapshot(outside)
    assert "plots (a symbolic link)" in foreign_results(folder)
    with pytest.raises(ConfigError, match="symbolic link"):
        publish(folder, _build({"results.jsonl": "new", "plots/b.png": "new plot"}))
    assert snapshot(outside) == before


def test_a_symlinked_manifest_is_refused_not_written_through(tmp_path):
    outside, folder = tmp_path / "outside.json", tmp_path / "results"
    outside.write_text('{"files": [], "state": "complete"}')
    folder.mkdir()
    (folder / MANIFEST).symlink_to(outside)
    with pytest.raises(ConfigError, match="symbolic link"):
        publish(folder, _build({"results.jsonl": "new"}))
    assert outside.read_text() == '{"files": [], "state": "complete"}'


def test_the_plugin_stops_before_any_test_when_its_folder_links_outside(pytester):
    outside = pytester.path / "outside"
    outside.mkdir()
    (outside / "a.png").write_text("someone's picture")
    folder = pytester.path / "lmgate-results"
    folder.mkdir()
    (folder / "plots").symlink_to(outside, target_is_directory=True)
    _manifest(folder, ["plots/a.png"])
    pytester.makepyfile("def test_one(record):\n    record(exact=1.0)\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "plots (a symbolic link)" in result.stderr.str()
    assert (outside / "a.png").read_text() == "someone's picture"
    assert sorted(p.name for p in outside.iterdir()) == ["a.png"]


NAMES = st.sampled_from(["a", "plots", "link", "results.jsonl", "b.png"])
RELPATHS = st.lists(NAMES, min_size=1, max_size=2).map("/".join)
ASIDE = f".lmgate-previous-{os.getpid()}-ab"   # a killed publish's, undone by the next one
ENTRY = st.tuples(st.one_of(NAMES, RELPATHS, st.just(ASIDE), NAMES.map(f"{ASIDE}/".__add__)),
                  st.sampled_from(
    ["file", "dir", "link-out-dir", "link-out-dir", "link-out-file", "link-in", "link-up"]))
# Manifest entries: any path, one under a folder the tree may have made a link, or escaping.
LISTED = st.one_of(RELPATHS, st.tuples(st.sampled_from(["plots", "link", "a"]), NAMES).map(
    "/".join), st.sampled_from(["../outside/d/a", "/etc/x"]))
NEW_SET = st.lists(st.sampled_from([*RESULT_FILES, "plots/b.png", "plots/a/b.png", "link/b.png",
                                    "a/results.jsonl"]), max_size=5, unique=True)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tree=st.lists(ENTRY, max_size=6), manifest=st.lists(LISTED, max_size=6), new=NEW_SET,
       killed=st.none() | st.lists(LISTED, max_size=4))
@example(tree=[("link", "link-out-dir")], manifest=["link/a"], new=["results.jsonl"],
         killed=None)
@example(tree=[("plots", "link-out-dir")], manifest=["plots/a"], new=["plots/b.png"],
         killed=None)
def test_publishing_never_touches_anything_outside_the_folder(tmp_path_factory, tree, manifest,
                                                              new, killed):
    """For any tree of files, folders and links (into the folder, out of it, to its parent)
    and any manifest (names in it, under its entries, or escaping it): what lies outside is
    the same after the pre-run check and publishing (`killed`: the manifest is one of a
    publish killed midway, with this previous set, which publishing first undoes)."""
    root = tmp_path_factory.mktemp("prop")
    outside, folder = root / "outside", root / "results"
    (outside / "d").mkdir(parents=True)
    for name in ("a", "b.png", "results.jsonl"):   # names lmgate might delete or write
        (outside / "d" / name).write_text("outside file")
    (outside / "f").write_text("outside file")
    folder.mkdir()
    targets = {"link-out-dir": outside / "d", "link-out-file": outside / "f",
               "link-in": folder / "a", "link-up": outside}
    for rel, kind in tree:
        path = folder / rel
        with contextlib.suppress(OSError):
            path.parent.mkdir(parents=True, exist_ok=True)
            if kind == "file":
                path.write_text("theirs")
            elif kind == "dir":
                path.mkdir()
            else:
                path.symlink_to(targets[kind])
    with contextlib.suppress(OSError):
        _manifest(folder, manifest, **({} if killed is None else {
            "state": "publishing", "previous": killed, "aside": ASIDE}))
    before = snapshot(outside)
    with contextlib.suppress(ConfigError):
        foreign_results(folder)
    with contextlib.suppress(ConfigError, OSError):
        publish(folder, _build({name: "new" for name in new}))
    assert snapshot(outside) == before


# ---- one set or the other, whatever write fails -----------------------------------------------
class Faults:
    """Every call that changes a file system (create, rename, mkdir, unlink) counted; those
    from the `first`-th on fail (only that one, unless `persist`) with EACCES."""

    def __init__(self, first: int = 0, persist: bool = False):
        self.first, self.persist, self.calls = first, persist, 0

    def wrap(self, real):
        opens = real is os.open

        def call(*args, **kwargs):
            if opens and not args[1] & (os.O_CREAT | os.O_WRONLY | os.O_RDWR):
                return real(*args, **kwargs)      # reading is not a write
            self.calls += 1
            if self.first and (self.calls == self.first
                               or self.persist and self.calls > self.first):
                raise PermissionError(errno.EACCES, "injected fault", str(args[0]))
            return real(*args, **kwargs)
        return call

    @contextlib.contextmanager
    def active(self):
        names = ("open", "replace", "rename", "mkdir", "unlink", "link")
        saved = {n: getattr(os, n) for n in names}
        try:
            for n in names:
                setattr(os, n, self.wrap(saved[n]))
            yield self
        finally:
            for n, real in saved.items():
                setattr(os, n, real)


OLD = {"results.jsonl": "old rows", "plots/s/a.png": "old a", "plots/gone.png": "old only"}
NEW = {"results.jsonl": "new rows", "plots/s/a.png": "new a", "plots/t/b.png": "new only"}


def _encoded(files):
    return {k: v.encode() for k, v in sorted(files.items())}


def _publish_steps(tmp_path):
    """How many file-system changes publishing NEW over OLD makes."""
    with Faults().active() as count:
        publish(tmp_path / "probe", _build(OLD))
        calls = count.calls
        publish(tmp_path / "probe", _build(NEW))
    return count.calls - calls


def test_a_fault_at_any_write_leaves_the_previous_set_or_the_new_one(tmp_path):
    """A permission error (or a full disk) injected at each write in turn, once."""
    steps = _publish_steps(tmp_path)
    assert steps > 8
    for k in range(1, steps + 1):
        folder = tmp_path / f"k{k}"
        publish(folder, _build(OLD))
        with Faults(k).active():
            try:
                publish(folder, _build(NEW))
            except OSError as exc:
                assert not isinstance(exc, TornWrite), (k, exc)
        assert published(folder) in (_encoded(OLD), _encoded(NEW)), k
        assert set(published(folder)) <= owned(folder), k
        publish(folder, _build(NEW))          # and the next run publishes normally
        assert published(folder) == _encoded(NEW), k


def test_when_undoing_fails_too_the_error_says_the_folder_is_incomplete(tmp_path):
    steps = _publish_steps(tmp_path)
    for k in range(1, steps + 1):
        folder = tmp_path / f"k{k}"
        publish(folder, _build(OLD))
        error = None
        with Faults(k, persist=True).active():
            try:
                publish(folder, _build(NEW))
            except OSError as exc:
                error = exc
        if published(folder) not in (_encoded(OLD), _encoded(NEW)):
            assert isinstance(error, TornWrite) and "incomplete" in str(error), k


def test_the_plugin_says_the_previous_set_is_kept_only_when_it_is(pytester, monkeypatch):
    """A permission error while publishing: summary.md (and the rest) are the previous run's,
    as the message says."""
    pytester.makepyfile(test_one="import os\n\ndef test_one(record):\n"
                                 "    record(exact=float(os.environ.get('V', '1')))\n")
    assert pytester.runpytest("-p", "no:cacheprovider").ret == 0
    folder = pytester.path / "lmgate-results"
    before = published(folder)
    assert len(before) == 7
    monkeypatch.setenv("V", "0.5")
    real = os.replace
    seen = []

    def fail_fifth_move_in(src, dst, *args, **kwargs):
        if ".lmgate-staging-" in str(src) and Path(dst).parent == folder:   # a move in
            seen.append(dst)
            if len(seen) == 5:   # after report.html and results.csv, which differ
                raise PermissionError(errno.EACCES, "Permission denied", str(dst))
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", fail_fifth_move_in)
    result = pytester.runpytest("-p", "no:cacheprovider")
    monkeypatch.setattr(os, "replace", real)
    assert len(seen) == 5
    assert "keeps the previous run's complete set" in result.stdout.str()
    assert published(folder) == before


# ---- a baseline and its predictions: one unit ---------------------------------------------------
def _measurement(key, value):
    return Measurement(key=key, value=value, values=[value], seeds=[0], n=4)


def _pair(version):
    """A baseline's entries and predictions; version 2 flips every prediction of version 1."""
    y_pred = [0, 1, 0, 1] if version == 1 else [1, 0, 1, 0]
    key = "test_x.py::test_x::r::accuracy"
    return ({key: _measurement(key, 1.0 if version == 1 else 0.0)},
            {key: [{"seed": 0, "y_true": [0, 1, 0, 1], "y_pred": y_pred}]})


def _as_read(version):
    found, examples = _pair(version)
    return found, {k: [dict(e) for e in es] for k, es in examples.items()}


def test_a_baseline_and_a_predictions_file_from_different_writes_are_refused(tmp_path):
    write_baseline(tmp_path / "a" / "base.json", *_pair(1))
    write_baseline(tmp_path / "b" / "base.json", *_pair(2))
    # The new baseline beside the old predictions (what a torn update used to leave).
    (tmp_path / "a" / "base.json").write_bytes((tmp_path / "b" / "base.json").read_bytes())
    with pytest.raises(ConfigError, match="not from the same write"):
        read_baseline(tmp_path / "a" / "base.json")
    predictions_path(tmp_path / "a" / "base.json").unlink()
    with pytest.raises(ConfigError, match="predictions file is missing"):
        read_baseline(tmp_path / "a" / "base.json")


def test_a_fault_at_any_write_of_a_baseline_leaves_the_old_pair_or_the_new(tmp_path):
    with Faults().active() as count:
        write_baseline(tmp_path / "probe.json", *_pair(2))
    assert count.calls >= 4
    for k in range(1, count.calls + 3):
        path = tmp_path / f"k{k}" / "base.json"
        write_baseline(path, *_pair(1))
        with Faults(k).active():
            with contextlib.suppress(OSError):
                write_baseline(path, *_pair(2))
        assert read_baseline(path) in (_as_read(1), _as_read(2)), k
        # (a hidden temp file stays only where removing it was the write that failed)
        assert sorted(p.name for p in path.parent.iterdir() if not p.name.startswith(".")) == [
            "base.json", "base.predictions.jsonl"], k


def test_a_full_disk_during_an_update_keeps_the_old_pair(tmp_path):
    """A real full disk (a file-size limit, as root too): the predictions file cannot be
    written; the baseline must not be replaced without it."""
    path = tmp_path / "base.json"
    write_baseline(path, *_pair(1))
    code = (f"import resource, signal\n"
            f"signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
            f"resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))\n"
            f"from lmgate.gate.baseline import write_baseline\n"
            f"from lmgate.gate.measure import Measurement\n"
            f"key = 'test_x.py::test_x::r::accuracy'\n"
            f"m = Measurement(key=key, value=0.0, values=[0.0], seeds=[0], n=4000)\n"
            f"ex = {{key: [{{'seed': 0, 'y_true': [0, 1] * 2000, 'y_pred': [1, 0] * 2000}}]}}\n"
            f"write_baseline({str(path)!r}, {{key: m}}, ex)\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode != 0 and "File too large" in run.stderr, run.stderr[-1000:]
    assert read_baseline(path) == _as_read(1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["base.json", "base.predictions.jsonl"]


def test_a_symlinked_baseline_is_written_through_not_replaced(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    write_baseline(shared / "base.json", *_pair(1))
    link = tmp_path / "base.json"
    link.symlink_to(shared / "base.json")
    predictions_path(link).symlink_to(shared / "base.predictions.jsonl")
    write_baseline(link, *_pair(2))
    assert link.is_symlink() and predictions_path(link).is_symlink()
    assert read_baseline(shared / "base.json") == _as_read(2) == read_baseline(link)


# ---- modes: what a plain open() gives ----------------------------------------------------------
@pytest.mark.parametrize("umask", [0o022, 0o027, 0o002])
def test_files_get_the_mode_the_umask_gives(tmp_path, umask):
    previous = os.umask(umask)
    try:
        publish(tmp_path / "results", _build({"results.jsonl": "x", "plots/s/a.png": "y"}))
        write_baseline(tmp_path / "base.json", *_pair(1))
    finally:
        os.umask(previous)
    files = [tmp_path / "results" / "results.jsonl", tmp_path / "results" / "plots/s/a.png",
             tmp_path / "results" / MANIFEST, tmp_path / "base.json",
             tmp_path / "base.predictions.jsonl"]
    assert {f.name: oct(stat.S_IMODE(f.stat().st_mode)) for f in files} == {
        f.name: oct(0o666 & ~umask) for f in files}


def test_a_replaced_file_keeps_its_mode(tmp_path):
    path = tmp_path / "base.json"
    write_baseline(path, *_pair(1))
    path.chmod(0o640)
    write_baseline(path, *_pair(2))
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


# ---- a real small disk, where this machine lets us mount one ---------------------------------
@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
                          capture_output=True)
    if made.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_a_small_real_disk_that_fills_keeps_the_previous_set_and_pair(small_disk):
    folder = small_disk / "results"
    publish(folder, _build({"results.jsonl": "old", "summary.md": "old"}))
    path = small_disk / "base.json"
    write_baseline(path, *_pair(1))
    with pytest.raises(OSError) as error:
        publish(folder, _build({"results.jsonl": "new", "plots/big.png": "x" * 200_000}))
    assert error.value.errno == errno.ENOSPC
    assert published(folder) == {"results.jsonl": b"old", "summary.md": b"old"}
    key, big = "test_x.py::test_x::r::accuracy", [0, 1] * 40_000
    with pytest.raises(OSError):
        write_baseline(path, {key: _measurement(key, 0.0)},
                       {key: [{"seed": 0, "y_true": big, "y_pred": big}]})
    assert read_baseline(path) == _as_read(1)


STUDY = '''
import os
import numpy as np
from lmgate import EvalResult

def test_one(record):
    y = np.array([0, 1] * 300)
    pred = 1 - y if os.environ.get("FLIP") else y
    record(EvalResult("r", ("neg", "pos"), y, pred))
'''


def test_an_update_that_cannot_write_its_predictions_keeps_the_old_pair(pytester, monkeypatch):
    """The predictions file cannot be written (a permission error at its rename): the update
    says so and fails, and the baseline beside it is still the old one (not a new baseline
    against which the next check would see 600 flips and no regression)."""
    pytester.makepyfile(test_one=STUDY)
    args = ("-p", "no:cacheprovider", "--lmgate-baseline", "base.json")
    assert pytester.runpytest(*args, "--lmgate-update-baseline").ret == 0
    base = pytester.path / "base.json"
    before = {p.name: p.read_bytes() for p in (base, predictions_path(base))}
    real = os.replace

    def refuse_predictions(src, dst, *rest, **kwargs):
        if str(dst).endswith(".predictions.jsonl"):
            raise PermissionError(errno.EACCES, "Permission denied", str(dst))
        return real(src, dst, *rest, **kwargs)

    monkeypatch.setenv("FLIP", "1")
    monkeypatch.setattr(os, "replace", refuse_predictions)
    result = pytester.runpytest(*args, "--lmgate-update-baseline")
    monkeypatch.setattr(os, "replace", real)
    assert result.ret == pytest.ExitCode.INTERNAL_ERROR
    assert "could not be written" in result.stdout.str() and "unchanged" in result.stdout.str()
    assert {p.name: p.read_bytes() for p in (base, predictions_path(base))} == before
    assert pytester.runpytest(*args).ret == pytest.ExitCode.TESTS_FAILED   # 600 flips: caught


def test_a_run_that_records_nothing_and_cannot_clear_the_folder_says_so(pytester, monkeypatch):
    """The last run's results go when a run records nothing; when they cannot, a line says so
    (not a traceback) and the folder keeps them all."""
    pytester.makepyfile(test_one="import os\n\ndef test_one(record):\n"
                                 "    if not os.environ.get('NONE'):\n        record(exact=1.0)\n")
    assert pytester.runpytest("-p", "no:cacheprovider").ret == 0
    folder = pytester.path / "lmgate-results"
    before = published(folder)
    real = {name: getattr(os, name) for name in ("replace", "unlink")}

    def refusing(name):
        def call(path, *rest, **kwargs):
            if Path(path).parent == folder and not Path(path).name.startswith("."):
                raise PermissionError(errno.EACCES, "Permission denied", str(path))
            return real[name](path, *rest, **kwargs)
        return call

    monkeypatch.setenv("NONE", "1")
    for name in real:
        monkeypatch.setattr(os, name, refusing(name))
    result = pytester.runpytest("-p", "no:cacheprovider")
    for name, call in real.items():
        monkeypatch.setattr(os, name, call)
    assert result.ret == pytest.ExitCode.INTERNAL_ERROR
    assert "keeps the previous run's complete set" in result.stdout.str()
    assert published(folder) == before


def test_a_publish_killed_at_any_step_is_undone_by_the_next(tmp_path):
    """kill -9 (os._exit in a forked child) at each file-system change of a publish in turn:
    the next publish first puts the previous complete set back (or keeps the new complete
    one), and leaves no working folder behind."""
    from lmgate.core.folder import recover_killed_publish

    steps = _publish_steps(tmp_path)
    for k in range(1, steps + 1):
        folder = tmp_path / f"k{k}"
        publish(folder, _build(OLD))
        child = os.fork()
        if child == 0:   # pragma: no cover (the child never returns)
            try:
                faults = Faults(k)
                faults.wrap = lambda real, faults=faults: _killing(real, faults)
                with faults.active():
                    publish(folder, _build(NEW))
            finally:
                os._exit(0)
        os.waitpid(child, 0)
        recover_killed_publish(folder)
        assert published(folder) in (_encoded(OLD), _encoded(NEW)), k
        assert set(published(folder)) <= owned(folder), k
        publish(folder, _build(NEW))
        assert published(folder) == _encoded(NEW), k
        assert not [p for p in folder.iterdir() if p.name.startswith(".lmgate-p")], k


def _killing(real, faults):
    """`real`, counted like Faults.wrap, that ends the process at the faults' first call."""
    counted = Faults.wrap(faults, real)

    def call(*args, **kwargs):
        if faults.calls + 1 == faults.first and (real is not _OS_OPEN or args[1] & (
                os.O_CREAT | os.O_WRONLY | os.O_RDWR)):
            os._exit(9)
        return counted(*args, **kwargs)
    return call


_OS_OPEN = os.open
