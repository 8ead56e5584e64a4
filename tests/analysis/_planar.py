"""A hand-built inventory on a planar DEM with known answers.

DEM: UTM 43N, 10 m pixels, 300 × 300 px (x 500 000-503 000, y 4 000 000-4 003 000), z = 3000 + 0.2·(y − y0)
(rises northward 0.2 m/m → slope atan(0.2) = 11.31°, aspect south = 180°). Glacier A: a 1 km square
(x 501 000-502 000, y0+500 … y0+1500 → z 3100-3300); glacier B: 0.5 km square at x 500 500-501 000,
y0+2000 … y0+2500 (z 3400-3500). Debris: the lower half of A (z 3100-3200).
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
from affine import Affine
from rasterio.crs import CRS
from shapely.geometry import LineString, box

from glacierinv.geometry import area_km2
from glacierinv.io.grid import Grid
from glacierinv.io.raster import write_raster
from glacierinv.io.vector import write_layers

CRS_UTM = CRS.from_epsg(32643)
X0, Y0, GRAD = 500_000.0, 4_000_000.0, 0.2
SLOPE_DEG = float(np.degrees(np.arctan(GRAD)))


def plane_dem(path: Path, res_m: float = 10.0, size_m: float = 3000.0) -> Path:
    n = int(size_m / res_m)
    grid = Grid(CRS_UTM, Affine(res_m, 0, X0, 0, -res_m, Y0 + size_m), (n, n))
    yc = Y0 + size_m - (np.arange(n) + 0.5) * res_m
    z = np.repeat((3000.0 + GRAD * (yc - Y0))[:, None], n, axis=1).astype("float32")
    write_raster(path, z, grid, nodata=-9999.0)
    return path


def glaciers() -> gpd.GeoDataFrame:
    g = gpd.GeoDataFrame(
        {"glac_id": ["A", "B"], "ela_m": [3150.0, 3480.0]},
        geometry=[
            box(X0 + 1000, Y0 + 500, X0 + 2000, Y0 + 1500),
            box(X0 + 500, Y0 + 2000, X0 + 1000, Y0 + 2500),
        ],
        crs=CRS_UTM,
    )
    g["area_km2"] = area_km2(g)
    return g


def debris() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"glac_id": ["A"]}, geometry=[box(X0 + 1000, Y0 + 500, X0 + 2000, Y0 + 1000)],
                            crs=CRS_UTM)  # fmt: skip


def centerlines(reverse: bool = False) -> gpd.GeoDataFrame:
    line = LineString([(X0 + 1500, Y0 + 1495), (X0 + 1500, Y0 + 505)])  # head (north) → terminus
    if reverse:
        line = LineString(line.coords[::-1])
    return gpd.GeoDataFrame({"glac_id": ["A"]}, geometry=[line], crs=CRS_UTM)


def inventory(path: Path, with_lines: bool = True) -> Path:
    layers = {"glaciers": glaciers(), "debris": debris()}
    if with_lines:
        layers["centerlines"] = centerlines(reverse=True)
    write_layers(path, layers)
    return path
