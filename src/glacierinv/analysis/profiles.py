"""Normalised mainline profiles (seed Fig. 12d-f): elevation, slope and area concentration along each glacier.

The mainline is the glacier's longest line of the ``centerlines`` layer, else the longest in-glacier flow
path of :func:`glacierinv.attributes.compute.longest_flowline` computed on the DEM window. It is oriented
from head (higher end) to terminus and cut into ``n_bins`` equal lengths (normalised distance 0-1):

- elevation: DEM (bilinear) at the bin centres (m);
- slope: ``arctan(Δz / Δs)`` over each bin, Δz the drop between the bin's ends along the line (degrees,
  positive downhill);
- area concentration: share (%) of the glacier's cells whose nearest point on the mainline falls in the bin
  (each cell projected onto the line), i.e. where along the glacier its area lies.

Profiles are aggregated per group (glacier type, surging, all) as median and inter-quartile range.
"""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import ndimage
from shapely.geometry import LineString, MultiLineString

from glacierinv.analysis.output import GROUP_COLOURS, AnalysisResult, new_figure
from glacierinv.dem.windows import GlacierWindow

__all__ = ["glacier_profile", "mainline_profiles", "orient_downhill"]

log = logging.getLogger(__name__)

_MAX_CELLS = 200_000  # cells projected onto the line per glacier (a regular subsample beyond)
_RUN = 8  # consecutive segments per bounding box in the nearest-segment search
_BLOCK_POINTS = 256  # points per block in the nearest-segment search


def _sample(win: GlacierWindow, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    cols, rows = ~win.grid.transform @ (np.asarray(xs), np.asarray(ys))
    # map_coordinates samples at pixel centres: subtract the half-pixel offset
    return ndimage.map_coordinates(win.dem_m.astype("float64"), [rows - 0.5, cols - 0.5], order=1,
                                   mode="nearest", cval=np.nan)  # fmt: skip


def orient_downhill(win: GlacierWindow, line: LineString) -> LineString:
    """``line`` running from its higher to its lower end (DEM of ``win``)."""
    (x0, y0), (x1, y1) = line.coords[0], line.coords[-1]
    z0, z1 = _sample(win, [x0, x1], [y0, y1])
    return LineString(line.coords[::-1]) if np.isfinite(z0) and np.isfinite(z1) and z1 > z0 else line


def _point_segment_distance(px, py, ax, ay, bx, by) -> np.ndarray:
    """Distance from points to segments A-B (broadcast), with GEOS's ``Distance::pointToSegment`` arithmetic
    (the same operations in the same order, so distances that tie in GEOS tie here)."""
    dx, dy = bx - ax, by - ay
    len2 = dx * dx + dy * dy
    r = ((px - ax) * dx + (py - ay) * dy) / len2
    inner = np.abs(((ay - py) * dx - (ax - px) * dy) / len2) * np.sqrt(len2)
    to_a = np.sqrt((px - ax) * (px - ax) + (py - ay) * (py - ay))
    to_b = np.sqrt((px - bx) * (px - bx) + (py - by) * (py - by))
    return np.where(r <= 0.0, to_a, np.where(r >= 1.0, to_b, inner))


def _box_gap2(px, py, lo, hi) -> np.ndarray:
    """Squared distance from points (column vectors) to axis-aligned boxes ``lo``-``hi`` (rows)."""
    gx = np.maximum(np.maximum(lo[:, 0] - px, px - hi[:, 0]), 0.0)
    gy = np.maximum(np.maximum(lo[:, 1] - py, py - hi[:, 1]), 0.0)
    return gx * gx + gy * gy


def _nearest_segments(a: np.ndarray, b: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Index of the segment ``a[i]``-``b[i]`` nearest to each point (x, y); the lowest index wins a tie.

    Branch and bound, vectorised: the segments are grouped in runs of ``_RUN`` consecutive segments with
    their bounding boxes, the points in square blocks of ~``_BLOCK_POINTS``. The distance to the nearest
    vertex bounds a point's distance to the line from above, so a run whose box is farther (from the
    block's box, then from the point) cannot hold its nearest segment; only the segments of the remaining
    runs (a few for most points) are compared exactly.
    """
    from scipy.spatial import cKDTree

    n_seg = len(a)
    n_run = -(-n_seg // _RUN)
    pad = n_run * _RUN - n_seg  # the last run is padded with copies of the last segment, then dropped
    ra = np.concatenate([a, np.repeat(a[-1:], pad, 0)]).reshape(n_run, _RUN, 2)
    rb = np.concatenate([b, np.repeat(b[-1:], pad, 0)]).reshape(n_run, _RUN, 2)
    lo, hi = np.minimum(ra.min(1), rb.min(1)), np.maximum(ra.max(1), rb.max(1))
    vertices = np.r_[a, b[-1:]]
    _, vi = cKDTree(vertices).query(np.c_[xs, ys])
    upper = np.hypot(xs - vertices[vi, 0], ys - vertices[vi, 1])  # ≥ the distance to the line
    upper = upper * (1 + 1e-9) + 1e-9  # rounding slack: never drop the run of the nearest segment
    # square blocks of points
    x0, y0 = xs.min(), ys.min()
    extent = max(xs.max() - x0, ys.max() - y0, 1e-9)
    size = max(extent * np.sqrt(_BLOCK_POINTS / xs.size), 1e-9)
    n_side = int(extent // size) + 1
    key = (xs - x0) // size * n_side + (ys - y0) // size
    order = np.argsort(key, kind="stable")
    starts = np.flatnonzero(np.r_[True, key[order][1:] != key[order][:-1]])
    ends = np.r_[starts[1:], xs.size]
    blo = np.c_[np.minimum.reduceat(xs[order], starts), np.minimum.reduceat(ys[order], starts)]
    bhi = np.c_[np.maximum.reduceat(xs[order], starts), np.maximum.reduceat(ys[order], starts)]
    bup = np.maximum.reduceat(upper[order], starts)
    # box-to-box gap of every block and run
    gx = np.maximum(np.maximum(lo[None, :, 0] - bhi[:, None, 0], blo[:, None, 0] - hi[None, :, 0]), 0.0)
    gy = np.maximum(np.maximum(lo[None, :, 1] - bhi[:, None, 1], blo[:, None, 1] - hi[None, :, 1]), 0.0)
    block_runs = gx * gx + gy * gy <= (bup * bup)[:, None]
    out = np.empty(xs.size, dtype=np.int64)
    offsets = np.arange(_RUN)
    for j, (i0, i1) in enumerate(zip(starts, ends, strict=True)):
        pts = order[i0:i1]
        runs = np.flatnonzero(block_runs[j])
        near = _box_gap2(xs[pts, None], ys[pts, None], lo[runs], hi[runs]) <= (upper[pts] ** 2)[:, None]
        pt, r = np.nonzero(near)  # per point, runs in ascending order
        seg = (runs[r][:, None] * _RUN + offsets).ravel()
        pt = np.repeat(pt, _RUN)
        ok = seg < n_seg
        seg, pt = seg[ok], pt[ok]
        d = _point_segment_distance(xs[pts[pt]], ys[pts[pt]], a[seg, 0], a[seg, 1], b[seg, 0], b[seg, 1])
        first = np.flatnonzero(np.r_[True, pt[1:] != pt[:-1]])
        dmin = np.repeat(np.minimum.reduceat(d, first), np.diff(np.r_[first, pt.size]))
        out[pts[pt[first]]] = np.minimum.reduceat(np.where(d == dmin, seg, n_seg), first)
    return out


def locate_on_line(line: LineString, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Normalised distance (0-1) along ``line`` of the point of ``line`` nearest to each (x, y).

    The same as ``shapely.line_locate_point(line, points, normalized=True)`` (the first segment wins a
    tie, as in GEOS), but each point is compared exactly only with the segments that can be its nearest
    (a two-level branch and bound, :func:`_nearest_segments`) instead of every segment, which matters for
    long centerlines and large glaciers (tens of thousands of cells).
    """
    xs, ys = np.asarray(xs, "float64"), np.asarray(ys, "float64")
    c = np.asarray(line.coords, "float64")[:, :2]
    seg = np.diff(c, axis=0)
    seg_len = np.hypot(seg[:, 0], seg[:, 1])
    total = float(seg_len.sum())
    if xs.size == 0:
        return np.zeros(0)
    if total == 0.0:
        return np.zeros(xs.size)
    keep = np.flatnonzero(seg_len > 0)  # a zero-length segment is never nearer than its neighbours
    k = keep[_nearest_segments(c[keep], c[keep + 1], xs, ys)]
    ax, ay = c[k, 0], c[k, 1]
    dx, dy = seg[k, 0], seg[k, 1]
    r = np.clip(((xs - ax) * dx + (ys - ay) * dy) / (seg_len[k] ** 2), 0.0, 1.0)
    cum = np.concatenate([[0.0], np.cumsum(seg_len)])
    return (cum[k] + r * seg_len[k]) / total


def glacier_profile(win: GlacierWindow, line: LineString, n_bins: int = 20) -> pd.DataFrame:
    """Profile of one glacier along ``line`` (in the window's CRS), head to terminus.

    Returns ``n_bins`` rows: ``s_mid`` (normalised distance), ``z_m``, ``slope_deg``, ``area_pct``.
    """
    if n_bins < 2:
        raise ValueError(f"n_bins must be ≥ 2, got {n_bins}")
    line = orient_downhill(win, line)
    length = line.length
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    mids = 0.5 * (edges[:-1] + edges[1:])
    pe = shapely.line_interpolate_point(line, edges, normalized=True)
    pm = shapely.line_interpolate_point(line, mids, normalized=True)
    ze = _sample(win, shapely.get_x(pe), shapely.get_y(pe))
    zm = _sample(win, shapely.get_x(pm), shapely.get_y(pm))
    step = length / n_bins
    slope = np.degrees(np.arctan((ze[:-1] - ze[1:]) / step)) if step > 0 else np.full(n_bins, np.nan)
    rows, cols = np.nonzero(win.mask)
    if rows.size > _MAX_CELLS:
        keep = np.linspace(0, rows.size - 1, _MAX_CELLS).astype(int)
        rows, cols = rows[keep], cols[keep]
    xs, ys = win.grid.transform @ (cols + 0.5, rows + 0.5)
    s = locate_on_line(line, xs, ys)
    counts = np.histogram(s, bins=edges)[0].astype(float)
    share = 100 * counts / counts.sum() if counts.sum() else np.full(n_bins, np.nan)
    return pd.DataFrame({"s_mid": mids, "z_m": zm, "slope_deg": slope, "area_pct": share})


def _longest(geom) -> LineString | None:
    if geom is None or geom.is_empty:
        return None
    if isinstance(geom, MultiLineString):
        merged = shapely.line_merge(geom)
        parts = list(getattr(merged, "geoms", [merged]))
        return max(parts, key=lambda g: g.length)
    return geom if isinstance(geom, LineString) else None


def _profile_in_window(dw, g, crs, extra, *, n_bins: int) -> tuple:
    """(profile table or None, line source, line length in m) of one glacier (a task of
    :func:`mainline_profiles`); ``extra`` = (its centerline or None, that line's CRS)."""
    from glacierinv.attributes.compute import longest_flowline

    line, line_crs = extra
    win = dw.window(g, crs)
    if line is not None:
        line = gpd.GeoSeries([line], crs=line_crs).to_crs(crs).iloc[0]
        src = "centerlines"
    else:
        line, src = longest_flowline(win), "dem_flowpath"
    if line is None or line.length <= 0:
        return None, src, 0.0
    return glacier_profile(win, line, n_bins), src, line.length


def mainline_profiles(
    glaciers: gpd.GeoDataFrame,
    dem_path: str | Path,
    *,
    centerlines: gpd.GeoDataFrame | None = None,
    groups: dict[str, np.ndarray] | None = None,
    select: np.ndarray | None = None,
    n_bins: int = 20,
) -> AnalysisResult:
    """Profiles of the selected glaciers and their per-group median / IQR (seed Fig. 12d-f).

    Parameters
    ----------
    glaciers
        Inventory glaciers (``glac_id``), any CRS.
    dem_path
        DEM in metres.
    centerlines
        Lines with ``glac_id`` (the longest per glacier is the mainline); glaciers without one get the
        DEM flow path.
    groups
        Boolean selections over ``glaciers`` (e.g. from :func:`glacierinv.analysis.types.type_groups`);
        default one group ``all``.
    select
        Glaciers to profile (bool mask); default all glaciers in any group.
    """
    from glacierinv.dem.windows import complex_groups, map_glacier_windows

    n = len(glaciers)
    groups = groups or {"all": np.ones(n, dtype=bool)}
    if select is None:
        select = np.zeros(n, dtype=bool)
        for s in groups.values():
            select |= s
    lines_by_id = _mainlines_by_id(centerlines)
    idx = np.flatnonzero(select)
    sub = glaciers.iloc[idx]
    ids = list(sub["glac_id"].astype(str))
    # per glacier: its centerline (in the centerlines' CRS) or None, computed in tasks over batches of complexes
    extras = [(lines_by_id.get(gid), centerlines.crs if gid in lines_by_id else None) for gid in ids]
    func = partial(_profile_in_window, n_bins=n_bins)
    profiles = map_glacier_windows(func, sub.geometry, dem_path, extras=extras, groups=complex_groups(sub))
    per, source = [], []
    for i, gid, (p, src, length_m) in zip(idx, ids, profiles, strict=True):
        if p is None:
            log.warning("glacier %s: no mainline; skipped", gid)
            continue
        per.append(p.assign(glac_id=gid, row=i, length_m=length_m))
        source.append(src)
    cols = ["glac_id", "row", "length_m", "s_mid", "z_m", "slope_deg", "area_pct"]
    per_glacier = pd.concat(per, ignore_index=True)[cols] if per else pd.DataFrame(columns=cols)
    summary = _group_quartiles(per_glacier, groups)
    notes = [f"{len(per)} profiles: {source.count('centerlines')} from the centerlines layer, "
             f"{source.count('dem_flowpath')} from DEM flow paths"]  # fmt: skip
    return AnalysisResult("profiles", {"": summary, "per_glacier": per_glacier}, _plot(summary), notes)


def _mainlines_by_id(centerlines: gpd.GeoDataFrame | None) -> dict[str, LineString]:
    """``glac_id`` → its mainline: the longest single line over the glacier's centerline features (empty
    without centerlines)."""
    lines_by_id: dict[str, LineString] = {}
    if centerlines is not None and len(centerlines):
        for gid, geom in zip(centerlines["glac_id"].astype(str), centerlines.geometry, strict=True):
            line = _longest(geom)
            if line is not None and (gid not in lines_by_id or line.length > lines_by_id[gid].length):
                lines_by_id[gid] = line
    return lines_by_id


def _group_quartiles(per_glacier: pd.DataFrame, groups: dict[str, np.ndarray]) -> pd.DataFrame:
    """Per group (rows of ``groups``' masks), variable (z_m, slope_deg, area_pct) and normalised distance
    ``s_mid``: the 25th, 50th and 75th percentiles over the group's profiles and the number of glaciers."""
    agg = []
    for name, s in groups.items():
        rows = np.flatnonzero(s)
        part = per_glacier[per_glacier["row"].isin(rows)]
        if part.empty:
            continue
        for var in ("z_m", "slope_deg", "area_pct"):
            q = part.groupby("s_mid")[var].quantile([0.25, 0.5, 0.75]).unstack()
            agg.append(pd.DataFrame({"group": name, "variable": var, "s_mid": q.index, "q25": q[0.25].to_numpy(),
                                     "median": q[0.5].to_numpy(), "q75": q[0.75].to_numpy(),
                                     "n_glaciers": part["glac_id"].nunique()}))  # fmt: skip
    return pd.concat(agg, ignore_index=True) if agg else pd.DataFrame(
        columns=["group", "variable", "s_mid", "q25", "median", "q75", "n_glaciers"])  # fmt: skip


def _plot(summary: pd.DataFrame):
    fig, axes = new_figure(ncols=3, width_in=4.4, height_in=3.8)
    labels = {"z_m": ("(d) elevation", "elevation (m)"), "slope_deg": ("(e) slope", "mainline slope (°)"),
              "area_pct": ("(f) area concentration", "share of glacier area (%)")}  # fmt: skip
    multi = summary["group"].nunique() > 1
    for ax, (var, (title, ylabel)) in zip(axes[0], labels.items(), strict=True):
        for name, t in summary[summary["variable"] == var].groupby("group", sort=False):
            if multi and name == "all":
                continue
            c = GROUP_COLOURS.get(name, "k")
            ls = "--" if name == "surging" else "-"
            ax.plot(t["s_mid"], t["median"], color=c, ls=ls, label=f"{name} (n = {t['n_glaciers'].iloc[0]})")
            ax.fill_between(t["s_mid"], t["q25"], t["q75"], color=c, alpha=0.15, lw=0)
        ax.set_xlabel("normalised distance from head (0-1)")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.set_xlim(0, 1)
    axes[0, 0].legend(frameon=False, fontsize=8)
    return fig
