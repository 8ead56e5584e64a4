"""Split glacier complexes into glacier units that follow ice flow to their termini (seed 3.3.2).

A unit is what RGI/GLIMS analysts call a glacier: one dynamical entity with one terminus. After Kienholz et
al. (2013) (as OGGM's ``partitioning`` implements it), per complex on its DEM window (the DEM's own grid):

1. D8 flow directions (pyflwdir, depression-filled) on the DEM with the ice surface smoothed by a Gaussian
   of ``smooth_m`` (ice flows down the surface slope averaged over a few ice thicknesses);
2. exit cells = ice cells whose downstream cell is off the ice; an *outlet* is a contiguous (8-connected)
   run of exit cells; one basin per outlet ∩ ice;
3. *flows onto*: a basin whose outflow, followed off the ice for ``reach_m``, runs back onto a larger
   basin's ice or along its margin above that basin's outlet joins it, whatever its area;
4. *terminus proximity* (Kienholz et al. 2013, P_glac): basins meeting the ice within
   ``min(0.3575·√area, 3500) m`` of a basin's main outlet join that basin's glacier;
5. only slivers (below ``min_unit_area_km2``, or below twice that and compact) join the neighbour with
   the longest shared boundary;
6. the label raster becomes an exact partition of the complex polygon (units never overlap and together
   equal the complex).

User-corrected divide lines (``divides``) override the automatic ones for the complexes they cross. Unit
ids are ``<complex id>-NN`` from the input's id column. Divide lines between adjacent units are returned
as a layer; debris polygons are split with their unit.

Layout: :func:`split_complex` (one window → polygons) and :func:`subdivide_windows` (complexes + their
windows → the three layers) are pure; :func:`subdivide` is the file-level wrapper that reads each window on
the routing grid of :func:`routing_resolution_m` (the DEM's own grid, coarsened only for huge windows).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyflwdir
import rasterio.features
import shapely
from scipy import ndimage
from shapely.geometry import shape
from shapely.ops import split

from glacierinv.config import UnitsConfig
from glacierinv.dem.windows import DemWindows, GlacierWindow, check_dem_covers, map_glacier_windows
from glacierinv.errors import InputError
from glacierinv.geometry import area_km2, in_crs, polygon_parts, repair_polygons, valid_polygonal
from glacierinv.io.vector import guess_id_column

__all__ = [
    "basin_labels",
    "divide_lines",
    "routing_resolution_m",
    "split_complex",
    "subdivide",
    "subdivide_windows",
]

log = logging.getLogger(__name__)

# the defaults are the units stage's ([units] in glacierinv.config, their only copy)
DEFAULT_SMOOTH_M = UnitsConfig.model_fields["smooth_m"].default
DEFAULT_REACH_M = UnitsConfig.model_fields["reach_m"].default
DEFAULT_MIN_UNIT_KM2 = UnitsConfig.model_fields["min_unit_area_km2"].default
# Kienholz et al. (2013): flowsheds meeting a circle of radius 14.3 m · √(flow accumulation in 40 m cells),
# at most 3500 m, around a pour point belong to that pour point's glacier; as a radius per √m² of basin:
KIENHOLZ_RADIUS_PER_SQRT_M2 = 14.3 / 40.0
KIENHOLZ_RADIUS_MAX_M = 3500.0
_SQRT2 = float(np.sqrt(2.0))
# flow is routed on the DEM's own grid up to this many cells per complex window (45-65 bytes per cell at
# the peak, < 2 GB with the interpreter); a larger window is routed on a grid coarsened by an integer
# factor (the divides then sit on that grid; the units' outer geometry stays the input polygon's)
MAX_ROUTE_CELLS = 24_000_000
# a routing cell up to smooth_m / ROUTE_CELLS_PER_SIGMA carries the divides of the smoothed surface (see
# routing_resolution_m); coarser than that only with a warning
ROUTE_CELLS_PER_SIGMA = 10.0
UNCOVERED_WARN_SHARE = 0.005  # warn when more than 0.5 % of a complex has no DEM under it


def _gaussian_box(a: np.ndarray, sigma_px: float) -> np.ndarray:
    """Gaussian blur of ``sigma_px`` cells (in place on ``a``): exact up to 8 cells, beyond as three box
    filters (Wells 1986) of the same variance, so the cost per cell stays bounded whatever the sigma."""
    if sigma_px <= 8.0:
        ndimage.gaussian_filter(a, sigma_px, output=a, mode="nearest")
        return a
    width = max(1, int(round(np.sqrt(4.0 * sigma_px**2 + 1.0))))  # 3 boxes of variance (w²−1)/12 each
    width += 1 - width % 2  # odd: centred
    for _ in range(3):
        ndimage.uniform_filter(a, size=width, output=a, mode="nearest")
    return a


def ice_surface_smoothed(dem_m: np.ndarray, ice: np.ndarray, sigma_px: float) -> np.ndarray:
    """The DEM with its ice surface smoothed (Gaussian of ``sigma_px`` cells, normalised within the ice).

    Ice flows down the surface slope averaged over a few ice thicknesses (Kamb & Echelmeyer 1986), not down
    every DEM bump; only ice cells are smoothed (with ice neighbours only), the rock keeps its own relief.
    The Gaussian is approximated by three box filters (cost independent of ``sigma_px``).
    """
    if sigma_px <= 0:
        return dem_m
    ok = ice & np.isfinite(dem_m)
    w = _gaussian_box(ok.astype("float32"), sigma_px)
    v = _gaussian_box(np.where(ok, dem_m, 0.0).astype("float32"), sigma_px)
    np.divide(v, w, out=v, where=w > 0)
    del w
    np.copyto(v, dem_m, where=~ok)  # rock keeps its relief (in place: bounded memory)
    return v


def routing_resolution_m(
    window_cells: float, dem_res_m: float, max_route_cells: int, smooth_m: float, name: str = "a complex"
) -> float:
    """Cell size (m) on which a complex window of ``window_cells`` DEM cells is routed.

    The DEM's own cell while the window has at most ``max_route_cells`` cells; else the DEM cell times the
    smallest integer factor that fits (memory bound). Divides are crests of the ice surface smoothed with
    a Gaussian of σ = ``smooth_m``: that surface has < 1 % of its relief at wavelengths below ~2σ (the
    Gaussian's transfer function exp(−2π²σ²/λ²)), so a grid of σ/10 samples it ≥ 20 times per shortest
    wavelength it carries: the divides move by about a routing cell (measured on the HEF complex at 4 m vs
    8/12/20 m: median best IoU 0.996/0.989/0.982, ≥ 97.5 % of the ice in the same unit; a unit close to a
    grouping decision can go the other way, docs/units.md). Up to σ/10 (20 m at the default 200 m) the coarser
    grid is the rule (logged at INFO); beyond it (a very large window, or ``smooth_m`` near 0) the divides are
    coarser than the surface warrants and a warning says so.
    """
    if window_cells <= max_route_cells:
        return float(dem_res_m)
    factor = int(np.ceil(np.sqrt(window_cells / max_route_cells)))
    while window_cells / factor**2 > max_route_cells:  # float round-off in the square root
        factor += 1
    res = float(dem_res_m * factor)
    limit = smooth_m / ROUTE_CELLS_PER_SIGMA
    if res <= limit + 1e-9:
        log.info("%s: window of %.1f Mpx routed at %g m (%d× the DEM cell; ≤ smooth_m/%g = %g m carries the "
                 "same divides)", name, window_cells / 1e6, res, factor, ROUTE_CELLS_PER_SIGMA, limit)  # fmt: skip
    else:
        log.warning("%s: window of %.1f Mpx routed at %g m (%d× the DEM cell) to bound memory, coarser than "
                    "smooth_m/%g = %g m: divides are placed to ±%g m; raise max_route_cells (memory ~50 B "
                    "per cell) or split the complex", name, window_cells / 1e6, res, factor,
                    ROUTE_CELLS_PER_SIGMA, limit, res)  # fmt: skip
    return res


def basin_labels(
    win: GlacierWindow,
    min_unit_area_km2: float = DEFAULT_MIN_UNIT_KM2,
    *,
    reach_m: float = DEFAULT_REACH_M,
    smooth_m: float = DEFAULT_SMOOTH_M,
) -> np.ndarray:
    """Glacier-unit labels (1..n) of the ice cells of a DEM window; 0 outside the ice.

    Parameters
    ----------
    win
        The complex's DEM window (metric grid); routing runs on this grid.
    min_unit_area_km2
        Units still below this after grouping by flow are slivers and join the neighbour with the longest
        shared edge.
    reach_m
        How far (m, along the flow path) the outflow of a basin is followed off the ice to see whether it
        runs onto or along a larger glacier.
    smooth_m
        Gaussian sigma (m) of the ice-surface smoothing before routing (0: raw DEM).
    """
    shape = win.mask.shape
    ice2d = win.mask & np.isfinite(win.dem_m)
    dem = ice_surface_smoothed(win.dem_m, ice2d, smooth_m / win.res_m)
    dem = np.array(dem, dtype="float32", copy=dem is win.dem_m)
    dem[~np.isfinite(dem)] = -9999.0
    flw = pyflwdir.from_dem(dem, nodata=-9999.0, transform=win.grid.transform, latlon=False)
    ice = ice2d.ravel()
    ds = flw.idxs_ds
    leaves = ~ice[ds]  # downstream cell off the ice
    leaves[flw.idxs_pit] = True  # pits and window edges
    exit_cells = np.flatnonzero(ice & leaves)
    del leaves
    if exit_cells.size == 0:
        return np.where(win.mask, 1, 0).astype("int32")
    # an outlet is a contiguous exit zone: 8-connected runs of exit cells drain one basin together
    exits = np.zeros(shape, bool)
    exits.ravel()[exit_cells] = True
    runs, n_runs = ndimage.label(exits, structure=np.ones((3, 3), bool))
    run_ids = runs.ravel()[exit_cells].astype("int32")
    del runs, exits
    labels = flw.basins(idxs=exit_cells, ids=run_ids).ravel().astype("int32", copy=False)
    labels[~ice] = 0
    if n_runs > 1:
        acc = flw.accuflux(ice.astype("float32")).ravel()  # ice cells draining through each cell
        roots = _group_by_flow(
            labels.reshape(shape), run_ids, exit_cells, acc, ds, dem.ravel(), win.res_m, reach_m
        )
        del acc
        labels = roots.astype("int32")[labels]
    del flw, ds
    return _merge_small(labels.reshape(shape), win.mask, min_unit_area_km2 * 1e6 / win.res_m**2)


class _UnionFind:
    def __init__(self, n: int):
        self.parent = np.arange(n)

    def find(self, a: int) -> int:
        p = self.parent
        while p[a] != a:
            p[a] = p[p[a]]
            a = p[a]
        return int(a)

    def union(self, a: int, into: int) -> None:
        ra, rb = self.find(a), self.find(into)
        if ra != rb:
            self.parent[ra] = rb

    def roots(self) -> np.ndarray:
        return np.array([self.find(i) for i in range(len(self.parent))])


def _group_by_flow(labels, run_ids, exit_cells, acc, ds, z, res_m, reach_m) -> np.ndarray:
    """Root label of each basin after grouping the basins into glaciers (see the module docstring).

    1. *flows onto*: a basin whose outflow path, within ``reach_m`` of its main outlet, re-enters the ice
       of a larger basin, or passes next to it above that basin's outlet (drains onto its margin), joins it;
    2. *terminus proximity* (Kienholz et al. 2013): every basin meeting the part of the complex within
       ``0.3575 m·√(basin area in m²)`` (≤ 3500 m) of a basin's main outlet joins that basin's glacier,
       largest basins first.
    """
    rows, cols = labels.shape
    flat = labels.ravel()
    n = int(run_ids.max())
    size = np.bincount(flat, minlength=n + 1).astype(float)
    size[0] = 0
    main, z_out = _main_outlets(run_ids, exit_cells, acc, z, n)
    adjacent = {(int(i), int(j)) for (i, j), _ in _adjacent_pairs(labels, n)}
    adjacent |= {(j, i) for i, j in adjacent}
    neighbours: dict[int, set[int]] = {}
    for i, j in adjacent:
        neighbours.setdefault(i, set()).add(j)
    deferred: list[tuple[int, int]] = []
    uf = _UnionFind(n + 1)
    for b in np.argsort(size, kind="stable"):
        if size[b] == 0 or main[b] < 0:
            continue
        target = _receiving_basin(
            int(b), int(main[b]), flat, labels, size, z, z_out, ds, cols, res_m, reach_m
        )
        if target and (int(b), target) not in adjacent:
            deferred.append((int(b), target))  # it touches that glacier only through other basins
            target = 0
        if target:
            uf.union(int(b), target)
    for b in np.argsort(-size, kind="stable"):
        if size[b] == 0 or main[b] < 0:
            continue
        for v in _near_outlet_basins(labels, int(main[b]), size[b], res_m):
            uf.union(int(v), int(b))
    _join_deferred(uf, deferred, neighbours)
    return uf.roots()


def _main_outlets(
    run_ids: np.ndarray, exit_cells: np.ndarray, acc: np.ndarray, z: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per basin label 0…n: its main outlet — the flat index of its exit cell with the largest upstream
    ice (-1 when none) — and the outlet's elevation (m; inf when none)."""
    order = np.lexsort((-acc[exit_cells], run_ids))
    ids_sorted = run_ids[order]
    first = np.unique(ids_sorted, return_index=True)[1]
    main = np.full(n + 1, -1, np.int64)
    main[ids_sorted[first]] = exit_cells[order][first]
    z_out = np.full(n + 1, np.inf)
    z_out[ids_sorted[first]] = z[main[ids_sorted[first]]]
    return main, z_out


def _near_outlet_basins(labels: np.ndarray, outlet: int, size_cells: float, res_m: float) -> np.ndarray:
    """Basin labels meeting the part of the complex connected to the main ``outlet`` (flat index) within the
    Kienholz et al. (2013) radius ``0.3575 m·√(basin area)`` (≤ 3500 m) of it; empty when the outlet cell
    is not ice. ``size_cells``: the basin's area in cells of ``res_m`` m."""
    cols = labels.shape[1]
    r_m = min(KIENHOLZ_RADIUS_PER_SQRT_M2 * np.sqrt(size_cells) * res_m, KIENHOLZ_RADIUS_MAX_M)
    rp = int(np.ceil(r_m / res_m))
    r0, c0 = divmod(outlet, cols)
    y0, x0 = max(r0 - rp, 0), max(c0 - rp, 0)
    sub = labels[y0 : r0 + rp + 1, x0 : c0 + rp + 1]
    yy, xx = np.ogrid[y0 - r0 : y0 - r0 + sub.shape[0], x0 - c0 : x0 - c0 + sub.shape[1]]
    near = (sub > 0) & ((yy**2 + xx**2) * res_m**2 <= r_m**2)
    comp, _ = ndimage.label(near, structure=np.ones((3, 3), bool))
    k = comp[r0 - y0, c0 - x0]
    return np.unique(sub[comp == k]) if k else np.empty(0, sub.dtype)


def _join_deferred(uf: _UnionFind, deferred: list[tuple[int, int]], neighbours: dict[int, set[int]]) -> None:
    """Ice whose outflow lands on a glacier it does not touch (``deferred`` basin → receiving basin) joins it
    when it touches that glacier's other basins (one contiguous glacier), repeated until nothing changes;
    else it stays a glacier of its own (a hanging glacier)."""
    changed = True
    while changed and deferred:
        changed, left = False, []
        for b, c in deferred:
            if any(uf.find(v) == uf.find(c) for v in neighbours.get(b, ())):
                uf.union(b, c)
                changed = True
            else:
                left.append((b, c))
        deferred = left


def _adjacent_pairs(labels: np.ndarray, n: int) -> list[tuple[int, int]]:
    """Pairs (i < j) of labels sharing a cell edge, with the number of shared edges: [((i, j), k), …]."""
    out: dict[tuple[int, int], int] = {}
    for a, b in ((labels[:, :-1], labels[:, 1:]), (labels[:-1, :], labels[1:, :])):
        m = (a != b) & (a > 0) & (b > 0)
        lo, hi = np.minimum(a[m], b[m]), np.maximum(a[m], b[m])
        pairs, counts = np.unique(lo.astype(np.int64) * (n + 1) + hi, return_counts=True)
        for p, k in zip(pairs.tolist(), counts.tolist(), strict=True):
            key = divmod(p, n + 1)
            out[key] = out.get(key, 0) + k
    return list(out.items())


def _receiving_basin(b, start, flat, labels, size, z, z_out, ds, cols, res_m, reach_m) -> int:
    """The larger basin that basin ``b``'s outflow runs onto or along within ``reach_m`` (0: none)."""
    c, travelled = start, 0.0
    rows = labels.shape[0]
    while travelled <= reach_m:
        nxt = int(ds[c])
        if nxt == c or nxt < 0:
            return 0
        travelled += res_m * (_SQRT2 if (c // cols != nxt // cols and c % cols != nxt % cols) else 1.0)
        c = nxt
        here = int(flat[c])
        if here and here != b:
            return here if size[here] > size[b] else 0  # back onto another glacier's ice
        r, k = divmod(c, cols)
        neigh = labels[max(r - 1, 0) : min(r + 2, rows), max(k - 1, 0) : k + 2].ravel()
        cand = [int(v) for v in set(neigh.tolist()) if v and v != b and size[v] > size[b] and z[c] > z_out[v]]
        if cand:
            return max(cand, key=lambda v: size[v])  # along that glacier's margin, above its terminus
    return 0


def _is_compact(labels: np.ndarray, n: int) -> np.ndarray:
    """Per label: Kienholz et al. (2013)'s compactness test (Allen 1998), largest extent · π / perimeter
    > 0.5, on the raster (extent from the bounding box, perimeter from the cell edges)."""
    perim = np.zeros(n + 1)
    for a, b in ((labels[:, :-1], labels[:, 1:]), (labels[:-1, :], labels[1:, :])):
        m = a != b
        perim += np.bincount(a[m], minlength=n + 1) + np.bincount(b[m], minlength=n + 1)
    extent = np.zeros(n + 1)
    for i, sl in enumerate(ndimage.find_objects(labels), start=1):
        if sl is not None:
            extent[i] = max(sl[0].stop - sl[0].start, sl[1].stop - sl[1].start)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(perim > 0, extent * np.pi / perim, 0.0) > 0.5


def _merge_small(labels: np.ndarray, ice: np.ndarray, min_cells: float) -> np.ndarray:
    """Merge slivers into the neighbour with the longest shared boundary (smallest first).

    A sliver (Kienholz et al. 2013) is a unit below ``min_cells``, or below twice that and compact. Works on
    the label adjacency graph (shared edge counts computed once) with a heap: linear in the cells.
    """
    import heapq

    labels = labels.astype("int32", copy=False)
    n = int(labels.max())
    if n > 1:
        size = np.bincount(labels.ravel(), minlength=n + 1).astype(float)
        compact = _is_compact(labels, n)
        limit = np.where(compact, 2.0 * min_cells, min_cells)
        edges: dict[int, dict[int, int]] = {}
        for (i, j), k in _adjacent_pairs(labels, n):
            edges.setdefault(i, {})[j] = k
            edges.setdefault(j, {})[i] = k
        uf = _UnionFind(n + 1)
        alive = {i for i in range(1, n + 1) if size[i] > 0}
        heap = [(size[i], i) for i in alive if size[i] < limit[i]]
        heapq.heapify(heap)
        while heap and len(alive) > 1:
            sz, i = heapq.heappop(heap)
            if i not in alive or sz != size[i] or size[i] >= limit[i] or not edges.get(i):
                continue
            nb = edges.pop(i)
            j = max(nb, key=lambda v: (nb[v], -v))
            uf.union(i, j)
            size[j] += size[i]
            alive.discard(i)
            for v, k in nb.items():
                edges[v].pop(i, None)
                if v != j:
                    edges[v][j] = edges[v].get(j, 0) + k
                    edges[j][v] = edges[j].get(v, 0) + k
            if size[j] < limit[j]:
                heapq.heappush(heap, (size[j], j))
        labels = uf.roots().astype("int32")[labels]
    # cells of the ice with no label (NaN DEM) join the nearest unit
    missing = ice & (labels == 0)
    if missing.any() and (labels > 0).any():
        _, (ri, ci) = ndimage.distance_transform_edt(labels == 0, return_indices=True)
        labels[missing] = labels[ri[missing], ci[missing]]
    return labels


def _grow_labels(labels: np.ndarray, cells: int = 2) -> np.ndarray:
    """Labels grown ``cells`` cells into the unlabelled cells around them (so that the pieces cover every
    part of the complex polygon whose cell centre lies just outside it)."""
    out = labels.copy()
    for _ in range(cells):
        grown = ndimage.grey_dilation(out, size=(3, 3))
        free = out == 0
        out[free] = grown[free]
    return out


def _polygons(geom) -> list:
    """The polygons (area > 0) of an overlay result (GEOS overlays of valid inputs are valid)."""
    return [g for g in polygon_parts(geom) if g.area > 0]


def _repair_reprojected(parts: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Parts whose corner contacts became crossings in the reprojection, made valid (area change < 1 m²).

    :func:`glacierinv.geometry.valid_polygonal` without the report of :func:`~glacierinv.geometry.repair_polygons`
    (a warning about the user's data): this is round-off of our own exact partition (it happens to a few
    units of most complexes); touching parts are merged again.
    """
    bad = ~parts.is_valid.to_numpy()
    if bad.any():
        fixed = [shapely.union_all(_polygons(valid_polygonal(g))) for g in parts.geometry[bad]]
        parts = parts.copy()
        parts.loc[bad, parts.geometry.name] = fixed
    return parts


def _partition(complex_geom, pieces: list, cell_m2: float = 0.0) -> list:
    """Turn raster-derived pieces into an exact, non-overlapping partition of ``complex_geom``.

    Fragments of a piece below one cell (``cell_m2``) detached from its main body, and parts of the
    polygon no piece reaches, go to the part they share the longest boundary with.
    """
    parts, slivers = [], []
    for p in pieces:
        polys = sorted(_polygons(shapely.intersection(complex_geom, p)), key=lambda g: -g.area)
        keep = polys[:1] + [g for g in polys[1:] if g.area >= cell_m2]
        slivers.extend(g for g in polys[1:] if g.area < cell_m2)
        parts.append(shapely.union_all(keep) if keep else shapely.Polygon())
    rest = shapely.difference(complex_geom, shapely.union_all([*parts, *slivers]))
    slivers += _polygons(rest) if not rest.is_empty else []
    if slivers:  # parts of the polygon not reached by the grown labels: each to the part it touches most
        extra: list[list] = [[] for _ in parts]
        tree = shapely.STRtree(parts)
        for sliver in slivers:
            cand = tree.query(sliver.buffer(1e-6))
            shared = [shapely.intersection(sliver.boundary, parts[k].boundary).length for k in cand]
            if len(cand) and max(shared) > 0:
                k = int(cand[int(np.argmax(shared))])
            else:
                k = int(np.argmin([sliver.distance(p) for p in parts]))
            extra[k].append(sliver)
        parts = [shapely.union_all([p, *e]) if e else p for p, e in zip(parts, extra, strict=True)]
    # parts of 8-connected cells touch themselves at corners, which reprojection can turn into crossings:
    # close those point contacts by a millimetre (area change ~1e-6 m²), staying inside the complex
    closed = [
        shapely.intersection(
            p.buffer(1e-3, join_style="mitre").buffer(-1e-3, join_style="mitre"), complex_geom
        )
        for p in parts
    ]
    # components below 1 cm² (intersection round-off) are dropped
    parts = [shapely.union_all([g for g in _polygons(p) if g.area >= 1e-4]) for p in closed]
    return [p for p in parts if not p.is_empty and p.area > 0]


def _merge_small_parts(parts: list, min_area_m2: float) -> list:
    parts = list(parts)
    while len(parts) > 1:
        areas = [p.area for p in parts]
        k = int(np.argmin(areas))
        if areas[k] >= min_area_m2:
            break
        shared = [
            shapely.intersection(parts[k].boundary, p.boundary).length if i != k else -1
            for i, p in enumerate(parts)
        ]
        j = int(np.argmax(shared))
        if shared[j] <= 0:
            break
        parts[j] = shapely.union_all([parts[j], parts[k]])
        del parts[k]
    return parts


def split_complex(
    win: GlacierWindow,
    *,
    min_unit_area_km2: float = DEFAULT_MIN_UNIT_KM2,
    reach_m: float = DEFAULT_REACH_M,
    smooth_m: float = DEFAULT_SMOOTH_M,
    user_lines: list | None = None,
    name: str = "a complex",
) -> list:
    """Units of one complex (pure: its DEM window in, polygons out, in the window's metric CRS).

    Parameters
    ----------
    win
        The complex's DEM window (``win.geometry``: the complex in ``win.grid.crs``); flow is routed on
        ``win.grid``.
    min_unit_area_km2, reach_m, smooth_m
        See :func:`subdivide`.
    user_lines
        User divide lines in ``win.grid.crs``; those crossing the complex replace the automatic split.
    name
        The complex's name in log messages.

    Returns
    -------
    list of Polygon / MultiPolygon
        An exact partition of ``win.geometry`` (one element when the complex is one glacier).
    """
    complex_m = win.geometry
    if user_lines:
        cutting = [ln for ln in user_lines if ln.intersects(complex_m)]
        if cutting:
            pieces = list(split(complex_m, shapely.union_all(cutting)).geoms)
            return _merge_small_parts(pieces, min_unit_area_km2 * 1e6)
    covered = float(np.isfinite(win.dem_m[win.mask]).mean()) if win.mask.any() else 0.0
    if covered == 0.0:
        log.warning("complex %s has no valid DEM under it; kept as one unit", name)
        return [complex_m]
    if covered < 1.0 - UNCOVERED_WARN_SHARE:
        log.warning("complex %s: the DEM covers only %.1f %% of it (%.1f %% uncovered); the uncovered ice "
                    "joins the nearest unit", name, 100 * covered, 100 * (1 - covered))  # fmt: skip
    labels = _grow_labels(basin_labels(win, min_unit_area_km2, reach_m=reach_m, smooth_m=smooth_m))
    pieces: dict[int, list] = {}
    for g, v in rasterio.features.shapes(labels, mask=labels > 0, transform=win.grid.transform):
        pieces.setdefault(int(v), []).append(shape(g))
    if len(pieces) <= 1:
        return [complex_m]
    parts = _partition(complex_m, [shapely.union_all(v) for v in pieces.values()], win.res_m**2)
    return _merge_small_parts(parts, min_unit_area_km2 * 1e6)


def divide_lines(units: gpd.GeoDataFrame, id_column: str = "glac_id") -> gpd.GeoDataFrame:
    """Shared boundaries (divides) between adjacent units, as lines with both ids."""
    rows = []
    geoms = units.geometry.to_numpy()
    tree = shapely.STRtree(geoms)
    for i, j in zip(*tree.query(geoms, predicate="intersects"), strict=True):
        if i >= j:
            continue
        shared = shapely.line_merge(shapely.intersection(geoms[i].boundary, geoms[j].boundary))
        if not shared.is_empty and shared.length > 0:
            rows.append(
                {
                    "glac_id_a": units[id_column].iloc[i],
                    "glac_id_b": units[id_column].iloc[j],
                    "geometry": shared,
                }
            )
    if not rows:
        return gpd.GeoDataFrame({"glac_id_a": [], "glac_id_b": []}, geometry=[], crs=units.crs)
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=units.crs)


def _check_inputs(glaciers, divides, min_unit_area_km2, reach_m, smooth_m) -> None:
    if glaciers.crs is None:
        raise InputError("glacier outlines have no CRS", None, "Assign one before subdividing")
    if divides is not None and divides.crs is None:
        raise InputError("divide lines have no CRS", None, "Assign one (same as the outlines)")
    if len(glaciers) == 0:
        raise InputError("no glacier polygon to subdivide")
    for name, v in (("min_unit_area_km2", min_unit_area_km2), ("reach_m", reach_m), ("smooth_m", smooth_m)):
        if not np.isfinite(v) or v < 0:
            raise InputError(f"{name} must be a number >= 0, got {v}", None, "Give a non-negative value")


def subdivide_windows(
    glaciers: gpd.GeoDataFrame,
    windows: Iterable[GlacierWindow],
    *,
    debris: gpd.GeoDataFrame | None = None,
    min_unit_area_km2: float = DEFAULT_MIN_UNIT_KM2,
    reach_m: float = DEFAULT_REACH_M,
    smooth_m: float = DEFAULT_SMOOTH_M,
    divides: gpd.GeoDataFrame | None = None,
    complex_id_column: str | None = None,
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Glacier units of complexes from their DEM windows: the pure core of :func:`subdivide` (no file I/O).

    ``windows`` holds one :class:`~glacierinv.dem.windows.GlacierWindow` per row of ``glaciers``, in order
    (an iterator is consumed one window at a time, so memory stays that of one window): each window's
    ``geometry`` is that complex in the window's metric CRS (e.g. ``DemWindows.window`` of
    ``DemWindows.metric_geometries``), with a margin of ``reach_m`` around it for the off-ice flow paths.
    The other parameters and the returned layers are those of :func:`subdivide`; invalid complex polygons
    are repaired (:func:`glacierinv.geometry.repair_polygons`, each repair logged).
    """
    _check_inputs(glaciers, divides, min_unit_area_km2, reach_m, smooth_m)
    gl = glaciers.reset_index(drop=True)
    cids = complex_ids(gl, complex_id_column)
    options = _SplitOptions(min_unit_area_km2, reach_m, smooth_m, divides, glaciers.crs)
    rows = [_complex_units(cid, win, options) for cid, win in zip(cids, windows, strict=True)]
    return _unit_layers(gl, rows, debris)


@dataclass(frozen=True)
class _SplitOptions:
    """What every complex of one call is split with (travels to the tasks with each batch)."""

    min_unit_area_km2: float
    reach_m: float
    smooth_m: float
    divides: gpd.GeoDataFrame | None
    crs: object  # the outlines' CRS, in which the units are returned


def _complex_units(cid: str, win: GlacierWindow, options: _SplitOptions) -> list[dict]:
    """The unit rows (``glac_id``, ``outline_id``, geometry in the outlines' CRS) of one complex."""
    metric = win.grid.crs
    if not win.geometry.is_valid:  # an invalid complex polygon (bow-tie…): repaired, logged with its id
        one = gpd.GeoDataFrame({"id": [cid]}, geometry=[win.geometry], crs=metric)
        win = replace(win, geometry=repair_polygons(one, "id", what="complex outlines")[0].geometry.iloc[0])
    lines = list(options.divides.to_crs(metric).geometry) if options.divides is not None else None
    parts = split_complex(win, min_unit_area_km2=options.min_unit_area_km2, reach_m=options.reach_m,
                          smooth_m=options.smooth_m, user_lines=lines, name=cid)  # fmt: skip
    parts_crs = gpd.GeoDataFrame({"part": range(len(parts))}, geometry=parts, crs=metric).to_crs(options.crs)
    parts_crs = _repair_reprojected(parts_crs)
    # suffixes north to south (then west to east): the same input gives the same ids
    pts = [p.representative_point() for p in parts]
    order = np.lexsort(([round(p.x, 3) for p in pts], [-round(p.y, 3) for p in pts]))
    return [
        {"glac_id": f"{cid}-{k + 1:02d}", "outline_id": cid, "geometry": parts_crs.geometry.iloc[idx]}
        for k, idx in enumerate(order)
    ]


def _unit_layers(gl: gpd.GeoDataFrame, rows: list[list[dict]], debris) -> tuple:
    """The three layers from the complexes' unit rows (in complex order)."""
    units = gpd.GeoDataFrame([r for one in rows for r in one], geometry="geometry", crs=gl.crs)
    units["area_km2"] = area_km2(units)
    units = units[["glac_id", "outline_id", "area_km2", "geometry"]]
    lines = divide_lines(units)
    debris_units = _split_debris(units, debris)
    log.info("subdivided %d complexes into %d units", len(gl), len(units))
    return units, debris_units, lines


def _units_in_task(
    dems: DemWindows, g, crs, cid: str, *, options: _SplitOptions, max_route_cells: int
) -> list:
    """One complex's units (a task of :func:`subdivide`): its window cut on the routing grid and split."""
    left, bottom, right, top = g.bounds
    pad = 2 * (3 * dems.res_m + options.reach_m)
    cells = (right - left + pad) * (top - bottom + pad) / dems.res_m**2
    res = routing_resolution_m(cells, dems.res_m, max_route_cells, options.smooth_m, f"complex {cid}")
    win = dems.window(g, crs, margin_px=3 + int(np.ceil(options.reach_m / res)), res_m=res)
    return _complex_units(cid, win, options)


def subdivide(
    glaciers: gpd.GeoDataFrame,
    dem_path: str | Path,
    *,
    debris: gpd.GeoDataFrame | None = None,
    min_unit_area_km2: float = DEFAULT_MIN_UNIT_KM2,
    reach_m: float = DEFAULT_REACH_M,
    smooth_m: float = DEFAULT_SMOOTH_M,
    divides: gpd.GeoDataFrame | None = None,
    complex_id_column: str | None = None,
    max_route_cells: int = MAX_ROUTE_CELLS,
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Split each complex polygon of ``glaciers`` into glacier units (reads the DEM window by window).

    The file-level wrapper of :func:`subdivide_windows`: it checks the DEM covers the outlines, cuts each
    complex's DEM window (on the routing grid of :func:`routing_resolution_m`) and hands them over one by one.

    Parameters
    ----------
    glaciers
        Complex polygons, any CRS.
    dem_path
        DEM in metres, any CRS; flow is routed on the DEM's own grid (a local UTM grid at the DEM's
        resolution for a geographic DEM), ids and geometry stay on the outlines'.
    debris
        Optional debris polygons, split with their units.
    min_unit_area_km2
        Sliver threshold (km²): units still below it after grouping by flow join a neighbour.
    reach_m, smooth_m
        Off-ice flow-path reach and ice-surface smoothing sigma, both in metres (see :func:`basin_labels`).
    divides
        User divide lines; they replace the automatic split of every complex they cross.
    complex_id_column
        Column holding the complex id; default: the first of ``glac_id, rgi_id, RGIId, outline_id, GLIMSId,
        glims_id, FCGI_ID, id`` present, else ``C00001``… by row.
    max_route_cells
        Memory bound: a complex window above this many DEM cells is routed on a grid coarsened by the
        smallest integer factor that fits (see :func:`routing_resolution_m`: silent up to ``smooth_m``/10,
        a warning beyond); peak memory is 45-65 bytes per routed cell.

    Returns
    -------
    units
        ``glac_id`` (``<complex id>-NN``), ``outline_id`` (the complex), ``area_km2``, geometry (input CRS).
    debris_units
        Debris polygons split by unit: ``debris_id``, ``glac_id``, ``area_km2``.
    divides
        Lines between adjacent units (``glac_id_a``, ``glac_id_b``).
    """
    _check_inputs(glaciers, divides, min_unit_area_km2, reach_m, smooth_m)
    check_dem_covers(glaciers, dem_path)
    gl = glaciers.reset_index(drop=True)
    cids = complex_ids(gl, complex_id_column)
    options = _SplitOptions(min_unit_area_km2, reach_m, smooth_m, divides, glaciers.crs)
    # one task per batch of complexes (on the run's cluster, else here): each reads its own DEM windows
    task = partial(_units_in_task, options=options, max_route_cells=max_route_cells)
    rows = map_glacier_windows(task, gl.geometry, dem_path, extras=cids, max_cells=max_route_cells)
    return _unit_layers(gl, rows, debris)


def complex_ids(glaciers: gpd.GeoDataFrame, column: str | None = None) -> list[str]:
    """The id of each complex: ``column`` (must exist), else the first id column present (the project's
    convention, :func:`glacierinv.io.vector.guess_id_column`), else ``C00001``…

    Duplicated ids get ``_2``, ``_3``… (with a warning) so every unit id stays unique.
    """
    if column is not None and column not in glaciers.columns:
        raise InputError(
            f"id column {column!r} is not in the outlines (columns: {', '.join(map(str, glaciers.columns))})",
            None,
            "Give an existing column with --id-column, or leave it out to use outline_id/glac_id/rgi_id",
        )
    col = guess_id_column(glaciers.columns, column)
    if col is None:
        return [f"C{i + 1:05d}" for i in range(len(glaciers))]
    raw = ["" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in glaciers[col]]
    out, seen = [], {}
    for i, v in enumerate(raw):
        v = v or f"C{i + 1:05d}"
        seen[v] = seen.get(v, 0) + 1
        out.append(v if seen[v] == 1 else f"{v}_{seen[v]}")
    if len(set(raw)) < len(raw):
        log.warning("complex ids in column %s are not unique; repeated ones get _2, _3 … suffixes", col)
    return out


def _split_debris(units: gpd.GeoDataFrame, debris: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame:
    empty = gpd.GeoDataFrame({"debris_id": [], "glac_id": [], "area_km2": []}, geometry=[], crs=units.crs)
    if debris is None or len(debris) == 0:
        return empty
    deb = in_crs(debris, units.crs)
    deb, _ = repair_polygons(deb, what="debris polygons")
    tree = shapely.STRtree(units.geometry.to_numpy())
    rows = []
    for dgeom in deb.geometry:
        for ui in tree.query(dgeom, predicate="intersects"):
            polys = _polygons(shapely.intersection(dgeom, units.geometry.iloc[ui]))
            if polys:
                rows.append({"glac_id": units.glac_id.iloc[ui], "geometry": shapely.union_all(polys)})
    if not rows:
        return empty
    out = gpd.GeoDataFrame(rows, geometry="geometry", crs=units.crs)
    out.insert(0, "debris_id", [f"{g}-D{i + 1:03d}" for i, g in enumerate(out.glac_id)])
    out["area_km2"] = area_km2(out)
    return out[["debris_id", "glac_id", "area_km2", "geometry"]]
