"""A small test terrain shared by the units and attributes tests: a ridge along x = 501000 m on a
south-facing slope (UTM 43N, 2 × 2 km), z = 5000 − 0.3·|x − 501000| + 0.1·(y − 4000000) m."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from rasterio.crs import CRS

from glacierinv.io.grid import Grid
from glacierinv.io.raster import write_raster

UTM = CRS.from_epsg(32643)


def ridge_dem(path: Path, res_m: float) -> Path:
    """Write the ridge DEM at ``res_m`` metres to ``path`` (float32 GeoTIFF) and return the path."""
    grid = Grid.from_bounds(UTM, (500000, 4000000, 502000, 4002000), res_m)
    rows, cols = np.indices(grid.shape)
    xs, ys = grid.xy(rows, cols)
    z = 5000.0 - 0.3 * np.abs(xs - 501000) + 0.1 * (ys - 4000000)
    return write_raster(path, z.astype("float32"), grid)
