"""Classes raster → glacier and debris polygons, window by window, seamless across window borders.

Each window is vectorised with ``rasterio.features.shapes``; polygons that touch an inner window border
are held back and merged with their neighbours at the end (a glacier crossing a border stays one
polygon, whatever the block size). The windows are vectorised as tasks over batches of windows on the
run's cluster when the pipeline set one (:mod:`glacierinv.taskmap`; each task reads its own windows), and
their polygons are put back in window order before the border polygons are merged in this process, so the
outlines are identical in process and on any number of workers. Then interior holes smaller than ``fill_holes_below_km2`` are filled,
glaciers smaller than ``min_area_km2`` are dropped (seed: 0.005 km²; areas on the ellipsoid), outlines are
simplified by ``simplify_px`` pixels (topology-preserving), and debris is clipped to its glacier.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio.features
import shapely
from affine import Affine
from rasterio.windows import Window
from shapely.geometry import Polygon, shape

from glacierinv.classes import CLEAN_ICE, DEBRIS
from glacierinv.config import OutlinesConfig
from glacierinv.geometry import area_km2, polygon_parts, repair_polygons, valid_polygonal
from glacierinv.io.grid import Grid
from glacierinv.io.raster import iter_windows, open_raster, read_window
from glacierinv.io.vector import write_layers
from glacierinv.taskmap import map_batched

__all__ = [
    "mask_polygons",
    "outlines_from_polygons",
    "vectorize_array",
    "vectorize_classes",
    "vectorize_mask",
    "vectorize_masks",
    "write_outlines",
]

#: The outlines stage's defaults ([outlines] in glacierinv.config, their only copy).
_OUTLINES = {k: f.default for k, f in OutlinesConfig.model_fields.items()}


def vectorize_mask(
    path: str | Path, values: tuple[int, ...], *, block_px: int = 1024
) -> tuple[list[Polygon], Grid]:
    """Polygons of the cells of ``path`` whose value is in ``values``: one per 4-connected region
    (rasterio's default), merged across window borders."""
    (polys,), grid = vectorize_masks(path, (values,), block_px=block_px)
    return polys, grid


def vectorize_masks(
    path: str | Path,
    value_sets: tuple[tuple[int, ...], ...],
    *,
    block_px: int = 1024,
    finish: tuple[Callable[[Polygon], Polygon], ...] | None = None,
) -> tuple[list[list[Polygon]], Grid]:
    """:func:`vectorize_mask` for several value sets at once, each window read once.

    The ``block_px`` windows are vectorised as tasks over batches of windows (:mod:`glacierinv.taskmap`:
    on the run's cluster when one is set, else here in one batch); each task reads its own windows. The
    polygons come back in window order and those touching an inner window border are merged here, so the
    result does not depend on how the windows were batched.

    ``finish`` (one picklable function per value set, polygon → polygon) is applied to every polygon: in
    the tasks to those inside a window, here to the merged ones, so the per-polygon work runs in the tasks
    too and the result is that of applying it afterwards.

    Returns
    -------
    polygons, grid
        One list of polygons per value set (in the raster's coordinates), and the raster's grid.
    """
    with open_raster(path) as ds:
        grid = Grid(ds.crs, ds.transform, (ds.height, ds.width))
    windows = [win for _, win in iter_windows(grid, block=block_px)]
    per_window = map_batched(
        partial(_window_polygons, str(path), tuple(value_sets), finish),
        windows,
        [int(w.width) * int(w.height) for w in windows],
        name="window_polygons",
    )
    out = []
    for v in range(len(value_sets)):
        final = [p for w in per_window for p in w[v][0]]
        border = [p for w in per_window for p in w[v][1]]
        if border:
            merged = polygon_parts(shapely.union_all(border))
            final.extend(merged if finish is None else [finish[v](p) for p in merged])
        out.append(final)
    return out, grid


def _window_polygons(
    path: str, value_sets: tuple[tuple[int, ...], ...], finish, windows: list[Window]
) -> list[list[tuple[list[Polygon], list[Polygon]]]]:
    """Per window, per value set: (polygons inside the window, finished when ``finish`` is given; polygons
    touching an inner window border, raw)."""
    out = []
    with open_raster(path) as ds:
        grid = Grid(ds.crs, ds.transform, (ds.height, ds.width))
        for win in windows:
            arr = read_window(ds, win, 1, as_float=False)
            wgrid = grid.window_grid(win)
            inner = _inner_border(grid, win, wgrid)
            per_set = []
            for v, values in enumerate(value_sets):
                final: list[Polygon] = []
                border: list[Polygon] = []
                for poly in mask_polygons(arr, values, wgrid.transform):
                    if inner is not None and poly.intersects(inner):
                        border.append(poly)
                    else:
                        final.append(poly if finish is None else finish[v](poly))
                per_set.append((final, border))
            out.append(per_set)
    return out


def mask_polygons(classes: np.ndarray, values: tuple[int, ...], transform: Affine) -> list[Polygon]:
    """Polygons of the cells of a 2-D array whose value is in ``values``, one per 4-connected region
    (rasterio's default), in the coordinates of ``transform``."""
    mask = np.isin(classes, values)
    if not mask.any():
        return []
    return [
        shape(geom)
        for geom, _ in rasterio.features.shapes(mask.astype("uint8"), mask=mask, transform=transform)
    ]


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
    min_area_km2: float = _OUTLINES["min_area_km2"],
    fill_holes_below_km2: float = _OUTLINES["fill_holes_below_km2"],
    simplify_px: float = _OUTLINES["simplify_px"],
    block_px: int = 1024,
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Glacier (clean ice ∪ debris) and debris polygons from a classes raster, window by window.

    Reads ``classes_path`` in ``block_px`` windows (:func:`vectorize_masks`, tasks on the run's cluster when
    one is set) and builds the outlines with :func:`outlines_from_polygons`.

    Returns
    -------
    glaciers
        Columns ``outline_id`` (``G00001``…), ``area_km2`` (ellipsoidal), geometry; CRS of the raster.
    debris
        Columns ``debris_id``, ``outline_id`` (its glacier), ``area_km2``, geometry; clipped to its glacier.
    """
    with open_raster(classes_path) as ds:
        crs, tol = ds.crs, simplify_px * abs(ds.transform.a)
    # hole filling and simplification per polygon, in the window tasks (seam polygons once merged)
    finish = (partial(_ice_outline, crs=crs, tol=tol, fill_holes_below_km2=fill_holes_below_km2),
              partial(_simplified_one, tol=tol))  # fmt: skip
    (ice_polys, debris_polys), grid = vectorize_masks(
        classes_path, ((CLEAN_ICE, DEBRIS), (DEBRIS,)), block_px=block_px, finish=finish
    )
    return outlines_from_polygons(
        ice_polys, debris_polys, grid.crs, grid.res[0],
        min_area_km2=min_area_km2, fill_holes_below_km2=fill_holes_below_km2, simplify_px=simplify_px,
        finished=True,
    )  # fmt: skip


def vectorize_array(
    classes: np.ndarray,
    transform: Affine,
    crs,
    *,
    min_area_km2: float = _OUTLINES["min_area_km2"],
    fill_holes_below_km2: float = _OUTLINES["fill_holes_below_km2"],
    simplify_px: float = _OUTLINES["simplify_px"],
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """:func:`vectorize_classes` of a classes array held in memory (pure: array in, GeoDataFrames out).

    Parameters
    ----------
    classes : (rows, cols) int array
        0 background, 1 clean ice, 2 debris, 255 nodata.
    transform : Affine
        Pixel → map coordinates (square pixels, metres or degrees of ``crs``).
    crs
        CRS of ``transform``.
    """
    transform = Affine(*transform[:6])
    ice = mask_polygons(classes, (CLEAN_ICE, DEBRIS), transform)
    debris = mask_polygons(classes, (DEBRIS,), transform)
    return outlines_from_polygons(
        ice, debris, crs, abs(transform.a),
        min_area_km2=min_area_km2, fill_holes_below_km2=fill_holes_below_km2, simplify_px=simplify_px,
    )  # fmt: skip


def outlines_from_polygons(
    ice_polys: list[Polygon],
    debris_polys: list[Polygon],
    crs,
    pixel_size: float,
    *,
    min_area_km2: float = _OUTLINES["min_area_km2"],
    fill_holes_below_km2: float = _OUTLINES["fill_holes_below_km2"],
    simplify_px: float = _OUTLINES["simplify_px"],
    finished: bool = False,
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Glacier and debris outlines from the raw polygons of the ice (clean ice ∪ debris) and debris cells.

    Small holes filled, outlines simplified by ``simplify_px`` pixels of ``pixel_size`` (CRS units),
    repaired (:func:`glacierinv.geometry.repair_polygons`), glaciers below ``min_area_km2`` dropped, debris
    clipped to its glacier; ids in reading order (north to south, west to east). Returns (glaciers, debris)
    as :func:`vectorize_classes`. ``finished``: the polygons' holes are already filled and the polygons
    simplified (by :func:`vectorize_masks`' ``finish``, as :func:`vectorize_classes` does).
    """
    tol = simplify_px * pixel_size
    if not finished:
        ice_polys = [_ice_outline(p, crs, tol, fill_holes_below_km2) for p in ice_polys]
        debris_polys = [_simplified_one(p, tol) for p in debris_polys]
    glaciers = _glaciers(ice_polys, crs, min_area_km2)
    return glaciers, _debris(debris_polys, glaciers, crs)


def _simplified_one(poly: Polygon, tol: float) -> Polygon:
    if tol <= 0:
        return poly
    # drop collinear vertices (window seams add some) and fix the ring start, so that Douglas-Peucker
    # gives the same outline whatever the block size
    return shapely.normalize(poly.simplify(0)).simplify(tol, preserve_topology=True)


def _ice_outline(poly: Polygon, crs, tol: float, fill_holes_below_km2: float) -> Polygon:
    """A glacier polygon's holes below ``fill_holes_below_km2`` filled, then simplified by ``tol``."""
    return _simplified_one(_fill_small_holes(poly, crs, fill_holes_below_km2), tol)


def _glaciers(ice_polys, crs, min_area_km2: float) -> gpd.GeoDataFrame:
    repaired, _ = repair_polygons(
        gpd.GeoDataFrame(geometry=ice_polys, crs=crs), what="vectorised outlines", log_level=logging.INFO
    )
    glaciers = gpd.GeoDataFrame(geometry=[q for p in repaired.geometry for q in polygon_parts(p)], crs=crs)
    if len(glaciers):
        glaciers["area_km2"] = area_km2(glaciers)
        glaciers = glaciers[glaciers["area_km2"] >= min_area_km2]
    glaciers = (
        _ordered_ids(glaciers.reset_index(drop=True), "G", "outline_id")
        if len(glaciers)
        else _empty(crs, ["outline_id", "area_km2"])
    )
    return glaciers[["outline_id", "area_km2", "geometry"]]


def _debris(debris_polys, glaciers: gpd.GeoDataFrame, crs) -> gpd.GeoDataFrame:
    rows = []
    if len(glaciers) and debris_polys:
        tree = shapely.STRtree(glaciers.geometry.to_numpy())
        for poly in debris_polys:
            for gi in tree.query(poly, predicate="intersects"):
                clipped = shapely.intersection(poly, glaciers.geometry.iloc[gi])
                for part in polygon_parts(valid_polygonal(clipped)):
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
    return debris[["debris_id", "outline_id", "area_km2", "geometry"]]


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
