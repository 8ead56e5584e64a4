"""Classes raster → glacier and debris polygons, window by window, seamless across window borders.

Each window is vectorised with ``rasterio.features.shapes``; polygons that touch an inner window border
are held back and merged with their neighbours at the end (a glacier crossing a border stays one
polygon, whatever the block size). Then interior holes smaller than ``fill_holes_below_km2`` are filled,
glaciers smaller than ``min_area_km2`` are dropped (seed: 0.005 km²; areas on the ellipsoid), outlines are
simplified by ``simplify_px`` pixels (topology-preserving), and debris is clipped to its glacier.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio.features
import shapely
from shapely.geometry import MultiPolygon, Polygon, shape

from glacierinv.classes import CLEAN_ICE, DEBRIS
from glacierinv.geometry import area_km2
from glacierinv.io.grid import Grid
from glacierinv.io.raster import iter_windows, open_raster, read_window
from glacierinv.io.vector import write_layers

__all__ = ["vectorize_classes", "vectorize_mask", "write_outlines"]


def _polygons_of(geom) -> list[Polygon]:
    if geom is None or geom.is_empty:
        return []
    if isinstance(geom, Polygon):
        return [geom]
    if isinstance(geom, MultiPolygon):
        return list(geom.geoms)
    return [g for g in getattr(geom, "geoms", []) if isinstance(g, Polygon)]


def vectorize_mask(
    path: str | Path, values: tuple[int, ...], *, block_px: int = 1024
) -> tuple[list[Polygon], Grid]:
    """Polygons of the cells of ``path`` whose value is in ``values``: one per 4-connected region
    (rasterio's default), merged across window borders."""
    with open_raster(path) as ds:
        grid = Grid(ds.crs, ds.transform, (ds.height, ds.width))
        final: list[Polygon] = []
        border: list[Polygon] = []
        for _, win in iter_windows(grid, block=block_px):
            arr = read_window(ds, win, 1, as_float=False)
            mask = np.isin(arr, values)
            if not mask.any():
                continue
            wgrid = grid.window_grid(win)
            inner = _inner_border(grid, win, wgrid)
            for geom, _ in rasterio.features.shapes(
                mask.astype("uint8"), mask=mask, transform=wgrid.transform
            ):
                poly = shape(geom)
                (border if inner is not None and poly.intersects(inner) else final).append(poly)
        if border:
            final.extend(_polygons_of(shapely.union_all(border)))
    return final, grid


def _inner_border(grid: Grid, win, wgrid: Grid):
    """The window's edges that are shared with another window (as lines), or None."""
    left, bottom, right, top = wgrid.bounds
    edges = []
    if win.col_off > 0:
        edges.append(shapely.LineString([(left, bottom), (left, top)]))
    if win.col_off + win.width < grid.width:
        edges.append(shapely.LineString([(right, bottom), (right, top)]))
    if win.row_off > 0:
        edges.append(shapely.LineString([(left, top), (right, top)]))
    if win.row_off + win.height < grid.height:
        edges.append(shapely.LineString([(left, bottom), (right, bottom)]))
    return shapely.union_all(edges) if edges else None


def _fill_small_holes(poly: Polygon, crs, max_km2: float) -> Polygon:
    if not poly.interiors or max_km2 <= 0:
        return poly
    holes = [Polygon(r) for r in poly.interiors]
    sizes = area_km2(gpd.GeoSeries(holes, crs=crs))
    keep = [h.exterior.coords for h, a in zip(holes, sizes, strict=True) if a >= max_km2]
    return Polygon(poly.exterior.coords, keep)


def _ordered_ids(gdf: gpd.GeoDataFrame, prefix: str, column: str) -> gpd.GeoDataFrame:
    """Deterministic ids: north to south, then west to east, by representative point."""
    pts = gdf.geometry.representative_point()
    order = np.lexsort((np.round(pts.x.to_numpy(), 3), -np.round(pts.y.to_numpy(), 3)))
    gdf = gdf.iloc[order].reset_index(drop=True)
    gdf.insert(0, column, [f"{prefix}{i + 1:05d}" for i in range(len(gdf))])
    return gdf


def vectorize_classes(
    classes_path: str | Path,
    *,
    min_area_km2: float = 0.005,
    fill_holes_below_km2: float = 0.001,
    simplify_px: float = 0.5,
    block_px: int = 1024,
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Glacier (clean ice ∪ debris) and debris polygons from a classes raster.

    Returns
    -------
    glaciers
        Columns ``outline_id`` (``G00001``…), ``area_km2`` (ellipsoidal), geometry; CRS of the raster.
    debris
        Columns ``debris_id``, ``outline_id`` (its glacier), ``area_km2``, geometry; clipped to its glacier.
    """
    ice_polys, grid = vectorize_mask(classes_path, (CLEAN_ICE, DEBRIS), block_px=block_px)
    crs = grid.crs
    ice_polys = [_fill_small_holes(p, crs, fill_holes_below_km2) for p in ice_polys]
    tol = simplify_px * grid.res[0]
    if tol > 0:
        # drop collinear vertices (window seams add some) and fix the ring start, so that Douglas-Peucker
        # gives the same outline whatever the block size
        ice_polys = [
            shapely.normalize(p.simplify(0)).simplify(tol, preserve_topology=True) for p in ice_polys
        ]
    ice_polys = [p if p.is_valid else shapely.make_valid(p) for p in ice_polys]
    ice_polys = [q for p in ice_polys for q in _polygons_of(p)]
    glaciers = gpd.GeoDataFrame(geometry=ice_polys, crs=crs)
    if len(glaciers):
        glaciers["area_km2"] = area_km2(glaciers)
        glaciers = glaciers[glaciers["area_km2"] >= min_area_km2]
    glaciers = (
        _ordered_ids(glaciers.reset_index(drop=True), "G", "outline_id")
        if len(glaciers)
        else _empty(crs, ["outline_id", "area_km2"])
    )
    glaciers = glaciers[["outline_id", "area_km2", "geometry"]]

    debris_polys, _ = vectorize_mask(classes_path, (DEBRIS,), block_px=block_px)
    if tol > 0:
        debris_polys = [
            shapely.normalize(p.simplify(0)).simplify(tol, preserve_topology=True) for p in debris_polys
        ]
    rows = []
    if len(glaciers) and debris_polys:
        tree = shapely.STRtree(glaciers.geometry.to_numpy())
        for poly in debris_polys:
            for gi in tree.query(poly, predicate="intersects"):
                clipped = shapely.intersection(poly, glaciers.geometry.iloc[gi])
                for part in _polygons_of(shapely.make_valid(clipped)):
                    if part.area > 0:
                        rows.append({"outline_id": glaciers.outline_id.iloc[gi], "geometry": part})
    debris = gpd.GeoDataFrame(rows, geometry="geometry", crs=crs) if rows else _empty(crs, ["outline_id"])
    if len(debris):
        debris["area_km2"] = area_km2(debris)
        debris = debris[debris["area_km2"] > 0]
        debris = _ordered_ids(debris.reset_index(drop=True), "D", "debris_id")
    else:
        debris["area_km2"] = []
        debris["debris_id"] = []
    return glaciers, debris[["debris_id", "outline_id", "area_km2", "geometry"]]


def _empty(crs, columns: list[str]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({c: [] for c in columns}, geometry=[], crs=crs)


def write_outlines(
    path: str | Path,
    glaciers: gpd.GeoDataFrame,
    debris: gpd.GeoDataFrame,
    review: gpd.GeoDataFrame | None = None,
    edits: gpd.GeoDataFrame | None = None,
) -> Path:
    """Write ``outlines.gpkg`` (layers glaciers, debris, review, edits) atomically."""
    crs = glaciers.crs
    layers = {
        "glaciers": glaciers,
        "debris": debris,
        "review": review
        if review is not None
        else _empty(crs, ["flag_id", "outline_id", "reason", "priority", "score", "area_km2", "evidence"]),
        "edits": edits
        if edits is not None
        else _empty(crs, ["outline_id", "action", "editor", "timestamp", "reason"]),
    }
    return write_layers(path, layers)
