"""Terminus type (RGI 7 ``term_type``) from the imagery: does the glacier end in a lake or on land?

RGI 7 codes (RGI Consortium 2023, Technical Note, attribute ``term_type``): 0 land-terminating,
1 marine-terminating, 2 lake-terminating, 3 shelf-terminating, 9 not assigned.

The rule (one glacier, pixels of its grid):

1. **Terminus** — the lowest part of the outline on the DEM: the glacier's margin pixels (inside the
   outline, next to a pixel outside it) whose elevation lies within ``terminus_band_m`` of the lowest margin
   elevation.
2. **Front** — the pixels outside the glacier within ``touch_m`` of the terminus (where water, cloud
   or the image edge are looked for).
3. **Water** — open water mapped in the scene: NDWI = (green − NIR) / (green + NIR) > ``ndwi_water``
   (McFeeters 1996, Int. J. Remote Sens. 17(7): water has NDWI > 0; the stricter 0.3 keeps wet ice, snow
   and shadowed rock, whose NDWI is also positive but lower, out — the value used by the review flags), or
   a given water mask (1 = water). Water bodies smaller than ``min_lake_m2`` are ignored. Cloud and cast
   shadow (``masks.tif``) hide the surface: Huggel et al. (2002, Can. Geotech. J. 39) show that shadows are
   the main false water in NDWI maps of glacial lakes, so masked pixels count as *not seen*, never as water.
4. **Decision** — lake-terminating (2) when at least ``min_contact_frac`` of the terminus pixels lie
   within ``touch_m`` of a water body (the lowest margin is a lake shore: a calving front is flat at lake
   level, so it fills the lowest band while the rising lateral margins do not);
   otherwise not assigned (9) when the scene cannot tell: the terminus reaches the image edge or nodata
   (the glacier may continue outside the image), more than ``max_hidden_frac`` of the front is cloud or
   shadow, the outline has no DEM, or there is no water information (no green/NIR bands and no mask);
   else land-terminating (0).

Marine (1) and shelf (3) termini are never assigned from the imagery: telling sea from a lake needs a
coastline or sea level that the scene does not give. Rasters are read per glacier window (bounding box plus
a margin), so memory is bounded by the largest glacier.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio.features
from rasterio.enums import Resampling
from rasterio.windows import Window, from_bounds
from scipy import ndimage

from glacierinv.dem.terrain import dem_z_factor
from glacierinv.errors import InputError
from glacierinv.geometry import box_areas, in_crs
from glacierinv.io.grid import Grid
from glacierinv.io.raster import band_index, open_on_grid, open_raster, read_window
from glacierinv.taskmap import map_batched

__all__ = ["TERM_LAKE", "TERM_LAND", "TERM_UNKNOWN", "TerminusParams", "terminus_type", "terminus_types"]

log = logging.getLogger(__name__)

TERM_LAND, TERM_MARINE, TERM_LAKE, TERM_SHELF, TERM_UNKNOWN = 0, 1, 2, 3, 9


@dataclass(frozen=True)
class TerminusParams:
    """Thresholds of the terminus-type rule (metres, m², fractions 0–1, NDWI)."""

    terminus_band_m: float = 10.0  # margin pixels this close above the lowest margin elevation = terminus
    touch_m: float = 10.0  # front: pixels outside the glacier within this distance (≥ 1 px) of the terminus
    ndwi_water: float = 0.3  # McFeeters NDWI above this is open water
    min_lake_m2: float = 1000.0  # smaller water bodies (≥ 2 px) are ignored (noise, not a lake)
    min_contact_frac: float = 0.25  # this share of the terminus pixels next to water → lake-terminating
    max_hidden_frac: float = 0.5  # cloud/shadow over more than this share of the front → 9
    pad_px: int = 32  # margin of the window read around each glacier


def terminus_type(
    inside: np.ndarray,
    z_m: np.ndarray,
    water: np.ndarray | None,
    pixel_m: float,
    *,
    seen: np.ndarray | None = None,
    in_image: np.ndarray | None = None,
    params: TerminusParams | None = None,
) -> tuple[int, str]:
    """Terminus type of one glacier from arrays on one grid (pure function).

    Parameters
    ----------
    inside
        Boolean mask of the glacier.
    z_m
        Elevation in metres (NaN = no data), same shape.
    water
        Boolean open-water mask (already thresholded), or None when the scene has no water information.
    pixel_m
        Pixel size in metres.
    seen
        Boolean: the surface is visible (False under cloud or cast shadow). Default: everywhere.
    in_image
        Boolean: the pixel lies inside the image footprint with valid data. Pixels outside the array count
        as outside the image only when they are marked so here; default: all inside.
    params
        Thresholds, see :class:`TerminusParams`.

    Returns
    -------
    code, evidence
        RGI 7 ``term_type`` (0 land, 2 lake, 9 not assigned) and a one-line reason.
    """
    p = params or TerminusParams()
    inside = np.asarray(inside, bool)
    if not inside.any():
        return TERM_UNKNOWN, "empty outline"
    seen = np.ones_like(inside) if seen is None else np.asarray(seen, bool)
    in_image = np.ones_like(inside) if in_image is None else np.asarray(in_image, bool)
    terminus, zmin = _lowest_margin(inside, z_m, p.terminus_band_m)
    if terminus is None:
        return TERM_UNKNOWN, "no DEM on the outline"
    touch_px = max(1, int(round(p.touch_m / pixel_m)))
    if (terminus & _near_image_edge(in_image, touch_px)).any():
        return TERM_UNKNOWN, f"terminus (lowest {zmin:.0f} m) reaches the image edge or nodata"
    front = ndimage.binary_dilation(terminus, iterations=touch_px) & ~inside
    if not front.any():
        return TERM_UNKNOWN, "terminus has no surroundings in the image"
    return _lake_or_land(
        terminus, front, water, seen, inside, zmin_m=zmin, pixel_m=pixel_m, touch_px=touch_px, params=p
    )


def _lowest_margin(inside: np.ndarray, z_m: np.ndarray, band_m: float) -> tuple[np.ndarray | None, float]:
    """(terminus, lowest margin elevation in m): the margin pixels of ``inside`` (next to a pixel outside)
    within ``band_m`` metres of the lowest margin elevation; (None, NaN) when no margin pixel has a DEM.
    The window-sized intermediates are freed on return (a unit of a large complex spans most of the scene)."""
    padded = np.pad(inside, 1)
    margin = (padded & ~ndimage.binary_erosion(padded))[1:-1, 1:-1]
    zm = np.where(margin & np.isfinite(z_m), z_m, np.nan)
    if not np.isfinite(zm).any():
        return None, float("nan")
    zmin = float(np.nanmin(zm))
    return np.isfinite(zm) & (zm <= zmin + band_m), zmin


def _lake_or_land(
    terminus: np.ndarray,
    front: np.ndarray,
    water: np.ndarray | None,
    seen: np.ndarray,
    inside: np.ndarray,
    *,
    zmin_m: float,
    pixel_m: float,
    touch_px: int,
    params: TerminusParams,
) -> tuple[int, str]:
    """The decision of :func:`terminus_type` once the terminus has a front: 9 without ``water``; lake (2)
    when enough terminus pixels lie within ``touch_px`` pixels of a lake seen outside the glacier, else 9
    when the front is mostly hidden (not ``seen``), else land (0); with its one-line evidence (``zmin_m``:
    lowest margin elevation, m; ``pixel_m``: pixel size, m)."""
    p = params
    if water is None:
        return TERM_UNKNOWN, "no water information (no green/NIR bands, no water mask)"
    lakes = _large_bodies(np.asarray(water, bool) & seen & ~inside, p.min_lake_m2, pixel_m)
    n_front = int(front.sum())
    n_term = int(terminus.sum())
    wet = int((terminus & ndimage.binary_dilation(lakes, iterations=touch_px)).sum()) if lakes.any() else 0
    hidden = int((front & ~seen).sum())
    where = f"lowest margin {zmin_m:.0f} m, {n_term} px within {p.terminus_band_m:g} m of it"
    if wet >= p.min_contact_frac * n_term:
        return TERM_LAKE, f"{100 * wet / n_term:.0f} % of the terminus touches water ({where})"
    if hidden > p.max_hidden_frac * n_front:
        return (
            TERM_UNKNOWN,
            f"{100 * hidden / n_front:.0f} % of the terminus front under cloud or shadow ({where})",
        )
    return TERM_LAND, f"no lake at the terminus ({100 * wet / n_term:.0f} % touches water; {where})"


def _near_image_edge(in_image: np.ndarray, touch_px: int) -> np.ndarray:
    """Pixels within ``touch_px`` + 1 of a pixel outside the image (the array edge is not the image edge)."""
    frame = np.pad(in_image, touch_px, constant_values=True)
    return ndimage.binary_dilation(~frame, iterations=touch_px + 1)[touch_px:-touch_px, touch_px:-touch_px]


def _large_bodies(water: np.ndarray, min_m2: float, pixel_m: float) -> np.ndarray:
    lab, n = ndimage.label(water)
    if n == 0:
        return water
    sizes = np.bincount(lab.ravel(), minlength=n + 1)
    keep = sizes >= max(2, int(np.ceil(min_m2 / pixel_m**2)))
    keep[0] = False
    return keep[lab]


def terminus_types(
    glaciers: gpd.GeoDataFrame,
    dem_path: str | Path,
    *,
    grid_path: str | Path,
    stack_path: str | Path | None = None,
    water_path: str | Path | None = None,
    masks_path: str | Path | None = None,
    params: TerminusParams | None = None,
) -> tuple[np.ndarray, list[str]]:
    """``term_type`` of every glacier from the scene's water, cloud and the DEM (file runner).

    Parameters
    ----------
    glaciers
        Outlines (any CRS; reprojected to the grid).
    dem_path
        DEM (any CRS; warped per window onto the grid, bilinear); its elevations are converted to metres by
        its vertical unit (:func:`glacierinv.dem.terrain.dem_z_factor`: a ``DemPath``'s ``z_unit``, the
        band unit, a compound CRS's vertical unit, else metres), so a DEM in feet gives the same codes.
    grid_path
        Raster defining the analysis grid (e.g. ``classes.tif``; must be in a metric CRS).
    stack_path
        Feature stack with bands ``green`` and ``nir`` (NDWI) on the grid; NaN there = outside the image.
    water_path
        Optional water mask on any grid (1 = water), used instead of NDWI when given.
    masks_path
        Optional ``masks.tif`` with bands ``cloud`` and/or ``shadow`` (1 = masked).
    params
        Thresholds, see :class:`TerminusParams`.

    Returns
    -------
    codes, evidence
        ``term_type`` per glacier (int array, RGI 7 codes 0/2/9) and one line of evidence each.
    """
    p = params or TerminusParams()
    with open_raster(grid_path) as ds:
        grid = Grid(ds.crs, ds.transform, (ds.height, ds.width))
    if not grid.is_metric:
        raise InputError("grid raster is not in a projected (metric) CRS", grid_path, "Reproject it")
    if len(glaciers) == 0:
        return np.full(0, TERM_UNKNOWN, "int64"), []
    gl = in_crs(glaciers, grid.crs)
    ndwi_bands = None
    if stack_path is not None:
        with open_raster(stack_path) as stack:
            ndwi_bands = _bands(stack, ("green", "nir"))
        if ndwi_bands is None and water_path is None:
            log.warning("%s: no green/nir bands and no water mask: term_type stays 9", stack_path)

    def text(path):
        return None if path is None else str(path)

    # the vertical unit is read here: a DemPath's z_unit does not survive the pickling into the tasks
    inputs = _TerminusInputs(str(grid_path), str(dem_path), text(stack_path), text(water_path),
                             text(masks_path), ndwi_bands, p, dem_z_factor(dem_path))  # fmt: skip
    geoms = gl.geometry.to_numpy()
    done = map_batched(partial(_terminus_batch, inputs), list(geoms), box_areas(geoms), name="terminus_type")
    return np.array([c for c, _ in done], "int64"), [e for _, e in done]


@dataclass(frozen=True)
class _TerminusInputs:
    """The rasters a glacier's terminus type is read from (paths as text; None: absent) and the rule."""

    grid: str
    dem: str
    stack: str | None
    water: str | None
    masks: str | None
    ndwi_bands: tuple[int, ...] | None
    params: TerminusParams
    dem_m_per_unit: float = 1.0


def _terminus_batch(inputs: _TerminusInputs, geoms: list) -> list[tuple[int, str]]:
    """(``term_type``, evidence) of each glacier of a batch (a task), the rasters opened once."""
    p = inputs.params
    out = []
    with contextlib.ExitStack() as es:
        ds = es.enter_context(open_raster(inputs.grid))
        grid = Grid(ds.crs, ds.transform, (ds.height, ds.width))
        pixel_m = abs(grid.transform.a)
        dem = open_on_grid(es, inputs.dem, grid, Resampling.bilinear)
        water_ds = (
            open_on_grid(es, inputs.water, grid, Resampling.nearest) if inputs.water is not None else None
        )
        stack = es.enter_context(open_raster(inputs.stack)) if inputs.stack is not None else None
        ndwi_bands = inputs.ndwi_bands if stack is not None else None
        masks, mask_bands = None, None
        if inputs.masks is not None:
            masks = es.enter_context(open_raster(inputs.masks))
            mask_bands = [b for b in (_band(masks, "cloud"), _band(masks, "shadow")) if b is not None]
        for geom in geoms:
            if geom is None or geom.is_empty:
                out.append((TERM_UNKNOWN, "empty outline"))
                continue
            win = _window(geom, grid, p.pad_px)
            if win is None:
                out.append((TERM_UNKNOWN, "outline outside the image"))
                continue
            wgrid = grid.window_grid(win)
            inside = rasterio.features.geometry_mask(
                [geom], out_shape=wgrid.shape, transform=wgrid.transform, invert=True
            )
            z = dem.read(1, window=win).astype("float32", copy=False)  # the warped view is float32
            if inputs.dem_m_per_unit != 1.0:  # feet, centimetres …: the thresholds are in metres
                z *= np.float32(inputs.dem_m_per_unit)
            in_image = _frame(win, grid)
            water = None
            if water_ds is not None:
                w = water_ds.read(1, window=win)
                water = w == 1
            elif ndwi_bands is not None:
                water = _ndwi_water(stack, win, ndwi_bands, p.ndwi_water, in_image)
            seen = None
            if mask_bands:
                hidden = np.zeros(wgrid.shape, bool)
                for b in mask_bands:
                    hidden |= read_window(masks, win, b, as_float=False) == 1
                seen = ~hidden
            out.append(terminus_type(inside, z, water, pixel_m, seen=seen, in_image=in_image, params=p))
    return out


def _ndwi_water(
    stack, win: Window, bands, threshold: float, in_image: np.ndarray, rows: int = 256
) -> np.ndarray:
    """Water (NDWI above ``threshold``) of a glacier window, read in strips of ``rows`` rows (the window of
    a large complex can be the whole scene; NDWI is per pixel, so strips give the window's values);
    ``in_image`` loses the pixels without both bands (in place)."""
    water = np.zeros((int(win.height), int(win.width)), bool)
    for r0 in range(0, water.shape[0], rows):
        r1 = min(water.shape[0], r0 + rows)
        strip = Window(win.col_off, win.row_off + r0, win.width, r1 - r0)
        green = read_window(stack, strip, bands[0])
        nir = read_window(stack, strip, bands[1])
        ok = np.isfinite(green) & np.isfinite(nir)
        in_image[r0:r1] &= ok
        with np.errstate(invalid="ignore", divide="ignore"):
            ndwi = (green - nir) / (green + nir)
        water[r0:r1] = ok & (np.nan_to_num(ndwi, nan=-1.0) > threshold)
    return water


def _band(ds, name: str) -> int | None:
    try:
        return band_index(ds, name)
    except InputError:
        return None


def _bands(ds, names: tuple[str, ...]) -> tuple[int, ...] | None:
    idx = tuple(_band(ds, n) for n in names)
    return None if any(b is None for b in idx) else idx


def _window(geom, grid: Grid, pad_px: int) -> Window | None:
    res = abs(grid.transform.a)
    left, bottom, right, top = geom.bounds
    win = from_bounds(left - pad_px * res, bottom - pad_px * res, right + pad_px * res, top + pad_px * res,
                      transform=grid.transform).round_offsets().round_lengths()  # fmt: skip
    c0, r0 = max(0, int(win.col_off)), max(0, int(win.row_off))
    c1, r1 = min(grid.width, int(win.col_off + win.width)), min(grid.height, int(win.row_off + win.height))
    if c1 <= c0 or r1 <= r0:
        return None
    return Window(c0, r0, c1 - c0, r1 - r0)


def _frame(win: Window, grid: Grid) -> np.ndarray:
    """In-image mask of a window: False on its rows/columns that are the grid's own edge."""
    h, w = int(win.height), int(win.width)
    m = np.ones((h, w), bool)
    if win.row_off == 0:
        m[0] = False
    if win.col_off == 0:
        m[:, 0] = False
    if win.row_off + h >= grid.height:
        m[-1] = False
    if win.col_off + w >= grid.width:
        m[:, -1] = False
    return m
