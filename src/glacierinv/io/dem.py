"""DEM units, checked in one place: the vertical unit (metres, feet) and whether the grid is metric.

Every DEM reader of glacierinv (attributes, units, analyses) goes through
:class:`glacierinv.dem.windows.DemWindows`, which uses these functions:

- :func:`z_factor`: metres per DEM unit, from ``--z-unit`` / ``[dem] z_unit`` when given (a
  :class:`DemPath` carries it), else from the raster's band unit (``gdal_edit.py -units ft``) or the vertical
  axis of a compound CRS, else metres;
- :func:`check_elevations_m`: elevations outside [-500, 9000] m are not glacier elevations on Earth
  (Everest 8849 m, Dead Sea shore -430 m): a DEM in feet or with an undeclared nodata value is refused
  with a clear message instead of giving "zmed 10108 m";
- :func:`metric_grid`: a DEM grid is used as is only when it is projected, in metres and conformal with a
  scale factor within 1 % of 1 at the DEM's centre (UTM, national transverse-Mercator grids). Web Mercator
  (EPSG:3857, scale 1/cos φ: 1.47 at 47° N), grids in feet and geographic grids are warped per glacier to
  its UTM zone at the DEM's ground resolution, so slopes and lengths are ground values.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from pyproj import CRS, Proj

from glacierinv.config import Z_UNITS, DemPath, dem_path
from glacierinv.errors import InputError

__all__ = [
    "MAX_ELEVATION_M",
    "MIN_ELEVATION_M",
    "Z_UNITS",
    "DemPath",
    "check_dem",
    "check_elevations_m",
    "dem_path",
    "metric_grid",
    "z_factor",
]

#: Plausible glacier-surface elevations on Earth (m): above Everest (8849 m) or below the Dead Sea shore
#: (-430 m) a DEM is in another unit or has an undeclared nodata value.
MAX_ELEVATION_M = 9000.0
MIN_ELEVATION_M = -500.0

#: Largest accepted deviation of a projected grid's scale factor from 1 (|k − 1|) at the DEM's centre.
MAX_SCALE_ERROR = 0.01


def z_factor(ds, z_unit: str | None = None) -> tuple[float, str]:
    """(metres per DEM unit, where it came from) for the open raster ``ds``.

    ``z_unit`` wins; else the band's unit (``ds.units[0]``), else the vertical axis of a compound CRS,
    else metres (the GeoTIFF default).
    """
    if z_unit is not None:
        return Z_UNITS[z_unit], f"z unit '{z_unit}' given"
    band_unit = (ds.units[0] or "").strip().lower() if ds.units else ""
    if band_unit in Z_UNITS:
        return Z_UNITS[band_unit], f"band unit '{band_unit}'"
    if ds.crs is not None:
        crs = CRS.from_user_input(ds.crs.to_wkt())
        for sub in crs.sub_crs_list:
            if sub.is_vertical and sub.axis_info:
                ax = sub.axis_info[0]
                return float(ax.unit_conversion_factor), f"vertical CRS unit '{ax.unit_name}'"
    return 1.0, "metres (no unit in the file)"


def check_elevations_m(z_min_m: float, z_max_m: float, path, how: str) -> None:
    """Refuse elevations (already in metres) outside [:data:`MIN_ELEVATION_M`, :data:`MAX_ELEVATION_M`]."""
    if not (np.isfinite(z_min_m) and np.isfinite(z_max_m)):
        return
    if z_max_m > MAX_ELEVATION_M or z_min_m < MIN_ELEVATION_M:
        raise InputError(
            f"DEM elevations {z_min_m:.0f} to {z_max_m:.0f} m ({how}) are not glacier elevations on Earth "
            f"(outside {MIN_ELEVATION_M:.0f} to {MAX_ELEVATION_M:.0f} m)",
            path,
            'If the DEM is in feet give --z-unit ft (config: [dem] z_unit = "ft"); if a nodata value is '
            "undeclared set it (gdal_edit.py -a_nodata VALUE FILE)",
        )


def check_dem(path: str | Path, max_px: int = 1024) -> float:
    """Check a DEM's elevation range on a decimated read (≤ ``max_px`` per side); return metres per unit.

    Raises :class:`InputError` for implausible elevations (see :func:`check_elevations_m`).
    """
    from rasterio.enums import Resampling

    from glacierinv.io.raster import open_raster

    with open_raster(path) as ds:
        factor, how = z_factor(ds, getattr(path, "z_unit", None))
        scale = max(1, math.ceil(max(ds.width, ds.height) / max_px))
        shape = (max(1, ds.height // scale), max(1, ds.width // scale))
        z = ds.read(1, out_shape=shape, masked=True, resampling=Resampling.nearest).astype("float64")
        z = z.filled(np.nan)
    z = z[np.isfinite(z)] * factor
    if z.size:
        check_elevations_m(float(z.min()), float(z.max()), path, how)
    return factor


def metric_grid(ds) -> tuple[bool, float]:
    """(whether the raster's own grid gives ground metres, its ground pixel size in metres at the centre).

    True only for a projected CRS in metres whose scale factor at the raster's centre is within
    :data:`MAX_SCALE_ERROR` of 1 in both directions (then angles and lengths are ground values).
    """
    crs = CRS.from_user_input(ds.crs.to_wkt())
    b = ds.bounds
    cx, cy = (b.left + b.right) / 2, (b.bottom + b.top) / 2
    res = abs(ds.transform.a)
    if crs.is_geographic:
        lat = math.radians(cy)
        return False, float(res * 111_320.0 * math.cos(lat))
    unit = crs.axis_info[0].unit_conversion_factor if crs.axis_info else 1.0
    from pyproj import Transformer

    lon, lat = Transformer.from_crs(crs, 4326, always_xy=True).transform(cx, cy)
    try:
        f = Proj(crs).get_factors(lon, lat)
        k = max(abs(f.meridional_scale - 1.0), abs(f.parallel_scale - 1.0))
        kmean = math.sqrt(f.meridional_scale * f.parallel_scale)
    except Exception:  # noqa: BLE001  (a projection without factors: trust it when in metres)
        k, kmean = 0.0, 1.0
    ok = unit == 1.0 and k <= MAX_SCALE_ERROR
    return ok, float(res * unit / kmean)
