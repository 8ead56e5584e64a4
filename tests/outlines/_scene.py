"""Tiny constructed rasters and polygons for the outlines tests (2 m pixels, UTM 43N)."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
import shapely
from affine import Affine

CRS = "EPSG:32643"
RES = 2.0
X0, Y0 = 500000.0, 4000000.0
TRANSFORM = Affine(RES, 0, X0, 0, -RES, Y0)


def box_px(r0: int, c0: int, r1: int, c1: int) -> shapely.Polygon:
    """Polygon covering pixel rows r0..r1-1 and columns c0..c1-1."""
    return shapely.box(X0 + c0 * RES, Y0 - r1 * RES, X0 + c1 * RES, Y0 - r0 * RES)


def write(path: Path, arr: np.ndarray, *, nodata=None, descriptions=None) -> Path:
    arr = arr if arr.ndim == 3 else arr[None]
    with rasterio.open(
        path, "w", driver="GTiff", width=arr.shape[2], height=arr.shape[1], count=arr.shape[0],
        dtype=arr.dtype, crs=CRS, transform=TRANSFORM, nodata=nodata,
    ) as ds:  # fmt: skip
        ds.write(arr)
        for i, d in enumerate(descriptions or []):
            ds.set_band_description(i + 1, d)
    return path


def gdf(rows: list[dict]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=CRS)
