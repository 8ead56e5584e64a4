"""Terrain attributes: analytic planes, conventions (aspect clockwise from north, downslope), geographic
DEMs handled in metres, windowed == whole, and agreement with xdem on the real SRTM of the Ötztal."""

from __future__ import annotations

import math

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.warp import calculate_default_transform, reproject

from glacierinv.dem.terrain import (
    aspect_deg,
    hillshade,
    local_relief_m,
    roughness_m,
    slope_deg,
    slope_on_grid,
)
from glacierinv.io.grid import Grid
from glacierinv.io.raster import iter_windows, write_raster

UTM = CRS.from_epsg(32643)


def plane(shape, res_m, dz_dx_east, dz_dy_north, z0=3000.0):
    """Elevations of a plane on a north-up grid (row 0 is the northern edge)."""
    rows, cols = np.indices(shape, dtype="float64")
    x = cols * res_m
    y = -rows * res_m  # north is up
    return z0 + dz_dx_east * x + dz_dy_north * y


@pytest.mark.parametrize(
    ("gx", "gy", "expected_aspect"),
    [
        (0.0, 0.5, 180.0),  # rises to the north → faces (falls towards) south
        (0.0, -0.5, 0.0),  # falls towards north → north-facing
        (0.5, 0.0, 270.0),  # rises to the east → west-facing
        (-0.5, 0.0, 90.0),  # falls towards east → east-facing
        (-0.5, -0.5, 45.0),  # falls towards north-east
    ],
)
def test_plane_slope_and_aspect(gx, gy, expected_aspect):
    z = plane((9, 9), 4.0, gx, gy)
    s = slope_deg(z, 4.0)
    a = aspect_deg(z, 4.0)
    expected_slope = math.degrees(math.atan(math.hypot(gx, gy)))
    inner = (slice(1, -1), slice(1, -1))  # Horn needs all 8 neighbours
    np.testing.assert_allclose(s[inner], expected_slope, atol=1e-4)
    diff = (a[inner] - expected_aspect + 180.0) % 360.0 - 180.0
    np.testing.assert_allclose(diff, 0.0, atol=1e-3)


def test_anisotropic_pixels():
    z = plane((7, 7), 1.0, 0.3, 0.0)  # built with 1 m pixels …
    rows, cols = np.indices((7, 7), dtype="float64")
    z2 = 3000 + 0.3 * cols * 2.0  # … and again with 2 m wide, 5 m tall pixels
    np.testing.assert_allclose(slope_deg(z, 1.0)[3, 3], math.degrees(math.atan(0.3)), atol=1e-5)
    np.testing.assert_allclose(slope_deg(z2, (2.0, 5.0))[3, 3], math.degrees(math.atan(0.3)), atol=1e-5)


def test_flat_aspect_is_nan_and_nan_propagates():
    z = np.full((5, 5), 100.0)
    assert np.isnan(aspect_deg(z, 2.0)[2, 2])
    assert slope_deg(z, 2.0)[2, 2] == 0.0
    z[2, 2] = np.nan
    assert np.isnan(slope_deg(z, 2.0)[2, 2])


def test_hillshade_facing_and_away_from_sun():
    # a 30° slope facing south-east (downslope azimuth 135°)
    g = math.tan(math.radians(30.0)) / math.sqrt(2.0)
    z = plane((7, 7), 5.0, -g, g)
    lit = hillshade(z, 5.0, azimuth_deg=135.0, altitude_deg=60.0)[3, 3]
    away = hillshade(z, 5.0, azimuth_deg=315.0, altitude_deg=20.0)[3, 3]
    # sun in the slope's facing direction at zenith 30° → incidence 0° → cos = 1
    assert lit == pytest.approx(1.0, abs=1e-4)
    # sun behind the slope, 20° up: incidence > 90° → self-shadow
    assert away == 0.0
    flat = hillshade(np.full((5, 5), 10.0), 5.0, azimuth_deg=200.0, altitude_deg=40.0)[2, 2]
    assert flat == pytest.approx(math.sin(math.radians(40.0)), abs=1e-5)


def test_roughness_and_relief():
    z = plane((21, 21), 10.0, 0.1, 0.0)  # +1 m per 10 m pixel towards east
    relief = local_relief_m(z, 10.0, window_m=30.0)  # 3×3 window → 2 px span → 2 m
    assert relief[10, 10] == pytest.approx(2.0)
    flat = np.full((11, 11), 5.0)
    assert np.nanmax(roughness_m(flat, 10.0, window_m=50.0)) == pytest.approx(0.0, abs=1e-6)
    rough = flat.copy()
    rough[5, 5] = 15.0  # one 10 m spike in a 5×5 window: std = 10·√(24)/25
    assert roughness_m(rough, 10.0, window_m=50.0)[5, 5] == pytest.approx(10 * math.sqrt(24) / 25, rel=1e-4)


def _write(path, arr, crs, transform):
    with rasterio.open(
        path, "w", driver="GTiff", width=arr.shape[1], height=arr.shape[0], count=1, dtype="float32",
        crs=crs, transform=transform, nodata=np.nan,
    ) as ds:  # fmt: skip
        ds.write(arr.astype("float32"), 1)


def test_geographic_dem_slope_is_in_metres(tmp_path):
    """A plane DEM stored in EPSG:4326 gives the same slope as in UTM (never differentiated in degrees)."""
    res = 30.0
    t = Affine(res, 0, 500_000.0, 0, -res, 4_000_000.0)
    z = plane((120, 120), res, 0.25, -0.1)  # slope = atan(0.269) ≈ 15.07°
    utm_path = tmp_path / "dem_utm.tif"
    _write(utm_path, z, UTM, t)
    geo_path = tmp_path / "dem_geo.tif"
    dst_crs = CRS.from_epsg(4326)
    with rasterio.open(utm_path) as src:
        transform, width, height = calculate_default_transform(
            src.crs, dst_crs, src.width, src.height, *src.bounds
        )
        out = np.full((height, width), np.nan, "float32")
        reproject(
            rasterio.band(src, 1), out, dst_transform=transform, dst_crs=dst_crs,
            resampling=Resampling.bilinear, dst_nodata=np.nan,
        )  # fmt: skip
    _write(geo_path, out, dst_crs, transform)
    target = Grid(UTM, Affine(10.0, 0, 500_600.0, 0, -10.0, 3_999_400.0), (120, 120))
    s = slope_on_grid(geo_path, target)
    expected = math.degrees(math.atan(math.hypot(0.25, 0.1)))
    assert np.isfinite(s).all()
    # bilinear resampling of a plane twice: a plane stays a plane up to interpolation noise
    assert np.nanmedian(np.abs(s - expected)) < 0.2
    assert expected > 10  # in degrees the same DEM would give slopes of ~89.99°


def test_slope_on_grid_windowed_equals_whole(tmp_path):
    rng = np.random.default_rng(1)
    z = plane((60, 60), 4.0, 0.2, 0.1) + np.cumsum(rng.normal(0, 0.5, (60, 60)), axis=1)
    dem = tmp_path / "dem.tif"
    _write(dem, z, UTM, Affine(4.0, 0, 300_000.0, 0, -4.0, 3_900_000.0))
    grid = Grid(UTM, Affine(2.5, 0, 300_013.0, 0, -2.5, 3_899_987.0), (80, 80))
    whole = slope_on_grid(dem, grid)
    tiled = np.full(grid.shape, np.nan, "float32")
    for _, win in iter_windows(grid, block=27):
        r, c = int(win.row_off), int(win.col_off)
        tiled[r : r + int(win.height), c : c + int(win.width)] = slope_on_grid(dem, grid, win)
    np.testing.assert_allclose(tiled, whole, atol=1e-3)


def test_matches_xdem_on_real_srtm(shared_data, tmp_path):
    """Our Horn slope/aspect agree with xdem's on the real Ötztal SRTM reprojected to UTM 32N."""
    xdem = pytest.importorskip("xdem")
    src_path = shared_data / "oggm-sample" / "test-workflow" / "srtm_oetztal.tif"
    dst_crs = CRS.from_epsg(32632)
    with rasterio.open(src_path) as src:
        transform, width, height = calculate_default_transform(
            src.crs, dst_crs, src.width, src.height, *src.bounds, resolution=90.0
        )
        z = np.full((height, width), np.nan, "float32")
        reproject(
            rasterio.band(src, 1), z, dst_transform=transform, dst_crs=dst_crs,
            resampling=Resampling.bilinear, src_nodata=-32768, dst_nodata=np.nan,
        )  # fmt: skip
    ours_s = slope_deg(z, 90.0)
    ours_a = aspect_deg(z, 90.0)
    ref_s = np.asarray(xdem.terrain.slope(z.astype("float64"), surface_fit="Horn", resolution=90.0))
    ref_a = np.asarray(xdem.terrain.aspect(z.astype("float64"), surface_fit="Horn"))
    both = np.isfinite(ours_s) & np.isfinite(ref_s)
    assert both.sum() > 10_000
    np.testing.assert_allclose(ours_s[both], ref_s[both], atol=0.01)
    ok = both & np.isfinite(ours_a) & np.isfinite(ref_a) & (ours_s > 2)
    diff = (ours_a[ok] - ref_a[ok] + 180.0) % 360.0 - 180.0
    assert np.percentile(np.abs(diff), 99) < 0.1
    # the file function on the geographic original gives the same slopes on the UTM grid
    grid = Grid(dst_crs, transform, (height, width))
    via_file = slope_on_grid(src_path, grid)
    inner = both & np.isfinite(via_file)
    assert np.median(np.abs(via_file[inner] - ours_s[inner])) < 0.5
    write_raster(tmp_path / "slope.tif", via_file, grid)  # writable as a normal raster


def test_cast_shadow_behind_a_wall():
    from glacierinv.dem.terrain import cast_shadow

    z = np.zeros((50, 50))
    z[:, 20] = 100.0  # a 100 m north-south wall
    # sun in the west at 45°: the shadow reaches 100 m (10 cells of 10 m) east of the wall
    s = cast_shadow(z, 10.0, 270.0, 45.0, max_distance_m=1000.0)
    assert s[25, 21:31].all() and not s[25, 31:].any() and not s[25, :20].any()
    # sun in the east: the shadow falls west
    s = cast_shadow(z, 10.0, 90.0, 45.0, max_distance_m=1000.0)
    assert s[25, 10:20].all() and not s[25, 21:].any()
    # higher sun, shorter shadow: 100 m / tan(60°) ≈ 58 m → 5-6 cells
    s = cast_shadow(z, 10.0, 270.0, 60.0, max_distance_m=1000.0)
    assert 5 <= s[25, 21:].sum() <= 6


def test_cast_shadow_to_grid_windowed_equals_whole(tmp_path):
    from glacierinv.dem.terrain import cast_shadow_to_grid

    rng = np.random.default_rng(3)
    z = 3000 + 400 * np.cumsum(np.cumsum(rng.normal(0, 0.02, (120, 120)), axis=0), axis=1)
    dem = tmp_path / "dem.tif"
    _write(dem, z, UTM, Affine(8.0, 0, 300_000.0, 0, -8.0, 3_900_000.0))
    grid = Grid(UTM, Affine(4.0, 0, 300_040.0, 0, -4.0, 3_899_960.0), (200, 200))
    whole = cast_shadow_to_grid(dem, grid, None, 200.0, 25.0, max_distance_m=400.0)
    tiled = np.zeros(grid.shape, bool)
    for _, win in iter_windows(grid, block=64):
        r, c = int(win.row_off), int(win.col_off)
        tiled[r : r + int(win.height), c : c + int(win.width)] = cast_shadow_to_grid(
            dem, grid, win, 200.0, 25.0, max_distance_m=400.0
        )
    np.testing.assert_array_equal(tiled, whole)
    assert 0 < whole.mean() < 0.9
