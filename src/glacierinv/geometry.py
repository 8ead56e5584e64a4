"""Geometry measures done one way everywhere: areas on the ellipsoid, lengths in metres, local metric CRSs.

Areas are geodesic (WGS84 ellipsoid, pyproj ``Geod.geometry_area_perimeter``), so the same polygon gives
the same km² in UTM and in EPSG:4326. Never measure in degrees.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
from pyproj import CRS, Geod
from shapely.geometry.base import BaseGeometry

__all__ = ["area_km2", "geometry_area_km2", "local_metric_crs", "to_metric"]

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
