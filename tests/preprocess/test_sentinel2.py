"""Sentinel-2 readers: band roles by name (SAFE tree, band files, described GeoTIFF), scaling, masks."""

from __future__ import annotations

import numpy as np
import pytest
from affine import Affine
from rasterio.crs import CRS

from glacierinv.errors import InputError
from glacierinv.io.grid import Grid
from glacierinv.io.raster import write_raster
from glacierinv.preprocess.sentinel2 import cloud_mask_on_grid, mask_kind, open_sentinel2

CRS_ = CRS.from_epsg(32643)
G10 = Grid(CRS_, Affine(10, 0, 500_000, 0, -10, 4_000_000), (6, 6))
G20 = Grid(CRS_, Affine(20, 0, 500_000, 0, -20, 4_000_000), (3, 3))
BANDS10 = {"B02": 1000, "B03": 1500, "B04": 2000, "B08": 3000}


def _safe(tmp_path, offset: int | None):
    root = tmp_path / "S2A_MSIL2A_20210820T055641_N0301_R091_T43SDV_20210820T082040.SAFE"
    img = root / "GRANULE" / "L2A_T43SDV_A032111_20210820T060219" / "IMG_DATA"
    for name, v in BANDS10.items():
        # the same band at 10 m and 20 m: the finer file must win
        write_raster(
            img / "R10m" / f"T43SDV_20210820T055641_{name}_10m.tif", np.full(G10.shape, v, "uint16"), G10
        )
        write_raster(
            img / "R20m" / f"T43SDV_20210820T055641_{name}_20m.tif", np.full(G20.shape, 1, "uint16"), G20
        )
    write_raster(img / "R20m" / "T43SDV_20210820T055641_B11_20m.tif", np.full(G20.shape, 500, "uint16"), G20)
    scl = np.array([[4, 8, 9], [10, 3, 11], [0, 5, 6]], "uint8")
    write_raster(img / "R20m" / "T43SDV_20210820T055641_SCL_20m.tif", scl, G20)
    if offset is not None:
        # baseline >= 04.00: one BOA_ADD_OFFSET per band (band_id 0-12 = B1..B12), as in real products
        offsets = "".join(f'<BOA_ADD_OFFSET band_id="{i}">{offset}</BOA_ADD_OFFSET>' for i in range(13))
        (root / "MTD_MSIL2A.xml").write_text(
            f"<x><BOA_ADD_OFFSET_VALUES_LIST>{offsets}</BOA_ADD_OFFSET_VALUES_LIST></x>"
        )
    return root


@pytest.mark.parametrize("offset", [None, -1000])
def test_safe_folder_roles_and_scaling(tmp_path, offset):
    s2 = open_sentinel2(_safe(tmp_path, offset))
    assert set(s2.bands) == {"blue", "green", "red", "nir", "swir", "scl"}
    assert "_10m" in s2.bands["red"][0].name and "_20m" in s2.bands["swir"][0].name
    red = s2.reflectance("red", G10)
    expected = (2000 + (offset or 0)) * 1e-4
    np.testing.assert_allclose(red, expected, rtol=1e-6)
    swir = s2.reflectance("swir", G10)
    np.testing.assert_allclose(swir, (500 + (offset or 0)) * 1e-4, rtol=1e-6)
    # SCL: cloud medium/high (8, 9), cirrus (10), shadow (3), no data (0) are masked; snow (11) is clear
    mask = cloud_mask_on_grid(s2.bands["scl"][0], G20, kind=mask_kind(s2.bands["scl"][0]))
    np.testing.assert_array_equal(mask, [[False, True, True], [True, True, False], [True, False, False]])


def test_described_geotiff_roles_by_name_not_position(tmp_path):
    arr = np.stack([np.full(G10.shape, v, "float32") for v in (0.3, 0.1, 0.2, 0.4, 0.05)])
    # bands stored out of order: roles must follow the descriptions
    write_raster(tmp_path / "s2.tif", arr, G10, descriptions=["B8", "B2", "B4", "B3", "B11"])
    s2 = open_sentinel2(tmp_path / "s2.tif")
    assert s2.reflectance("nir", G10)[0, 0] == pytest.approx(0.3)
    assert s2.reflectance("blue", G10)[0, 0] == pytest.approx(0.1)
    assert s2.reflectance("green", G10)[0, 0] == pytest.approx(0.4)
    assert s2.reflectance("swir", G10)[0, 0] == pytest.approx(0.05)


def test_missing_band_is_named(tmp_path):
    arr = np.ones((3, *G10.shape), "float32")
    write_raster(tmp_path / "s2.tif", arr, G10, descriptions=["B2", "B3", "B4"])
    with pytest.raises(InputError, match="B8"):
        open_sentinel2(tmp_path / "s2.tif")


def test_qa60_and_binary_masks(tmp_path):
    qa = np.array([[0, 1 << 10, 1 << 11]], "uint16")
    g = Grid(CRS_, Affine(60, 0, 500_000, 0, -60, 4_000_000), (1, 3))
    write_raster(tmp_path / "QA60.tif", qa, g)
    assert mask_kind(tmp_path / "QA60.tif") == "qa60"
    np.testing.assert_array_equal(cloud_mask_on_grid(tmp_path / "QA60.tif", g), [[False, True, True]])
    write_raster(tmp_path / "clouds.tif", np.array([[0, 1, 0]], "uint8"), g)
    assert mask_kind(tmp_path / "clouds.tif") == "binary"
    np.testing.assert_array_equal(cloud_mask_on_grid(tmp_path / "clouds.tif", g), [[False, True, False]])
