"""Per-glacier DEM windows on a local metric grid, and the glacier mask on it.

Every statistic is computed on a metric grid: the DEM's own grid when it is projected, else a local UTM
grid at the DEM's resolution in metres (slope from a lat/lon DEM in degrees is the classic bug). Only a
window around each glacier is read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio.features
from pyproj import CRS
from rasterio.enums import Resampling
from shapely.geometry.base import BaseGeometry

from glacierinv.io.grid import Grid
from glacierinv.io.raster import open_raster, read_on_grid

__all__ = ["GlacierWindow", "dem_resolution_m", "glacier_window"]


@dataclass
class GlacierWindow:
    """A glacier's DEM window: elevation (m, NaN nodata), the glacier mask, the grid and the geometry in it."""

    dem_m: np.ndarray
    mask: np.ndarray
    grid: Grid
    geometry: BaseGeometry  # the glacier in grid.crs

    @property
    def res_m(self) -> float:
        return self.grid.res[0]


def dem_resolution_m(dem_path: str | Path) -> tuple[float, CRS | None]:
    """(pixel size in metres, projected CRS or None if geographic)."""
    with open_raster(dem_path) as ds:
        if ds.crs.is_projected:
            return float(abs(ds.transform.a)), CRS.from_user_input(ds.crs)
        lat = np.radians((ds.bounds.top + ds.bounds.bottom) / 2)
        return float(abs(ds.transform.a) * 111_320.0 * np.cos(lat)), None


def glacier_window(
    geometry: BaseGeometry,
    crs,
    dem_path: str | Path,
    *,
    res_m: float,
    dem_crs: CRS | None,
    margin_px: int = 2,
) -> GlacierWindow:
    """Warp the DEM around ``geometry`` (given in ``crs``) onto a metric grid and rasterise the glacier."""
    geo = gpd.GeoSeries([geometry], crs=crs)
    metric = dem_crs if dem_crs is not None else geo.estimate_utm_crs()
    g = geo.to_crs(metric).iloc[0]
    left, bottom, right, top = g.bounds
    pad = margin_px * res_m
    left = np.floor((left - pad) / res_m) * res_m
    top = np.ceil((top + pad) / res_m) * res_m
    right = np.ceil((right + pad) / res_m) * res_m
    bottom = np.floor((bottom - pad) / res_m) * res_m
    grid = Grid.from_bounds(metric, (left, bottom, right, top), res_m)
    dem = read_on_grid(dem_path, grid, bands=1, resampling=Resampling.bilinear, require_overlap=False)
    mask = rasterio.features.geometry_mask([g], grid.shape, grid.transform, invert=True)
    if not mask.any():  # a glacier smaller than a cell: take the cell holding its representative point
        p = g.representative_point()
        col, row = ~grid.transform * (p.x, p.y)
        mask[min(int(row), grid.height - 1), min(int(col), grid.width - 1)] = True
    return GlacierWindow(dem, mask, grid, g)
