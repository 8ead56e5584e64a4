"""RGI 7-style glacier attributes, hypsometry and longest flowlines for any outline file.

Definitions follow RGI 7 (DESIGN.md), computed on each glacier's DEM window on a metric grid:

- ``area_km2``: geodesic area on the WGS84 ellipsoid; ``cenlon/cenlat``: ``representative_point()``;
- ``zmin_m, zmax_m, zmed_m, zmean_m``: NaN-aware statistics of the DEM cells whose centre is inside the
  glacier; null (and ``dem_cov`` < ``min_dem_coverage``) when too little of the glacier has valid DEM;
- ``slope_deg``: mean of per-cell Horn slopes; ``aspect_deg``: *circular mean of the per-cell aspects*
  (arctan2 of the mean sine and mean cosine of each cell's downslope azimuth), clockwise from north, as RGI
  computes it; ``aspect_sec``: 1 = N [−22.5°, 22.5°), 2 = NE, … 8 = NW, 9 = not assigned;
- hypsometry: area share per ``band_m`` band (RGI: 50 m) as integer thousandths summing to 1000
  (largest-remainder rounding);
- ``lmax_m``: length of the longest glacier centerline after Kienholz et al. (2014), the method OGGM
  implements and RGI 7 ships (:mod:`glacierinv.attributes.centerlines`): heads at local maxima of the
  outline, terminus at its lowest point, least-cost routes weighting distance to the margin and elevation,
  with the published parameters (none fitted to the validation glaciers).
- ``debris_km2``/``debris_frac``: area of the debris polygons inside the glacier and its share.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import LineString

from glacierinv.config import AttributesConfig
from glacierinv.dem.terrain import gradient_horn
from glacierinv.dem.windows import (
    DemWindows,
    GlacierWindow,
    check_dem_covers,
    complex_groups,
    map_glacier_windows,
)
from glacierinv.errors import InputError
from glacierinv.geometry import area_km2, covered_area_km2, find_overlaps, repair_polygons
from glacierinv.io.vector import guess_id_column

__all__ = [
    "ATTRIBUTE_COLUMNS",
    "CALC_PREFIX",
    "aspect_sector",
    "attributes_from_windows",
    "circular_mean_aspect_deg",
    "compute_attributes",
    "computed_column",
    "empty_attributes",
    "glacier_dem_attributes",
    "terminus_point",
    "hypsometry_permille",
    "longest_flowline",
]

log = logging.getLogger(__name__)

#: The attributes stage's defaults ([attributes] in glacierinv.config, their only copy).
_ATTRIBUTES = {k: f.default for k, f in AttributesConfig.model_fields.items()}

ATTRIBUTE_COLUMNS = [
    "glac_id", "cenlon", "cenlat", "utm_zone", "termlon", "termlat", "area_km2", "debris_km2", "debris_frac", "zmin_m", "zmax_m", "zmed_m",
    "zmean_m", "slope_deg", "aspect_deg", "aspect_sec", "lmax_m", "dem_cov", "dem_source", "img_source",
    "term_type", "surge_type", "glac_type", "aar", "provenance", "src_date",
]  # fmt: skip


def aspect_sector(aspect_deg: float | None) -> int:
    """8-sector code: 1 = N [−22.5, 22.5), 2 = NE, … 8 = NW; 9 = not assigned (None/NaN)."""
    if aspect_deg is None or not np.isfinite(aspect_deg):
        return 9
    return int(((aspect_deg + 22.5) % 360) // 45) + 1


def circular_mean_aspect_deg(gx: np.ndarray, gy: np.ndarray) -> float | None:
    """RGI aspect: circular mean of the per-cell aspects, degrees clockwise from north in [0, 360).

    Each cell's aspect is the azimuth of its downslope direction ``(−∂z/∂x, −∂z/∂y)`` (x east, y north);
    the mean is ``arctan2(mean sin, mean cos)`` of those azimuths, every sloping cell weighing the same
    (not the direction of the mean gradient vector, which steep walls dominate). None when no cell slopes
    or the azimuths cancel out exactly.

    >>> round(circular_mean_aspect_deg(np.array([1.0, -1.0]), np.array([-1.0, -1.0])))
    0
    """
    gx, gy = np.asarray(gx, float).ravel(), np.asarray(gy, float).ravel()
    ok = np.isfinite(gx) & np.isfinite(gy) & (np.hypot(gx, gy) > 1e-12)
    if not ok.any():
        return None
    az = np.arctan2(-gx[ok], -gy[ok])  # azimuth of the downslope direction, clockwise from north
    s, c = float(np.mean(np.sin(az))), float(np.mean(np.cos(az)))
    if np.hypot(s, c) < 1e-12:
        return None
    return float(np.degrees(np.arctan2(s, c)) % 360.0)


def hypsometry_permille(
    z_m: np.ndarray, band_m: float = _ATTRIBUTES["hypsometry_band_m"]
) -> tuple[np.ndarray, np.ndarray]:
    """(band lower bounds in m, share per band in integer thousandths summing to 1000)."""
    z = z_m[np.isfinite(z_m)]
    if z.size == 0:
        return np.array([]), np.array([], dtype=int)
    lo = np.floor(z.min() / band_m) * band_m
    idx = np.floor((z - lo) / band_m).astype(int)
    counts = np.bincount(idx)
    exact = counts / counts.sum() * 1000.0
    share = np.floor(exact).astype(int)
    remainder = 1000 - share.sum()
    if remainder > 0:
        share[np.argsort(-(exact - share), kind="stable")[:remainder]] += 1
    return lo + band_m * np.arange(len(counts)), share


def longest_flowline(win: GlacierWindow) -> LineString | None:
    """The glacier's longest centerline after Kienholz et al. (2014), head → terminus (its length: lmax).

    See :mod:`glacierinv.attributes.centerlines`; None when the glacier has too few valid DEM cells.
    """
    from glacierinv.attributes.centerlines import longest_centerline

    return longest_centerline(win)


def horn_in_strips(dem_m: np.ndarray, res_m, rows: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """:func:`~glacierinv.dem.terrain.gradient_horn` of a glacier's DEM window, computed in strips of
    ``rows`` rows (plus one row of margin on each side), with identical values: the window of a large
    complex can be the whole scene, and the gradient's temporaries are about twenty window-sized float64
    arrays. Horn's stencil reaches one cell, so a strip's margin rows give its cells the neighbours they
    have in the whole window; a strip takes the same path as the whole window (the NaN-filling path when
    the window has a NaN, forced by a NaN row beyond an inner margin; else the complete path), so the
    window's own edges are extrapolated as in the whole-window call.
    """
    dem = np.asarray(dem_m, dtype="float64")
    h, w = dem.shape if dem.ndim == 2 else (0, 0)
    if h <= rows + 2 or w < 2:
        return gradient_horn(dem, res_m)
    complete = not np.isnan(dem).any()
    gx, gy = np.empty((h, w)), np.empty((h, w))
    for r0 in range(0, h, rows):
        r1 = min(h, r0 + rows)
        a0, a1 = max(0, r0 - 1), min(h, r1 + 1)
        strip = dem[a0:a1]
        top = 0
        if not complete:
            top, bottom = int(r0 > 0), int(r1 < h)
            strip = np.pad(strip, ((top, bottom), (0, 0)), constant_values=np.nan)
        sx, sy = gradient_horn(strip, res_m)
        k = top + r0 - a0
        gx[r0:r1], gy[r0:r1] = sx[k : k + r1 - r0], sy[k : k + r1 - r0]
    return gx, gy


def _stats(win: GlacierWindow, min_cov: float) -> dict:
    cells = win.mask
    z = win.dem_m[cells]
    valid = np.isfinite(z)
    cov = float(valid.mean()) if valid.size else 0.0
    out: dict = {"dem_cov": round(cov, 4)}
    if cov < min_cov:
        return out | dict.fromkeys(("zmin_m", "zmax_m", "zmed_m", "zmean_m", "slope_deg", "aspect_deg"), None)
    zv = z[valid]
    gx, gy = horn_in_strips(win.dem_m, win.res_m)
    # slope_deg's own expression, on the same gradient (slope_deg would compute it a second time)
    slope = np.degrees(np.arctan(np.hypot(gx, gy))).astype("float32")[cells]
    aspect = circular_mean_aspect_deg(gx[cells], gy[cells])
    return out | {
        "zmin_m": float(zv.min()),
        "zmax_m": float(zv.max()),
        "zmed_m": float(np.median(zv)),
        "zmean_m": float(zv.mean()),
        "slope_deg": float(np.nanmean(slope)) if np.isfinite(slope).any() else None,
        "aspect_deg": aspect,
    }


def compute_attributes(
    glaciers: gpd.GeoDataFrame,
    dem_path: str | Path,
    *,
    dem_source: str | None = None,
    **options: Any,
):
    """Attribute table, hypsometry (and optionally longest flowlines) for glacier polygons.

    Parameters
    ----------
    glaciers
        Glacier polygons in any CRS. Input columns are never overwritten, renamed or dropped: where an
        input column holds the name of an attribute computed here (``area_km2``, ``cenlon``, ``zmin_m`` …,
        see :data:`COMPUTED_COLUMNS`; names differing only by case, such as RGI 6 ``CenLat``, too) it keeps
        its name and values and ours is written as ``calc_<name>`` (:data:`CALC_PREFIX`,
        :func:`computed_column`); an input ``area_km2`` that differs from the outline's geodesic area by more
        than :data:`AREA_MISMATCH_REL` is warned about, naming the glaciers. Attributes not computed here
        (``term_type``, ``surge_type``, ``src_date``, ``img_source``, ``glac_type``, ``aar``,
        ``provenance``) keep the input's value where it has one. Invalid polygons are repaired, each repair
        logged with its id and area change.
    id_column
        Id column (default: the first of :data:`glacierinv.io.vector.ID_CANDIDATES` present; when none
        is, ids ``G00001``… are made in ``glac_id``).
    allow_overlaps
        Outlines overlapping by more than 1 % of the smaller one (the same glacier twice) are refused with
        their ids (``InputError``); with ``allow_overlaps`` they are only logged as a warning.
    dem_path
        DEM in metres, any CRS (geographic DEMs are warped to a local UTM grid per glacier).
    debris
        Optional debris polygons (same or any CRS) for ``debris_km2`` and ``debris_frac``.
    band_m
        Hypsometry band height in metres (RGI: 50).
    min_dem_coverage
        Minimum share of a glacier's cells with valid DEM for elevation/slope/aspect statistics.
    dem_source
        Value of the ``dem_source`` column (default: the DEM's file name).
    img_source, src_date
        Values of those columns where the input has none.
    return_centerlines
        Also return the longest flowlines.

    The keywords other than ``dem_source`` are those of :func:`attributes_from_windows`, which computes
    the attributes; the DEM is read here glacier by glacier (:class:`~glacierinv.dem.windows.DemWindows`).

    Returns
    -------
    glaciers, hypsometry[, centerlines]
        ``glaciers`` with :data:`ATTRIBUTE_COLUMNS`; ``hypsometry`` tidy (glac_id, band_min_m, band_max_m,
        share_permille, area_km2); ``centerlines`` (glac_id, lmax_m, geometry) in the glaciers' CRS.
    """

    source = dem_source if dem_source is not None else Path(dem_path).name
    return attributes_from_windows(glaciers, _WindowTasks(dem_path), dem_source=source, **options)


@dataclass(frozen=True)
class _WindowTasks:
    """The DEM windows of :func:`compute_attributes`: read and computed inside tasks over batches of
    complexes (on the run's cluster, else in this process) instead of handed over one by one."""

    dem_path: str | Path

    def records(self, geoms: gpd.GeoSeries, groups, band_m: float, min_dem_coverage: float) -> list[tuple]:
        check_dem_covers(geoms, self.dem_path)
        func = partial(_record_of_window, band_m=band_m, min_dem_coverage=min_dem_coverage)
        return map_glacier_windows(func, geoms, self.dem_path, groups=groups)


def _record_of_window(dems: DemWindows, g, crs, _extra, *, band_m: float, min_dem_coverage: float) -> tuple:
    """One glacier's DEM record (a task of :func:`compute_attributes`): its window cut and computed."""
    return _glacier_record(dems.window(g, crs), band_m, min_dem_coverage)


def _glacier_record(win: GlacierWindow, band_m: float, min_dem_coverage: float) -> tuple:
    """(stats, flowline, hypsometry bands, terminus point, window CRS) of one glacier's window."""
    stats, line, bands = glacier_dem_attributes(win, band_m=band_m, min_dem_coverage=min_dem_coverage)
    return stats, line, bands, terminus_point(win), win.grid.crs


def attributes_from_windows(
    glaciers: gpd.GeoDataFrame,
    dem_windows: Callable[[gpd.GeoSeries], Iterable[GlacierWindow]],
    *,
    debris: gpd.GeoDataFrame | None = None,
    id_column: str | None = None,
    dem_source: str | None = None,
    img_source: str | None = None,
    src_date: str | None = None,
    band_m: float = _ATTRIBUTES["hypsometry_band_m"],
    min_dem_coverage: float = _ATTRIBUTES["min_dem_coverage"],
    return_centerlines: bool = False,
    allow_overlaps: bool = False,
):
    """:func:`compute_attributes` on DEM windows given in memory (pure: geometries and arrays in, tables out).

    Parameters
    ----------
    glaciers
        Glacier polygons in any CRS (see :func:`compute_attributes`).
    dem_windows
        Maps the (repaired) glacier geometries to their :class:`~glacierinv.dem.windows.GlacierWindow` s,
        one per glacier in order, each on a metric grid with elevations in metres: e.g.
        ``lambda geoms: array_windows(dem_m, grid, geoms)`` for a DEM array
        (:func:`glacierinv.dem.windows.array_windows`). Consumed lazily, one window at a time.
    dem_source
        Value of the ``dem_source`` column.
    debris, id_column, img_source, src_date, band_m, min_dem_coverage, return_centerlines, allow_overlaps
        As :func:`compute_attributes`.

    Returns
    -------
    glaciers, hypsometry[, centerlines]
        As :func:`compute_attributes`.
    """
    if glaciers.crs is None:
        raise InputError("glacier outlines have no CRS", None, "Assign one before computing attributes")
    if len(glaciers) == 0:  # no glacier is a valid (empty) answer: every column, zero rows
        gdf, hyps, lines = empty_attributes(glaciers)
        return (gdf, hyps, lines) if return_centerlines else (gdf, hyps)
    gdf, id_column, inputs = _prepare(glaciers, id_column, allow_overlaps)
    ids = gdf[id_column].astype(str)
    _geometry_attributes(gdf, debris)
    _warn_area_mismatch(gdf, inputs.attrs["stashed"], ids)
    records = _window_records(dem_windows, gdf, band_m, min_dem_coverage)
    rows, hyps, lines, terms = _split_records(records, ids, gdf["area_km2"], band_m)
    _lines_to_crs(lines, gdf.crs)
    _set_dem_columns(gdf, rows, terms, dem_source)
    gdf = _finish_columns(gdf, inputs, id_column, ids, img_source, src_date)
    hypsometry = pd.DataFrame(hyps, columns=HYPSOMETRY_COLUMNS)
    if not return_centerlines:
        return gdf, hypsometry
    return gdf, hypsometry, _centerlines_frame(lines, gdf.crs)


def _window_records(
    dem_windows, gdf: gpd.GeoDataFrame, band_m: float, min_dem_coverage: float
) -> Iterable[tuple]:
    """Each glacier's :func:`_glacier_record`, in order: read in tasks for :func:`compute_attributes`
    (:class:`_WindowTasks`), else computed lazily from the windows ``dem_windows`` gives."""
    if isinstance(dem_windows, _WindowTasks):
        return dem_windows.records(gdf.geometry, complex_groups(gdf), band_m, min_dem_coverage)
    return (_glacier_record(win, band_m, min_dem_coverage) for win in dem_windows(gdf.geometry))


def _split_records(
    records: Iterable[tuple], ids: pd.Series, areas_km2: pd.Series, band_m: float
) -> tuple[list[dict], list[dict], list[dict], list[tuple]]:
    """(statistics rows, hypsometry rows, flowline rows with their window CRS, (terminus, CRS) pairs) of the
    glaciers' records; a glacier with too little DEM is logged. ``areas_km2``: glacier areas (km²)."""
    rows, hyps, lines, terms = [], [], [], []
    for i, (stats, line, bands, term, crs) in enumerate(records):
        terms.append((term, crs))
        if stats["zmin_m"] is None:
            log.warning(
                "glacier %s: only %.0f %% of it has valid DEM; elevation statistics left null",
                ids[i],
                100 * stats["dem_cov"],
            )
        if line is not None:
            lines.append({"glac_id": ids[i], "lmax_m": line.length, "geometry": line, "crs": crs})
        rows.append(stats)
        for b, share in bands:
            hyps.append({"glac_id": ids[i], "band_min_m": b, "band_max_m": b + band_m, "share_permille": int(share),
                         "area_km2": float(areas_km2.iloc[i]) * share / 1000.0})  # fmt: skip
    return rows, hyps, lines, terms


def _set_dem_columns(gdf: gpd.GeoDataFrame, rows: list[dict], terms: list[tuple], dem_source) -> None:
    """Terminus longitude/latitude (°), DEM statistics and ``dem_source`` of each glacier (in place)."""
    gdf["termlon"], gdf["termlat"] = _points_lonlat(terms)
    stats_df = pd.DataFrame(rows)
    for col in stats_df.columns:
        gdf[col] = stats_df[col].to_numpy()
    gdf["dem_source"] = dem_source


def _centerlines_frame(lines: list[dict], crs) -> gpd.GeoDataFrame:
    """The centerlines layer (glac_id, lmax_m, geometry) in ``crs`` from the flowline rows."""
    return gpd.GeoDataFrame(
        lines or {"glac_id": [], "lmax_m": []},
        geometry=[r["geometry"] for r in lines] if lines else [],
        crs=crs,
    )


def glacier_dem_attributes(
    win: GlacierWindow,
    *,
    band_m: float = _ATTRIBUTES["hypsometry_band_m"],
    min_dem_coverage: float = _ATTRIBUTES["min_dem_coverage"],
) -> tuple[dict, LineString | None, list[tuple[float, int]]]:
    """The DEM attributes of one glacier from its window (pure).

    Returns
    -------
    stats, flowline, hypsometry
        ``stats``: ``dem_cov``, ``zmin_m, zmax_m, zmed_m, zmean_m, slope_deg, aspect_deg`` (None below
        ``min_dem_coverage``), ``aspect_sec`` and ``lmax_m``; the longest flowline (None without elevation
        statistics); hypsometry as (band lower bound in m, share in thousandths) pairs.
    """
    stats = _stats(win, min_dem_coverage)
    stats["aspect_sec"] = aspect_sector(stats.get("aspect_deg"))
    line = longest_flowline(win) if stats["zmin_m"] is not None else None
    stats["lmax_m"] = float(line.length) if line is not None else None
    bands: list[tuple[float, int]] = []
    if stats["zmin_m"] is not None:
        lo, share = hypsometry_permille(np.where(win.mask, win.dem_m, np.nan), band_m)
        bands = list(zip(lo, share, strict=True))
    return stats, line, bands


def _prepare(glaciers: gpd.GeoDataFrame, id_column: str | None, allow_overlaps: bool):
    """Repaired copy with an id column, overlaps checked, input columns that ours replace renamed."""
    id_column = guess_id_column(glaciers.columns, id_column) or "glac_id"
    gdf, _ = repair_polygons(glaciers.copy().reset_index(drop=True), id_column)
    if id_column not in gdf.columns:
        gdf[id_column] = [f"G{i + 1:05d}" for i in range(len(gdf))]
    _check_overlaps(gdf, id_column, allow_overlaps)
    gdf, inputs = _keep_input_columns(gdf, id_column)
    return gdf, id_column, inputs


def _geometry_attributes(gdf: gpd.GeoDataFrame, debris: gpd.GeoDataFrame | None) -> None:
    """Area, centre point, UTM zone and debris cover of each glacier (in place)."""
    gdf["area_km2"] = area_km2(gdf)
    reps = gdf.geometry.representative_point().to_crs(4326)
    gdf["cenlon"], gdf["cenlat"] = reps.x.to_numpy(), reps.y.to_numpy()
    gdf["utm_zone"] = np.minimum(((gdf["cenlon"].to_numpy() + 180.0) // 6.0).astype(int) + 1, 60)
    gdf["debris_km2"] = covered_area_km2(gdf, debris)
    gdf["debris_frac"] = np.where(gdf["area_km2"] > 0, gdf["debris_km2"] / gdf["area_km2"], 0.0)


def _finish_columns(gdf, inputs, id_column: str, ids, img_source, src_date) -> gpd.GeoDataFrame:
    """Attributes we do not compute (the input's value wins), the id, and the column order."""
    # attributes we do not compute (or that describe the outline, not our DEM): the input's value wins
    for col, ours in (("img_source", img_source), ("src_date", src_date), ("term_type", 9), ("surge_type", 9),
                      ("glac_type", None), ("aar", None), ("provenance", "auto")):  # fmt: skip
        gdf[col] = inputs[col].where(inputs[col].notna(), ours) if col in inputs else ours
    if id_column != "glac_id" and "glac_id" not in gdf.columns:
        gdf["glac_id"] = ids
    ordered = [c for c in ATTRIBUTE_COLUMNS if c in gdf.columns]
    others = [c for c in gdf.columns if c not in ordered and c != gdf.geometry.name]
    return _restore_input_columns(gdf[ordered + others + [gdf.geometry.name]], inputs.attrs["stashed"])


HYPSOMETRY_COLUMNS = ["glac_id", "band_min_m", "band_max_m", "share_permille", "area_km2"]


def empty_attributes(glaciers: gpd.GeoDataFrame):
    """(glaciers, hypsometry, centerlines) with every column and zero rows: the inventory of a scene where
    no glacier was found (a legitimate answer, not an error). Input columns of ``glaciers`` are kept."""
    gdf = glaciers.copy().reset_index(drop=True)
    for col in ATTRIBUTE_COLUMNS:
        if col not in gdf.columns:
            gdf[col] = pd.Series(dtype="float64" if col not in _TEXT_COLUMNS else "object")
    others = [c for c in gdf.columns if c not in ATTRIBUTE_COLUMNS and c != gdf.geometry.name]
    gdf = gdf[ATTRIBUTE_COLUMNS + others + [gdf.geometry.name]]
    hyps = pd.DataFrame(
        {c: pd.Series(dtype="object" if c == "glac_id" else "float64") for c in HYPSOMETRY_COLUMNS}
    )
    lines = gpd.GeoDataFrame({"glac_id": pd.Series(dtype="object"), "lmax_m": pd.Series(dtype="float64")},
                             geometry=gpd.GeoSeries([], crs=glaciers.crs), crs=glaciers.crs)  # fmt: skip
    return gdf, hyps, lines


_TEXT_COLUMNS = {"glac_id", "dem_source", "img_source", "glac_type", "provenance", "src_date"}


def terminus_point(win: GlacierWindow):
    """The lowest point of the glacier's outline on the DEM (RGI 7 ``termlon/termlat``), in ``win.grid.crs``.

    The outline is sampled every DEM cell (nearest cell value); None when no outline point has a valid DEM.
    """
    from shapely.geometry import Point

    ring = shapely.segmentize(win.geometry.boundary, win.res_m)
    xy = shapely.get_coordinates(ring)
    if len(xy) == 0:
        return None
    cols, rows = ~win.grid.transform @ (xy[:, 0], xy[:, 1])
    r = np.clip(np.floor(rows).astype(int), 0, win.grid.height - 1)
    c = np.clip(np.floor(cols).astype(int), 0, win.grid.width - 1)
    z = win.dem_m[r, c]
    if not np.isfinite(z).any():
        return None
    k = int(np.nanargmin(z))
    return Point(xy[k])


def _points_lonlat(points: list) -> tuple[np.ndarray, np.ndarray]:
    """(lon, lat) of (point or None, crs) pairs, transformed in batches per CRS; NaN for None."""
    lon, lat = np.full(len(points), np.nan), np.full(len(points), np.nan)
    by_crs: dict = {}
    for k, (p, crs) in enumerate(points):
        if p is not None:
            by_crs.setdefault(crs, []).append(k)
    for crs, idx in by_crs.items():
        moved = gpd.GeoSeries([points[k][0] for k in idx], crs=crs).to_crs(4326)
        lon[idx], lat[idx] = moved.x.to_numpy(), moved.y.to_numpy()
    return lon, lat


def _lines_to_crs(lines: list[dict], crs) -> None:
    """Transform the flowlines (each in its window's metric CRS, key ``crs``) to ``crs`` in batches."""
    by_crs: dict = {}
    for k, r in enumerate(lines):
        by_crs.setdefault(r.pop("crs"), []).append(k)
    for src, idx in by_crs.items():
        moved = gpd.GeoSeries([lines[k]["geometry"] for k in idx], crs=src).to_crs(crs)
        for k, g in zip(idx, moved, strict=True):
            lines[k]["geometry"] = g


#: Attributes computed here from the geometry and the DEM. Where an input column already holds one of these
#: names, the input's column keeps its name and values and ours is written as ``calc_<name>``
#: (e.g. RGI 7's published ``zmin_m`` beside our ``calc_zmin_m``), never replaced silently.
COMPUTED_COLUMNS = ("cenlon", "cenlat", "utm_zone", "termlon", "termlat", "area_km2", "debris_km2", "debris_frac", "zmin_m", "zmax_m", "zmed_m",
                    "zmean_m", "slope_deg", "aspect_deg", "aspect_sec", "lmax_m", "dem_cov", "dem_source")  # fmt: skip
#: Attributes that describe the outline or need information we do not have: the input's value is kept.
KEPT_COLUMNS = ("img_source", "src_date", "term_type", "surge_type", "glac_type", "aar", "provenance")
#: Prefix of our value of an attribute whose name the input already uses (``calc_area_km2``).
CALC_PREFIX = "calc_"
#: An input ``area_km2`` further than this (relative) from the outline's geodesic area is warned about. Area
#: methods differ by far less (ellipsoidal vs equal-area projection ≲ 0.2 %: RGI 5 Ötztal ``Area`` vs ours
#: agree within 2e-3); 1 % means the column does not describe this polygon (another outline or version).
AREA_MISMATCH_REL = 0.01
#: … or further than this in absolute terms (km²): half the last digit of RGI's published areas (0.001 km²).
AREA_MISMATCH_ABS_KM2 = 0.0005
_STASH = "__glacierinv_input__"  # temporary prefix of a clashing input column while ours are computed


def computed_column(gdf: pd.DataFrame, name: str) -> str:
    """The column of ``gdf`` holding *our* value of attribute ``name``: ``calc_<name>`` when the input
    inventory brought its own ``name`` (kept unchanged), else ``name``."""
    calc = CALC_PREFIX + name
    return calc if calc in gdf.columns else name


def _keep_input_columns(gdf: gpd.GeoDataFrame, id_column: str) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Put aside input columns whose names (case-insensitively: a GeoPackage's names are) our attributes
    take, so ours can be computed under the standard names; :func:`_restore_input_columns` gives them their
    names back at the end and moves ours to ``calc_<name>``. Returns the frame and the input's values of
    :data:`KEPT_COLUMNS` (case-insensitive match); ``.attrs["stashed"]`` maps stash name → input name."""
    ours = {c.lower(): c for c in ATTRIBUTE_COLUMNS}
    kept = {}
    stash = {}
    for c in gdf.columns:
        if c == id_column or c == gdf.geometry.name or c.lower() not in ours:
            continue
        name = ours[c.lower()]
        if name in KEPT_COLUMNS:
            kept[name] = gdf[c]
            if c != name:
                stash[c] = _STASH + c
        elif name in COMPUTED_COLUMNS or c != name:
            stash[c] = _STASH + c
    if stash:
        log.info("input column(s) kept unchanged; ours written beside them as %s",
                 ", ".join(f"{CALC_PREFIX}{ours[c.lower()]}" for c in stash))  # fmt: skip
    kept_df = pd.DataFrame(kept, index=gdf.index)
    kept_df.attrs["stashed"] = {tmp: c for c, tmp in stash.items()}
    return gdf.rename(columns=stash), kept_df


def _restore_input_columns(gdf: gpd.GeoDataFrame, stashed: dict[str, str]) -> gpd.GeoDataFrame:
    """The input's columns back under their own names; ours whose names they take as ``calc_<name>``."""
    if not stashed:
        return gdf
    lower = {orig.lower() for orig in stashed.values()}
    rename = {c: CALC_PREFIX + c for c in gdf.columns if c.lower() in lower and c not in stashed}
    taken = set(gdf.columns) - set(rename) - set(stashed)
    for c, new in list(rename.items()):
        while new in taken or new.lower() in lower:
            new += "_"
        rename[c] = new
        taken.add(new)
    return gdf.rename(columns=rename | stashed)


def _warn_area_mismatch(gdf: gpd.GeoDataFrame, stashed: dict[str, str], ids: pd.Series) -> None:
    """Warn (naming the glaciers) where an input ``area_km2`` is not the area of its outline."""
    col = next((tmp for tmp, orig in stashed.items() if orig.lower() == "area_km2"), None)
    if col is None:
        return
    theirs = pd.to_numeric(gdf[col], errors="coerce").to_numpy(dtype="float64")
    ours = gdf["area_km2"].to_numpy(dtype="float64")
    bad = np.isfinite(theirs) & (
        np.abs(theirs - ours) > np.maximum(AREA_MISMATCH_REL * ours, AREA_MISMATCH_ABS_KM2)
    )
    if not bad.any():
        return
    idx = np.flatnonzero(bad)
    listed = "; ".join(f"{ids.iloc[i]}: {theirs[i]:.4f} vs {ours[i]:.4f}" for i in idx[:10])
    more = f" and {len(idx) - 10} more" if len(idx) > 10 else ""
    log.warning(
        "the input's %s differs from the geodesic area of the outline by more than %g %% for %d glacier(s) "
        "(input vs outline, km²): %s%s. Kept unchanged; ours is %s%s",
        stashed[col], 100 * AREA_MISMATCH_REL, len(idx), listed, more, CALC_PREFIX, "area_km2",
    )  # fmt: skip


def _check_overlaps(gdf: gpd.GeoDataFrame, id_column: str, allow: bool) -> None:
    """Refuse (or, with ``allow``, warn about) outlines that overlap: they would be counted twice."""
    pairs = find_overlaps(gdf, id_column)
    if pairs.empty:
        return
    listed = "; ".join(f"{a} & {b} ({100 * s:.0f} %)" for a, b, s in
                       pairs[["id_a", "id_b", "share"]].head(10).itertuples(index=False))  # fmt: skip
    more = f" and {len(pairs) - 10} more" if len(pairs) > 10 else ""
    msg = f"{len(pairs)} pair(s) of glacier outlines overlap (duplicates are counted twice): {listed}{more}"
    if not allow:
        raise InputError(msg, None, "Remove the duplicates, or pass --allow-overlaps to compute them anyway")
    log.warning("%s; computed anyway (--allow-overlaps): totals count the overlaps twice", msg)
