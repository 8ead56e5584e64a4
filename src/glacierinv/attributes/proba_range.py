"""Per-glacier area range from the segmentation's class probabilities (beside the buffer uncertainty).

For each glacier, ``area_p75_km2`` is the area of the pixels inside its outline whose glacier probability
``P(clean ice) + P(debris)`` is at least 0.75 (the confidently mapped core), and ``area_p25_km2`` the area of
the pixels with a glacier probability of at least 0.25 inside the outline or within ``ring_px`` pixels of it
and nearer to it than to any other glacier (what a more permissive threshold would have added). The true
area is likely between the two; a narrow range means a confident outline. The probabilities are the
blended, temperature-calibrated softmax of the segment stage (``proba.tif``, uint8 × 255 or float 0-1).

Read window by window (one padded window per glacier), so memory follows the largest glacier, not the scene.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio.features
import shapely
from rasterio.windows import Window
from scipy import ndimage

from glacierinv.io.grid import Grid
from glacierinv.io.raster import open_raster, read_window

__all__ = ["probability_area_range"]


def probability_area_range(
    glaciers: gpd.GeoDataFrame,
    proba_path: str | Path,
    *,
    ring_px: int = 5,
    low: float = 0.25,
    high: float = 0.75,
) -> tuple[np.ndarray, np.ndarray]:
    """``(area_low_km2, area_high_km2)`` per glacier (module docstring); NaN where the raster has no data.

    Parameters
    ----------
    glaciers
        Glacier polygons (any CRS; reprojected to the raster's).
    proba_path
        Class probabilities, bands background, clean_ice, debris (uint8 × 255 or float 0-1).
    ring_px
        How far outside the outline (pixels) the permissive area may reach.
    low, high
        Glacier-probability thresholds (0-1) of the permissive and the strict area.
    """
    n = len(glaciers)
    area_low, area_high = np.full(n, np.nan), np.full(n, np.nan)
    if n == 0:
        return area_low, area_high
    with open_raster(proba_path) as ds:
        grid = Grid(ds.crs, ds.transform, (ds.height, ds.width))
        scale = 255.0 if ds.dtypes[0] == "uint8" else 1.0
        gl = glaciers.to_crs(grid.crs) if glaciers.crs != grid.crs else glaciers
        geoms = gl.geometry.to_numpy()
        tree = shapely.STRtree(geoms)
        px_km2 = abs(grid.res[0] * grid.res[1]) / 1e6
        for i, geom in enumerate(geoms):
            if geom is None or geom.is_empty:
                continue
            win = _window(geom, grid, ring_px + 1)
            if win is None:
                continue
            wgrid = grid.window_grid(win)
            near = [j for j in tree.query(geom.buffer((ring_px + 1) * abs(grid.res[0]))) if j != i]
            labels = _labels([geom] + [geoms[j] for j in near], wgrid)
            proba = read_window(ds, win, [1, 2, 3], as_float=False).astype("float32") / scale
            p_glacier = proba[1] + proba[2]
            valid = proba.sum(axis=0) > 0  # nodata pixels are written as 0 in every band
            if not valid.any():
                continue
            inside = labels == 1
            # pixels outside every outline go to the nearest glacier, within ring_px
            dist, idx = ndimage.distance_transform_edt(labels == 0, return_indices=True)
            nearest = labels[idx[0], idx[1]]
            mine = inside | ((labels == 0) & (nearest == 1) & (dist <= ring_px))
            area_high[i] = float((inside & valid & (p_glacier >= high)).sum()) * px_km2
            area_low[i] = float((mine & valid & (p_glacier >= low)).sum()) * px_km2
    return area_low, area_high


def _window(geom, grid: Grid, pad_px: int) -> Window | None:
    minx, miny, maxx, maxy = geom.bounds
    inv = ~grid.transform
    cols, rows = zip(*(inv @ (x, y) for x, y in ((minx, miny), (maxx, maxy))), strict=True)
    c0 = max(int(np.floor(min(cols))) - pad_px, 0)
    c1 = min(int(np.ceil(max(cols))) + pad_px, grid.width)
    r0 = max(int(np.floor(min(rows))) - pad_px, 0)
    r1 = min(int(np.ceil(max(rows))) + pad_px, grid.height)
    if c1 <= c0 or r1 <= r0:
        return None
    return Window(c0, r0, c1 - c0, r1 - r0)


def _labels(geoms, wgrid: Grid) -> np.ndarray:
    """1 for the first geometry, 2.. for the neighbours (the first wins where they overlap), 0 elsewhere."""
    shapes = [(g, k + 1) for k, g in reversed(list(enumerate(geoms)))]
    return rasterio.features.rasterize(
        shapes, out_shape=wgrid.shape, transform=wgrid.transform, fill=0, dtype="int32"
    )
