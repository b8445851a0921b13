"""`--lmgate-keep-freed-memory`: glibc's malloc keeps freed memory for reuse."""

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
