"""A DEM with a fallback: fill the primary DEM's gaps from a second DEM and record where each cell came from.

The attribute stage records per glacier which DEM its elevations came from (``dem_source``); this module
provides the raster it reads: band 1 ``dem_m``, band 2 ``dem_source_code`` (1 = primary, 2 = fallback,
0 = no data), with the two source names in the file tags ``dem_source_1`` / ``dem_source_2``.
Both DEMs must share a vertical datum (co-register them first with :mod:`glacierinv.dem.coreg`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from rasterio.enums import Resampling

from glacierinv.errors import InputError
from glacierinv.io.grid import Grid

__all__ = ["SOURCE_FALLBACK", "SOURCE_NONE", "SOURCE_PRIMARY", "merge_with_fallback"]

SOURCE_NONE, SOURCE_PRIMARY, SOURCE_FALLBACK = 0, 1, 2


def merge_with_fallback(
    primary: str | Path,
    fallback: str | Path,
    out: str | Path,
    *,
    primary_name: str = "primary",
    fallback_name: str = "fallback",
    grid: Grid | None = None,
    block: int = 1024,
) -> dict[str, float]:
    """Write the primary DEM with its gaps filled from the fallback DEM (window by window).

    Parameters
    ----------
    primary, fallback : paths
        DEMs in metres (same vertical datum). The fallback is resampled bilinearly onto the grid.
    out : path
        Output GeoTIFF (2 bands: ``dem_m``, ``dem_source_code``).
    primary_name, fallback_name : str
        Names recorded in the tags (e.g. ``zy3``, ``copdem30``) for the ``dem_source`` attribute.
    grid : Grid, optional
        Output grid; default the primary DEM's grid.

    Returns
    -------
    dict
        Shares of cells from the primary DEM, from the fallback, and without data.
    """
    from glacierinv.io.raster import RasterWriter, iter_windows, raster_grid, read_on_grid

    grid = grid or raster_grid(primary)
    if not grid.is_metric:
        raise InputError(f"DEM grid CRS {grid.crs} is not metric", Path(primary), "Reproject it to UTM first")
    counts = np.zeros(3, dtype="int64")
    with RasterWriter(
        out,
        grid,
        count=2,
        dtype="float32",
        descriptions=["dem_m", "dem_source_code"],
        tags={"dem_source_1": primary_name, "dem_source_2": fallback_name, "dem_source_0": "none"},
    ) as w:
        for _, win in iter_windows(grid, block):
            z1 = read_on_grid(primary, grid, win, bands=1, resampling=Resampling.bilinear)
            z2 = read_on_grid(
                fallback, grid, win, bands=1, resampling=Resampling.bilinear, require_overlap=False
            )
            src = np.where(
                np.isfinite(z1), SOURCE_PRIMARY, np.where(np.isfinite(z2), SOURCE_FALLBACK, SOURCE_NONE)
            )
            z = np.where(src == SOURCE_PRIMARY, z1, z2).astype("float32")
            counts += np.bincount(src.ravel(), minlength=3)
            w.write(np.stack([z, src.astype("float32")]), window=win)
    total = max(1, counts.sum())
    return {
        "primary_frac": counts[SOURCE_PRIMARY] / total,
        "fallback_frac": counts[SOURCE_FALLBACK] / total,
        "nodata_frac": counts[SOURCE_NONE] / total,
    }
