"""glacierinv.memory: the glibc heap helpers work here and are harmless no-ops elsewhere."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from glacierinv import memory


def _rss_mb() -> float:
    line = next(ln for ln in open("/proc/self/status") if ln.startswith("VmRSS"))
    return int(line.split()[1]) / 1024


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc / procfs")
def test_release_memory_returns_a_fragmented_heap_to_the_os():
    blocks = [np.ones(2000) for _ in range(20_000)]  # 20k × 16 kB from the heap (below the mmap threshold)
    pinned = blocks[::100]  # every 100th stays alive: the heap cannot shrink from its top by itself
    del blocks
    held = _rss_mb()
    memory.release_memory()
    assert held - _rss_mb() > 200  # ~300 MB of free pages between the pinned blocks handed back
    assert len(pinned) == 200


def test_helpers_are_no_ops_without_glibc(monkeypatch):
    monkeypatch.setattr(memory, "_libc", lambda: None)
    memory.release_memory()
    assert memory.limit_heap_growth() is False


def test_gdal_block_cache_is_set_in_mib_not_bytes():
    """rasterio passes an integer GDAL_CACHEMAX to GDALSetCacheMax64 (bytes): 256 would be a 256-byte cache."""
    from rasterio.env import get_gdal_config

    from glacierinv.memory import gdal_block_cache

    with gdal_block_cache(256):
        assert int(get_gdal_config("GDAL_CACHEMAX")) == 256 * 2**20
