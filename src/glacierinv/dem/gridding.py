"""Point cloud → DSM: median gridding, outlier removal, gap filling, fusion and feathered mosaicking.

Quality codes of the layer that travels with every DSM (uint8): ``QUALITY_MATCHED`` (1) the cell holds
triangulated points; ``QUALITY_FILLED`` (2) the cell was interpolated from its neighbours;
``QUALITY_NODATA`` (0) no height. Heights are in metres above the WGS84 ellipsoid when they come from
RPC stereo.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy import ndimage

from glacierinv.errors import CRSMismatch, InputError, NoOverlap
from glacierinv.io.grid import Grid

__all__ = [
    "QUALITY_FILLED",
    "QUALITY_MATCHED",
    "QUALITY_NODATA",
    "fill_gaps",
    "fuse_dsms",
    "grid_points_median",
    "mosaic_dsms",
    "remove_outliers",
]

log = logging.getLogger(__name__)

QUALITY_NODATA, QUALITY_MATCHED, QUALITY_FILLED = 0, 1, 2
MAX_GRID_CELLS = 200_000_000  # in-memory DSM gridding cap (800 MB of float32)


def grid_points_median(x: np.ndarray, y: np.ndarray, z: np.ndarray, grid: Grid) -> np.ndarray:
    """Median of the point heights falling in each cell of ``grid`` (NaN where no point).

    Parameters
    ----------
    x, y : arrays
        Point coordinates in ``grid.crs`` units (metres for a UTM grid).
    z : array
        Point heights (m).
    grid : Grid
        North-up target grid. The whole grid is held in memory (checked against ``MAX_GRID_CELLS``).
    """
    if grid.height * grid.width > MAX_GRID_CELLS:
        raise InputError(
            f"DSM grid of {grid.height}×{grid.width} cells is too large to grid in memory",
            None,
            "Use a smaller --roi or a coarser --res and mosaic the parts with `glacierinv dem mosaic`",
        )
    t = grid.transform
    col = np.floor((np.asarray(x) - t.c) / t.a).astype("int64")
    row = np.floor((np.asarray(y) - t.f) / t.e).astype("int64")
    z = np.asarray(z, dtype="float64")
    ok = (col >= 0) & (col < grid.width) & (row >= 0) & (row < grid.height) & np.isfinite(z)
    cell = row[ok] * grid.width + col[ok]
    zz = z[ok]
    out = np.full(grid.height * grid.width, np.nan, dtype="float32")
    if cell.size:
        order = np.lexsort((zz, cell))
        cell, zz = cell[order], zz[order]
        uniq, start, count = np.unique(cell, return_index=True, return_counts=True)
        lo = start + (count - 1) // 2
        hi = start + count // 2
        out[uniq] = 0.5 * (zz[lo] + zz[hi])
    return out.reshape(grid.shape)


def _nan_window_stats(z: np.ndarray, radius_px: int) -> tuple[np.ndarray, np.ndarray]:
    """NaN-aware median and count of valid cells in a (2r+1)² window around each cell."""
    pad = np.pad(z, radius_px, constant_values=np.nan)
    size = 2 * radius_px + 1
    med = np.full(z.shape, np.nan, dtype="float32")
    cnt = np.zeros(z.shape, dtype="float32")
    step = max(1, 4_000_000 // (size * size * max(1, z.shape[1])))
    for r0 in range(0, z.shape[0], step):
        r1 = min(z.shape[0], r0 + step)
        win = sliding_window_view(pad[r0 : r1 + 2 * radius_px], (size, size))
        flat = win.reshape(win.shape[0], win.shape[1], -1)
        cnt[r0:r1] = np.isfinite(flat).sum(-1)
        with np.errstate(all="ignore"):
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                med[r0:r1] = np.nanmedian(flat, axis=-1)
    return med, cnt


def remove_outliers(
    dsm_m: np.ndarray,
    res_m: float,
    *,
    radius_m: float = 2.5,
    max_dev_m: float = 3.0,
    min_support: float = 0.3,
) -> np.ndarray:
    """Remove spikes and isolated cells from a gridded DSM (returns a copy, NaN where removed).

    A cell is removed when it differs from the median of its neighbours within ``radius_m`` by more
    than ``max_dev_m`` metres (a spike), or when fewer than ``min_support`` of the cells in that window
    hold a height (isolated matches, the 2-D analogue of s2p's "fewer than n points within r metres").
    """
    z = np.asarray(dsm_m, dtype="float32").copy()
    r = max(1, int(round(radius_m / res_m)))
    med, cnt = _nan_window_stats(z, r)
    support = cnt / float((2 * r + 1) ** 2)
    bad = np.isfinite(z) & ((np.abs(z - med) > max_dev_m) | (support < min_support))
    z[bad] = np.nan
    log.debug("outlier removal: %d of %d cells removed", int(bad.sum()), int(np.isfinite(dsm_m).sum()))
    return z


def fill_gaps(
    dsm_m: np.ndarray, res_m: float, *, max_distance_m: float = 10.0
) -> tuple[np.ndarray, np.ndarray]:
    """Fill holes up to ``max_distance_m`` from valid cells by inverse-distance interpolation.

    Uses :func:`rasterio.fill.fillnodata` (GDAL's inverse-distance search + smoothing). Returns the
    filled DSM and the quality layer (1 matched, 2 filled, 0 no data). Gaps wider than the search
    distance stay empty: a wide gap is better reported than invented.
    """
    from rasterio.fill import fillnodata

    z = np.asarray(dsm_m, dtype="float32")
    valid = np.isfinite(z)
    quality = np.where(valid, QUALITY_MATCHED, QUALITY_NODATA).astype("uint8")
    if not valid.any():
        return z.copy(), quality
    dist_px = max(1.0, max_distance_m / res_m)
    filled = fillnodata(np.where(valid, z, 0).astype("float32"), valid.astype("uint8"), dist_px, 0)
    # fillnodata leaves unreachable cells at the fill value; keep only cells within reach
    reach = ndimage.distance_transform_edt(~valid) <= dist_px
    out = np.where(valid, z, np.where(reach, filled, np.nan)).astype("float32")
    quality[~valid & np.isfinite(out)] = QUALITY_FILLED
    return out, quality


def fuse_dsms(dsms_m: Sequence[np.ndarray], qualities: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Median fusion of several pair DSMs on one grid, preferring matched over filled cells.

    Where at least one pair matched a cell, the median of the matched heights is used (quality 1);
    otherwise the median of the filled heights (quality 2).
    """
    import warnings

    z = np.stack([np.asarray(d, "float32") for d in dsms_m])
    q = np.stack(qualities)
    matched = np.where(q == QUALITY_MATCHED, z, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        zm = np.nanmedian(matched, axis=0)
        zf = np.nanmedian(z, axis=0)
    out = np.where(np.isfinite(zm), zm, zf).astype("float32")
    quality = np.where(np.isfinite(zm), QUALITY_MATCHED, np.where(np.isfinite(zf), QUALITY_FILLED, 0))
    return out, quality.astype("uint8")


def mosaic_dsms(
    paths: Sequence[str | Path],
    out: str | Path,
    *,
    res_m: float | None = None,
    feather_m: float = 50.0,
    block: int = 1024,
) -> Path:
    """Mosaic DSMs (same CRS) onto their union grid with feathered (distance-weighted) overlaps.

    Each input's weight grows linearly from 0 at its data edge to 1 at ``feather_m`` metres inside, so
    overlaps blend without seams. Written window by window (bounded memory) with a second band: the
    quality layer (the input's band 2 when it has one, else 1 where the mosaic has data).
    """
    from glacierinv.io.raster import RasterWriter, iter_windows

    if len(paths) < 1:
        raise InputError("no DSM to mosaic", None, "Pass at least one DSM")
    grid = _union_grid(paths, res_m)
    feather_px = max(1, int(round(feather_m / grid.res[0])))
    with RasterWriter(out, grid, count=2, dtype="float32", descriptions=["dsm_m", "quality"]) as w:
        for read_w, core_w in iter_windows(grid, block, overlap=feather_px):
            z_out, qual = _feathered_window(paths, grid.window_grid(read_w), feather_px)
            rs, cs = _core(read_w, core_w)
            w.write(np.stack([z_out[rs, cs], qual[rs, cs].astype("float32")]), window=core_w)
    if not _any_valid(out):
        Path(out).unlink(missing_ok=True)
        raise NoOverlap("the DSMs hold no data on their union grid", None, "Check the inputs")
    return Path(out)


def _union_grid(paths: Sequence[str | Path], res_m: float | None) -> Grid:
    """The grid covering every DSM's bounds in their common CRS, at ``res_m`` (m) or the finest input pixel.

    Refuses a DSM without a CRS (InputError) or in another CRS than the first (CRSMismatch)."""
    import rasterio

    crs, bounds, resolutions = None, [], []
    for p in paths:
        with rasterio.open(p) as ds:
            if ds.crs is None:
                raise InputError("DSM has no CRS", p, "Assign the CRS (e.g. gdal_edit.py -a_srs)")
            if crs is None:
                crs = ds.crs
            elif ds.crs != crs:
                raise CRSMismatch(
                    f"CRS {ds.crs} differs from the first DSM's {crs}", p, "Reproject the DSMs to one CRS"
                )
            bounds.append(ds.bounds)
            resolutions.append(min(abs(ds.res[0]), abs(ds.res[1])))
    res = float(res_m or min(resolutions))
    left = min(b.left for b in bounds)
    bottom = min(b.bottom for b in bounds)
    right = max(b.right for b in bounds)
    top = max(b.top for b in bounds)
    return Grid.from_bounds(crs, (left, bottom, right, top), res)


def _feathered_window(
    paths: Sequence[str | Path], sub: Grid, feather_px: int
) -> tuple[np.ndarray, np.ndarray]:
    """Blend the DSMs on the window grid ``sub``: the distance-weighted mean elevation (m, float32, NaN where
    no input has data; weights 0 at a DSM's data edge → 1 at ``feather_px`` px inside) and the quality
    (uint8: the input's band 2, else 1 where it has data; a matched quality wins; 0 where no elevation)."""
    from rasterio.enums import Resampling

    from glacierinv.io.raster import read_on_grid

    num = np.zeros(sub.shape, "float64")
    den = np.zeros(sub.shape, "float64")
    qual = np.zeros(sub.shape, "uint8")
    for p in paths:
        has_q = _has_quality_if_overlapping(p, sub)
        if has_q is None:
            continue
        z = read_on_grid(p, sub, bands=1, resampling=Resampling.bilinear, require_overlap=False)
        valid = np.isfinite(z)
        if not valid.any():
            continue
        # distance to the nearest invalid cell (the data edge), capped at the feather width
        dist = ndimage.distance_transform_edt(np.pad(valid, 1, constant_values=False))[1:-1, 1:-1]
        weight = np.minimum(dist, feather_px) / feather_px
        num += np.where(valid, z * weight, 0)
        den += np.where(valid, weight, 0)
        q = (
            read_on_grid(p, sub, bands=2, resampling=Resampling.nearest, require_overlap=False)
            if has_q
            else valid.astype("f4")
        )
        q = np.nan_to_num(q, nan=0).astype("uint8")
        qual = np.where(valid & ((qual == 0) | (q == QUALITY_MATCHED)), q, qual)
    with np.errstate(invalid="ignore", divide="ignore"):
        z_out = np.where(den > 0, num / den, np.nan).astype("float32")
    qual[~np.isfinite(z_out)] = 0
    return z_out, qual


def _has_quality_if_overlapping(path: str | Path, sub: Grid) -> bool | None:
    """Whether the DSM at ``path`` has a quality band (band 2); None when its bounds miss ``sub``'s."""
    import rasterio

    with rasterio.open(path) as ds:
        b = ds.bounds
        sb = sub.bounds
        if b.right <= sb[0] or b.left >= sb[2] or b.top <= sb[1] or b.bottom >= sb[3]:
            return None
        return ds.count >= 2


def _core(read_w, core_w):
    from glacierinv.io.raster import core_slice

    return core_slice(read_w, core_w)


def _any_valid(path: str | Path) -> bool:
    import rasterio

    with rasterio.open(path) as ds:
        for _, win in ds.block_windows(1):
            if np.isfinite(ds.read(1, window=win)).any():
                return True
    return False
