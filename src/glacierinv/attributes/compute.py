"""RGI 7-style glacier attributes, hypsometry and longest flowlines for any outline file.

Definitions follow RGI 7 (DESIGN.md), computed on each glacier's DEM window on a metric grid:

- ``area_km2``: geodesic area on the WGS84 ellipsoid; ``cenlon/cenlat``: ``representative_point()``;
- ``zmin_m, zmax_m, zmed_m, zmean_m``: NaN-aware statistics of the DEM cells whose centre is inside the
  glacier; null (and ``dem_cov`` < ``min_dem_coverage``) when too little of the glacier has valid DEM;
- ``slope_deg``: mean of per-cell Horn slopes; ``aspect_deg``: direction of the *mean downslope gradient
  vector*, clockwise from north; ``aspect_sec``: 1 = N [−22.5°, 22.5°), 2 = NE, … 8 = NW, 9 = not assigned;
- hypsometry: area share per ``band_m`` band (RGI: 50 m) as integer thousandths summing to 1000
  (largest-remainder rounding);
- ``lmax_m``: length of the least-cost path *inside the glacier* (scikit-image ``MCP_Geometric``,
  8-connected, diagonal steps √2·res) from the highest to the lowest glacier cell, with a cost that rises
  towards the margin so that the path runs along the middle of the glacier like a centerline. It is not
  the Kienholz et al. (2014) centerline that RGI/OGGM use; on the Ötztal/RGI 7 test glaciers it is within
  a median 3-4 % of RGI's Lmax (the margin weight was chosen on those same glaciers).
- ``debris_km2``/``debris_frac``: area of the debris polygons inside the glacier and its share.
"""

from __future__ import annotations

import logging
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import LineString

from glacierinv.dem.terrain import gradient_horn, slope_deg
from glacierinv.dem.windows import DemWindows, GlacierWindow, check_dem_covers
from glacierinv.errors import InputError
from glacierinv.geometry import area_km2

__all__ = [
    "ATTRIBUTE_COLUMNS",
    "aspect_sector",
    "compute_attributes",
    "hypsometry_permille",
    "longest_flowline",
]

log = logging.getLogger(__name__)

ATTRIBUTE_COLUMNS = [
    "glac_id", "cenlon", "cenlat", "area_km2", "debris_km2", "debris_frac", "zmin_m", "zmax_m", "zmed_m",
    "zmean_m", "slope_deg", "aspect_deg", "aspect_sec", "lmax_m", "dem_cov", "dem_source", "img_source",
    "term_type", "surge_type", "glac_type", "aar", "provenance", "src_date",
]  # fmt: skip


def aspect_sector(aspect_deg: float | None) -> int:
    """8-sector code: 1 = N [−22.5, 22.5), 2 = NE, … 8 = NW; 9 = not assigned (None/NaN)."""
    if aspect_deg is None or not np.isfinite(aspect_deg):
        return 9
    return int(((aspect_deg + 22.5) % 360) // 45) + 1


def hypsometry_permille(z_m: np.ndarray, band_m: float = 50.0) -> tuple[np.ndarray, np.ndarray]:
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


def longest_flowline(
    win: GlacierWindow, margin_weight: float = 5.0, margin_power: float = 2.0
) -> LineString | None:
    """Least-cost in-glacier path from the highest to the lowest glacier cell (see module docstring).

    The cost of crossing a cell is ``1 + margin_weight · (1 − d/d_max)^margin_power`` per metre, ``d`` being
    the cell's distance to the glacier margin (``d_max`` its maximum): the path is pushed towards the middle
    of the glacier, as a centerline (Kienholz et al. 2014 also weight distance to the margin), instead of
    hugging the inside of bends. ``margin_weight = 0`` gives the plain shortest in-glacier path.
    """
    from scipy import ndimage
    from skimage.graph import MCP_Geometric

    z = np.where(win.mask, win.dem_m, np.nan)
    if np.isfinite(z).sum() < 2:
        return None
    top = np.unravel_index(np.nanargmax(z), z.shape)
    low = np.unravel_index(np.nanargmin(z), z.shape)
    d = ndimage.distance_transform_edt(win.mask)
    inner = 1.0 + margin_weight * (1.0 - d / d.max()) ** margin_power
    costs = np.where(win.mask, inner, -1.0)  # negative = impassable
    mcp = MCP_Geometric(costs, sampling=(win.res_m, win.res_m), fully_connected=True)
    mcp.find_costs([top], [low])
    path = np.array(mcp.traceback(low))
    if len(path) < 2:
        return None
    xs, ys = win.grid.xy(path[:, 0], path[:, 1])
    return LineString(np.column_stack([xs, ys]))


def _stats(win: GlacierWindow, min_cov: float) -> dict:
    cells = win.mask
    z = win.dem_m[cells]
    valid = np.isfinite(z)
    cov = float(valid.mean()) if valid.size else 0.0
    out: dict = {"dem_cov": round(cov, 4)}
    if cov < min_cov:
        return out | dict.fromkeys(("zmin_m", "zmax_m", "zmed_m", "zmean_m", "slope_deg", "aspect_deg"), None)
    zv = z[valid]
    gx, gy = gradient_horn(win.dem_m, win.res_m)
    slope = slope_deg(win.dem_m, win.res_m)[cells]
    gxs, gys = gx[cells], gy[cells]
    ok = np.isfinite(gxs) & np.isfinite(gys)
    # mean downslope vector (−∇z), azimuth clockwise from north
    mean_e, mean_n = -np.mean(gxs[ok]) if ok.any() else np.nan, -np.mean(gys[ok]) if ok.any() else np.nan
    aspect = (
        float(np.degrees(np.arctan2(mean_e, mean_n)) % 360.0)
        if ok.any() and np.hypot(mean_e, mean_n) > 0
        else None
    )
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
    debris: gpd.GeoDataFrame | None = None,
    id_column: str = "glac_id",
    dem_source: str | None = None,
    img_source: str | None = None,
    src_date: str | None = None,
    band_m: float = 50.0,
    min_dem_coverage: float = 0.2,
    return_centerlines: bool = False,
):
    """Attribute table, hypsometry (and optionally longest flowlines) for glacier polygons.

    Parameters
    ----------
    glaciers
        Glacier polygons in any CRS; input columns are kept. Without ``id_column``, ids ``G00001``… are made.
    dem_path
        DEM in metres, any CRS (geographic DEMs are warped to a local UTM grid per glacier).
    debris
        Optional debris polygons (same or any CRS) for ``debris_km2`` and ``debris_frac``.
    band_m
        Hypsometry band height in metres (RGI: 50).
    min_dem_coverage
        Minimum share of a glacier's cells with valid DEM for elevation/slope/aspect statistics.

    Returns
    -------
    glaciers, hypsometry[, centerlines]
        ``glaciers`` with :data:`ATTRIBUTE_COLUMNS`; ``hypsometry`` tidy (glac_id, band_min_m, band_max_m,
        share_permille, area_km2); ``centerlines`` (glac_id, lmax_m, geometry) in the glaciers' CRS.
    """
    if glaciers.crs is None:
        raise InputError("glacier outlines have no CRS", None, "Assign one before computing attributes")
    if len(glaciers) == 0:
        raise InputError("no glacier polygon to attribute")
    gdf = _repair(glaciers.copy().reset_index(drop=True))
    # input columns that differ from ours only by case (RGI 6 "CenLat" vs "cenlat") would clash in a
    # GeoPackage, whose column names are case-insensitive: keep them as src_<name>
    ours = {c.lower() for c in ATTRIBUTE_COLUMNS}
    clash = {
        c: f"src_{c}"
        for c in gdf.columns
        if c.lower() in ours and c not in ATTRIBUTE_COLUMNS and c != id_column
    }
    gdf = gdf.rename(columns=clash)
    if id_column not in gdf.columns:
        gdf[id_column] = [f"G{i + 1:05d}" for i in range(len(gdf))]
    ids = gdf[id_column].astype(str)
    check_dem_covers(gdf, dem_path)
    gdf["area_km2"] = area_km2(gdf)
    reps = gdf.geometry.representative_point().to_crs(4326)
    gdf["cenlon"], gdf["cenlat"] = reps.x.to_numpy(), reps.y.to_numpy()
    gdf["debris_km2"] = _debris_per_glacier(gdf, debris)
    gdf["debris_frac"] = np.where(gdf["area_km2"] > 0, gdf["debris_km2"] / gdf["area_km2"], 0.0)
    rows, hyps, lines = [], [], []
    with DemWindows(dem_path) as dems:
        metric = dems.metric_geometries(gdf.geometry)
        wins = (dems.window(g, c) for g, c in metric)
        for i, win in enumerate(wins):
            stats = _stats(win, min_dem_coverage)
            if stats["zmin_m"] is None:
                log.warning(
                    "glacier %s: only %.0f %% of it has valid DEM; elevation statistics left null",
                    ids[i],
                    100 * stats["dem_cov"],
                )
            stats["aspect_sec"] = aspect_sector(stats.get("aspect_deg"))
            line = longest_flowline(win) if stats["zmin_m"] is not None else None
            stats["lmax_m"] = float(line.length) if line is not None else None
            if line is not None:
                lines.append(
                    {
                        "glac_id": ids[i],
                        "lmax_m": line.length,
                        "geometry": line,
                        "crs": win.grid.crs,
                    }
                )
            rows.append(stats)
            if stats["zmin_m"] is not None:
                lo, share = hypsometry_permille(np.where(win.mask, win.dem_m, np.nan), band_m)
                for b, s in zip(lo, share, strict=True):
                    hyps.append({"glac_id": ids[i], "band_min_m": b, "band_max_m": b + band_m, "share_permille": int(s),
                                 "area_km2": float(gdf["area_km2"].iloc[i]) * s / 1000.0})  # fmt: skip
    _lines_to_crs(lines, gdf.crs)
    stats_df = pd.DataFrame(rows)
    for col in stats_df.columns:
        gdf[col] = stats_df[col].to_numpy()
    gdf["dem_source"] = dem_source
    gdf["img_source"] = img_source
    gdf["src_date"] = src_date
    gdf["term_type"] = 9
    gdf["surge_type"] = 9
    for col, default in (("glac_type", None), ("aar", None), ("provenance", "auto")):
        if col not in gdf.columns:
            gdf[col] = default
    if id_column != "glac_id" and "glac_id" not in gdf.columns:
        gdf["glac_id"] = ids
    ordered = [c for c in ATTRIBUTE_COLUMNS if c in gdf.columns]
    others = [c for c in gdf.columns if c not in ordered and c != gdf.geometry.name]
    gdf = gdf[ordered + others + [gdf.geometry.name]]
    hypsometry = pd.DataFrame(
        hyps, columns=["glac_id", "band_min_m", "band_max_m", "share_permille", "area_km2"]
    )
    if not return_centerlines:
        return gdf, hypsometry
    centerlines = gpd.GeoDataFrame(
        lines or {"glac_id": [], "lmax_m": []},
        geometry=[r["geometry"] for r in lines] if lines else [],
        crs=gdf.crs,
    )
    return gdf, hypsometry, centerlines


def _lines_to_crs(lines: list[dict], crs) -> None:
    """Transform the flowlines (each in its window's metric CRS, key ``crs``) to ``crs`` in batches."""
    by_crs: dict = {}
    for k, r in enumerate(lines):
        by_crs.setdefault(r.pop("crs"), []).append(k)
    for src, idx in by_crs.items():
        moved = gpd.GeoSeries([lines[k]["geometry"] for k in idx], crs=src).to_crs(crs)
        for k, g in zip(idx, moved, strict=True):
            lines[k]["geometry"] = g


def _repair(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Repair invalid polygons (self-intersections) with ``make_valid``, keeping the polygonal part; warn."""
    bad = ~gdf.geometry.is_valid.to_numpy()
    if not bad.any():
        return gdf
    fixed = []
    for geom in gdf.geometry[bad]:
        valid = shapely.make_valid(geom)
        polys = [g for g in getattr(valid, "geoms", [valid]) if g.geom_type in ("Polygon", "MultiPolygon")]
        fixed.append(shapely.union_all(polys) if polys else valid)
    gdf.loc[bad, gdf.geometry.name] = fixed
    log.warning("repaired %d invalid glacier polygon(s) (self-intersections) with make_valid", int(bad.sum()))
    return gdf


def _debris_per_glacier(gdf: gpd.GeoDataFrame, debris: gpd.GeoDataFrame | None) -> np.ndarray:
    out = np.zeros(len(gdf))
    if debris is None or len(debris) == 0:
        return out
    deb = debris.to_crs(gdf.crs) if debris.crs != gdf.crs else debris
    union = shapely.union_all(deb.geometry.to_numpy())
    parts = [shapely.intersection(g, union) for g in gdf.geometry]
    return area_km2(gpd.GeoSeries(parts, crs=gdf.crs))
