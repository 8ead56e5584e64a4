"""Broadband albedo (Knap et al. 1999) and its use as the snowline raster of the synthetic scene."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasterio.warp import Resampling, reproject

from glacierinv.preprocess.albedo import broadband_albedo, write_albedo
from glacierinv.synthetic.surface import SURFACE


def test_knap_formula_by_hand():
    # α = 0.726 g − 0.322 g² − 0.015 n + 0.581 n²
    assert broadband_albedo(np.array([0.95]), np.array([0.85]))[0] == pytest.approx(0.806118, abs=1e-5)
    assert broadband_albedo(np.array([0.5]), np.array([0.3]))[0] == pytest.approx(0.3303, abs=1e-4)
    assert np.isnan(broadband_albedo(np.array([np.nan]), np.array([0.3]))[0])
    assert broadband_albedo(np.array([0.0]), np.array([0.0]))[0] == 0.0


def test_windowed_albedo_separates_snow_from_bare_ice(baseline_run, tiny_scene, tmp_path):
    out = write_albedo(baseline_run.run_dir / "stack.tif", tmp_path / "albedo.tif", block=128)
    with rasterio.open(out) as a, rasterio.open(tiny_scene / "truth" / "surface.tif") as s:
        albedo = a.read(1)
        kind = np.full(albedo.shape, 255, "uint8")
        reproject(s.read(1), kind, src_transform=s.transform, src_crs=s.crs, dst_transform=a.transform,
                  dst_crs=a.crs, resampling=Resampling.nearest)  # fmt: skip
    with rasterio.open(baseline_run.run_dir / "stack.tif") as st:
        direct = broadband_albedo(st.read(2), st.read(4))  # green, nir
    np.testing.assert_array_equal(albedo, direct)  # windows stitch exactly
    snow, ice = albedo[kind == SURFACE["snow"]], albedo[kind == SURFACE["ice"]]
    assert snow.size > 1000 and ice.size > 1000
    # Knap's snow/firn ≥ ~0.5 > bare ice: the 0.5 threshold classifies ≥ 95 % of either surface right
    assert (snow >= 0.5).mean() >= 0.95 and (ice < 0.5).mean() >= 0.95
