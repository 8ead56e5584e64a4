"""Split glacier complexes into glacier units along drainage divides (seed section 3.3.2).

For each complex (one polygon of contiguous ice), on a DEM window in a metric CRS:

1. D8 flow directions on the depression-filled DEM (pyflwdir ``from_dem``);
2. exit cells = ice cells whose downstream cell is not ice (or leaves the window); an *outlet* is a
   contiguous (8-connected) run of exit cells, i.e. one place where ice leaves the complex;
3. one basin per outlet (pyflwdir ``basins``) intersected with the ice;
4. basins smaller than ``min_unit_area_km2`` are merged into the neighbour they share the longest boundary
   with (smallest first), so lateral micro-outlets do not become units;
5. the basin raster is vectorised and turned into an exact partition of the complex polygon (slivers
   between the raster and the polygon go to the unit they touch most), so units never overlap and
   together equal the complex.

User-corrected divide lines (``divides``) override the automatic ones for the complexes they cross: the
complex is split along them. Divide lines between adjacent units are returned as a layer; debris polygons
are split with their unit.
"""

from __future__ import annotations

import logging
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyflwdir
import rasterio.features
import shapely
from scipy import ndimage
from shapely.geometry import shape
from shapely.ops import split

from glacierinv.dem.windows import DemWindows, GlacierWindow, check_dem_covers
from glacierinv.errors import InputError
from glacierinv.geometry import area_km2

__all__ = ["basin_labels", "divide_lines", "subdivide"]

log = logging.getLogger(__name__)


def basin_labels(win: GlacierWindow, min_unit_area_km2: float) -> np.ndarray:
    """Drainage-basin labels (1..n) of the ice cells of a DEM window; 0 outside the ice."""
    dem = np.where(np.isfinite(win.dem_m), win.dem_m, -9999.0).astype("float32")
    flw = pyflwdir.from_dem(dem, nodata=-9999.0, transform=win.grid.transform, latlon=False)
    ice = win.mask.ravel() & np.isfinite(win.dem_m).ravel()
    ds = flw.idxs_ds
    own = np.arange(ice.size)
    outlets = np.flatnonzero(ice & ((ds == own) | ~ice[ds] | (ds < 0)))
    if outlets.size == 0:
        return np.where(win.mask, 1, 0).astype("int32")
    # an outlet is a contiguous exit zone: 8-connected runs of exit cells drain one basin together
    exits = np.zeros(win.mask.shape, bool)
    exits.ravel()[outlets] = True
    runs, _ = ndimage.label(exits, structure=np.ones((3, 3), bool))
    run_ids = runs.ravel()[outlets].astype("int32")
    labels = (flw.basins(idxs=outlets, ids=run_ids).ravel() * ice).reshape(win.mask.shape).astype("int32")
    labels[win.mask & (labels == 0)] = 0
    return _merge_small(labels, win.mask, min_unit_area_km2 * 1e6 / win.res_m**2)


def _merge_small(labels: np.ndarray, ice: np.ndarray, min_cells: float) -> np.ndarray:
    """Merge labels below ``min_cells`` into the neighbour with the longest shared boundary (smallest first)."""
    labels = labels.copy()
    cross = ndimage.generate_binary_structure(2, 1)
    while True:
        ids, counts = np.unique(labels[labels > 0], return_counts=True)
        if len(ids) <= 1:
            break
        small = [(c, i) for i, c in zip(ids, counts, strict=True) if c < min_cells]
        merged = False
        for _, lab in sorted(small):
            mask = labels == lab
            ring = ndimage.binary_dilation(mask, cross) & ~mask & (labels > 0)
            neigh = labels[ring]
            if neigh.size == 0:
                continue
            target = np.bincount(neigh).argmax()
            labels[mask] = target
            merged = True
            break
        if not merged:
            break
    # cells of the ice with no label (NaN DEM) join the nearest unit
    missing = ice & (labels == 0)
    if missing.any() and (labels > 0).any():
        _, (ri, ci) = ndimage.distance_transform_edt(labels == 0, return_indices=True)
        labels[missing] = labels[ri[missing], ci[missing]]
    return labels


def _partition(complex_geom, pieces: list) -> list:
    """Turn raster-derived pieces into an exact, non-overlapping partition of ``complex_geom``."""
    parts = [shapely.make_valid(shapely.intersection(complex_geom, p)) for p in pieces]
    parts = [shapely.union_all([g for g in getattr(p, "geoms", [p]) if g.area > 0]) for p in parts]
    covered = shapely.union_all(parts)
    rest = shapely.difference(complex_geom, covered)
    for sliver in getattr(rest, "geoms", [rest]):
        if sliver.is_empty or sliver.area == 0:
            continue
        shared = [
            shapely.intersection(sliver.boundary, p.boundary).length if not p.is_empty else 0.0 for p in parts
        ]
        k = int(np.argmax(shared)) if max(shared) > 0 else int(np.argmin([sliver.distance(p) for p in parts]))
        parts[k] = shapely.union_all([parts[k], sliver])
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


def _split_complex(win: GlacierWindow, min_unit_area_km2, user_lines):
    """Units of one complex (its DEM window), in a local metric CRS; returns (parts, metric crs)."""
    metric = win.grid.crs
    complex_m = win.geometry
    if user_lines is not None:
        lines_m = user_lines.to_crs(metric)
        cutting = [ln for ln in lines_m.geometry if ln.intersects(complex_m)]
        if cutting:
            pieces = list(split(complex_m, shapely.union_all(cutting)).geoms)
            return _merge_small_parts(pieces, min_unit_area_km2 * 1e6), metric
    if not np.isfinite(win.dem_m[win.mask]).any():
        log.warning("a complex has no valid DEM under it; kept as one unit")
        return [complex_m], metric
    labels = basin_labels(win, min_unit_area_km2)
    pieces: dict[int, list] = {}
    for g, v in rasterio.features.shapes(labels, mask=labels > 0, transform=win.grid.transform):
        pieces.setdefault(int(v), []).append(shape(g))
    if len(pieces) <= 1:
        return [complex_m], metric
    parts = _partition(complex_m, [shapely.union_all(v) for v in pieces.values()])
    return _merge_small_parts(parts, min_unit_area_km2 * 1e6), metric


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


def subdivide(
    glaciers: gpd.GeoDataFrame,
    dem_path: str | Path,
    *,
    debris: gpd.GeoDataFrame | None = None,
    min_unit_area_km2: float = 0.01,
    divides: gpd.GeoDataFrame | None = None,
    complex_id_column: str = "outline_id",
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Split each complex polygon of ``glaciers`` into glacier units.

    Returns
    -------
    units
        ``glac_id`` (``<complex id>-NN``), ``outline_id`` (the complex), ``area_km2``, geometry (input CRS).
    debris_units
        Debris polygons split by unit: ``debris_id``, ``glac_id``, ``area_km2``.
    divides
        Lines between adjacent units (``glac_id_a``, ``glac_id_b``).
    """
    if glaciers.crs is None:
        raise InputError("glacier outlines have no CRS", None, "Assign one before subdividing")
    if divides is not None and divides.crs is None:
        raise InputError("divide lines have no CRS", None, "Assign one (same as the outlines)")
    if len(glaciers) == 0:
        raise InputError("no glacier polygon to subdivide")
    check_dem_covers(glaciers, dem_path)
    crs = glaciers.crs
    gl = glaciers.reset_index(drop=True)
    cids = (
        gl[complex_id_column].astype(str)
        if complex_id_column in gl
        else [f"C{i + 1:05d}" for i in range(len(gl))]
    )
    rows = []
    with DemWindows(dem_path) as dems:
        for cid, (g, mcrs) in zip(cids, dems.metric_geometries(gl.geometry), strict=True):
            parts, metric = _split_complex(dems.window(g, mcrs, margin_px=3), min_unit_area_km2, divides)
            parts_crs = gpd.GeoSeries(parts, crs=metric).to_crs(crs)
            order = np.argsort([-p.representative_point().y for p in parts], kind="stable")
            for k, idx in enumerate(order):
                rows.append(
                    {"glac_id": f"{cid}-{k + 1:02d}", "outline_id": cid, "geometry": parts_crs.iloc[idx]}
                )
    units = gpd.GeoDataFrame(rows, geometry="geometry", crs=crs)
    units["area_km2"] = area_km2(units)
    units = units[["glac_id", "outline_id", "area_km2", "geometry"]]
    lines = divide_lines(units)
    debris_units = _split_debris(units, debris)
    log.info("subdivided %d complexes into %d units", len(gl), len(units))
    return units, debris_units, lines


def _split_debris(units: gpd.GeoDataFrame, debris: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame:
    empty = gpd.GeoDataFrame({"debris_id": [], "glac_id": [], "area_km2": []}, geometry=[], crs=units.crs)
    if debris is None or len(debris) == 0:
        return empty
    deb = debris.to_crs(units.crs) if debris.crs != units.crs else debris
    tree = shapely.STRtree(units.geometry.to_numpy())
    rows = []
    for dgeom in deb.geometry:
        for ui in tree.query(dgeom, predicate="intersects"):
            part = shapely.make_valid(shapely.intersection(dgeom, units.geometry.iloc[ui]))
            polys = [
                g
                for g in getattr(part, "geoms", [part])
                if g.geom_type in ("Polygon", "MultiPolygon") and g.area > 0
            ]
            if polys:
                rows.append({"glac_id": units.glac_id.iloc[ui], "geometry": shapely.union_all(polys)})
    if not rows:
        return empty
    out = gpd.GeoDataFrame(rows, geometry="geometry", crs=units.crs)
    out.insert(0, "debris_id", [f"{g}-D{i + 1:03d}" for i, g in enumerate(out.glac_id)])
    out["area_km2"] = area_km2(out)
    return out[["debris_id", "glac_id", "area_km2", "geometry"]]
