"""Review flags: where an analyst should look first after automated mapping (seed 3.3.2, Fig. 4).

The seed's automated outlines were refined by hand to fix boundary omissions, internal holes, cloud-
and shadow-related artefacts, seasonal snow and fragmented debris-covered tongues (Fig. 4). This module
finds candidates for each of those errors (plus low model confidence, water touching an outline and
polygons close to the area threshold) and ranks them so the most consequential come first.

Each flag is one (glacier, reason) pair: its geometry is the (multi)polygon of the affected area, its
``score`` the affected area (km², ellipsoidal) times a reason weight, ``priority`` 1 = review first.

Seasonal snow is told from glacier ice as a glaciologist does (see :func:`_seasonal_snow`): a mapped
clean-ice polygon *not connected to a glacier* — no larger glacier within ``snow_isolation_m`` and its
steepest-descent path from its lowest point does not reach a glacier within ``snow_flow_reach_m`` (snow on
ridges and slopes that drain off-glacier; ice that feeds a glacier belongs to it) — is flagged when

- a prior inventory is given (RGI or an older inventory) and the polygon lies outside it, or
- other dates are given and the polygon is not ice on at least one of them (ice persists, snow does not),

both with the high weight ``snow_strong_weight``; or, without such evidence against it, when it is small,
almost all clean ice and lies well below the lower ends of the large glaciers (weight 1). A polygon inside
the prior inventory, or ice on every other date, is never flagged by the elevation rule alone. The prior
inventory is evidence only: it is never copied into the outlines.

Rasters are read per glacier window (the glacier's bounding box plus a margin), in blocks of at most
``block_px`` × ``block_px`` pixels, so memory is bounded whatever the scene size. The per-glacier scans and
the fragmented-debris clusters run as tasks over batches of glaciers on the run's cluster when the pipeline
set one (:mod:`glacierinv.taskmap`), each task reading its own glaciers' windows; their results are put back
in glacier order, so the flags are identical in process and on any number of workers.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio.features
import shapely
from rasterio.enums import Resampling
from rasterio.windows import Window, from_bounds
from scipy import ndimage

from glacierinv.classes import CLEAN_ICE, NODATA
from glacierinv.config import OutlinesConfig
from glacierinv.errors import InputError
from glacierinv.geometry import area_km2, box_areas, in_crs
from glacierinv.io.grid import Grid
from glacierinv.io.raster import band_index, core_slice, iter_windows, open_on_grid, open_raster, read_window
from glacierinv.taskmap import map_batched

__all__ = ["REASONS", "ReviewParams", "drains_onto", "flag_for_review", "REVIEW_COLUMNS"]

log = logging.getLogger(__name__)

#: reason → weight in the ranking score (how much an error of this kind per km² matters)
REASONS: dict[str, float] = {
    "boundary_omission": 1.0,
    "internal_hole": 1.0,
    "seasonal_snow": 1.0,
    "fragmented_debris": 0.9,
    "cloud_shadow": 0.8,
    "water": 0.7,
    "low_confidence": 0.6,
    "small_polygon": 0.3,
}

REVIEW_COLUMNS = ["flag_id", "outline_id", "reason", "priority", "score", "area_km2", "evidence"]


@dataclass(frozen=True)
class ReviewParams:
    """Thresholds of the review flags (metres, km², probabilities 0–1)."""

    ring_px: int = 3  # width of the ring just outside an outline searched for omitted ice
    omission_proba: float = (
        0.5  # mean P(clean ice) + P(debris) in the ring above which ice was likely omitted
    )
    min_flag_m2: float = 100.0  # smaller flagged areas are ignored (25 px at 2 m)
    low_conf_proba: float = 0.6  # max class probability below this is "low confidence" (no uncertainty.tif)
    # normalised predictive entropy above this is "low confidence" (uncertainty.tif); 0.6 ≈ a 60/40 split
    # between two classes (H = 0.61) or a 60/20/20 split (0.86)
    low_conf_entropy: float = 0.6
    low_conf_min_m2: float = 400.0  # a low-confidence area must be at least this large
    ndwi_water: float = 0.3  # NDWI (green − nir)/(green + nir) above this is water
    frag_distance_m: float = 100.0  # debris patches closer than this on one glacier are "fragmented"
    min_area_km2: float = OutlinesConfig.model_fields[
        "min_area_km2"
    ].default  # the inventory's minimum (seed)
    near_threshold_factor: float = 2.0  # polygons below factor × min_area_km2 are flagged
    large_glacier_km2: float = 0.5  # glaciers whose lower ends define the reference elevation
    snow_max_km2: float = 0.1  # only patches smaller than this can be seasonal snow
    snow_below_m: float = 100.0  # …and whose median elevation is this far below the reference
    snow_min_clean_frac: float = 0.9  # …and which are (almost) all clean ice
    snow_isolation_m: float = 20.0  # …and farther than this from any larger glacier
    snow_flow_reach_m: float = 500.0  # a patch whose downslope path reaches a glacier within this feeds it
    snow_persist_frac: float = 0.5  # on another date, less ice than this share of the patch = not persistent
    snow_strong_weight: float = 5.0  # weight of a seasonal-snow flag backed by a prior inventory / other date
    block_px: int = 2048  # largest block read at once
    weights: dict[str, float] = field(default_factory=lambda: dict(REASONS))


@dataclass
class _Acc:
    """Per (glacier, reason) accumulation across blocks: polygons and pixel statistics."""

    polys: list = field(default_factory=list)
    n: int = 0
    total: float = 0.0
    extra: dict = field(default_factory=dict)


def flag_for_review(glaciers: gpd.GeoDataFrame, debris: gpd.GeoDataFrame | None, *, classes_path: str | Path,
                    proba_path: str | Path | None = None, masks_path: str | Path | None = None,
                    uncertainty_path: str | Path | None = None, stack_path: str | Path | None = None,
                    dem_path: str | Path | None = None, params: ReviewParams | None = None,
                    prior: gpd.GeoDataFrame | None = None,
                    other_dates: list[str | Path] | None = None) -> gpd.GeoDataFrame:  # fmt: skip
    """Review flags for automated outlines, ranked by affected area × reason weight.

    Parameters
    ----------
    glaciers
        Outlines with ``outline_id`` (any CRS; reprojected to the classes grid, which must be metric).
    debris
        Debris polygons with ``outline_id`` (may be None or empty).
    classes_path
        Classes raster (0 background, 1 clean ice, 2 debris, 255 nodata); defines the grid.
    proba_path
        Per-class probabilities (bands background, clean_ice, debris; uint8 ×255 or float 0–1). Without
        it, boundary-omission and low-confidence flags are skipped.
    uncertainty_path
        Calibrated normalised predictive entropy (0-1, ``uncertainty.tif`` of the segment stage). When
        given, low-confidence flags come from it (entropy > ``low_conf_entropy``) instead of ``proba_path``.
    masks_path
        Bands ``cloud`` and ``shadow`` (1 = masked). Without it, cloud/shadow flags are skipped.
    stack_path
        Feature stack with bands ``green`` and ``nir`` (for NDWI). Without it, water flags are skipped.
    dem_path
        DEM (any CRS, warped per window; elevations converted to metres by its vertical unit,
        :func:`glacierinv.dem.terrain.dem_z_factor`). Without it, the elevation and flow evidence of the
        seasonal-snow flag is skipped.
    params
        Thresholds, see :class:`ReviewParams`.
    prior
        A prior inventory's glacier outlines (RGI or older; any CRS): evidence for the seasonal-snow flag,
        never copied into the result.
    other_dates
        Classes rasters (0 background, 1 clean ice, 2 debris, 255 nodata; any grid, warped nearest) of the
        same area on other dates: mapped ice that is not ice there is not persistent.

    Returns
    -------
    GeoDataFrame
        Columns ``flag_id`` (``F00001`` in priority order), ``outline_id``, ``reason`` (a key of
        :data:`REASONS`), ``priority`` (1 = review first), ``score`` (km² × weight), ``area_km2`` (affected
        area), ``evidence`` (text), geometry (the affected area), in the CRS of ``glaciers``.
    """
    p = params or ReviewParams()
    scene = _ReviewScene.of(glaciers, debris, classes_path)
    if scene is None:
        return _empty(glaciers.crs)
    paths = _RasterPaths.of(classes_path, proba_path, masks_path, uncertainty_path, stack_path, dem_path)
    flags, per_glacier = _glacier_flags(scene, p, paths)
    if dem_path is not None or prior is not None or other_dates:
        flags.extend(_snow_flags(scene, per_glacier, p, dem_path, prior=prior, other_dates=other_dates))
    return _rank(flags, scene.grid.crs, glaciers.crs, p)


def _metric_grid(classes_path: str | Path) -> Grid:
    """The grid of the classes raster; InputError unless its CRS is projected (metric)."""
    with open_raster(classes_path) as ds:
        grid = Grid(ds.crs, ds.transform, (ds.height, ds.width))
    if not grid.is_metric:
        raise InputError("classes raster is not in a projected (metric) CRS", classes_path, "Reproject it")
    return grid


@dataclass(frozen=True)
class _ReviewScene:
    """The outlines to review on the classes grid (metric CRS), with the glaciers' ellipsoidal areas."""

    grid: Grid
    glaciers: gpd.GeoDataFrame  # in the grid's CRS, index 0…n-1
    debris: gpd.GeoDataFrame | None  # in the grid's CRS; None without debris
    areas_km2: np.ndarray  # of ``glaciers``, km²

    @classmethod
    def of(
        cls, glaciers: gpd.GeoDataFrame, debris: gpd.GeoDataFrame | None, classes_path: str | Path
    ) -> _ReviewScene | None:
        """Glaciers and debris reprojected to the classes grid; None without glaciers. InputError for a
        classes grid that is not metric or glaciers without ``outline_id``."""
        grid = _metric_grid(classes_path)
        if len(glaciers) == 0:
            return None
        if "outline_id" not in glaciers.columns:
            raise InputError("glacier outlines have no 'outline_id' column")
        gl = in_crs(glaciers, grid.crs).reset_index(drop=True)
        deb = in_crs(debris, grid.crs) if debris is not None and len(debris) else None
        return cls(grid, gl, deb, area_km2(gl))


def _glacier_flags(
    scene: _ReviewScene, p: ReviewParams, paths: _RasterPaths
) -> tuple[list[dict], list[dict]]:
    """Each glacier's raster, hole and small-polygon flags and the fragmented-debris flags, in glacier
    order, and each glacier's pixel statistics (:func:`_elevation_summary`) for the seasonal-snow rule."""
    flags: list[dict] = []
    per_glacier: list[dict] = []
    for glacier_flags, stats in _scan_glaciers(scene.glaciers, scene.areas_km2, scene.grid, p, paths):
        flags.extend(glacier_flags)
        per_glacier.append(stats)
    if scene.debris is not None:
        flags.extend(_fragmented_debris(scene.glaciers, scene.debris, p))
    return flags, per_glacier


def _snow_flags(
    scene: _ReviewScene,
    per_glacier: list[dict],
    p: ReviewParams,
    dem_path: str | Path | None,
    *,
    prior: gpd.GeoDataFrame | None,
    other_dates: list[str | Path] | None,
) -> list[dict]:
    """The seasonal-snow flags (:func:`_seasonal_snow`), with the DEM (bilinear) and the other dates'
    classes (nearest) warped onto the grid and the prior inventory reprojected to it (None when empty)."""
    grid = scene.grid
    with contextlib.ExitStack() as es:
        dem = open_on_grid(es, dem_path, grid, Resampling.bilinear) if dem_path is not None else None
        dates = [open_on_grid(es, d, grid, Resampling.nearest) for d in (other_dates or [])]
        pri = in_crs(prior, grid.crs) if prior is not None and len(prior) else None
        snow = _SnowEvidence(grid, dem, dates, pri)
        return _seasonal_snow(scene.glaciers, scene.areas_km2, per_glacier, p, snow)


# ---------------------------------------------------------------------------------------------------------
# per-glacier raster scan
# ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _RasterPaths:
    """The rasters a glacier's scan reads (None: absent), as strings, and the stack's NDWI bands."""

    classes: str
    proba: str | None = None
    masks: str | None = None
    uncertainty: str | None = None
    stack: str | None = None
    dem: str | None = None
    ndwi_bands: tuple[int, int] | None = None
    dem_m_per_unit: float = 1.0  # the DEM's vertical unit, read before the paths become text

    @classmethod
    def of(cls, classes, proba, masks, uncertainty, stack, dem) -> _RasterPaths:
        def text(path):
            return None if path is None else str(path)

        bands = None
        if stack is not None:
            with open_raster(stack) as ds:
                g, n = _band_or_none(ds, "green"), _band_or_none(ds, "nir")
            bands = (g, n) if g and n else None
            if bands is None:
                log.warning("%s: no green/nir bands; water flags skipped", stack)
        factor = 1.0
        if dem is not None:
            from glacierinv.dem.terrain import dem_z_factor

            factor = dem_z_factor(dem)
        return cls(text(classes), text(proba), text(masks), text(uncertainty), text(stack), text(dem), bands,
                   factor)  # fmt: skip


def _scan_glaciers(gl: gpd.GeoDataFrame, areas, grid: Grid, p: ReviewParams, paths: _RasterPaths) -> list:
    """Each glacier's raster flags (boundary omission, low confidence, cloud/shadow, water), its hole and
    small-polygon flags, and its pixel statistics, in glacier order: tasks over batches of glaciers on the
    run's cluster when one is set (:mod:`glacierinv.taskmap`), each task reading its glaciers' windows."""
    if not len(gl):
        return []
    geoms = gl.geometry.to_numpy()
    tree = shapely.STRtree(geoms)
    pad_m = (p.ring_px + 2) * grid.res[0]
    bounds = shapely.bounds(geoms)
    # the glaciers whose boxes come within the scan window's margin: only they can cover a pixel of the
    # ring (``ring_px`` < the margin) searched for omitted ice
    near = shapely.box(bounds[:, 0] - pad_m, bounds[:, 1] - pad_m, bounds[:, 2] + pad_m, bounds[:, 3] + pad_m)
    items = []
    for i, geom in enumerate(geoms):
        neighbours = tuple(geoms[j] for j in sorted(tree.query(near[i])) if j != i)
        items.append((str(gl["outline_id"].iloc[i]), geom, neighbours, float(areas[i])))
    return map_batched(partial(_scan_batch, paths, p), items, box_areas(geoms), name="review_scan")


def _scan_batch(paths: _RasterPaths, p: ReviewParams, batch: list) -> list[tuple[list[dict], dict]]:
    """Scan each (id, geometry, neighbours, area km²) of the batch, the rasters opened once: (its flags,
    its pixel statistics)."""
    out = []
    with contextlib.ExitStack() as stack:
        src = _Sources.open(stack, paths.classes, paths.proba, paths.masks, paths.stack, paths.dem)
        src.ndwi_bands = paths.ndwi_bands
        src.dem_m_per_unit = paths.dem_m_per_unit
        if paths.uncertainty is not None:
            src.unc = stack.enter_context(open_raster(paths.uncertainty))
        grid = src.grid
        for oid, geom, neighbours, area in batch:
            accs, stats = _scan_glacier(geom, list(neighbours), grid, p, src)
            flags = [
                f for reason, acc in accs.items() if (f := _finish(reason, acc, oid, grid, p)) is not None
            ]
            flags.extend(_holes(geom, oid, grid, p))
            if area < p.near_threshold_factor * p.min_area_km2:
                flags.append(_flag(oid, "small_polygon", geom,
                                   f"area {area:.4f} km² is within {p.near_threshold_factor:g}× of the "
                                   f"{p.min_area_km2:g} km² minimum"))  # fmt: skip
            out.append((_with_areas(flags, grid.crs), _elevation_summary(stats)))
    return out


def _elevation_summary(stats: dict) -> dict:
    """What the seasonal-snow rule needs of a glacier's pixels: counts and its elevations' 2nd percentile
    and median (m; None without DEM values)."""
    z = stats["z"]
    return {
        "n": stats["n"],
        "clean": stats["clean"],
        "z_size": int(z.size),
        "z_p2": float(np.percentile(z, 2)) if z.size else None,
        "z_median": float(np.median(z)) if z.size else None,
    }


def _glacier_window(geom, grid: Grid, pad_px: int) -> Window | None:
    res = grid.res[0]
    left, bottom, right, top = geom.bounds
    win = from_bounds(left - pad_px * res, bottom - pad_px * res, right + pad_px * res, top + pad_px * res,
                      transform=grid.transform)  # fmt: skip
    win = win.round_offsets().round_lengths()
    c0, r0 = max(0, int(win.col_off)), max(0, int(win.row_off))
    c1, r1 = min(grid.width, int(win.col_off + win.width)), min(grid.height, int(win.row_off + win.height))
    if c1 <= c0 or r1 <= r0:
        return None
    return Window(c0, r0, c1 - c0, r1 - r0)


def _scan_glacier(geom, neighbours: list, grid: Grid, p: ReviewParams, src: _Sources):
    """A glacier's raster flags and pixel statistics, its window read in blocks of at most ``block_px`` (+
    margin); each kind of evidence is read and dropped block by block (:func:`_scan_block`)."""
    accs: dict[str, _Acc] = {}
    stats = {"n": 0, "clean": 0, "z": []}
    pad = p.ring_px + 2
    gwin = _glacier_window(geom, grid, pad)
    if gwin is None:
        stats["z"] = np.array([])
        return accs, stats
    for read, core in iter_windows((int(gwin.height), int(gwin.width)), block=p.block_px, overlap=pad):
        rwin = Window(gwin.col_off + read.col_off, gwin.row_off + read.row_off, read.width, read.height)
        cwin = Window(gwin.col_off + core.col_off, gwin.row_off + core.row_off, core.width, core.height)
        _scan_block(accs, stats, _Block(geom, neighbours, rwin, core_slice(read, core), grid.window_grid(rwin),
                                        grid.window_grid(cwin)), p, src)  # fmt: skip
    stats["z"] = np.concatenate(stats["z"]) if stats["z"] else np.array([])
    return accs, stats


@dataclass
class _Block:
    """One block of a glacier's window: its read window (with margin), the core's slices in it, both grids;
    the glacier's pixels in it, and the classes' valid pixels (set by :func:`_scan_block`)."""

    geom: object
    neighbours: list
    win: Window
    cs: tuple[slice, slice]
    wgrid: Grid
    cwgrid: Grid
    inside: np.ndarray | None = None
    valid: np.ndarray | None = None


def _scan_block(accs: dict, stats: dict, b: _Block, p: ReviewParams, src: _Sources) -> None:
    """Add one block's flags to ``accs`` and its pixels to ``stats``; every raster's arrays are dropped as
    soon as its evidence is taken (a block of a scene-sized glacier holds ``block_px``² pixels)."""
    b.inside = _rasterize([b.geom], b.wgrid)
    classes = read_window(src.classes, b.win, 1, as_float=False)
    b.valid = classes != NODATA
    ins_c = b.inside[b.cs]
    stats["n"] += int(ins_c.sum())
    stats["clean"] += int((ins_c & (classes[b.cs] == CLEAN_ICE)).sum())
    del classes
    if src.proba is not None:
        _proba_flags(accs, b, p, src)
    if src.unc is not None:
        entropy = read_window(src.unc, b.win, 1)
        low = b.inside & b.valid & (np.nan_to_num(entropy, nan=0.0) > p.low_conf_entropy)
        acc = _add(accs, "low_confidence", low[b.cs], b.cwgrid, entropy[b.cs])
        if acc is not None:
            acc.extra["entropy"] = True
        del entropy, low
    if src.masks is not None:
        cloud, shadow = _read_masks(src, b.win)
        near = ndimage.binary_dilation(b.inside, iterations=p.ring_px)
        cs_mask = near & (cloud | shadow)
        acc = _add(accs, "cloud_shadow", cs_mask[b.cs], b.cwgrid, None)
        if acc is not None:
            acc.extra["cloud"] = acc.extra.get("cloud", 0) + int((cs_mask & cloud)[b.cs].sum())
            acc.extra["shadow"] = acc.extra.get("shadow", 0) + int((cs_mask & shadow)[b.cs].sum())
        del cloud, shadow, near, cs_mask
    if src.stack is not None:
        _water_flags(accs, b, p, src)
    if src.dem is not None:
        z = src.dem.read(1, window=b.win)
        zin = z[b.cs][ins_c]
        if src.dem_m_per_unit != 1.0:  # elevations in metres (the seasonal-snow rule's thresholds)
            zin = zin * np.float32(src.dem_m_per_unit)
        stats["z"].append(zin[np.isfinite(zin)])


def _proba_flags(accs: dict, b: _Block, p: ReviewParams, src: _Sources) -> None:
    """Boundary omission (ice probability in the ring outside the outline) and, without
    ``uncertainty.tif``, low confidence (the largest class probability inside) of a block."""
    others = _rasterize(b.neighbours, b.wgrid) if b.neighbours else np.zeros_like(b.inside)
    ring = ndimage.binary_dilation(b.inside, iterations=p.ring_px) & ~b.inside & ~others
    del others
    proba = read_window(src.proba, b.win, [1, 2, 3], as_float=False).astype("float32")
    proba /= src.proba_scale  # in place: the same float32 quotients as ``proba / scale``, one copy less
    ice = proba[1] + proba[2]
    top = proba.max(axis=0) if src.unc is None else None
    del proba
    cand = ring & b.valid & (ice > p.omission_proba)
    _add(accs, "boundary_omission", cand[b.cs], b.cwgrid, ice[b.cs])
    del ring, cand, ice
    if top is not None:
        low = b.inside & b.valid & (top < p.low_conf_proba)
        _add(accs, "low_confidence", low[b.cs], b.cwgrid, top[b.cs])


def _water_flags(accs: dict, b: _Block, p: ReviewParams, src: _Sources) -> None:
    """Water (NDWI above ``ndwi_water``) outside the outline in the bodies that touch it, in a block."""
    ndwi = _read_ndwi(src, b.win)
    if ndwi is None:
        return
    water = (ndwi > p.ndwi_water) & ~b.inside
    lab, n = ndimage.label(water)
    if n:
        touch = ndimage.binary_dilation(b.inside, iterations=1)
        hit = np.unique(lab[touch & water])
        hit = hit[hit > 0]
        wmask = np.isin(lab, hit)
        _add(accs, "water", wmask[b.cs], b.cwgrid, ndwi[b.cs])


def _rasterize(geoms, wgrid: Grid) -> np.ndarray:
    return rasterio.features.geometry_mask(
        geoms, out_shape=wgrid.shape, transform=wgrid.transform, invert=True, all_touched=False
    )


@dataclass
class _Sources:
    """The rasters, opened once; the DEM as a warped view onto the classes grid (read per window)."""

    classes: object
    grid: Grid
    proba: object = None
    proba_scale: float = 255.0
    masks: object = None
    mask_bands: tuple = (None, None)
    stack: object = None
    ndwi_bands: tuple | None = None
    dem: object = None
    unc: object = None
    dem_m_per_unit: float = 1.0

    @classmethod
    def open(cls, es, classes_path, proba_path, masks_path, stack_path, dem_path) -> _Sources:
        classes = es.enter_context(open_raster(classes_path))
        grid = Grid(classes.crs, classes.transform, (classes.height, classes.width))
        src = cls(classes, grid)
        if proba_path is not None:
            src.proba = es.enter_context(open_raster(proba_path))
            src.proba_scale = 255.0 if src.proba.dtypes[0] == "uint8" else 1.0
        if masks_path is not None:
            src.masks = es.enter_context(open_raster(masks_path))
            src.mask_bands = tuple(_band_or_none(src.masks, n) for n in ("cloud", "shadow"))
        if stack_path is not None:
            src.stack = es.enter_context(open_raster(stack_path))
        if dem_path is not None:
            src.dem = open_on_grid(es, dem_path, grid, Resampling.bilinear)
        return src


def _band_or_none(ds, name: str) -> int | None:
    try:
        return band_index(ds, name)
    except InputError:
        return None


def _read_masks(src: _Sources, win: Window) -> tuple[np.ndarray, np.ndarray]:
    out = []
    for b in src.mask_bands:
        if b is None:
            out.append(np.zeros((int(win.height), int(win.width)), bool))
        else:
            out.append(read_window(src.masks, win, b, as_float=False) == 1)
    return out[0], out[1]


def _read_ndwi(src: _Sources, win: Window) -> np.ndarray | None:
    if src.ndwi_bands is None:
        return None
    green = read_window(src.stack, win, src.ndwi_bands[0])
    nir = read_window(src.stack, win, src.ndwi_bands[1])
    with np.errstate(invalid="ignore", divide="ignore"):
        ndwi = (green - nir) / (green + nir)
    return np.where(np.isfinite(ndwi), ndwi, -1.0)


def _add(accs: dict, reason: str, mask: np.ndarray, wgrid: Grid, values: np.ndarray | None) -> _Acc | None:
    if not mask.any():
        return None
    acc = accs.setdefault(reason, _Acc())
    acc.n += int(mask.sum())
    if values is not None:
        acc.total += float(values[mask].sum())
    for geom, _ in rasterio.features.shapes(mask.astype("uint8"), mask=mask, transform=wgrid.transform):
        acc.polys.append(shapely.geometry.shape(geom))
    return acc


def _finish(reason: str, acc: _Acc, oid: str, grid: Grid, p: ReviewParams) -> dict | None:
    """Merge a (glacier, reason)'s block polygons, drop parts below the minimum area, write evidence."""
    union = shapely.union_all(acc.polys)
    min_m2 = p.low_conf_min_m2 if reason == "low_confidence" else p.min_flag_m2
    parts = [g for g in getattr(union, "geoms", [union]) if g.area >= min_m2]
    if not parts:
        return None
    geom = shapely.MultiPolygon(parts) if len(parts) > 1 else parts[0]
    mean = acc.total / acc.n if acc.n else float("nan")
    px = acc.n
    if reason == "boundary_omission":
        ev = (f"mean P(ice)+P(debris) {mean:.2f} over {px} px within {p.ring_px} px outside the outline "
              f"(> {p.omission_proba:g}); {len(parts)} patch(es)")  # fmt: skip
    elif reason == "low_confidence" and acc.extra.get("entropy"):
        ev = (f"calibrated predictive entropy {mean:.2f} on average over {px} px (> {p.low_conf_entropy:g}); "
              f"{len(parts)} area(s)")  # fmt: skip
    elif reason == "low_confidence":
        ev = f"max class probability {mean:.2f} on average over {px} px (< {p.low_conf_proba:g}); {len(parts)} area(s)"
    elif reason == "cloud_shadow":
        ev = (f"{acc.extra.get('cloud', 0)} px cloud, {acc.extra.get('shadow', 0)} px shadow on or within "
              f"{p.ring_px} px of the outline")  # fmt: skip
    elif reason == "water":
        ev = f"NDWI {mean:.2f} on average (> {p.ndwi_water:g}) over {px} px touching the outline; {len(parts)} water body(ies)"
    else:
        ev = f"{px} px"
    return _flag(oid, reason, geom, ev)


def _flag(oid: str, reason: str, geom, evidence: str) -> dict:
    return {"outline_id": oid, "reason": reason, "evidence": evidence, "geometry": geom}


def _with_areas(flags: list[dict], crs) -> list[dict]:
    """Set each flag's ``area_km2`` (ellipsoidal) from its geometry in ``crs``; returns ``flags``."""
    if flags:
        areas = area_km2(gpd.GeoSeries([f["geometry"] for f in flags], crs=crs))
        for f, a in zip(flags, areas, strict=True):
            f["area_km2"] = float(a)
    return flags


# ---------------------------------------------------------------------------------------------------------
# vector-only and scene-level flags
# ---------------------------------------------------------------------------------------------------------
def _holes(geom, oid: str, grid: Grid, p: ReviewParams) -> list[dict]:
    polys = list(getattr(geom, "geoms", [geom]))
    holes = [shapely.Polygon(r) for g in polys for r in g.interiors]
    if not holes:
        return []
    hs = area_km2(gpd.GeoSeries(holes, crs=grid.crs))
    union = shapely.MultiPolygon(holes) if len(holes) > 1 else holes[0]
    ev = f"{len(holes)} internal hole(s) in the ice, largest {hs.max() * 1e6:.0f} m², total {hs.sum() * 1e6:.0f} m²"
    return [_flag(oid, "internal_hole", union, ev)]


def _fragmented_debris(gl: gpd.GeoDataFrame, deb: gpd.GeoDataFrame, p: ReviewParams) -> list[dict]:
    """Fragmented debris flags, one glacier's debris patches per item of a task (:mod:`glacierinv.taskmap`)."""
    if "outline_id" not in deb.columns:
        return []
    glaciers: dict[str, list] = {}
    for oid, g in zip(gl["outline_id"].astype(str), gl.geometry, strict=True):
        glaciers.setdefault(oid, []).append(g)
    items = []
    for oid, grp in deb.groupby(deb["outline_id"].astype(str)):
        geoms = [g for g in grp.geometry if g is not None and not g.is_empty]
        if len(geoms) >= 2:
            items.append((str(oid), geoms, glaciers.get(str(oid), [])))
    weights = [sum(g.area for g in geoms) for _, geoms, _ in items]
    done = map_batched(partial(_debris_clusters, p, gl.crs), items, weights, name="fragmented_debris")
    return [flag for flags in done for flag in flags]


def _debris_clusters(p: ReviewParams, crs, batch: list) -> list[list[dict]]:
    """For each (outline id, its debris patches, its glacier's parts) of a batch: the flags of its clusters
    of patches closer than ``frag_distance_m`` (single linkage)."""
    out = []
    for oid, geoms, parts in batch:
        flags = []
        buffered = shapely.union_all([g.buffer(p.frag_distance_m / 2) for g in geoms])
        for cluster in getattr(buffered, "geoms", [buffered]):
            members = [g for g in geoms if g.intersects(cluster)]
            if len(members) < 2:
                continue
            hull = shapely.union_all(members).convex_hull
            glacier = shapely.union_all(parts)
            affected = hull.intersection(glacier) if not glacier.is_empty else hull
            gaps = [
                members[a].distance(members[b])
                for a in range(len(members))
                for b in range(a + 1, len(members))
            ]
            ev = (f"{len(members)} debris patches within {p.frag_distance_m:g} m of each other "
                  f"(closest gap {min(gaps):.0f} m): probably one debris-covered tongue")  # fmt: skip
            flags.append(_flag(oid, "fragmented_debris", affected, ev))
        out.append(_with_areas(flags, crs))
    return out


@dataclass
class _SnowEvidence:
    """What tells seasonal snow from ice besides the patch itself: DEM, other dates, prior inventory."""

    grid: Grid
    dem: object = None
    dates: list = field(default_factory=list)
    prior: gpd.GeoDataFrame | None = None


def drains_onto(z_m: np.ndarray, start: tuple[int, int], target: np.ndarray, pixel_m: float,
                max_length_m: float) -> bool:  # fmt: skip
    """Whether the D8 steepest-descent path from ``start`` reaches ``target`` within ``max_length_m``.

    The path follows the neighbour with the largest drop per metre (diagonals √2 apart) and stops at a pit,
    a flat, a NaN, the array edge or after ``max_length_m``: all of these mean "does not reach".
    """
    r, c = start
    h, w = z_m.shape
    length = 0.0
    steps = [(dr, dc, pixel_m * (2**0.5 if dr and dc else 1.0))
             for dr in (-1, 0, 1) for dc in (-1, 0, 1) if dr or dc]  # fmt: skip
    while length <= max_length_m:
        if target[r, c]:
            return True
        best, nxt = 0.0, None
        for dr, dc, d in steps:
            rr, cc = r + dr, c + dc
            if 0 <= rr < h and 0 <= cc < w and np.isfinite(z_m[rr, cc]):
                drop = (z_m[r, c] - z_m[rr, cc]) / d
                if drop > best:
                    best, nxt = drop, (rr, cc, d)
        if nxt is None:
            return False
        r, c, d = nxt
        length += d
    return False


def _flow_connected(geom, targets_near: Callable, ev: _SnowEvidence, p: ReviewParams) -> bool | None:
    """Does the patch drain onto a glacier within the flow reach? None without DEM data.

    ``targets_near(box)`` gives the glacier geometries the patch may drain onto whose envelopes meet ``box``
    (the patch's window grown by the flow reach, map units): only those can burn a pixel of the window.
    """
    if ev.dem is None:
        return None
    reach_px = int(np.ceil(p.snow_flow_reach_m / ev.grid.res[0])) + 1
    win = _glacier_window(geom, ev.grid, reach_px)
    if win is None:
        return None
    wgrid = ev.grid.window_grid(win)
    z = ev.dem.read(1, window=win)
    inside = _rasterize([geom], wgrid) & np.isfinite(z)
    if not inside.any():
        return None
    others = targets_near(shapely.box(*wgrid.bounds))
    target = _rasterize(others, wgrid) if len(others) else np.zeros_like(inside)
    target &= ~inside
    zi = np.where(inside, z, np.inf)
    start = np.unravel_index(int(np.argmin(zi)), zi.shape)
    return drains_onto(z, start, target, ev.grid.res[0], p.snow_flow_reach_m)


@dataclass(frozen=True)
class _GlacierIndex:
    """The scene's glaciers (metric CRS) with an R-tree, for neighbour questions asked of one glacier."""

    geoms: np.ndarray  # shapely geometries, in glacier order
    areas_km2: np.ndarray
    tree: shapely.STRtree
    span_m: float  # diagonal of the glaciers' extent: no two glaciers are farther apart

    @classmethod
    def of(cls, geoms: np.ndarray, areas_km2) -> _GlacierIndex:
        left, bottom, right, top = shapely.total_bounds(geoms)
        span_m = float(np.hypot(right - left, top - bottom)) if len(geoms) else 0.0
        return cls(geoms, np.asarray(areas_km2, dtype=float), shapely.STRtree(geoms), span_m)

    def larger_than(self, i: int, near: np.ndarray) -> np.ndarray:
        """Indices in ``near`` of glaciers other than ``i`` whose area is larger than glacier ``i``'s."""
        return near[(self.areas_km2[near] > self.areas_km2[i]) & (near != i)]

    def larger_within(self, i: int, distance_m: float) -> np.ndarray:
        """Indices of the larger glaciers within ``distance_m`` of glacier ``i``."""
        return self.larger_than(i, self.tree.query(self.geoms[i], predicate="dwithin", distance=distance_m))

    def nearest_larger_m(self, i: int, start_m: float) -> float:
        """Distance (m) from glacier ``i`` to the nearest glacier of larger area; inf when there is none.

        The index is asked for the larger glaciers within a radius that doubles from ``start_m`` until one is
        found: every glacier within the radius is returned, so the minimum over them is the exact nearest
        distance, and the cost is that of the few glaciers near ``i`` rather than of every glacier.
        """
        radius_m = max(start_m, 1.0)
        while True:
            near = self.larger_within(i, radius_m)
            if near.size:
                return float(shapely.distance(self.geoms[i], self.geoms[near]).min())
            if radius_m > self.span_m:
                return float("inf")
            radius_m *= 2.0

    def larger_in_box(self, i: int, box) -> list:
        """Geometries of the larger glaciers whose envelopes meet ``box``."""
        return list(self.geoms[self.larger_than(i, self.tree.query(box))])


def _persistence(geom, ev: _SnowEvidence) -> list[float | None]:
    """Share of the patch mapped as ice (1 or 2) on each other date; None where less than half is seen."""
    win = _glacier_window(geom, ev.grid, 0)
    out: list[float | None] = []
    if win is None:
        return [None] * len(ev.dates)
    inside = _rasterize([geom], ev.grid.window_grid(win))
    for ds in ev.dates:
        cls = ds.read(1, window=win)
        seen = inside & np.isfinite(cls) & (cls != 255)
        if seen.sum() < 0.5 * inside.sum() or not seen.any():
            out.append(None)
            continue
        out.append(float(np.isin(cls[seen], (1, 2)).sum() / seen.sum()))
    return out


def _flow_targets(index: _GlacierIndex, i: int, prior_geoms: np.ndarray, prior_tree, box) -> list:
    """What glacier ``i`` may drain onto within ``box``: larger glaciers and prior outlines meeting it."""
    prior = list(prior_geoms[prior_tree.query(box)]) if prior_tree is not None else []
    return index.larger_in_box(i, box) + prior


def _seasonal_snow(gl, areas, per_glacier, p: ReviewParams, ev: _SnowEvidence) -> list[dict]:
    low_ends = [s["z_p2"] for s, a in zip(per_glacier, areas, strict=True)
                if a >= p.large_glacier_km2 and s["z_size"]]  # fmt: skip
    ref = float(np.median(low_ends)) if low_ends else None
    prior_geoms = ev.prior.geometry.to_numpy() if ev.prior is not None else np.empty(0, dtype=object)
    prior_tree = shapely.STRtree(prior_geoms) if ev.prior is not None else None
    geoms = gl.geometry.to_numpy()
    index = _GlacierIndex.of(geoms, areas)
    out = []
    for i, (s, a) in enumerate(zip(per_glacier, areas, strict=True)):
        if s["n"] == 0 or s["clean"] / s["n"] < p.snow_min_clean_frac:
            continue
        clean = s["clean"] / s["n"]
        geom = geoms[i]
        # connected to the body of a larger glacier (the index finds the few within reach, not all pairs)
        if index.larger_within(i, p.snow_isolation_m).size:
            continue
        outside_prior = None
        if prior_tree is not None:  # farther than the isolation distance from every prior outline
            outside_prior = prior_tree.query(geom, predicate="dwithin", distance=p.snow_isolation_m).size == 0
        persist = [v for v in _persistence(geom, ev) if v is not None] if ev.dates else []
        transient = any(v < p.snow_persist_frac for v in persist)
        persistent = bool(persist) and not transient
        low = None
        zmed = None
        if ref is not None and s["z_size"]:
            zmed = s["z_median"]
            low = a < p.snow_max_km2 and zmed <= ref - p.snow_below_m
        strong = bool(outside_prior) or transient
        weak = bool(low) and not persistent and outside_prior is not False
        if not (strong or weak):
            continue
        dist = index.nearest_larger_m(i, 2 * p.snow_isolation_m)
        feeds = _flow_connected(geom, partial(_flow_targets, index, i, prior_geoms, prior_tree), ev, p)
        if feeds:
            continue  # drains onto a glacier: part of its system (avalanche-fed), not seasonal snow
        parts = [f"{100 * clean:.0f} % clean ice", f"nearest larger glacier {dist:.0f} m away"]
        if feeds is False:
            parts.append(f"drains off-glacier (no glacier within {p.snow_flow_reach_m:g} m downslope)")
        if outside_prior:
            parts.append(f"outside the prior inventory (> {p.snow_isolation_m:g} m from its outlines)")
        if persist:
            parts.append("ice on other date(s): " + ", ".join(f"{100 * v:.0f} %" for v in persist))
        if low:
            parts.append(f"median elevation {zmed:.0f} m is {ref - zmed:.0f} m below the median lower end "
                         f"({ref:.0f} m) of {len(low_ends)} glacier(s) ≥ {p.large_glacier_km2:g} km²")  # fmt: skip
        flag = _flag(str(gl["outline_id"].iloc[i]), "seasonal_snow", geom, "; ".join(parts))
        if strong:
            flag["weight"] = p.snow_strong_weight
        out.append(flag)
    return out


def _rank(flags: list[dict], crs, out_crs, p: ReviewParams) -> gpd.GeoDataFrame:
    if not flags:
        return _empty(out_crs)
    _with_areas([f for f in flags if "area_km2" not in f], crs)  # the tasks measured theirs
    gdf = gpd.GeoDataFrame(flags, geometry="geometry", crs=crs)
    weight = gdf["reason"].map(p.weights).fillna(0.5)
    if "weight" in gdf.columns:  # a flag may carry its own weight (strong seasonal-snow evidence)
        weight = gdf["weight"].fillna(weight).astype(float)
    gdf["score"] = gdf["area_km2"] * weight
    gdf = gdf.sort_values(["score", "outline_id", "reason"], ascending=[False, True, True]).reset_index(
        drop=True
    )
    gdf["priority"] = np.arange(1, len(gdf) + 1)
    gdf["flag_id"] = [f"F{i:05d}" for i in gdf["priority"]]
    gdf = gdf[[*REVIEW_COLUMNS, "geometry"]]
    return gdf.to_crs(out_crs) if out_crs is not None and out_crs != crs else gdf


def _empty(crs) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({c: [] for c in REVIEW_COLUMNS}, geometry=[], crs=crs)
