"""The GDAL block cache a per-glacier stage needs: block rows of the rasters it reads, not whole scenes.

The outlines and attributes stages read each raster glacier window by glacier window (the review scan in
blocks of at most ``ReviewParams.block_px``), so a block is decoded again only where consecutive windows
share it: one row of blocks across the width of a read, per raster (plus one more row for the reader's
prefetch). A larger cache only holds blocks that are never read again — on a 4096² scene the default
256 MiB filled up during the review scan and stayed resident. The pipeline gives a stage the smaller of
this and ``[runtime] gdal_cache_mb`` (:attr:`glacierinv.pipeline.stage.Stage.block_cache_mb`); the outputs
do not depend on the cache, only the time spent decoding blocks again.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

__all__ = ["strip_mib"]


def strip_mib(rasters: Iterable[tuple[Path | None, int | None]], width_px: int | None = None) -> float:
    """MiB of two block rows, ``width_px`` wide (None: the raster's width), of each raster read.

    ``rasters``: ``(path, bands)`` pairs; ``bands`` is how many bands are read (None: all); absent paths
    (None or not existing) count nothing. The width is rounded up to whole blocks plus one (a window
    rarely starts on a block edge).
    """
    import numpy as np

    from glacierinv.io.raster import open_raster

    total = 0
    for path, bands in rasters:
        if path is None or not Path(path).exists():
            continue
        with open_raster(path) as ds:
            block_h, block_w = ds.block_shapes[0]
            width = ds.width if width_px is None else min(ds.width, int(width_px))
            width = min(ds.width, (-(-width // block_w) + 1) * block_w)
            n = ds.count if bands is None else min(bands, ds.count)
            total += 2 * block_h * width * n * np.dtype(ds.dtypes[0]).itemsize
    return total / 2**20
