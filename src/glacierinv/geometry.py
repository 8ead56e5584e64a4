"""Geometry measures done one way everywhere: areas on the ellipsoid, lengths in metres, local metric CRSs,
the equal-area CRS of an inventory, and the glacier size classes.

Areas are geodesic (WGS84 ellipsoid, pyproj ``Geod.geometry_area_perimeter``), so the same polygon gives
the same km² in UTM and in EPSG:4326. Never measure in degrees.
"""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
from pyproj import CRS, Geod
from shapely.geometry.base import BaseGeometry

__all__ = [
    "SIZE_CLASSES_KM2",
    "area_km2",
    "equal_area_crs",
    "geometry_area_km2",
    "local_metric_crs",
    "size_class_index",
    "size_class_labels",
    "to_metric",
    "utm_epsg",
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


def local_metric_crs(gdf: gpd.GeoDataFrame | gpd.GeoSeries) -> CRS:
    """A metric CRS for lengths/buffers: the data's CRS if projected, else its UTM zone."""
    if gdf.crs is not None and gdf.crs.is_projected:
        return CRS.from_user_input(gdf.crs)
    return gdf.estimate_utm_crs()


def to_metric(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """``gdf`` in :func:`local_metric_crs` (a copy only when reprojection is needed)."""
    crs = local_metric_crs(gdf)
    return gdf if gdf.crs == crs else gdf.to_crs(crs)


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
