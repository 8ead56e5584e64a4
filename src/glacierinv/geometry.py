"""Geometry measures done one way everywhere: areas on the ellipsoid, lengths in metres, local metric CRSs,
the equal-area CRS of an inventory, and the glacier size classes.

Areas are geodesic (WGS84 ellipsoid, pyproj ``Geod.geometry_area_perimeter``), so the same polygon gives
the same km² in UTM and in EPSG:4326. Never measure in degrees.
"""

from __future__ import annotations

import logging
import math

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Geod
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

__all__ = [
    "SIZE_CLASSES_KM2",
    "area_km2",
    "box_areas",
    "covered_area_km2",
    "equal_area_crs",
    "find_overlaps",
    "geometry_area_km2",
    "in_crs",
    "local_metric_crs",
    "polygon_parts",
    "repair_polygons",
    "size_class_index",
    "size_class_labels",
    "to_metric",
    "utm_epsg",
    "valid_polygonal",
]

_GEOD = Geod(ellps="WGS84")


def geometry_area_km2(geom: BaseGeometry) -> float:
    """Geodesic area (km²) of one geometry given in EPSG:4326 (lon, lat)."""
    if geom is None or geom.is_empty:
        return 0.0
    area_m2, _ = _GEOD.geometry_area_perimeter(geom)
    return abs(area_m2) / 1e6


def area_km2(gdf: gpd.GeoDataFrame | gpd.GeoSeries) -> np.ndarray:
    """Geodesic area in km² of each geometry, whatever the CRS (reprojected to WGS84 first)."""
    geoms = gdf.geometry if isinstance(gdf, gpd.GeoDataFrame) else gdf
    if geoms.crs is None:
        raise ValueError("geometries have no CRS; cannot compute areas")
    lonlat = geoms.to_crs(4326)
    return np.array([geometry_area_km2(g) for g in lonlat], dtype="float64")


def box_areas(geoms) -> np.ndarray:
    """Area of each geometry's bounding box (CRS units², 0 for an empty or missing geometry): the weight of
    a glacier's window when its work is cut into tasks."""
    b = shapely.bounds(np.asarray(geoms))
    return np.nan_to_num((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]))


def local_metric_crs(gdf: gpd.GeoDataFrame | gpd.GeoSeries) -> CRS:
    """A metric CRS for lengths/buffers: the data's CRS if projected, else its UTM zone."""
    if gdf.crs is not None and gdf.crs.is_projected:
        return CRS.from_user_input(gdf.crs)
    return gdf.estimate_utm_crs()


def in_crs(gdf: gpd.GeoDataFrame, crs) -> gpd.GeoDataFrame:
    """``gdf`` reprojected to ``crs``; ``gdf`` itself (no copy) when it is already in ``crs``."""
    return gdf if gdf.crs == crs else gdf.to_crs(crs)


def to_metric(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """``gdf`` in :func:`local_metric_crs` (a copy only when reprojection is needed)."""
    return in_crs(gdf, local_metric_crs(gdf))


def polygon_parts(geom: BaseGeometry | None) -> list[Polygon]:
    """The non-empty polygons of any geometry (a Polygon, the parts of a MultiPolygon or of a collection,
    recursively); lines and points are left out. ``[]`` for None or an empty geometry."""
    if geom is None or geom.is_empty:
        return []
    if isinstance(geom, Polygon):
        return [geom]
    return [q for g in getattr(geom, "geoms", []) for q in polygon_parts(g)]


def valid_polygonal(geom: BaseGeometry) -> BaseGeometry:
    """``geom`` made valid (shapely ``make_valid``, only when invalid) and cut to its polygonal part.

    A valid (Multi)Polygon is returned as it is; the lines and points ``make_valid`` leaves of a collapsed
    ring (or that an intersection produces) are dropped; an empty Polygon when nothing polygonal is left.
    The one place polygons are repaired (:func:`repair_polygons` applies it to a frame and reports).
    """
    if geom is None:
        return Polygon()
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    return _polygonal(geom)


def repair_polygons(
    gdf: gpd.GeoDataFrame,
    id_column: str | None = None,
    *,
    what: object = "outlines",
    log_level: int = logging.WARNING,
) -> tuple[gpd.GeoDataFrame, list[dict]]:
    """Repair invalid polygons (self-intersections, bow-ties) with ``make_valid``, keeping the polygonal part.

    Each repair is logged (a warning by default) naming the polygon (``id_column`` value, else the row
    number) and its geodesic area before and after, so that a repair that changes a glacier is never silent.

    Parameters
    ----------
    gdf
        Polygons in any CRS (not modified).
    id_column
        Column naming the polygons in the log and in the returned records (default: row numbers).
    what
        Name of the data in the log messages (e.g. the file path).
    log_level
        Level of the log message per repair (``logging.DEBUG`` where the caller reports repairs itself).

    Returns
    -------
    repaired, repairs
        A copy with valid geometries (an empty Polygon where nothing polygonal was left), and one record per
        repaired polygon: ``id``, ``row`` (0-based position in ``gdf``), ``reason`` (GEOS's
        ``is_valid_reason``), ``made_valid_type`` (geometry type ``make_valid`` returned, before the
        polygonal part was kept), ``area_before_km2`` (geodesic area of the invalid ring as given,
        shoelace, may be meaningless for a bow-tie; NaN without a CRS), ``area_after_km2``,
        ``area_change_km2``.
    """
    out = gdf.copy()
    if len(out) == 0:
        return out, []
    geoms = out.geometry
    bad = (geoms.notna() & ~geoms.is_valid).to_numpy()
    if not bad.any():
        return out, []
    before = area_km2(geoms[bad]) if geoms.crs is not None else np.full(int(bad.sum()), np.nan)
    reasons = [shapely.is_valid_reason(g) for g in geoms[bad]]
    made = [shapely.make_valid(g) for g in geoms[bad]]
    out.loc[bad, out.geometry.name] = [valid_polygonal(g) for g in made]
    after = area_km2(out.geometry[bad]) if geoms.crs is not None else np.full(int(bad.sum()), np.nan)
    ids = (
        out[id_column].astype(str)[bad] if id_column and id_column in out else np.flatnonzero(bad).astype(str)
    )
    log = logging.getLogger(__name__)
    repairs = []
    for gid, row, why, mv, a0, a1 in zip(ids, np.flatnonzero(bad), reasons, made, before, after, strict=True):
        repairs.append({"id": gid, "row": int(row), "reason": why, "made_valid_type": mv.geom_type,
                        "area_before_km2": float(a0), "area_after_km2": float(a1),
                        "area_change_km2": float(a1 - a0)})  # fmt: skip
        log.log(
            log_level,
            "%s: polygon %s was invalid (%s) and was repaired with make_valid: area %.6f → %.6f km² (%+.1f m²)",
            what, gid, why, a0, a1, 1e6 * (a1 - a0),
        )  # fmt: skip
    return out, repairs


def _polygonal(geom: BaseGeometry) -> BaseGeometry:
    """The (multi)polygonal part of a ``make_valid`` result (lines and points of a collapsed ring dropped)."""
    if isinstance(geom, (Polygon, MultiPolygon)):
        return geom
    parts = polygon_parts(geom)
    if not parts:
        return Polygon()
    return parts[0] if len(parts) == 1 else MultiPolygon(parts)


def find_overlaps(
    gdf: gpd.GeoDataFrame, id_column: str | None = None, *, min_share: float = 0.01
) -> pd.DataFrame:
    """Pairs of polygons that overlap by more than ``min_share`` of the smaller one (duplicates included).

    Glacier outlines of one inventory tile the ground: they may touch along divides but never overlap. Two
    polygons sharing more than ``min_share`` (default 1 %, above digitising slivers) of the smaller one's
    area are counted twice in every total. Returns columns ``id_a, id_b, overlap_km2, share`` (share of the
    smaller polygon; 1.0 for the same outline twice), sorted by decreasing share.
    """
    import shapely

    cols = ["id_a", "id_b", "overlap_km2", "share"]
    if len(gdf) < 2:
        return pd.DataFrame(columns=cols)
    metric = to_metric(gdf[[gdf.geometry.name]].reset_index(drop=True))
    geoms = metric.geometry.to_numpy()
    left, right = metric.sindex.query(geoms, predicate="intersects")
    keep = left < right
    left, right = left[keep], right[keep]
    ids = (
        gdf[id_column].astype(str).to_numpy()
        if id_column and id_column in gdf
        else np.arange(len(gdf)).astype(str)
    )
    rows = []
    for i, j in zip(left, right, strict=True):
        inter = shapely.intersection(geoms[i], geoms[j]).area
        smaller = min(geoms[i].area, geoms[j].area)
        if smaller > 0 and inter / smaller > min_share:
            rows.append(
                {"id_a": ids[i], "id_b": ids[j], "overlap_km2": inter / 1e6, "share": inter / smaller}
            )
    return pd.DataFrame(rows, columns=cols).sort_values("share", ascending=False, ignore_index=True)


def utm_epsg(lon: float, lat: float) -> int:
    """EPSG code of the WGS84 / UTM zone holding (lon, lat) in degrees (326zz north, 327zz south).

    Plain 6° zones (no Norway/Svalbard exceptions); longitude 180° falls in zone 60.
    """
    zone = min(max(int(math.floor((lon + 180.0) / 6.0)) + 1, 1), 60)
    return (32600 if lat >= 0 else 32700) + zone


def equal_area_crs(*frames: gpd.GeoDataFrame | gpd.GeoSeries) -> CRS:
    """A Lambert azimuthal equal-area CRS (metres) centred on the combined lon/lat extent of ``frames``.

    Used for grid cells and areas of whole inventories (seed Figs. S4/S5, 9); centred at (0, 0) when all
    frames are empty.
    """
    bounds = np.array([f.to_crs(4326).total_bounds for f in frames if len(f)])
    lon, lat = 0.0, 0.0
    if bounds.size:
        lon = (bounds[:, 0].min() + bounds[:, 2].max()) / 2
        lat = (bounds[:, 1].min() + bounds[:, 3].max()) / 2
    return CRS.from_proj4(f"+proj=laea +lat_0={lat:.4f} +lon_0={lon:.4f} +datum=WGS84 +units=m +no_defs")


#: Glacier size classes of the seed (Fig. 8), km² edges: [lo, hi), first edge 0, last inf.
SIZE_CLASSES_KM2: tuple[float, ...] = (0.0, 0.1, 0.5, 1.0, 5.0, 10.0, 50.0, 100.0, math.inf)


def size_class_labels(edges_km2: tuple[float, ...] = SIZE_CLASSES_KM2) -> list[str]:
    """Labels ``<0.1``, ``0.1-0.5``, … ``>100`` for class edges in km² (first edge 0, last inf)."""
    out = []
    for lo, hi in zip(edges_km2[:-1], edges_km2[1:], strict=True):
        out.append(f"<{hi:g}" if lo == 0 else (f">{lo:g}" if math.isinf(hi) else f"{lo:g}-{hi:g}"))
    return out


def size_class_index(area_km2: np.ndarray, edges_km2: tuple[float, ...] = SIZE_CLASSES_KM2) -> np.ndarray:
    """Index of each area's size class; the lower edge is inclusive (a 0.1 km² glacier is in 0.1-0.5)."""
    area = np.asarray(area_km2, dtype="float64")
    return np.clip(np.searchsorted(np.asarray(edges_km2), area, side="right") - 1, 0, len(edges_km2) - 2)


def covered_area_km2(polygons: gpd.GeoDataFrame, cover: gpd.GeoDataFrame | None) -> np.ndarray:
    """Geodesic area (km²) of each polygon covered by the union of ``cover`` (e.g. debris per glacier).

    Overlapping cover polygons count once. ``cover`` may be in any CRS; None or empty gives zeros.
    """
    out = np.zeros(len(polygons))
    if cover is None or len(cover) == 0 or len(polygons) == 0:
        return out
    cov = in_crs(cover, polygons.crs)
    geoms, cov_geoms = polygons.geometry.values, cov.geometry.values
    i_poly, i_cov = shapely.STRtree(cov_geoms).query(geoms, predicate="intersects")
    parts = [None] * len(polygons)
    for k in np.unique(i_poly):
        parts[k] = shapely.intersection(geoms[k], shapely.union_all(cov_geoms[i_cov[i_poly == k]]))
    return area_km2(gpd.GeoSeries(parts, crs=polygons.crs))
