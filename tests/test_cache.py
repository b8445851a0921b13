import time

import numpy as np

from lmgate.core.cache import RunCache, content_key, save_arrays


def test_roundtrip_and_miss(tmp_path):
    cache = RunCache(tmp_path)
    assert cache.get("predictions", "ab" * 32) is None
    entry = cache.put("predictions", "ab" * 32, lambda d: save_arrays(d, y=np.arange(5)),
                      meta={"n": 5})
    again = cache.get("predictions", "ab" * 32)
    assert again.meta == {"n": 5} and again.arrays()["y"].tolist() == [0, 1, 2, 3, 4]
    assert entry.path == again.path


def test_corrupt_entry_is_detected_and_dropped(tmp_path):
    cache = RunCache(tmp_path)
    entry = cache.put("runs", "cd" * 32, lambda d: (d / "w.json").write_text("[1, 2]"), meta={})
    (entry.path / "w.json").write_text("[1, 3]")
    assert cache.get("runs", "cd" * 32) is None
    assert not entry.path.exists()


def test_truncated_manifest_is_dropped(tmp_path):
    cache = RunCache(tmp_path)
    entry = cache.put("runs", "ef" * 32, lambda d: (d / "w.json").write_text("1"), meta={})
    (entry.path / "manifest.json").write_text("{")
    assert cache.get("runs", "ef" * 32) is None


def test_disabled_cache_never_reads_or_writes(tmp_path):
    cache = RunCache(tmp_path, enabled=False)
    cache.put("runs", "aa" * 32, lambda d: (d / "x").write_text("1"), meta={})
    assert cache.get("runs", "aa" * 32) is None
    assert not (tmp_path / "runs").exists()


def test_disabled_cache_removes_its_scratch_entries_when_dropped(tmp_path):
    import gc

    cache = RunCache(tmp_path, enabled=False)
    entry = cache.put("runs", "aa" * 32, lambda d: (d / "x").write_text("1"), meta={})
    assert (entry.path / "x").read_text() == "1"      # usable while the cache lives
    del cache
    gc.collect()
    assert not entry.path.exists()


def test_content_key_is_canonical_and_sensitive():
    assert content_key(a=1, b=[1, 2]) == content_key(b=[1, 2], a=1)
    assert content_key(a=1) != content_key(a=2)


def test_no_partial_entries_left_on_failure(tmp_path):
    cache = RunCache(tmp_path)

    def boom(folder):
        (folder / "half").write_text("x")
        raise RuntimeError("crash while writing")

    try:
        cache.put("runs", "bb" * 32, boom, meta={})
    except RuntimeError:
        pass
    assert cache.get("runs", "bb" * 32) is None
    assert not any(p.name == "half" for p in tmp_path.rglob("*"))


CONCURRENT = '''
import sys, time
from pathlib import Path
from lmgate.core.cache import RunCache

root, log = sys.argv[1], Path(sys.argv[2])

def compute():
    with log.open("a") as f:
        f.write("computed\\n")
    time.sleep(float(sys.argv[3]))
    return "value"

memo = RunCache(root).memo("slow", {"x": 1}, compute,
                           lambda v, folder: (folder / "v.txt").write_text(v) and None,
                           lambda entry: (entry.path / "v.txt").read_text())
print("hit" if memo.hit else "miss", memo.value)
'''


def test_two_processes_reaching_one_entry_compute_it_once(tmp_path):
    import subprocess
    import sys

    script, log = tmp_path / "worker.py", tmp_path / "log.txt"
    script.write_text(CONCURRENT)
    args = [sys.executable, str(script), str(tmp_path / "cache"), str(log), "2"]
    first = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    time.sleep(0.8)   # the first holds the entry's lock and is computing
    second = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    outputs = sorted([first.communicate(timeout=60)[0].strip(),
                      second.communicate(timeout=60)[0].strip()])
    assert outputs == ["hit value", "miss value"]
    assert log.read_text().count("computed") == 1


def test_a_lock_held_by_a_killed_process_does_not_block(tmp_path):
    import signal
    import subprocess
    import sys

    script, log = tmp_path / "worker.py", tmp_path / "log.txt"
    script.write_text(CONCURRENT)
    holder = subprocess.Popen([sys.executable, str(script), str(tmp_path / "cache"), str(log),
                               "60"], stdout=subprocess.PIPE, text=True)
    deadline = time.time() + 30
    while not (log.exists() and "computed" in log.read_text()) and time.time() < deadline:
        time.sleep(0.1)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    done = subprocess.run([sys.executable, str(script), str(tmp_path / "cache"), str(log), "0"],
                          capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "miss value"


def test_large_files_are_hashed_once_per_process_and_a_rewrite_is_still_caught(tmp_path,
                                                                              monkeypatch):
    import hashlib
    import os

    from lmgate.core import cache as cache_module

    big = os.urandom(9 << 20)                     # over the size whose digest is remembered
    cache = RunCache(tmp_path)
    entry = cache.put("weights", "9a" * 32, lambda d: (d / "w.bin").write_bytes(big), meta={})
    reads = []
    real = hashlib.sha256
    monkeypatch.setattr(cache_module.hashlib, "sha256", lambda *a: reads.append(1) or real(*a))
    assert cache.get("weights", "9a" * 32) is not None
    first = len(reads)
    assert cache.get("weights", "9a" * 32) is not None
    assert len(reads) == first + 1                 # the manifest's digest only: no re-read
    flipped = bytes([big[0] ^ 1]) + big[1:]
    (entry.path / "w.bin").write_bytes(flipped)    # same size: the new mtime tells it
    os.utime(entry.path / "w.bin", ns=(time.time_ns() + 10**9,) * 2)
    assert cache.get("weights", "9a" * 32) is None
