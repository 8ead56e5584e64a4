"""Render the synthetic sensors over real terrain: a real DEM and real glacier outlines as the truth.

The DEM is reprojected (a geographic DEM to its local UTM zone) and interpolated bilinearly onto a render
grid of ``res_m`` metres — finer than the DEM if asked (e.g. 2 m imagery over a 30 m DEM: the imagery then
has the DEM's smoothness, not real 2 m detail). The outlines (any vector format GDAL reads) are rasterised
as the glacier mask; optional debris outlines become debris-covered ice. Everything else (snow above the
ELA, ponds, moraines, talus, seasonal snow, clouds, shadows, thermal) is rendered as in
:func:`glacierinv.synthetic.generate_scene`, into the same layout with a ``config.toml``.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import rasterio.features
from rasterio.crs import CRS
from rasterio.enums import Resampling

from glacierinv.errors import InputError
from glacierinv.geometry import area_km2, utm_epsg
from glacierinv.io.grid import Grid
from glacierinv.io.raster import open_raster, read_on_grid
from glacierinv.io.vector import read_vector
from glacierinv.synthetic.scene import MIN_GLACIER_KM2, SceneInfo, shared_divides, write_scene
from glacierinv.synthetic.surface import decorate_surface

__all__ = ["MAX_RENDER_PIXELS", "render_scene_over"]

log = logging.getLogger(__name__)

MAX_RENDER_PIXELS = 50_000_000  # the renderer holds the scene in memory (several float arrays per pixel)
ID_COLUMNS = ("glac_id", "rgi_id", "RGIId", "GLIMSId", "glims_id", "id")


def _render_crs(dem_crs: CRS, bounds: tuple[float, float, float, float]) -> CRS:
    """The DEM's CRS if projected (metres), else the UTM zone of the DEM's centre."""
    if dem_crs.is_projected:
        return dem_crs
    return CRS.from_epsg(utm_epsg(0.5 * (bounds[0] + bounds[2]), 0.5 * (bounds[1] + bounds[3])))


def _glacier_ids(outlines: gpd.GeoDataFrame) -> list[str]:
    for col in ID_COLUMNS:
        if col in outlines.columns and outlines[col].notna().all() and outlines[col].is_unique:
            return [str(v) for v in outlines[col]]
    return [f"SYN-{i + 1:04d}" for i in range(len(outlines))]


def render_scene_over(
    out_dir: str | Path,
    dem_path: str | Path,
    outlines_path: str | Path,
    debris_path: str | Path | None = None,
    res_m: float | None = None,
    seed: int = 0,
    *,
    margin_m: float | None = 2000.0,
    date: str = "2021-08-20",
) -> SceneInfo:
    """Render the synthetic sensors over a real DEM, with real glacier outlines as the truth.

    Parameters
    ----------
    out_dir
        Output folder (created); the layout is that of :func:`glacierinv.synthetic.generate_scene`.
    dem_path
        DEM in metres, any CRS (a geographic DEM is reprojected to its UTM zone), nodata respected.
    outlines_path
        Glacier outlines (polygons, any CRS and any vector format GDAL reads); their ``glac_id`` (or
        ``rgi_id``/``RGIId``/``GLIMSId``) is kept, else ``SYN-0001``… are assigned.
    debris_path
        Optional debris-cover polygons; without them the truth has clean ice only.
    res_m
        Pixel size of the rendered primary grid (m); default: the DEM's pixel size (in metres). Finer than
        the DEM interpolates it bilinearly.
    seed
        Random seed of everything rendered (texture, noise, clouds, ponds…).
    margin_m
        Render the outlines' bounding box plus this margin (m), clipped to the DEM; None = the whole DEM.
    date
        Acquisition date written into the MTL and config (``src_date``).

    Raises
    ------
    InputError
        Missing/unreadable DEM or outlines, no overlap, non-positive ``res_m``, or a render grid larger
        than :data:`MAX_RENDER_PIXELS` (the renderer works in memory).
    """
    dem_path, outlines_path = Path(dem_path), Path(outlines_path)
    grid, outlines, res_m = _render_grid(dem_path, outlines_path, res_m, margin_m)
    z, valid, z_filled = _dem_on_grid(dem_path, grid)
    outlines = gpd.GeoDataFrame(
        {"glac_id": _glacier_ids(outlines)}, geometry=list(outlines.geometry), crs=grid.crs
    )
    ice = _ice_mask(outlines, grid, valid)
    if not ice.any():
        raise InputError(f"no outline covers a {res_m:g} m pixel centre", outlines_path, "Use a finer --res")
    debris, debris_mask = _debris_truth(debris_path, outlines, grid)

    rng = np.random.default_rng(seed)
    ela_m = float(np.median(z[ice]))  # median glacier elevation ≈ ELA (Braithwaite & Raper 2009)
    kind, z_out = decorate_surface(
        z_filled, ice, ela_m, res_m, rng, debris=debris_mask, lake=False, valid=valid
    )
    truth = _truth_layers(outlines, debris)
    extra = _provenance(dem_path, outlines_path, debris_path)
    kw = dict(seed=seed, date=date, valid=valid, truth=truth, dem_source=dem_path.stem, extra=extra)
    return write_scene(Path(out_dir), z_out, kind, ela_m, grid, rng, **kw)


def _truth_layers(outlines: gpd.GeoDataFrame, debris: gpd.GeoDataFrame) -> tuple:
    """Truth layers ``(glaciers, debris, divides)``; adds ``area_km2`` and ``tiny`` (< MIN_GLACIER_KM2) to ``outlines``."""
    outlines["area_km2"] = area_km2(outlines)
    outlines["tiny"] = outlines["area_km2"] < MIN_GLACIER_KM2
    return outlines[["glac_id", "area_km2", "tiny", "geometry"]], debris, shared_divides(outlines)


def _provenance(dem_path: Path, outlines_path: Path, debris_path) -> dict[str, Any]:
    """The ``extra`` config entries of an ``over`` scene: mode and the absolute input paths."""
    return {
        "mode": "over",
        "dem": str(dem_path.resolve()),
        "outlines": str(outlines_path.resolve()),
        "debris": str(Path(debris_path).resolve()) if debris_path is not None else None,
    }


def _render_grid(dem_path: Path, outlines_path: Path, res_m: float | None, margin_m: float | None):
    """Render grid over the outlines' box (plus ``margin_m``, m) within the DEM, and the outlines in its CRS.

    Returns ``(grid, outlines, res_m)``; ``res_m`` (m) defaults to the DEM's pixel size in metres. The grid's
    upper-left corner is snapped to whole 30 m cells so every sensor grid shares it. Raises InputError for
    a non-positive ``res_m``, outlines outside the DEM or more than :data:`MAX_RENDER_PIXELS` pixels.
    """
    if res_m is not None and not res_m > 0:
        raise InputError(f"--res must be a positive number of metres, not {res_m}")
    with open_raster(dem_path) as ds:
        dem_crs, dem_bounds, dem_res = ds.crs, tuple(ds.bounds), ds.res
        dem_w, dem_h = ds.width, ds.height
    crs = _render_crs(dem_crs, dem_bounds)
    from rasterio.warp import transform_bounds

    b = transform_bounds(dem_crs, crs, *dem_bounds, densify_pts=21)
    if res_m is None:
        if dem_crs.is_projected:
            res_m = float(min(dem_res))
        else:  # the DEM's pixel size in metres at its centre
            res_m = float(min((b[2] - b[0]) / dem_w, (b[3] - b[1]) / dem_h))
    outlines = read_vector(outlines_path, polygons=True).to_crs(crs)
    ob = outlines.total_bounds
    if ob[0] >= b[2] or ob[2] <= b[0] or ob[1] >= b[3] or ob[3] <= b[1]:
        raise InputError(
            "outlines do not overlap the DEM",
            outlines_path,
            f"Give outlines inside the DEM {dem_path.name} (check both CRSs)",
        )
    if margin_m is not None:
        b = (
            max(b[0], ob[0] - margin_m),
            max(b[1], ob[1] - margin_m),
            min(b[2], ob[2] + margin_m),
            min(b[3], ob[3] + margin_m),
        )
    # snap the render grid to whole multiples of 30 m cells so every sensor grid shares the corner
    x0, y1 = math.floor(b[0] / 30.0) * 30.0, math.ceil(b[3] / 30.0) * 30.0
    ncol, nrow = math.ceil((b[2] - x0) / res_m), math.ceil((y1 - b[1]) / res_m)
    if ncol * nrow > MAX_RENDER_PIXELS:
        raise InputError(
            f"rendering at {res_m:g} m gives {ncol} x {nrow} px, more than {MAX_RENDER_PIXELS // 1_000_000} Mpx",
            dem_path,
            "Use a coarser --res or smaller outlines/DEM",
        )
    grid = Grid.from_bounds(crs, (x0, y1 - nrow * res_m, x0 + ncol * res_m, y1), res_m)
    log.info("rendering %d x %d px at %g m in %s", ncol, nrow, res_m, crs)
    return grid, outlines, res_m


def _dem_on_grid(dem_path: Path, grid: Grid):
    """DEM (m) resampled bilinearly onto ``grid``: ``(z, valid, z_filled)``.

    ``valid`` is finite and above −500 m; ``z_filled`` (float32) fills the rest with the median valid
    elevation. Raises InputError with fewer than 16 valid pixels.
    """
    z = read_on_grid(dem_path, grid, bands=1, resampling=Resampling.bilinear)
    z = z[0] if z.ndim == 3 else z
    valid = np.isfinite(z) & (z > -500)
    if valid.sum() < 16:
        raise InputError("the DEM has no valid elevations under the outlines", dem_path, "Check its nodata")
    z_filled = np.where(valid, z, float(np.nanmedian(z[valid]))).astype("float32")
    return z, valid, z_filled


def _ice_mask(outlines: gpd.GeoDataFrame, grid: Grid, valid: np.ndarray) -> np.ndarray:
    """Pixels of ``grid`` whose centre lies in an outline and whose elevation is valid (bool)."""
    unit = rasterio.features.rasterize(
        ((g, i + 1) for i, g in enumerate(outlines.geometry)),
        out_shape=grid.shape,
        transform=grid.transform,
        fill=0,
        dtype="int32",
    )
    return (unit > 0) & valid


def _debris_truth(debris_path, outlines: gpd.GeoDataFrame, grid: Grid):
    """Debris truth polygons (per ``glac_id``, with ``area_km2``) and their mask on ``grid`` (bool).

    Without ``debris_path`` (or with an empty layer) the truth has clean ice only: no polygons and an
    all-False mask.
    """
    crs = grid.crs
    debris = gpd.GeoDataFrame({"glac_id": [], "area_km2": []}, geometry=[], crs=crs)
    if debris_path is None:
        return debris, np.zeros(grid.shape, bool)
    given = read_vector(debris_path, polygons=True, allow_empty=True).to_crs(crs)
    if not len(given):
        return debris, np.zeros(grid.shape, bool)
    debris = gpd.overlay(
        gpd.GeoDataFrame(geometry=list(given.geometry), crs=crs), outlines, how="intersection"
    )
    debris = debris.dissolve(by="glac_id", as_index=False)[["glac_id", "geometry"]]
    debris["area_km2"] = area_km2(debris)
    debris_mask = rasterio.features.rasterize(
        debris.geometry, out_shape=grid.shape, transform=grid.transform, fill=0, dtype="uint8"
    ).astype(bool)
    return debris, debris_mask
