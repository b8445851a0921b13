"""Keep freed memory in the process instead of handing it back to the system (glibc only).

glibc serves every allocation above its mmap threshold with a fresh `mmap` and unmaps it when
it is freed, so each decoding step of a large-vocabulary LM (a batch's logits: 64 x 262k floats)
faults its pages in again, in system time. With mmap off for allocations and the heap never
trimmed, freed blocks are reused, with the same outputs. The cost: memory a process freed stays
its own until it ends (its later allocations reuse it), so peak memory grows. Both are measured
by benchmarks/p14_allocator.py (figures in benchmarks/README.md, P14).
"""

from __future__ import annotations

import ctypes
import sys

# mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4
_INT_MAX = 2 ** 31 - 1


def _glibc():
    """The process's C library when it is glibc, else None (musl, macOS, Windows)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)
        version = libc.gnu_get_libc_version
    except (OSError, AttributeError):
        return None
    version.restype = ctypes.c_char_p
    return libc


def keep_freed_memory() -> str | None:
    """Switch glibc's malloc to keeping freed memory for reuse (no mmap-backed allocations, no
    trimming of the heap) from now on, in this process. Returns what was done, or None where the
    C library is not glibc (nothing changes)."""
    libc = _glibc()
    if libc is None:
        return None
    if libc.mallopt(_M_MMAP_MAX, 0) != 1 or libc.mallopt(_M_TRIM_THRESHOLD, _INT_MAX) != 1:
        return None
    return f"glibc {libc.gnu_get_libc_version().decode()}: freed memory kept for reuse"
