"""Per-glacier area range from the segmentation's class probabilities (beside the buffer uncertainty).

For each glacier, ``area_p75_km2`` is the area of the pixels inside its outline whose glacier probability
``P(clean ice) + P(debris)`` is at least 0.75 (the confidently mapped core), and ``area_p25_km2`` the area of
the pixels with a glacier probability of at least 0.25 inside the outline or within ``ring_px`` pixels of it
and nearer to it than to any other glacier (what a more permissive threshold would have added). The true
area is likely between the two; a narrow range means a confident outline. The probabilities are the
blended, temperature-calibrated softmax of the segment stage (``proba.tif``, uint8 × 255 or float 0-1).

Read window by window: each glacier's padded window in blocks of at most ``block_px`` × ``block_px`` pixels
(plus a margin of ``ring_px + 1``), so memory is bounded whatever the size of the glacier (a complex can
cover the whole scene). Only the glacier's and its neighbours' labels are rasterised over the whole window,
one byte per pixel. The nearest-glacier assignment of the margin needs nothing beyond ``ring_px`` pixels:
a pixel within ``ring_px`` of an outline has all its nearest outline pixels within the block's margin, and
SciPy's feature transform picks the same one among equally near pixels in a block as in the whole window
(checked against the whole-window transform in ``tests/attributes/test_proba_range.py``).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio.features
import shapely
from rasterio.windows import Window
from scipy import ndimage

from glacierinv.geometry import box_areas
from glacierinv.io.grid import Grid
from glacierinv.io.raster import core_slice, iter_windows, open_raster, read_window
from glacierinv.taskmap import map_batched

__all__ = ["probability_area_range"]


def probability_area_range(
    glaciers: gpd.GeoDataFrame,
    proba_path: str | Path,
    *,
    ring_px: int = 5,
    low: float = 0.25,
    high: float = 0.75,
    block_px: int = 1024,
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
    block_px
        Largest block of a glacier's window read and processed at once (px); the result does not depend on it.
    """
    n = len(glaciers)
    if n == 0:
        return np.full(0, np.nan), np.full(0, np.nan)
    with open_raster(proba_path) as ds:
        crs = ds.crs
        res = abs(ds.transform.a)
    gl = glaciers.to_crs(crs) if glaciers.crs != crs else glaciers
    geoms = gl.geometry.to_numpy()
    tree = shapely.STRtree(geoms)
    # candidate neighbours: the glaciers whose boxes reach the glacier's box grown a little more than the
    # buffer; the task keeps those whose boxes meet the buffer's box, as a query with the buffer would
    reach = (ring_px + 1) * res * 1.01 + res
    b = shapely.bounds(geoms)
    near = shapely.box(b[:, 0] - reach, b[:, 1] - reach, b[:, 2] + reach, b[:, 3] + reach)
    items = []
    for i, geom in enumerate(geoms):
        cand = (
            [] if geom is None or geom.is_empty else [geoms[j] for j in sorted(tree.query(near[i])) if j != i]
        )
        items.append((geom, cand))
    done = map_batched(partial(_range_batch, str(proba_path), ring_px, low, high, block_px), items,
                       box_areas(geoms), name="probability_range")  # fmt: skip
    return np.array([lo for lo, _ in done], float), np.array([hi for _, hi in done], float)


def _range_batch(proba_path: str, ring_px: int, low: float, high: float, block_px: int, batch: list) -> list:
    """(area_low_km2, area_high_km2) of each (glacier, candidate neighbours) of a batch (a task)."""
    out = []
    with open_raster(proba_path) as ds:
        grid = Grid(ds.crs, ds.transform, (ds.height, ds.width))
        scale = 255.0 if ds.dtypes[0] == "uint8" else 1.0
        px_km2 = abs(grid.res[0] * grid.res[1]) / 1e6
        for geom, cand in batch:
            out.append(_area_range(ds, grid, scale, px_km2, geom, cand, ring_px, low, high, block_px))
    return out


def _area_range(
    ds, grid: Grid, scale, px_km2, geom, cand, ring_px, low, high, block_px
) -> tuple[float, float]:
    if geom is None or geom.is_empty:
        return np.nan, np.nan
    win = _window(geom, grid, ring_px + 1)
    if win is None:
        return np.nan, np.nan
    wgrid = grid.window_grid(win)
    reach = shapely.box(*geom.buffer((ring_px + 1) * abs(grid.res[0])).bounds)
    near = [g for g in cand if reach.intersects(shapely.box(*g.bounds))]  # the neighbours whose boxes meet it
    labels = _labels([geom, *near], wgrid)
    n_low = n_high = 0
    any_valid = False
    for read, core in iter_windows(labels.shape, block=block_px, overlap=ring_px + 1):
        cs = core_slice(read, core)
        rows, cols = (
            slice(read.row_off, read.row_off + read.height),
            slice(read.col_off, read.col_off + read.width),
        )
        mine, inside = _mine(labels[rows, cols], ring_px)
        cwin = Window(win.col_off + core.col_off, win.row_off + core.row_off, core.width, core.height)
        proba = read_window(ds, cwin, [1, 2, 3], as_float=False).astype("float32") / scale
        p_glacier = proba[1] + proba[2]
        valid = proba.sum(axis=0) > 0  # nodata pixels are written as 0 in every band
        any_valid = any_valid or bool(valid.any())
        n_low += int((mine[cs] & valid & (p_glacier >= low)).sum())
        n_high += int((inside[cs] & valid & (p_glacier >= high)).sum())
    if not any_valid:
        return np.nan, np.nan
    return float(n_low) * px_km2, float(n_high) * px_km2


def _mine(labels: np.ndarray, ring_px: int) -> tuple[np.ndarray, np.ndarray]:
    """(the pixels assigned to glacier 1: inside it, or outside every outline, within ``ring_px`` of it and
    nearest to it; the pixels inside it) of a block of labels (:func:`_labels`)."""
    inside = labels == 1
    outside = labels == 0
    if outside.all():  # no outline pixel within ring_px of any pixel of the block's core
        return inside, inside
    # pixels outside every outline go to the nearest glacier, within ring_px
    dist, idx = ndimage.distance_transform_edt(outside, return_indices=True)
    nearest = labels[idx[0], idx[1]]
    return inside | (outside & (nearest == 1) & (dist <= ring_px)), inside


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
    """1 for the first geometry, 2.. for the neighbours (the first wins where they overlap), 0 elsewhere;
    in the smallest unsigned type that holds them (a glacier window may be the whole scene)."""
    shapes = [(g, k + 1) for k, g in reversed(list(enumerate(geoms)))]
    dtype = "uint8" if len(geoms) < 2**8 else "uint16" if len(geoms) < 2**16 else "int32"
    return rasterio.features.rasterize(
        shapes, out_shape=wgrid.shape, transform=wgrid.transform, fill=0, dtype=dtype
    )
