"""Outline uncertainty by the buffer method (Granshaw & Fountain 2006; Paul et al. 2013; seed §3.3.3).

Each outline is buffered outwards and inwards by ``buffer_px`` pixels of the source imagery (seed: ±2 px
= ±4 m at 2 m); the uncertainty is half the area between the two buffered outlines,
``u = (A(+d) − A(−d)) / 2``, i.e. about perimeter × d.

Shared boundaries are not double counted: a drainage divide between two adjacent units of one glacier
complex is not an uncertain ice margin (moving it moves area from one unit to the other, the total does
not change). So the buffers are applied to each *complex* (the union of touching units) and its
uncertainty is shared among its units in proportion to the part of the complex's uncertainty band that
lies along each unit's own outer margin. The total over units therefore equals the total of the union,
and two adjacent squares give exactly the uncertainty of the rectangle they form.

Buffers are computed in a metric CRS (:func:`glacierinv.geometry.to_metric`); the areas of the bands are
measured on the ellipsoid (:func:`glacierinv.geometry.area_km2`).
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from glacierinv.errors import InputError
from glacierinv.geometry import area_km2, box_areas, to_metric
from glacierinv.taskmap import map_batched

__all__ = ["buffer_uncertainty", "polygon_buffer_uncertainty_km2"]

log = logging.getLogger(__name__)


def _complex_parts(union: BaseGeometry) -> list[BaseGeometry]:
    if union.is_empty:
        return []
    return list(getattr(union, "geoms", [union]))


def polygon_buffer_uncertainty_km2(geoms: gpd.GeoSeries, buffer_m: float) -> tuple[np.ndarray, float, int]:
    """Buffer-method uncertainty (km²) of each polygon, shared boundaries counted once.

    Parameters
    ----------
    geoms
        Polygons in a **metric** CRS (metres).
    buffer_m
        Buffer distance d in metres (round joins).

    Returns
    -------
    per_polygon_km2, total_km2, n_complexes
        Per-polygon uncertainty (summing to the total), the total ``Σ_complex (A(U+d) − A(U−d)) / 2``
        over the complexes U (connected parts of the union), and the number of complexes.
    """
    if geoms.crs is None or not geoms.crs.is_projected:
        raise ValueError("geometries must be in a projected, metric CRS")
    n = len(geoms)
    per = np.zeros(n)
    if n == 0 or buffer_m == 0:
        return per, 0.0, 0
    values = geoms.values
    tree = shapely.STRtree(values)
    parts = _complex_parts(shapely.union_all(values))
    items = [(U, [(int(i), values[i]) for i in tree.query(U, predicate="intersects")]) for U in parts]
    # each complex's bands and its members' shares as tasks over batches of complexes (glacierinv.taskmap)
    done = map_batched(partial(_complex_bands, buffer_m, geoms.crs), items, box_areas(parts),
                       name="buffer_uncertainty")  # fmt: skip
    ring_km2 = np.array([ring for ring, _ in done], dtype="float64")
    members = [(k, i, raw) for k, (_, shares) in enumerate(done) for i, raw in shares]
    cplx = np.array([k for k, _, _ in members], dtype=int)
    owner = np.array([i for _, i, _ in members], dtype=int)
    raw_km2 = np.array([raw for _, _, raw in members], dtype="float64")
    raw_sum = np.bincount(cplx, weights=raw_km2, minlength=len(parts))
    # rescale within each complex so that the units sum exactly to the complex (removes the small
    # double counting at junctions where the bands of two units' outer margins overlap)
    scale = np.divide(ring_km2, raw_sum, out=np.zeros_like(ring_km2), where=raw_sum > 0)
    np.add.at(per, owner, raw_km2 * scale[cplx])
    return per, float(ring_km2.sum()), len(parts)


def _complex_bands(buffer_m: float, crs, batch: list) -> list[tuple[float, list[tuple[int, float]]]]:
    """For each (complex U, its candidate members (index, polygon)) of a batch (a task): the complex's
    uncertainty ``(A(U+d) − A(U−d)) / 2`` (km²) and each member's raw share (km², before rescaling)."""
    out = []
    for U, candidates in batch:
        outer = U.buffer(buffer_m).difference(U)
        inner = U.difference(U.buffer(-buffer_m))
        owners, pieces = [], []
        for i, g in candidates:
            if g.intersection(U).area <= 0:  # touches the complex only at its edge: not a member
                continue
            pieces.append(shapely.union(inner.intersection(g), outer.intersection(g.buffer(buffer_m))))
            owners.append(i)
        ring = area_km2(gpd.GeoSeries([outer, inner], crs=crs)).reshape(-1, 2).sum(axis=1) / 2
        raw = area_km2(gpd.GeoSeries(pieces, crs=crs)) / 2 if pieces else np.zeros(0)
        out.append((float(ring[0]), list(zip(owners, raw.tolist(), strict=True))))
    return out


def _allocate_to_glaciers(
    debris_m: gpd.GeoDataFrame, glaciers_m: gpd.GeoDataFrame, values_km2: np.ndarray
) -> tuple[np.ndarray, float]:
    """Share per-debris-polygon values among glaciers by overlap area; returns (per glacier, unallocated)."""
    out = np.zeros(len(glaciers_m))
    lost = 0.0
    gvals = glaciers_m.geometry.values
    tree = shapely.STRtree(gvals)
    for dgeom, v in zip(debris_m.geometry.values, values_km2, strict=True):
        idx = tree.query(dgeom, predicate="intersects")
        overlaps = np.array([dgeom.intersection(gvals[i]).area for i in idx]) if len(idx) else np.array([])
        if overlaps.size == 0 or overlaps.sum() <= 0:
            lost += float(v)
            continue
        np.add.at(out, idx, v * overlaps / overlaps.sum())
    return out, lost


def buffer_uncertainty(
    glaciers: gpd.GeoDataFrame,
    debris: gpd.GeoDataFrame | None = None,
    *,
    pixel_size_m: float,
    buffer_px: float = 2.0,
    id_column: str = "glac_id",
) -> tuple[gpd.GeoDataFrame, dict[str, Any]]:
    """Per-glacier and total area uncertainty of glacier and debris outlines by the buffer method.

    Parameters
    ----------
    glaciers
        Glacier (unit) polygons, any CRS. Adjacent units sharing a divide are treated as one complex
        for the margin (see module docstring).
    debris
        Optional debris-covered-ice polygons; their uncertainty is shared among the glaciers they
        overlap, in proportion to the overlap area.
    pixel_size_m
        Ground sampling distance of the imagery the outlines were mapped from, metres.
    buffer_px
        Buffer half-width in pixels (seed: 2 px, i.e. ±4 m at 2 m).
    id_column
        Glacier id column, used only to name glaciers in log messages; missing ids are allowed.

    Returns
    -------
    glaciers_out, totals
        A copy of ``glaciers`` with ``area_unc_km2`` and ``debris_unc_km2`` (km², ±; ``debris_unc_km2``
        is null when no debris layer is given) and a JSON-serialisable dict: ``glacier_area_km2``,
        ``glacier_unc_km2``, ``glacier_unc_pct``, ``debris_area_km2``, ``debris_unc_km2``,
        ``debris_unc_pct``, ``n_glaciers``, ``n_complexes``, ``n_debris``, ``buffer_px``,
        ``pixel_size_m``, ``buffer_m``. Percentages are relative to the total area (``None`` if zero).
    """
    _check_inputs(glaciers, pixel_size_m, buffer_px)
    buffer_m = float(pixel_size_m) * float(buffer_px)
    out = glaciers.copy()
    totals: dict[str, Any] = {
        "method": "buffer (A(+d) - A(-d)) / 2 per complex, shared divides counted once",
        "buffer_px": float(buffer_px),
        "pixel_size_m": float(pixel_size_m),
        "buffer_m": buffer_m,
        "n_glaciers": int(len(glaciers)),
    }
    glac_m, per, glacier_totals = _glacier_uncertainty(glaciers, buffer_m)
    _insert_after(out, "area_unc_km2", per, "area_km2")
    totals.update(glacier_totals)
    per_glacier, debris_totals = _debris_uncertainty(debris, glac_m, len(glaciers), buffer_m)
    _insert_after(out, "debris_unc_km2", per_glacier, "debris_km2")
    totals.update(debris_totals)
    if debris is not None and id_column not in glaciers.columns:
        log.info("glaciers have no '%s' column; uncertainties are per row", id_column)
    return out, totals


def _check_inputs(glaciers: gpd.GeoDataFrame, pixel_size_m: float, buffer_px: float) -> None:
    """Refuse (``InputError``) a pixel size (m) that is not positive, a negative buffer (px), outlines
    without a CRS."""
    if not np.isfinite(pixel_size_m) or pixel_size_m <= 0:
        raise InputError(f"pixel size must be a positive number of metres, got {pixel_size_m}")
    if not np.isfinite(buffer_px) or buffer_px < 0:
        raise InputError(f"buffer must be a non-negative number of pixels, got {buffer_px}")
    if glaciers.crs is None:
        raise InputError("glacier outlines have no CRS", fix="Assign one and save again")


def _glacier_uncertainty(
    glaciers: gpd.GeoDataFrame, buffer_m: float
) -> tuple[gpd.GeoDataFrame, np.ndarray, dict[str, Any]]:
    """(glaciers in a metric CRS, per-glacier uncertainty km², glacier totals) of the outlines buffered by
    ``buffer_m`` metres; the input itself, no values and zero totals when there is no glacier."""
    if len(glaciers):
        glac_m = to_metric(glaciers)
        per, total, n_cplx = polygon_buffer_uncertainty_km2(glac_m.geometry, buffer_m)
        area = float(area_km2(glaciers).sum())
    else:
        glac_m, per, total, n_cplx, area = glaciers, np.zeros(0), 0.0, 0, 0.0
    totals = {
        "glacier_area_km2": area,
        "glacier_unc_km2": total,
        "glacier_unc_pct": 100 * total / area if area > 0 else None,
        "n_complexes": int(n_cplx),
    }
    return glac_m, per, totals


def _debris_uncertainty(
    debris: gpd.GeoDataFrame | None, glac_m: gpd.GeoDataFrame, n_glac: int, buffer_m: float
) -> tuple[np.ndarray, dict[str, Any]]:
    """(per-glacier debris uncertainty km², debris totals) of the non-empty debris polygons buffered by
    ``buffer_m`` metres, shared among the ``n_glac`` metric glaciers ``glac_m`` by overlap area; NaN per
    glacier and null totals without a debris layer."""
    if debris is None:
        return np.full(n_glac, np.nan), dict.fromkeys(
            ("debris_area_km2", "debris_unc_km2", "debris_unc_pct", "n_debris"), None
        )
    if debris.crs is None:
        raise InputError("debris outlines have no CRS", fix="Assign one and save again")
    debris = debris[debris.geometry.notna() & ~debris.geometry.is_empty]
    d_per = np.zeros(len(debris))
    d_total = d_area = 0.0
    if len(debris):
        deb_m = debris.to_crs(glac_m.crs) if n_glac else to_metric(debris)
        d_per, d_total, _ = polygon_buffer_uncertainty_km2(deb_m.geometry, buffer_m)
        d_area = float(area_km2(debris).sum())
    per_glacier = np.zeros(n_glac)
    if len(debris) and n_glac:
        per_glacier, lost = _allocate_to_glaciers(deb_m, glac_m, d_per)
        if lost > 0:
            log.warning("%.4f km² of debris uncertainty lies outside every glacier (counted in totals)", lost)
    totals = {
        "debris_area_km2": d_area,
        "debris_unc_km2": d_total,
        "debris_unc_pct": 100 * d_total / d_area if d_area > 0 else None,
        "n_debris": int(len(debris)),
    }
    return per_glacier, totals


def _insert_after(gdf: gpd.GeoDataFrame, name: str, values: np.ndarray, after: str) -> None:
    """Set column ``name``: after column ``after`` if present, else before the geometry column."""
    if name in gdf.columns:
        gdf[name] = values
        return
    cols = list(gdf.columns)
    pos = cols.index(after) + 1 if after in cols else cols.index(gdf.geometry.name)
    gdf.insert(pos, name, values)
