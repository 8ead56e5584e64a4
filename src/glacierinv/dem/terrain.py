"""Terrain attributes from a DEM: slope, aspect, hillshade, roughness, local relief.

Array functions take a DEM in metres on a *metric*, north-up grid (``res_m`` = pixel size in metres, a
float or ``(xres, yres)``) and return float32 arrays of the same shape; NaN marks no data. Gradients follow
Horn (1981), the 3×3 weighted finite difference used by GDAL and xdem. Missing neighbours (raster edges,
holes) are replaced by linear extrapolation through the centre cell (``2·z0 − z_opposite``, or ``z0`` when
both are missing), so edge and hole cells get a one-sided estimate instead of NaN; a NaN centre stays NaN.

Conventions: slope in degrees from horizontal, ``arctan(√(∂z/∂x² + ∂z/∂y²))``; aspect is the azimuth of
the *downslope* direction in degrees clockwise from north (0 = north-facing, 90 = east-facing), NaN on
flat cells.

:func:`slope_to_grid` (alias :func:`slope_on_grid`) is the windowed file function used by the feature
stack: it computes slope on a grid that does not depend on the window (the DEM's own grid when the DEM is
projected; for a geographic DEM a metric grid in the target CRS anchored on the target grid, at the DEM's
ground resolution — slope from a lat/lon DEM in degrees is a classic bug), with an overlap margin, and
resamples it onto the window. Windowed and whole-raster results are therefore identical (no seams).
The file functions (:func:`slope_to_grid`, :func:`cast_shadow_to_grid`, :func:`check_dem_units`) read
elevations in metres: values are multiplied by the DEM's metres per unit (:func:`dem_z_factor`: ``[dem]
z_unit`` carried by a :class:`glacierinv.config.DemPath`, else the band unit, else a compound CRS's
vertical unit, else metres), and a projected DEM's pixel size by its CRS's metres per linear unit.

References
----------
Horn, B. K. P. (1981). Hill shading and the reflectance map. Proc. IEEE 69(1), 14–47.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from affine import Affine
from rasterio.enums import Resampling
from rasterio.warp import reproject, transform_bounds
from rasterio.windows import Window
from scipy import ndimage

from glacierinv.errors import CRSMismatch, InputError
from glacierinv.io.grid import Grid
from glacierinv.io.raster import open_raster, read_on_grid

__all__ = [
    "aspect_deg",
    "dem_z_factor",
    "cast_shadow",
    "cast_shadow_to_grid",
    "check_dem_units",
    "gradient_horn",
    "hillshade",
    "local_relief_m",
    "roughness_m",
    "slope_deg",
    "slope_on_grid",
    "slope_to_grid",
    "window_px",
]


def _check_dem(dem_m: np.ndarray, res_m: float | tuple[float, float]) -> tuple[np.ndarray, float, float]:
    dem = np.asarray(dem_m, dtype="float64")
    if dem.ndim != 2:
        raise ValueError(f"dem_m must be 2-D (rows, cols), got shape {dem.shape}")
    xres, yres = (res_m, res_m) if np.isscalar(res_m) else res_m
    xres, yres = abs(float(xres)), abs(float(yres))
    if not (xres > 0 and yres > 0):
        raise ValueError(f"res_m must be positive metres, got {res_m}")
    return dem, xres, yres


def gradient_horn(dem_m: np.ndarray, res_m: float | tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Horn (1981) gradient of a north-up DEM.

    Parameters
    ----------
    dem_m : (rows, cols) array
        Elevations in metres (NaN = no data).
    res_m : float or (xres, yres)
        Pixel size in metres.

    Returns
    -------
    dz_dx, dz_dy : float64 arrays
        Elevation change per metre towards east and towards **north** (m/m). NaN where the centre is NaN.
    """
    dem, xres, yres = _check_dem(dem_m, res_m)
    if dem.shape[0] >= 2 and dem.shape[1] >= 2 and not np.isnan(dem).any():
        return _gradient_horn_complete(dem, xres, yres)
    p = np.pad(dem, 1, constant_values=np.nan)
    n_rows, n_cols = p.shape
    c = p[1:-1, 1:-1]

    def nb(dr: int, dc: int) -> np.ndarray:
        return p[1 + dr : n_rows - 1 + dr, 1 + dc : n_cols - 1 + dc]

    cells = {(dr, dc): nb(dr, dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1) if (dr, dc) != (0, 0)}
    filled = {}
    for (dr, dc), v in cells.items():
        opp = cells[(-dr, -dc)]
        # linear extrapolation through the centre where a neighbour is missing, else the centre itself
        est = np.where(np.isnan(opp), c, 2.0 * c - opp)
        filled[(dr, dc)] = np.where(np.isnan(v), est, v)
    a, b, cc = filled[(-1, -1)], filled[(-1, 0)], filled[(-1, 1)]
    d, f = filled[(0, -1)], filled[(0, 1)]
    g, h, i = filled[(1, -1)], filled[(1, 0)], filled[(1, 1)]
    dz_dx = ((cc + 2 * f + i) - (a + 2 * d + g)) / (8.0 * xres)
    dz_drow = ((g + 2 * h + i) - (a + 2 * b + cc)) / (8.0 * yres)
    missing = np.isnan(c)
    dz_dx[missing] = np.nan
    dz_drow[missing] = np.nan
    return dz_dx, -dz_drow  # rows run south: the north gradient is minus the row gradient


def _gradient_horn_complete(dem: np.ndarray, xres: float, yres: float) -> tuple[np.ndarray, np.ndarray]:
    """Fast path of :func:`gradient_horn` for a DEM without NaN: the border is padded by linear
    extrapolation (``2·z_edge − z_inner``) instead of filling each missing neighbour."""
    p = np.empty((dem.shape[0] + 2, dem.shape[1] + 2))
    p[1:-1, 1:-1] = dem
    p[0, 1:-1] = 2 * dem[0] - dem[1]
    p[-1, 1:-1] = 2 * dem[-1] - dem[-2]
    p[:, 0] = 2 * p[:, 1] - p[:, 2]
    p[:, -1] = 2 * p[:, -2] - p[:, -3]
    left = p[:-2, :-2] + 2 * p[1:-1, :-2] + p[2:, :-2]
    right = p[:-2, 2:] + 2 * p[1:-1, 2:] + p[2:, 2:]
    top = p[:-2, :-2] + 2 * p[:-2, 1:-1] + p[:-2, 2:]
    bottom = p[2:, :-2] + 2 * p[2:, 1:-1] + p[2:, 2:]
    return (right - left) / (8.0 * xres), -(bottom - top) / (8.0 * yres)


def slope_deg(dem_m: np.ndarray, res_m: float | tuple[float, float]) -> np.ndarray:
    """Slope in degrees (0 = flat) by Horn (1981).

    Parameters
    ----------
    dem_m : (rows, cols) array
        Elevations in metres on a metric, north-up grid; NaN = no data.
    res_m : float or (xres, yres)
        Pixel size in metres.

    Returns
    -------
    float32 array of slopes in degrees, NaN where the DEM is NaN.

    Examples
    --------
    >>> import numpy as np
    >>> z = np.tile(np.arange(5.0) * 10.0, (5, 1))  # rises 10 m per 10 m pixel towards east
    >>> round(float(slope_deg(z, 10.0)[2, 2]), 3)
    45.0
    """
    gx, gy = gradient_horn(dem_m, res_m)
    return np.degrees(np.arctan(np.hypot(gx, gy))).astype("float32")


def aspect_deg(dem_m: np.ndarray, res_m: float | tuple[float, float]) -> np.ndarray:
    """Aspect: azimuth of the downslope direction, degrees clockwise from north in [0, 360).

    Terrain falling towards north has aspect 0, towards east 90. Flat and NaN cells are NaN.

    Parameters
    ----------
    dem_m : (rows, cols) array
        Elevations in metres on a metric, north-up grid.
    res_m : float or (xres, yres)
        Pixel size in metres.
    """
    gx, gy = gradient_horn(dem_m, res_m)
    asp = np.degrees(np.arctan2(-gx, -gy)) % 360.0  # downslope vector = −gradient; atan2(east, north)
    return np.where(np.hypot(gx, gy) > 1e-12, asp, np.nan).astype("float32")


def hillshade(
    dem_m: np.ndarray,
    res_m: float | tuple[float, float],
    azimuth_deg: float = 315.0,
    altitude_deg: float = 45.0,
) -> np.ndarray:
    """Illumination: cosine of the solar incidence angle on the terrain, 0 (self-shadow) to 1.

    ``cos i = cos z · cos s + sin z · sin s · cos(A_sun − aspect)`` with z the solar zenith, s the slope
    and aspect the downslope azimuth; negative values (self-shadow) are clipped to 0. Cast shadows are not
    modelled.

    Parameters
    ----------
    dem_m, res_m
        DEM in metres and its pixel size in metres.
    azimuth_deg : float
        Sun azimuth, degrees clockwise from north.
    altitude_deg : float
        Sun elevation above the horizon, degrees (0–90).
    """
    if not 0.0 <= altitude_deg <= 90.0:
        raise ValueError(f"altitude_deg must be in [0, 90], got {altitude_deg}")
    gx, gy = gradient_horn(dem_m, res_m)
    s = np.arctan(np.hypot(gx, gy))
    asp = np.arctan2(-gx, -gy)
    zen = math.radians(90.0 - altitude_deg)
    cos_i = math.cos(zen) * np.cos(s) + math.sin(zen) * np.sin(s) * np.cos(math.radians(azimuth_deg) - asp)
    return np.clip(cos_i, 0.0, 1.0).astype("float32")


def window_px(window_m: float, res_m: float | tuple[float, float]) -> int:
    """Odd window size in pixels closest to ``window_m`` metres (at least 3)."""
    res = float(res_m) if np.isscalar(res_m) else float(min(res_m))
    n = max(3, int(round(window_m / res)))
    return n if n % 2 == 1 else n + 1


_window_px = window_px  # backwards-compatible private name


def roughness_m(dem_m: np.ndarray, res_m: float | tuple[float, float], window_m: float = 90.0) -> np.ndarray:
    """Surface roughness: NaN-aware standard deviation of elevation (m) within a square window.

    The window is ``window_m`` metres wide (odd number of pixels, at least 3); cells near edges and holes
    use the valid cells inside the window. NaN where the centre is NaN.
    """
    dem, _, _ = _check_dem(dem_m, res_m)
    n = window_px(window_m, res_m)
    valid = ~np.isnan(dem)
    z0 = float(np.nanmean(dem)) if valid.any() else 0.0  # centring keeps the variance numerically stable
    z = np.where(valid, dem - z0, 0.0)
    cnt = ndimage.uniform_filter(valid.astype("float64"), n, mode="constant")
    s1 = ndimage.uniform_filter(z, n, mode="constant")
    s2 = ndimage.uniform_filter(z * z, n, mode="constant")
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = s1 / cnt
        var = np.maximum(s2 / cnt - mean * mean, 0.0)
    return np.where(valid, np.sqrt(var), np.nan).astype("float32")


def local_relief_m(
    dem_m: np.ndarray, res_m: float | tuple[float, float], window_m: float = 90.0
) -> np.ndarray:
    """Local relief: max − min elevation (m) of the valid cells within a square window of ``window_m``."""
    dem, _, _ = _check_dem(dem_m, res_m)
    n = window_px(window_m, res_m)
    valid = ~np.isnan(dem)
    hi = ndimage.maximum_filter(np.where(valid, dem, -np.inf), n, mode="constant", cval=-np.inf)
    lo = ndimage.minimum_filter(np.where(valid, dem, np.inf), n, mode="constant", cval=np.inf)
    return np.where(valid, hi - lo, np.nan).astype("float32")


# --------------------------------------------------------------------------------------------------------
# windowed file function
# --------------------------------------------------------------------------------------------------------
def _geographic_res_m(ds) -> float:
    """Ground size (m) of a geographic DEM pixel at its mid-latitude (the finer of the two axes)."""
    lat = 0.5 * (ds.bounds.bottom + ds.bounds.top)
    m_per_deg = 111_320.0
    return min(abs(ds.transform.a) * m_per_deg * math.cos(math.radians(lat)), abs(ds.transform.e) * m_per_deg)


def _cover(transform: Affine, bounds: tuple[float, float, float, float], margin: int) -> Window:
    """Whole-pixel window of a north-up grid covering ``bounds`` plus ``margin`` px on each side."""
    inv = ~transform
    c0, r0 = inv @ (bounds[0], bounds[3])
    c1, r1 = inv @ (bounds[2], bounds[1])
    col0, row0 = math.floor(min(c0, c1)) - margin, math.floor(min(r0, r1)) - margin
    col1, row1 = math.ceil(max(c0, c1)) + margin, math.ceil(max(r0, r1)) + margin
    return Window(col0, row0, col1 - col0, row1 - row0)


def dem_z_factor(dem_path: str | Path, ds=None) -> float:
    """Metres per elevation unit of a DEM file (:func:`glacierinv.io.dem.z_factor`; 1 for metres)."""
    from glacierinv.io.dem import z_factor

    if ds is None:
        with open_raster(dem_path) as opened:
            return dem_z_factor(dem_path, opened)
    return float(z_factor(ds, getattr(dem_path, "z_unit", None))[0])


def slope_to_grid(
    dem_path: str | Path,
    grid: Grid,
    window: Window | None = None,
    margin_px: int = 4,
    *,
    resampling: Resampling = Resampling.bilinear,
) -> np.ndarray:
    """Slope (degrees) of a DEM file, computed on a metric grid and resampled onto ``grid`` (or a window).

    Windowed: only the DEM cells under the target window plus ``margin_px`` cells are read, and the result
    does not depend on the window (windowed == whole, no seams).

    - Projected DEM: slope is computed on the DEM's own grid (native resolution), then resampled.
    - Geographic DEM (e.g. EPSG:4326): the DEM is first reprojected (bilinear) onto a metric grid in the
      target's CRS, anchored on the target grid's origin, at the DEM's ground resolution; slope from
      lat/lon degrees is never computed. A geographic target grid is then refused.

    Parameters
    ----------
    dem_path : path
        DEM raster in metres (first band).
    grid : Grid
        Target grid (the primary grid of the stack).
    window : rasterio Window, optional
        Window of ``grid`` to return; the whole grid when omitted.
    margin_px : int
        Extra DEM cells read around the window (≥ 2 for Horn's kernel plus bilinear resampling).
    resampling : rasterio Resampling
        Resampling of the slope onto the target (bilinear by default).

    Returns
    -------
    float32 array (rows, cols) of the window: slope in degrees, NaN where the DEM has no data.

    Raises
    ------
    CRSMismatch
        When the DEM is geographic and the target grid is not metric.
    """
    margin = max(2, int(margin_px))
    target = grid.window_grid(window) if window is not None else grid
    with open_raster(dem_path) as ds:
        z_m = dem_z_factor(dem_path, ds)
        if ds.crs.is_projected:
            dem, work, res = _read_projected_dem(ds, target, margin)
        else:
            dem, work, res = _read_geographic_dem(ds, dem_path, grid, target, margin)
    slope = slope_deg(dem * np.float32(z_m) if z_m != 1.0 else dem, res)
    return _resample_onto(slope, work, target, resampling)


def _resample_onto(arr: np.ndarray, src: Grid, target: Grid, resampling: Resampling) -> np.ndarray:
    """``arr`` on grid ``src`` resampled onto ``target`` (float32, NaN = no data on both sides)."""
    out = np.full(target.shape, np.nan, dtype="float32")
    reproject(
        arr,
        out,
        src_transform=src.transform,
        src_crs=src.crs,
        src_nodata=np.nan,
        dst_transform=target.transform,
        dst_crs=target.crs,
        dst_nodata=np.nan,
        resampling=resampling,
    )
    return out


def _read_projected_dem(ds, target: Grid, margin: int) -> tuple[np.ndarray, Grid, tuple[float, float]]:
    """The cells of a projected DEM (open dataset ``ds``) under ``target``'s bounds plus ``margin`` cells, on
    the DEM's own grid → elevations (float32, DEM units, NaN outside the DEM or at its nodata), their grid
    and the cell size in metres (x, y)."""
    tb = target.bounds
    b = transform_bounds(target.crs, ds.crs, *tb, densify_pts=21) if ds.crs != target.crs else tb
    rwin = _cover(ds.transform, b, margin)
    # masked boundless read: cells outside the DEM or at its nodata become NaN (never 0)
    dem = ds.read(1, window=rwin, boundless=True, masked=True).astype("float32").filled(np.nan)
    work = Grid(ds.crs, ds.transform @ Affine.translation(rwin.col_off, rwin.row_off), dem.shape)
    xy_m = float(ds.crs.linear_units_factor[1])  # metres per CRS unit (e.g. 0.3048 for feet)
    return dem, work, (abs(ds.transform.a) * xy_m, abs(ds.transform.e) * xy_m)


def _read_geographic_dem(
    ds, dem_path: str | Path, grid: Grid, target: Grid, margin: int
) -> tuple[np.ndarray, Grid, tuple[float, float]]:
    """A geographic DEM (open dataset ``ds``) reprojected (bilinear) onto a metric grid in ``target``'s CRS at
    the DEM's ground resolution, anchored on ``grid``'s origin (so independent of the window), covering
    ``target`` plus ``margin`` cells → elevations, that grid and its cell size (m). CRSMismatch when the
    target is geographic too."""
    if not target.crs.is_projected:
        raise CRSMismatch(
            "DEM and target grid are both geographic; slope needs a metric grid",
            dem_path,
            "Reproject the DEM (or the imagery) to a projected CRS such as UTM",
        )
    r = max(_geographic_res_m(ds), 1e-3)
    # a metric grid anchored on the target grid's origin: independent of the window
    anchor = Affine(r, 0, grid.transform.c, 0, -r, grid.transform.f)
    rwin = _cover(anchor, target.bounds, margin)
    work_transform = anchor @ Affine.translation(rwin.col_off, rwin.row_off)
    work = Grid(target.crs, work_transform, (int(rwin.height), int(rwin.width)))
    return read_on_grid(dem_path, work, bands=1, require_overlap=False), work, (r, r)


slope_on_grid = slope_to_grid  # name used by the feature stack


def check_dem_units(dem_path: str | Path, n_samples: int = 8, sample_px: int = 32) -> float:
    """Raise :class:`InputError` if a DEM's values cannot be elevations; return metres per DEM unit.

    Reads ``n_samples²`` small windows (``sample_px`` wide) spread over the raster — a few blocks, never
    the whole DEM — and checks that the valid values, converted to metres (:func:`dem_z_factor`), lie
    within −500…9000 m.
    """
    with open_raster(dem_path) as ds:
        z_m = dem_z_factor(dem_path, ds)
        rows = np.linspace(0, max(0, ds.height - sample_px), n_samples).astype(int)
        cols = np.linspace(0, max(0, ds.width - sample_px), n_samples).astype(int)
        parts = [
            ds.read(
                1,
                window=Window(int(c), int(r), min(sample_px, ds.width), min(sample_px, ds.height)),
                masked=True,
            )
            .astype("float64")
            .filled(np.nan)
            .ravel()
            for r in np.unique(rows)
            for c in np.unique(cols)
        ]
        sample = np.concatenate(parts)
    if np.all(np.isnan(sample)):
        raise InputError("DEM holds no valid elevations", dem_path, "Give a DEM covering the area")
    lo, hi = float(np.nanmin(sample)) * z_m, float(np.nanmax(sample)) * z_m
    if lo < -500 or hi > 9000:
        raise InputError(
            f"DEM values {lo:.0f}..{hi:.0f} are not elevations in metres",
            dem_path,
            'Convert the DEM to metres, or give its vertical unit: [dem] z_unit = "ft" (or us-ft, dm, cm)',
        )
    return z_m


def cast_shadow(
    dem_m: np.ndarray,
    res_m: float | tuple[float, float],
    azimuth_deg: float,
    altitude_deg: float,
    max_distance_m: float = 1000.0,
) -> np.ndarray:
    """Cast shadows: True where terrain towards the sun rises above the line of sight to the sun.

    Rays are marched from every cell towards the sun azimuth in steps of one pixel (nearest cell) up to
    ``max_distance_m``; a cell is shadowed when some cell along the ray is higher than
    ``z0 + d · tan(altitude)``. Cells within ``max_distance_m`` of the array edge only see the part of the
    ray inside the array (read a margin of that width around a window). NaN cells are never shadowed.

    Parameters
    ----------
    dem_m, res_m
        DEM in metres and its pixel size in metres.
    azimuth_deg, altitude_deg
        Sun azimuth (clockwise from north) and elevation, degrees.
    max_distance_m : float
        How far along the ray to look, metres.
    """
    dem, xres, yres = _check_dem(dem_m, res_m)
    if not 0.0 < altitude_deg <= 90.0:
        raise ValueError(f"altitude_deg must be in (0, 90], got {altitude_deg}")
    az = math.radians(azimuth_deg)
    east, north = math.sin(az), math.cos(az)  # unit vector towards the sun
    step_m = min(xres, yres)
    tan_alt = math.tan(math.radians(altitude_deg))
    n_rows, n_cols = dem.shape
    shadow = np.zeros(dem.shape, bool)
    for k in range(1, int(max_distance_m / step_m) + 1):
        d = k * step_m
        dc = int(round(d * east / xres))
        dr = int(round(-d * north / yres))
        if abs(dr) >= n_rows or abs(dc) >= n_cols:
            break
        # cells (r, c) whose ray point (r + dr, c + dc) lies inside the array
        src = dem[max(0, dr) : n_rows + min(0, dr), max(0, dc) : n_cols + min(0, dc)]
        dst = (slice(max(0, -dr), n_rows + min(0, -dr)), slice(max(0, -dc), n_cols + min(0, -dc)))
        with np.errstate(invalid="ignore"):
            shadow[dst] |= src > dem[dst] + d * tan_alt
    return shadow & ~np.isnan(dem)


def cast_shadow_to_grid(
    dem_path: str | Path,
    grid: Grid,
    window: Window | None,
    azimuth_deg: float,
    altitude_deg: float,
    *,
    max_distance_m: float = 1000.0,
    res_m: float = 10.0,
) -> np.ndarray:
    """Cast shadows (bool) of a DEM file on ``grid`` (or a window), traced on a coarse metric grid.

    The DEM is averaged onto a ``res_m`` grid anchored on the target grid's origin (so every window sees
    the same cells: no seams), covering the window plus ``max_distance_m``; shadows are traced there
    (:func:`cast_shadow`) and taken back by nearest neighbour. Coarse shadow edges are meant to be refined
    by a darkness test at full resolution.
    """
    target = grid.window_grid(window) if window is not None else grid
    if not target.crs.is_projected:
        raise CRSMismatch("cast shadows need a metric grid", dem_path, "Reproject the imagery to UTM")
    r = max(float(res_m), min(target.res))
    anchor = Affine(r, 0, grid.transform.c, 0, -r, grid.transform.f)
    margin = int(math.ceil(max_distance_m / r)) + 1
    rwin = _cover(anchor, target.bounds, margin)
    work = Grid(
        target.crs,
        anchor @ Affine.translation(rwin.col_off, rwin.row_off),
        (int(rwin.height), int(rwin.width)),
    )
    dem = read_on_grid(dem_path, work, bands=1, resampling=Resampling.average, require_overlap=False)
    dem *= np.float32(dem_z_factor(dem_path))
    shade = cast_shadow(dem, r, azimuth_deg, altitude_deg, max_distance_m).astype("uint8")
    out = np.zeros(target.shape, "uint8")
    reproject(
        shade, out, src_transform=work.transform, src_crs=work.crs, dst_transform=target.transform,
        dst_crs=target.crs, resampling=Resampling.nearest,
    )  # fmt: skip
    return out.astype(bool)
