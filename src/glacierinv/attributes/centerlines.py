"""Glacier centerlines after Kienholz et al. (2014), the method OGGM implements and RGI 7's ``lmax_m`` uses.

On a glacier's DEM window (metric grid):

1. *heads*: local maxima of the elevation along the outline (window of ±``localmax_window_m`` along the
   outline), above the lower third of the glacier's elevations; a head is dropped when a higher head lies
   within ``R = min(q1·area + q2, r_max) + 6 cells`` of it inside the glacier (Kienholz eq. 1);
2. *terminus*: the lowest point of the outline;
3. each head is routed to the terminus on the least-cost path through the glacier (8-connected, diagonal
   steps √2) with the cost ``((d_max − d)/d_max · f1)^a + ((z − z_min)/(z_max − z_min) · f2)^b`` (``d``:
   distance to the margin, ``z``: elevation); margin cells cost 50× the costliest margin cell so a line
   does not cut across a bay of the outline;
4. the pixel staircase of a route is removed (Douglas-Peucker at half a cell, then three rounds of Chaikin
   corner cutting) before its length is measured.

The parameters are Kienholz et al. (2014)'s published ones as OGGM uses them (f1 = 1000, f2 = 3000,
a = 4.25, b = 3.7, q1 = 2·10⁻⁶ m⁻¹, q2 = 500 m, r_max = 1000 m, local-maximum window 500 m, DEM smoothed
with a Gaussian of 125 m inside the glacier); none was fitted to the validation glaciers. ``lmax_m`` is the
length of the longest centerline (RGI 7's definition). RGI 5/6's ``Lmax`` (Machguth & Huss 2014) measures the
line from the glacier's highest point to its lowest: ``centerlines(win, heads="highest")`` gives that line on
the same cost route, for comparisons with RGI 5/6 (docs/attributes.md).
"""

from __future__ import annotations

import numpy as np
import shapely
from scipy import ndimage
from shapely.geometry import LineString

from glacierinv.dem.windows import GlacierWindow

__all__ = ["KIENHOLZ", "centerline_lengths_m", "centerlines", "longest_centerline"]

KIENHOLZ = {
    "f1": 1000.0,
    "f2": 3000.0,
    "a": 4.25,
    "b": 3.7,
    "q1_per_m": 2e-6,
    "q2_m": 500.0,
    "rmax_m": 1000.0,
    "localmax_window_m": 500.0,
    "smooth_sigma_m": 125.0,
}
TIE_TOLERANCE_M = 0.5  # outline points within this of the extreme elevation count as tied


def _smoothed(dem_m: np.ndarray, mask: np.ndarray, sigma_px: float) -> np.ndarray:
    ok = mask & np.isfinite(dem_m)
    if sigma_px <= 0:
        return np.where(ok, dem_m, np.nan)
    w = ndimage.gaussian_filter(ok.astype("float64"), sigma_px, mode="nearest")
    v = ndimage.gaussian_filter(np.where(ok, dem_m, 0.0), sigma_px, mode="nearest")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ok, v / w, np.nan)


def _largest_polygon(geom):
    polys = [g for g in getattr(geom, "geoms", [geom]) if g.geom_type == "Polygon" and not g.is_empty]
    return max(polys, key=lambda p: p.area) if polys else None


def _outline_cells(poly, grid, ok: np.ndarray, res_m: float) -> np.ndarray:
    """(row, col) of the glacier cell nearest to each point of the outline, densified to one cell."""
    ring = shapely.segmentize(poly.exterior, res_m)
    xy = np.asarray(ring.coords)[:-1]
    t = grid.transform  # north-up grid
    cols, rows = (xy[:, 0] - t.c) / t.a, (xy[:, 1] - t.f) / t.e
    r = np.clip(np.floor(rows).astype(int), 0, ok.shape[0] - 1)
    c = np.clip(np.floor(cols).astype(int), 0, ok.shape[1] - 1)
    _, (ri, ci) = ndimage.distance_transform_edt(~ok, return_indices=True)
    rc = np.column_stack([ri[r, c], ci[r, c]])
    keep = np.ones(len(rc), bool)
    keep[1:] = np.any(rc[1:] != rc[:-1], axis=1)  # consecutive duplicates
    return rc[keep]


def _middle_of_extreme(z: np.ndarray, highest: bool, tol_m: float = TIE_TOLERANCE_M) -> int:
    """Index of the outline's highest (lowest) point; when a stretch of the outline ties with it within
    ``tol_m`` (a flat front or crest), the middle of that stretch, so the choice does not hang on round-off."""
    v = z if highest else -z
    k = int(np.argmax(v))
    near = v >= v[k] - tol_m
    n = len(v)
    lo = hi = 0
    while lo < n - 1 and near[(k - lo - 1) % n]:
        lo += 1
    while hi < n - 1 - lo and near[(k + hi + 1) % n]:
        hi += 1
    return (k + (hi - lo) // 2) % n


def _local_maxima(z: np.ndarray, order: int, tol_m: float = TIE_TOLERANCE_M) -> np.ndarray:
    """Local maxima of the outline elevation within ±``order`` points (circular); a flat crest (points tied
    within ``tol_m``) counts once, at its middle, instead of at round-off bumps along it."""
    zq = np.round(z / tol_m)
    n = len(zq)
    # runs of equal (quantised) elevation along the ring
    change = np.flatnonzero(zq != np.roll(zq, 1))
    if change.size == 0:
        return np.array([], int)
    out = []
    for a, b in zip(change, np.r_[change[1:], change[0] + n], strict=True):
        idx = np.arange(a - order, b + order) % n
        if zq[a] >= zq[idx].max():
            out.append((a + (b - 1 - a) // 2) % n)
    return np.array(sorted(set(out)), int)


def _filter_heads(heads: list[tuple[int, int]], z: np.ndarray, radius_px: float, ok: np.ndarray) -> list:
    """Drop every head lying within ``radius_px`` (inside the glacier) of a higher head."""
    order = sorted(heads, key=lambda h: -z[h])
    kept: list = []
    removed: set = set()
    rad = int(np.ceil(radius_px))
    for h in order:
        if h in removed:
            continue
        kept.append(h)
        r0, c0 = h
        y0, x0 = max(r0 - rad, 0), max(c0 - rad, 0)
        sub = ok[y0 : r0 + rad + 1, x0 : c0 + rad + 1]
        yy, xx = np.ogrid[y0 - r0 : y0 - r0 + sub.shape[0], x0 - c0 : x0 - c0 + sub.shape[1]]
        comp, _ = ndimage.label(sub & (yy**2 + xx**2 <= radius_px**2), structure=np.ones((3, 3), bool))
        k = comp[r0 - y0, c0 - x0]
        for g in order:
            if g not in removed and g != h:
                gr, gc = g[0] - y0, g[1] - x0
                if 0 <= gr < sub.shape[0] and 0 <= gc < sub.shape[1] and k and comp[gr, gc] == k:
                    removed.add(g)
    return kept


def _chaikin(xy: np.ndarray, rounds: int = 3) -> np.ndarray:
    for _ in range(rounds):
        if len(xy) < 3:
            break
        q = 0.75 * xy[:-1] + 0.25 * xy[1:]
        r = 0.25 * xy[:-1] + 0.75 * xy[1:]
        mid = np.empty((2 * (len(xy) - 1), 2))
        mid[0::2], mid[1::2] = q, r
        xy = np.vstack([xy[:1], mid[1:-1], xy[-1:]])  # ends stay where they are
    return xy


def centerlines(
    win: GlacierWindow, params: dict | None = None, *, heads: str = "kienholz"
) -> list[LineString]:
    """Kienholz et al. (2014) centerlines of a glacier, longest first, in the window's CRS (see module).

    ``heads="highest"``: one line only, from the outline's highest point (Machguth & Huss 2014's start
    point, the RGI 5/6 ``Lmax`` definition) to the terminus, on the same least-cost route. Empty when the
    glacier has fewer than two cells with a valid DEM.
    """
    if heads not in ("kienholz", "highest"):
        raise ValueError(f"heads must be 'kienholz' or 'highest', got {heads!r}")
    p = KIENHOLZ | (params or {})
    res = win.res_m
    ok = win.mask & np.isfinite(win.dem_m)
    poly = _largest_polygon(win.geometry)
    if ok.sum() < 2 or poly is None:
        return []
    ok = _largest_part(ok)
    z = _smoothed(win.dem_m, ok, p["smooth_sigma_m"] / res)
    rc = _outline_cells(poly, win.grid, ok, res)
    z_out = z[rc[:, 0], rc[:, 1]]
    if heads == "highest":
        head_cells = [tuple(rc[_middle_of_extreme(z_out, highest=True)])]
    else:
        head_cells = _kienholz_heads(rc, z_out, z, ok, res_m=res, params=p)
    term = tuple(rc[_middle_of_extreme(z_out, highest=False)])
    from skimage.graph import MCP_Geometric

    mcp = MCP_Geometric(_route_cost(z, ok, p), fully_connected=True)
    mcp.find_costs([term])
    lines = []
    for h in head_cells:
        if h == term:
            continue
        path = np.array(mcp.traceback(h))[::-1]  # head → terminus
        if len(path) < 2:
            continue
        xs, ys = win.grid.xy(path[:, 0], path[:, 1])
        line = LineString(np.column_stack([xs, ys])).simplify(0.5 * res)
        lines.append(LineString(_chaikin(np.asarray(line.coords))))
    return sorted(lines, key=lambda ln: -ln.length)


def _largest_part(ok: np.ndarray) -> np.ndarray:
    """The largest 8-connected part of the glacier's cells with a valid DEM (the mask itself when one)."""
    lab, n = ndimage.label(ok, structure=np.ones((3, 3), bool))
    if n > 1:
        ok = lab == (np.argmax(np.bincount(lab.ravel())[1:]) + 1)
    return ok


def _kienholz_heads(
    rc: np.ndarray, z_out: np.ndarray, z: np.ndarray, ok: np.ndarray, *, res_m: float, params: dict
) -> list[tuple[int, int]]:
    """Head cells (row, col) after Kienholz et al. (2014): local maxima of the outline elevation ``z_out``
    (m, at the outline cells ``rc``) above the lower third of the glacier's elevations ``z`` (m), a head
    dropped within ``R = min(q1·area + q2, r_max) + 6 cells`` of a higher one (cell size ``res_m``, m)."""
    p = params
    order = int(np.clip(np.rint(p["localmax_window_m"] / res_m), 5, max(np.rint(len(z_out) / 5.0), 5)))
    heads_idx = _local_maxima(z_out, order) if len(z_out) > 2 * order else np.array([], int)
    if len(heads_idx) <= 1:
        heads_idx = np.atleast_1d(_middle_of_extreme(z_out, highest=True))
    high = heads_idx[z_out[heads_idx] > np.percentile(z[ok], 100.0 / 3.0)]
    heads_idx = high if len(high) else heads_idx[[np.argmax(z_out[heads_idx])]]
    area_m2 = ok.sum() * res_m**2
    radius_px = min(p["q1_per_m"] * area_m2 + p["q2_m"], p["rmax_m"]) / res_m + 6.0
    return _filter_heads([tuple(rc[i]) for i in heads_idx], z, radius_px, ok)


def _route_cost(z: np.ndarray, ok: np.ndarray, p: dict) -> np.ndarray:
    """Least-cost routing grid (Kienholz et al. 2014 eq. 2) from the smoothed elevation ``z`` (m): margin
    cells cost 50× the costliest margin cell; cells off the glacier ``ok`` are −1 (impassable)."""
    dis = ndimage.distance_transform_edt(ok)
    zg = z[ok]
    zmin, zmax = float(np.nanmin(zg)), float(np.nanmax(zg))
    cost = ((dis.max() - dis) / max(dis.max(), 1e-9) * p["f1"]) ** p["a"] + (
        (z - zmin) / max(zmax - zmin, 1e-9) * p["f2"]
    ) ** p["b"]
    ext = ok & ~ndimage.binary_erosion(ok, structure=np.ones((3, 3), bool), border_value=0)
    if ext.any():
        cost[ext] = np.nanmax(cost[ext]) * 50.0
    return np.where(ok & np.isfinite(cost), cost, -1.0)  # negative: impassable


def longest_centerline(win: GlacierWindow, params: dict | None = None) -> LineString | None:
    """The longest Kienholz centerline (head → terminus) of a glacier window, or None; its length is lmax."""
    lines = centerlines(win, params)
    return lines[0] if lines else None


def centerline_lengths_m(glaciers, dem, *, heads: str = "kienholz") -> np.ndarray:
    """Length (m, in each glacier's local metric CRS) of the first centerline of every glacier outline.

    ``heads="kienholz"``: the longest Kienholz centerline (RGI 7 ``lmax_m``); ``"highest"``: the line from
    the highest point (RGI 5/6 ``Lmax``). NaN where a glacier has no centerline. ``dem``: path of the DEM;
    glaciers are read one DEM window at a time.
    """
    from glacierinv.dem.windows import DemWindows

    out = []
    with DemWindows(dem) as dems:
        for g, crs in dems.metric_geometries(glaciers.geometry):
            lines = centerlines(dems.window(g, crs), heads=heads)
            out.append(lines[0].length if lines else np.nan)
    return np.array(out, dtype=float)
