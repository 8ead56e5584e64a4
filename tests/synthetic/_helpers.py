"""Helpers shared by the synthetic tests (tiny inputs built in code)."""

from __future__ import annotations

import numpy as np

from glacierinv.io.grid import Grid
from glacierinv.io.raster import write_raster


def toy_dem(path, crs=32643):
    """A 3 km cone-shaped mountain (metres) on a 30 m UTM grid."""
    grid = Grid.from_bounds(crs, (500000, 4000000, 503000, 4003000), 30.0)
    rows, cols = np.indices(grid.shape)
    r = np.hypot(rows - 50, cols - 50) * 30.0
    write_raster(path, (5500.0 - 0.5 * r).astype("float32"), grid)
    return grid
