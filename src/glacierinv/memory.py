"""Keeping the process's resident memory close to what the data needs (glibc heap behaviour).

Two glibc habits make a long numpy/torch run look larger than it is: freed heap memory is kept for reuse
rather than returned to the OS, and the dynamic mmap threshold climbs to 32 MiB, so that arrays of a few
MiB (tiles, activations, windows) are carved out of the heap and fragment it across the allocator arenas
of several threads. :func:`limit_heap_growth` serves every allocation above ``threshold`` bytes with its
own ``mmap`` (returned to the OS on free), and :func:`release_memory` trims the heap. Both are no-ops where
glibc's ``mallopt`` / ``malloc_trim`` do not exist (macOS, Windows, musl).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import gc
from collections.abc import Iterator

__all__ = ["gdal_block_cache", "heap_growth_limited", "limit_heap_growth", "release_memory"]

_M_MMAP_THRESHOLD = -3  # glibc <malloc.h>
_DEFAULT_MMAP_THRESHOLD = 128 * 1024  # glibc's initial M_MMAP_THRESHOLD (DEFAULT_MMAP_THRESHOLD_MIN)


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


def gdal_block_cache(mb: int):
    """A ``rasterio.Env`` giving GDAL a block cache of ``mb`` MiB (``with gdal_block_cache(256): ...``).

    rasterio hands an integer ``GDAL_CACHEMAX`` to ``GDALSetCacheMax64``, which counts **bytes** (GDAL's
    "below 100 000 means MB" rule applies only to the configuration string), so ``rasterio.Env(
    GDAL_CACHEMAX=256)`` is a 256-byte cache: every block is decompressed again at each read that touches it
    (a decimated read of a 2048² deflate-tiled DEM took 16 s instead of 0.1 s). This converts MiB to bytes.
    """
    import rasterio

    return rasterio.Env(GDAL_CACHEMAX=int(mb) * 2**20)


@contextlib.contextmanager
def heap_growth_limited(threshold: int | None) -> Iterator[bool]:
    """:func:`limit_heap_growth` for the duration of a ``with`` block, then glibc's default back.

    glibc has no getter for the threshold, so the previous value cannot be read: on exit the threshold is
    set back to glibc's initial 128 KiB (its automatic growth stays off, as after any ``mallopt``). With
    ``threshold`` None or 0 nothing is changed. Yields whether the setting took effect.
    """
    if not threshold:
        yield False
        return
    ok = limit_heap_growth(threshold)
    try:
        yield ok
    finally:
        if ok:
            _libc().mallopt(_M_MMAP_THRESHOLD, _DEFAULT_MMAP_THRESHOLD)


def limit_heap_growth(threshold: int = 1 << 20) -> bool:
    """Serve allocations above ``threshold`` bytes (default 1 MiB) by ``mmap``; True if it took effect."""
    libc = _libc()
    if libc is None or not hasattr(libc, "mallopt"):
        return False
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, int(threshold)))
