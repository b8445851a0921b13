"""`--lmgate-keep-freed-memory`: glibc's malloc keeps freed memory for reuse, only when asked."""

import re
import subprocess
import sys

import pytest

from lmgate.core.allocator import _glibc

pytestmark = pytest.mark.skipif(_glibc() is None, reason="glibc only")

#: Page faults of ten 128 MB blocks written after a first one, in a fresh interpreter.
FAULTS = """
import resource, sys
if sys.argv[1] == "keep":
    from lmgate.core.allocator import keep_freed_memory
    print(keep_freed_memory(), file=sys.stderr)
ONE = bytearray(b"x")             # (bytearray * n: malloc, then every page written)
ONE * (128 << 20)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    block = ONE * (128 << 20)
    del block
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def faults(mode: str) -> tuple[int, str]:
    done = subprocess.run([sys.executable, "-c", FAULTS, mode], capture_output=True, text=True,
                          check=True)
    return int(done.stdout), done.stderr


def test_freed_blocks_are_reused_instead_of_faulted_in_again():
    default, _ = faults("default")
    kept, said = faults("keep")
    assert default > 10 * 32768 * 0.9        # every 128 MB block mapped afresh: 32k pages each
    assert kept < 1000 and "freed memory kept for reuse" in said


#: A test that asks for lmgate's device on the CPU, then counts the page faults of FAULTS.
FAULTS_AFTER_DEVICE = '''
import resource

def test_faults(device):
    ONE = bytearray(b"x")
    ONE * (128 << 20)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(10):
        block = ONE * (128 << 20)
        del block
    print("FAULTS", resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
'''


def faults_under_pytest(pytester, *options: str) -> int:
    # A subprocess: the allocator is the process's, and this one's is opted in (pyproject.toml).
    pytester.makepyfile(test_faults=FAULTS_AFTER_DEVICE)
    result = pytester.runpytest_subprocess("-s", "-p", "no:cacheprovider", "-o",
                                           "lmgate_device=cpu", "--lmgate-plots=off", *options)
    assert result.ret == 0, result.stdout.str()
    return int(re.search(r"FAULTS (\d+)", result.stdout.str())[1])


def test_the_device_fixture_leaves_the_allocator_alone_unless_asked(pytester):
    """The plugin loads in every pytest run of an environment with lmgate installed: its
    `device` fixture must not change glibc's malloc for the whole process by default (opted in,
    the fixture calls `keep_freed_memory`, whose effect the test above measures, and the
    summary says so: tests/test_results_folder.py)."""
    assert faults_under_pytest(pytester) > 10 * 32768 * 0.9
