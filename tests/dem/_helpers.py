"""Tiny synthetic rasters for the dem tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from affine import Affine
from rasterio.crs import CRS

from glacierinv.io.grid import Grid
from glacierinv.io.raster import write_raster


def utm_grid(
    n: int, res: float = 10.0, x0: float = 500000.0, y0: float = 5200000.0, epsg: int = 32632
) -> Grid:
    return Grid(CRS.from_epsg(epsg), Affine(res, 0, x0, 0, -res, y0), (n, n))


def write_dem(path: Path, z: np.ndarray, grid: Grid) -> Path:
    return write_raster(path, z.astype("float32"), grid, nodata=float("nan"))
