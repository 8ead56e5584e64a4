"""Terrain derivatives on metric grids: slope, aspect, hillshade, roughness, local relief.

Gradients use Horn's (1981) 3×3 weighted differences. Slope is ``arctan(√(∂z/∂x² + ∂z/∂y²))`` in degrees;
aspect is the *downslope* direction in degrees clockwise from north (0 = N, 90 = E), NaN on flat cells.
Edges and cells next to NaN get NaN (no extrapolation). Inputs must be on a metric grid: a DEM in
geographic coordinates is reprojected first (:func:`slope_on_grid`), never differentiated in degrees.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from rasterio.enums import Resampling
from rasterio.windows import Window
from scipy import ndimage

from glacierinv.errors import InputError
from glacierinv.io.grid import Grid
from glacierinv.io.raster import read_on_grid

__all__ = [
    "aspect_deg",
    "gradient_horn",
    "hillshade",
    "local_relief_m",
    "roughness_m",
    "slope_deg",
    "slope_on_grid",
]


def gradient_horn(dem_m: np.ndarray, res_m: float | tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """(∂z/∂x east, ∂z/∂y north) by Horn's 3×3 kernel; rows run north → south. NaN at edges/holes."""
    z = np.asarray(dem_m, "float64")
    if z.ndim != 2:
        raise ValueError(f"expected a 2-D DEM, got shape {z.shape}")
    rx, ry = (res_m, res_m) if np.isscalar(res_m) else res_m
    p = np.pad(z, 1, constant_values=np.nan)
    a, b, c = p[:-2, :-2], p[:-2, 1:-1], p[:-2, 2:]
    d, f = p[1:-1, :-2], p[1:-1, 2:]
    g, h, i = p[2:, :-2], p[2:, 1:-1], p[2:, 2:]
    dzdx = ((c + 2 * f + i) - (a + 2 * d + g)) / (8 * rx)
    dzdy = ((a + 2 * b + c) - (g + 2 * h + i)) / (8 * ry)  # north-positive: first row is north
    return dzdx, dzdy


def slope_deg(dem_m: np.ndarray, res_m: float | tuple[float, float]) -> np.ndarray:
    """Slope in degrees (0 flat, 90 vertical)."""
    gx, gy = gradient_horn(dem_m, res_m)
    return np.degrees(np.arctan(np.hypot(gx, gy))).astype("float32")


def aspect_deg(dem_m: np.ndarray, res_m: float | tuple[float, float]) -> np.ndarray:
    """Downslope direction in degrees clockwise from north (0-360); NaN where flat."""
    gx, gy = gradient_horn(dem_m, res_m)
    # downslope vector = −gradient; azimuth = atan2(east, north)
    aspect = np.degrees(np.arctan2(-gx, -gy)) % 360.0
    return np.where(np.hypot(gx, gy) > 1e-9, aspect, np.nan).astype("float32")


def hillshade(
    dem_m: np.ndarray, res_m: float, azimuth_deg: float = 315.0, altitude_deg: float = 45.0
) -> np.ndarray:
    """Illumination 0-1 (cosine of the incidence angle, no cast shadows) for a sun at azimuth/altitude."""
    gx, gy = gradient_horn(dem_m, res_m)
    slope = np.arctan(np.hypot(gx, gy))
    aspect = np.arctan2(-gx, -gy)
    zen = np.radians(90.0 - altitude_deg)
    az = np.radians(azimuth_deg)
    shade = np.cos(zen) * np.cos(slope) + np.sin(zen) * np.sin(slope) * np.cos(az - aspect)
    return np.clip(shade, 0.0, 1.0).astype("float32")


def _window_px(window_m: float, res_m: float) -> int:
    n = max(3, int(round(window_m / res_m)))
    return n if n % 2 else n + 1


def roughness_m(dem_m: np.ndarray, res_m: float, window_m: float = 90.0) -> np.ndarray:
    """Surface roughness: standard deviation of elevation (m) in a square window of ``window_m``."""
    z = np.asarray(dem_m, "float64")
    n = _window_px(window_m, res_m)
    mean = ndimage.uniform_filter(z, n, mode="nearest")
    mean_sq = ndimage.uniform_filter(z * z, n, mode="nearest")
    return np.sqrt(np.clip(mean_sq - mean * mean, 0, None)).astype("float32")


def local_relief_m(dem_m: np.ndarray, res_m: float, window_m: float = 90.0) -> np.ndarray:
    """Local relief: max − min elevation (m) in a square window of ``window_m``."""
    z = np.asarray(dem_m, "float64")
    n = _window_px(window_m, res_m)
    hi = ndimage.maximum_filter(np.where(np.isnan(z), -np.inf, z), n, mode="nearest")
    lo = ndimage.minimum_filter(np.where(np.isnan(z), np.inf, z), n, mode="nearest")
    return np.where(np.isnan(z), np.nan, hi - lo).astype("float32")


def slope_on_grid(
    dem_path: str | Path, grid: Grid, window: Window | None = None, margin_px: int = 4
) -> np.ndarray:
    """Slope (degrees) of a DEM file, computed on the DEM's own resolution in the grid's metric CRS and
    resampled (bilinear) onto ``grid`` (or a window of it).

    The DEM is warped to a metric grid around the window (with a margin so edges are not NaN), the slope is
    computed there, then resampled onto the target window. A geographic DEM is thereby never
    differentiated in degrees.
    """
    if not grid.is_metric:
        raise InputError(
            "the target grid is not in a projected (metric) CRS", None, "Reproject the primary image to UTM"
        )
    from glacierinv.io.raster import open_raster

    with open_raster(dem_path) as ds:
        if ds.crs.is_projected:
            dem_res = abs(ds.transform.a)
        else:  # degrees → metres at the DEM's latitude
            lat = np.radians((ds.bounds.top + ds.bounds.bottom) / 2)
            dem_res = abs(ds.transform.a) * 111_320.0 * np.cos(lat)
    target = grid if window is None else grid.window_grid(window)
    res = max(dem_res, min(target.res))  # compute at the DEM's resolution (no finer than the DEM)
    left, bottom, right, top = target.bounds
    pad = margin_px * res
    work = Grid.from_bounds(grid.crs, (left - pad, bottom - pad, right + pad, top + pad), res)
    dem = read_on_grid(dem_path, work, bands=1, resampling=Resampling.bilinear)
    slope = slope_deg(dem, res)
    from rasterio.warp import reproject

    out = np.full(target.shape, np.nan, "float32")
    reproject(
        slope, out, src_transform=work.transform, src_crs=work.crs, dst_transform=target.transform,
        dst_crs=target.crs, resampling=Resampling.bilinear, src_nodata=np.nan, dst_nodata=np.nan,
    )  # fmt: skip
    return out
