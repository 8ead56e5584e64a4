"""The report map's classification overlay: ``classes.tif`` on Web Mercator (≤ ``max_px`` px, nearest
neighbour) as an RGBA PNG, read window by window.

Each overlay pixel shows the class of the source pixel under its centre: the centres are transformed
exactly (PROJ, via pyproj) from Web Mercator to the raster's CRS, and the source pixel is
``floor(x), floor(y)`` of the position in pixel coordinates, as GDAL's nearest-neighbour warp does. Only
those pixels (at most ``max_px``² of them, whatever the scene's size) are kept: the raster is read in
``block_px`` windows as tasks over batches of windows (:mod:`glacierinv.taskmap`: on the run's cluster when
one is set, else here in one batch), each task reading its own windows and returning the values of its
pixels. This process holds the overlay-sized arrays only, and its work (the transform of the overlay's
pixel centres, the PNG) does not grow with the scene; the tasks read the raster once, as the warp did.

Without overviews a downsampled read of a GeoTIFF (the ``WarpedVRT`` used before) also decompresses every
block, in one process. The overlay is the exact nearest-neighbour warp (GDAL's with an error threshold of
0, ``tolerance=0``); GDAL's default 0.125-px linear approximation of the transform picked a neighbouring
source pixel for a few overlay pixels near class edges (docs/report.md).
"""

from __future__ import annotations

import base64
import io
import logging
import math
from functools import partial
from pathlib import Path

import numpy as np

from glacierinv.taskmap import map_batched

__all__ = ["CLASS_COLOURS", "classes_overlay", "overlay_classes"]

log = logging.getLogger(__name__)

CLASS_COLOURS = {1: (86, 180, 233), 2: (230, 159, 0)}  # clean ice, debris (Okabe-Ito)

#: Overlay pixels transformed at once (bounds the transform's temporary float64 arrays to ~15 MB).
_CHUNK = 1 << 18


def classes_overlay(path: Path, max_px: int = 1200, block_px: int = 1024) -> dict | None:
    """``classes.tif`` warped to Web Mercator (nearest) as an RGBA PNG data URI with its lat/lon bounds.

    Returns ``{"url": data URI, "bounds": [[lat_south, lon_west], [lat_north, lon_east]]}``, or None when
    the raster has no CRS or cannot be read (logged).
    """
    import rasterio
    from matplotlib.image import imsave
    from pyproj import Transformer

    try:
        cls, tr2 = overlay_classes(path, max_px, block_px)
    except rasterio.errors.RasterioError as exc:
        log.warning("%s: class overlay skipped (%s)", path, exc)
        return None
    if cls is None:
        return None
    rgba = np.zeros((*cls.shape, 4), dtype=np.uint8)
    for value, rgb in CLASS_COLOURS.items():
        rgba[cls == value] = (*rgb, 255)
    buf = io.BytesIO()
    imsave(buf, rgba, format="png")
    h2, w2 = cls.shape
    left, top = tr2 @ (0, 0)
    right, bottom = tr2 @ (w2, h2)
    to_ll = Transformer.from_crs("EPSG:3857", "EPSG:4326", always_xy=True)
    lon0, lat0 = to_ll.transform(left, bottom)
    lon1, lat1 = to_ll.transform(right, top)
    uri = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
    return {"url": uri, "bounds": [[lat0, lon0], [lat1, lon1]]}


def overlay_classes(path: Path, max_px: int = 1200, block_px: int = 1024):
    """The overlay's classes (uint8, 255 where there is no class) and its Web Mercator transform.

    The overlay grid is GDAL's default warp of the raster to EPSG:3857 (``calculate_default_transform``),
    coarsened by a whole factor until neither side exceeds ``max_px``. Returns (None, None) when the
    raster has no CRS.
    """
    import rasterio
    from affine import Affine
    from rasterio.warp import calculate_default_transform

    with rasterio.open(path) as src:
        if src.crs is None:
            return None, None
        crs, transform, shape, nodata = src.crs, src.transform, src.shape, src.nodata
        tr, w, h = calculate_default_transform(src.crs, "EPSG:3857", src.width, src.height, *src.bounds)
    scale = max(w / max_px, h / max_px, 1.0)
    w2, h2 = max(1, int(math.ceil(w / scale))), max(1, int(math.ceil(h / scale)))
    tr2 = tr @ Affine.scale(w / w2, h / h2)
    flat, rows, cols = _source_pixels(tr2, (h2, w2), crs, transform, shape)
    cls = np.full(h2 * w2, 255, dtype=np.uint8)
    cls[flat] = _sample(path, rows, cols, shape, block_px)
    if nodata is not None and nodata != 255:
        cls[cls == nodata] = 255
    return cls.reshape(h2, w2), tr2


def _source_pixels(tr2, shape2: tuple[int, int], crs, transform, shape: tuple[int, int]):
    """(flat overlay index, source row, source column) of every overlay pixel whose centre falls on the
    raster: the centre transformed from EPSG:3857 to ``crs``, then ``floor`` of its pixel position (plus
    1e-10, as GDAL's nearest-neighbour kernel)."""
    from pyproj import Transformer

    h2, w2 = shape2
    to_src = Transformer.from_crs("EPSG:3857", crs, always_xy=True)
    inverse = ~transform
    out = []
    for start in range(0, h2 * w2, _CHUNK):
        flat = np.arange(start, min(start + _CHUNK, h2 * w2), dtype=np.int64)
        x, y = to_src.transform(*_affine(tr2, flat % w2 + 0.5, flat // w2 + 0.5))
        u, v = _affine(inverse, np.asarray(x), np.asarray(y))
        col, row = np.floor(u + 1e-10), np.floor(v + 1e-10)
        inside = np.isfinite(col) & np.isfinite(row)
        inside &= (col >= 0) & (col < shape[1]) & (row >= 0) & (row < shape[0])
        out.append(
            (flat[inside].astype(np.int32), row[inside].astype(np.int32), col[inside].astype(np.int32))
        )
    return tuple(np.concatenate(parts) for parts in zip(*out, strict=True))


def _affine(t, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``t * (x, y)`` of an :class:`affine.Affine` on arrays (its own arithmetic, without the deprecated
    ``*`` on arrays)."""
    return x * t.a + y * t.b + t.c, x * t.d + y * t.e + t.f


def _sample(
    path: Path, rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int], block_px: int
) -> np.ndarray:
    """The raster's values at (rows, cols), read per ``block_px`` window as tasks over batches of windows."""
    n_wcols = -(-shape[1] // block_px)
    wid = (rows // block_px) * n_wcols + cols // block_px
    order = np.argsort(wid, kind="stable")
    ids, starts = np.unique(wid[order], return_index=True)
    bounds = [*starts[1:], len(order)]
    items, weights = [], []
    for w, a, b in zip(ids, starts, bounds, strict=True):
        r0, c0 = int(w // n_wcols) * block_px, int(w % n_wcols) * block_px
        idx = order[a:b]
        items.append(((r0, c0), (rows[idx] - r0).astype(np.int32), (cols[idx] - c0).astype(np.int32)))
        weights.append(min(block_px, shape[0] - r0) * min(block_px, shape[1] - c0))  # the window's pixels
    done = map_batched(partial(_window_values, str(path)), items, weights, name="report_overlay")
    values = np.empty(len(order), dtype=np.uint8)
    values[order] = np.concatenate(done) if done else []  # the windows' pixels, in window order
    return values


def _window_values(path: str, items: list) -> list[np.ndarray]:
    """A task of :func:`_sample`: per item ((row, col) of a window's corner, rows, columns inside it), the
    raster's values (uint8) at those pixels, read over their bounding box; the raster opened once."""
    import rasterio
    from rasterio.windows import Window

    out = []
    with rasterio.open(path) as ds:
        for (r0, c0), rows, cols in items:
            r_lo, c_lo = int(rows.min()), int(cols.min())
            height, width = int(rows.max()) + 1 - r_lo, int(cols.max()) + 1 - c_lo
            arr = ds.read(1, window=Window(c0 + c_lo, r0 + r_lo, width, height))
            out.append(arr[rows - r_lo, cols - c_lo].astype(np.uint8))
    return out
