"""Keeping the process's resident memory close to what the data needs (glibc heap behaviour).

Two glibc habits make a long numpy/torch run look larger than it is: freed heap memory is kept for reuse
rather than returned to the OS, and the dynamic mmap threshold climbs to 32 MiB, so that arrays of a few
MiB (tiles, activations, windows) are carved out of the heap and fragment it across the allocator arenas
of several threads. :func:`limit_heap_growth` serves every allocation above ``threshold`` bytes with its
own ``mmap`` (returned to the OS on free), and :func:`release_memory` trims the heap. Both are no-ops where
glibc's ``mallopt`` / ``malloc_trim`` do not exist (macOS, Windows, musl).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc

__all__ = ["limit_heap_growth", "release_memory"]

_M_MMAP_THRESHOLD = -3  # glibc <malloc.h>


@functools.cache
def _libc():
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name) if name else None
    except OSError:
        return None


def release_memory() -> None:
    """Collect garbage and hand freed heap memory back to the OS (``malloc_trim(0)``)."""
    gc.collect()
    libc = _libc()
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)


def limit_heap_growth(threshold: int = 1 << 20) -> bool:
    """Serve allocations above ``threshold`` bytes (default 1 MiB) by ``mmap``; True if it took effect."""
    libc = _libc()
    if libc is None or not hasattr(libc, "mallopt"):
        return False
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, int(threshold)))
