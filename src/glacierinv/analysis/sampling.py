"""One pass over the DEM, glacier by glacier: elevation and slope histograms of glacier and debris area.

Each glacier's DEM window is cut on a metric grid (:class:`glacierinv.dem.windows.DemWindows`: the
DEM's own grid when projected, the glacier's UTM zone when geographic), slope comes from
:func:`glacierinv.dem.terrain.slope_deg` (Horn 1981), and every glacier cell carries an equal share of the
glacier's ellipsoidal area (``area_km2 / number of cells inside the outline``), so that histogram totals are
in km² and add up to the inventory area times the DEM coverage. Debris cells are the glacier cells whose
centre lies in a debris polygon. Only per-glacier histograms are kept (elevation in ``z_step_m`` bins, slope
in 1° bins), so memory grows with the number of glaciers, not with their cells; the aggregations
(hypsometry in any multiple of ``z_step_m``, slope in whole degrees, area below any elevation) are exact
up to the linear interpolation inside one ``z_step_m`` bin.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio.features

from glacierinv.dem.terrain import gradient_horn, slope_deg
from glacierinv.dem.windows import DemWindows, complex_groups, map_glacier_windows

__all__ = ["SLOPE_BINS", "TerrainHistograms", "sample_terrain"]

log = logging.getLogger(__name__)

SLOPE_BINS = 90  # 1° bins 0-90°


@dataclass
class TerrainHistograms:
    """Per-glacier area histograms (km²) of elevation and slope, for glacier and debris cells.

    ``table`` has one row per glacier (``glac_id, area_km2, n_cells, dem_cov, aspect_deg``: RGI aspect,
    the circular mean of the per-cell downslope azimuths, clockwise from north); ``z_lo[i]`` is the index
    of the first elevation bin (bin k covers ``[k·z_step_m, (k+1)·z_step_m)``) of ``z_glacier[i]`` and
    ``z_debris[i]``; ``slope_glacier`` / ``slope_debris`` are (n_glaciers, 90) arrays of 1° bins.
    """

    z_step_m: float
    table: pd.DataFrame
    z_lo: np.ndarray
    z_glacier: list[np.ndarray]
    z_debris: list[np.ndarray]
    slope_glacier: np.ndarray
    slope_debris: np.ndarray

    def _select(self, select) -> np.ndarray:
        if select is None:
            return np.arange(len(self.table))
        sel = np.asarray(select)
        return np.flatnonzero(sel) if sel.dtype == bool else sel

    def z_dense(self, select=None) -> tuple[float, np.ndarray, np.ndarray]:
        """(lowest bin edge in m, glacier km² per bin, debris km² per bin) summed over ``select``."""
        idx = [i for i in self._select(select) if len(self.z_glacier[i])]
        if not idx:
            return 0.0, np.zeros(0), np.zeros(0)
        lo = min(int(self.z_lo[i]) for i in idx)
        hi = max(int(self.z_lo[i]) + len(self.z_glacier[i]) for i in idx)
        g, d = np.zeros(hi - lo), np.zeros(hi - lo)
        for i in idx:
            s = int(self.z_lo[i]) - lo
            g[s : s + len(self.z_glacier[i])] += self.z_glacier[i]
            d[s : s + len(self.z_debris[i])] += self.z_debris[i]
        return lo * self.z_step_m, g, d

    def hypsometry(self, band_m: float = 200.0, select=None) -> pd.DataFrame:
        """Glacier and debris area per elevation band (bands aligned on multiples of ``band_m``)."""
        k = band_m / self.z_step_m
        if not (band_m > 0 and abs(k - round(k)) < 1e-9):
            raise ValueError(f"band_m ({band_m}) must be a positive multiple of z_step_m ({self.z_step_m})")
        k = int(round(k))
        z0, g, d = self.z_dense(select)
        cols = ["band_min_m", "band_max_m", "glacier_km2", "debris_km2", "glacier_pct", "debris_pct"]
        if len(g) == 0:
            return pd.DataFrame(columns=cols)
        first = int(np.floor(z0 / band_m))
        shift = int(round(z0 / self.z_step_m)) - first * k
        n_band = int(np.ceil((shift + len(g)) / k))
        gb, db = np.zeros(n_band * k), np.zeros(n_band * k)
        gb[shift : shift + len(g)], db[shift : shift + len(d)] = g, d
        gb, db = gb.reshape(n_band, k).sum(1), db.reshape(n_band, k).sum(1)
        lo = (first + np.arange(n_band)) * band_m
        return pd.DataFrame({
            "band_min_m": lo, "band_max_m": lo + band_m, "glacier_km2": gb, "debris_km2": db,
            "glacier_pct": 100 * gb / gb.sum() if gb.sum() else 0.0,
            "debris_pct": 100 * db / db.sum() if db.sum() else 0.0,
        })[cols]  # fmt: skip

    def area_below(self, thresholds_m, select=None, per_glacier: bool = False):
        """Glacier and debris area (km²) below each elevation (linear inside a ``z_step_m`` bin).

        Returns ``(glacier_km2, debris_km2)`` arrays of len(thresholds) — or, with ``per_glacier``, the
        glacier area below ``thresholds_m[i]`` for glacier ``i`` of ``select`` (one threshold per glacier).
        """
        t = np.atleast_1d(np.asarray(thresholds_m, dtype="float64"))
        if per_glacier:
            out = np.full(len(t), np.nan)
            for j, i in enumerate(self._select(select)):
                h = self.z_glacier[i]
                if len(h) and np.isfinite(t[j]):
                    edges = (self.z_lo[i] + np.arange(len(h) + 1)) * self.z_step_m
                    out[j] = np.interp(t[j], edges, np.concatenate([[0.0], np.cumsum(h)]))
            return out
        z0, g, d = self.z_dense(select)
        edges = z0 + self.z_step_m * np.arange(len(g) + 1)
        if len(g) == 0:
            return np.zeros(len(t)), np.zeros(len(t))
        cg, cd = np.concatenate([[0.0], np.cumsum(g)]), np.concatenate([[0.0], np.cumsum(d)])
        return np.interp(t, edges, cg), np.interp(t, edges, cd)

    def slope_distribution(self, bin_deg: int = 5, select=None) -> pd.DataFrame:
        """Glacier and debris area per slope bin of ``bin_deg`` whole degrees."""
        if not (isinstance(bin_deg, (int, np.integer)) and bin_deg > 0 and SLOPE_BINS % bin_deg == 0):
            raise ValueError(f"bin_deg must be a whole divisor of 90, got {bin_deg}")
        idx = self._select(select)
        g = self.slope_glacier[idx].sum(0).reshape(-1, bin_deg).sum(1)
        d = self.slope_debris[idx].sum(0).reshape(-1, bin_deg).sum(1)
        lo = np.arange(0, SLOPE_BINS, bin_deg)
        return pd.DataFrame({
            "slope_min_deg": lo, "slope_max_deg": lo + bin_deg, "glacier_km2": g, "debris_km2": d,
            "glacier_pct": 100 * g / g.sum() if g.sum() else 0.0,
            "debris_pct": 100 * d / d.sum() if d.sum() else 0.0,
        })  # fmt: skip

    def slope_shares_below(self, thresholds_deg=(10, 15, 20, 25, 30), select=None) -> pd.DataFrame:
        """Share (%) of glacier and debris area on slopes below each threshold (whole degrees)."""
        idx = self._select(select)
        g, d = self.slope_glacier[idx].sum(0), self.slope_debris[idx].sum(0)
        rows = []
        for t in thresholds_deg:
            k = int(t)
            rows.append({
                "below_deg": k,
                "glacier_km2": g[:k].sum(), "debris_km2": d[:k].sum(),
                "glacier_pct": 100 * g[:k].sum() / g.sum() if g.sum() else np.nan,
                "debris_pct": 100 * d[:k].sum() / d.sum() if d.sum() else np.nan,
            })  # fmt: skip
        return pd.DataFrame(rows)


class _DebrisIndex:
    """Debris polygons with a spatial index; returns those meeting a glacier, in the glacier's CRS."""

    def __init__(self, debris: gpd.GeoDataFrame | None, crs):
        self.debris = None if debris is None or len(debris) == 0 else debris.to_crs(crs)
        self.sindex = None if self.debris is None else self.debris.sindex

    def near_source(self, geom) -> tuple[list, object]:
        """(the debris polygons meeting ``geom``, in the glaciers' CRS; that CRS)."""
        if self.debris is None:
            return [], None
        hits = self.sindex.query(geom, predicate="intersects")
        return list(self.debris.geometry.iloc[hits]), self.debris.crs


def _z_bins(z: np.ndarray, w: np.ndarray, step: float) -> tuple[int, np.ndarray]:
    if z.size == 0:
        return 0, np.zeros(0)
    b = np.floor(z / step).astype(np.int64)
    lo = int(b.min())
    return lo, np.bincount(b - lo, weights=w)


def _glacier_histograms(dw: DemWindows, g, crs, extra, *, z_step_m: float) -> tuple:
    """One glacier's cell count, DEM coverage, elevation/slope histograms (glacier, debris) and mean
    downslope direction (a task of :func:`sample_terrain`); ``extra`` = (area km², debris polygons + CRS)."""
    area, (near, near_crs) = extra
    win = dw.window(g, crs)
    m = win.mask
    valid = m & np.isfinite(win.dem_m)
    n_cells = int(m.sum())
    cov = valid.sum() / max(n_cells, 1)
    w = area / max(n_cells, 1)
    dmask = np.zeros_like(m)
    if near:
        near = list(gpd.GeoSeries(near, crs=near_crs).to_crs(crs))
        dmask = rasterio.features.geometry_mask(near, m.shape, win.grid.transform, invert=True) & valid
    z = win.dem_m[valid]
    lo, hg = _z_bins(z, np.full(z.size, w), z_step_m)
    _, hd = _z_bins(z, np.where(dmask[valid], w, 0.0), z_step_m)
    s = slope_deg(win.dem_m, win.res_m)
    sb = np.clip(np.floor(s[valid]).astype(np.int64), 0, SLOPE_BINS - 1)
    sg = np.bincount(sb, minlength=SLOPE_BINS) * w
    sd = np.bincount(sb, weights=dmask[valid].astype(float), minlength=SLOPE_BINS) * w
    gx, gy = gradient_horn(win.dem_m, win.res_m)
    ok = valid & np.isfinite(gx) & np.isfinite(gy)
    down_e = down_n = np.nan
    if ok.any():  # RGI aspect: circular mean of the per-cell downslope azimuths
        sl = ok & (np.hypot(gx, gy) > 1e-12)
        az = np.arctan2(-gx[sl], -gy[sl])
        if az.size:
            down_e, down_n = float(np.sin(az).mean()), float(np.cos(az).mean())
    return n_cells, cov, lo, hg, hd, sg, sd, down_e, down_n


def sample_terrain(
    glaciers: gpd.GeoDataFrame, dem_path: str | Path, *, debris: gpd.GeoDataFrame | None = None,
    z_step_m: float = 10.0,
) -> TerrainHistograms:  # fmt: skip
    """Elevation and slope histograms (km²) of every glacier and its debris from ``dem_path``.

    Parameters
    ----------
    glaciers
        Glacier polygons with ``glac_id`` and ``area_km2`` (km², ellipsoidal), any CRS.
    dem_path
        DEM in metres, any CRS (geographic DEMs are warped per glacier to UTM, bilinear).
    debris
        Debris polygons (any CRS); a glacier cell is debris when its centre is inside one.
    z_step_m
        Elevation bin of the stored histograms (m); hypsometry bands must be multiples of it.
    """
    if not z_step_m > 0:
        raise ValueError(f"z_step_m must be > 0, got {z_step_m}")
    n = len(glaciers)
    z_lo = np.zeros(n, dtype=np.int64)
    zg: list[np.ndarray] = []
    zd: list[np.ndarray] = []
    sg, sd = np.zeros((n, SLOPE_BINS)), np.zeros((n, SLOPE_BINS))
    n_cells, cov = np.zeros(n, dtype=np.int64), np.zeros(n)
    down_e, down_n = np.full(n, np.nan), np.full(n, np.nan)
    deb = _DebrisIndex(debris, glaciers.crs)
    area = glaciers["area_km2"].to_numpy(dtype="float64")
    # per glacier: its area and the debris polygons meeting it travel with it into the (batched) tasks
    extras = [(float(a), deb.near_source(g)) for a, g in zip(area, glaciers.geometry, strict=True)]
    func = partial(_glacier_histograms, z_step_m=z_step_m)
    records = map_glacier_windows(
        func, glaciers.geometry, dem_path, extras=extras, groups=complex_groups(glaciers)
    )
    for i, rec in enumerate(records):
        n_cells[i], cov[i], z_lo[i], hg, hd, sg[i], sd[i], down_e[i], down_n[i] = rec
        zg.append(hg)
        zd.append(hd)
        if cov[i] < 0.2:
            log.warning("glacier %s: only %.0f %% of its cells have DEM values", glaciers["glac_id"].iloc[i],
                        100 * cov[i])  # fmt: skip
    with np.errstate(invalid="ignore"):
        aspect = np.where(
            np.hypot(down_e, down_n) > 0, np.degrees(np.arctan2(down_e, down_n)) % 360.0, np.nan
        )
    table = pd.DataFrame({"glac_id": glaciers["glac_id"].to_numpy(), "area_km2": area, "n_cells": n_cells,
                          "dem_cov": cov, "aspect_deg": aspect})  # fmt: skip
    return TerrainHistograms(z_step_m, table, z_lo, zg, zd, sg, sd)
