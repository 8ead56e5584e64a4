"""Phase-correlation co-registration: a known sub-pixel translation is recovered and undone."""

from __future__ import annotations

import numpy as np
import pytest
from affine import Affine
from rasterio.crs import CRS
from scipy import ndimage

from glacierinv.io.grid import Grid
from glacierinv.io.raster import read_on_grid, write_raster
from glacierinv.preprocess.align import estimate_shift, shifted_grid


@pytest.mark.parametrize(("dx_m", "dy_m"), [(3.4, -1.2), (-5.0, 2.6)])
def test_recovers_and_undoes_a_known_shift(tmp_path, dx_m, dy_m):
    rng = np.random.default_rng(7)
    img = ndimage.gaussian_filter(rng.normal(size=(160, 160)), 3).astype("float32")
    t = Affine(2.0, 0, 600_000.0, 0, -2.0, 4_000_000.0)
    grid = Grid(CRS.from_epsg(32643), t, (160, 160))
    write_raster(tmp_path / "ref.tif", img, grid)
    # the same scene with its georeference off by (dx, dy): every feature appears dx east, dy north
    write_raster(tmp_path / "mov.tif", img, Grid(grid.crs, Affine.translation(dx_m, dy_m) @ t, grid.shape))
    inner = Grid(grid.crs, t @ Affine.translation(20, 20), (120, 120))
    shift = estimate_shift(tmp_path / "ref.tif", tmp_path / "mov.tif", inner)
    assert shift.dx_m == pytest.approx(dx_m, abs=0.2)  # 0.1 px at 2 m
    assert shift.dy_m == pytest.approx(dy_m, abs=0.2)
    fixed = read_on_grid(tmp_path / "mov.tif", shifted_grid(inner, shift.dx_m, shift.dy_m), bands=1)
    ref = read_on_grid(tmp_path / "ref.tif", inner, bands=1)
    ok = np.isfinite(fixed) & np.isfinite(ref)
    before = read_on_grid(tmp_path / "mov.tif", inner, bands=1)
    err_after = np.abs(fixed - ref)[ok].mean()
    err_before = np.nanmean(np.abs(before - ref))
    assert err_after < 0.2 * err_before
