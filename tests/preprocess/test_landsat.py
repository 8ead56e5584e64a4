"""Landsat MTL parsing (C1 and C2 syntax), band roles, DN → radiance / reflectance / BT on real data."""

from __future__ import annotations

import numpy as np
import pytest

from glacierinv.errors import InputError
from glacierinv.io.raster import read_raster
from glacierinv.preprocess.landsat import read_mtl


def _dn(mtl, band):
    arr, _ = read_raster(mtl.band_path(band), as_float=False)
    return arr[0].ravel()


def test_reference_brightness_temperatures(lc08_mtl):
    """USGS formula on the real LC08 crop: pixel 49 (0-based, row-major) of B10 and B11 (data README)."""
    mtl = read_mtl(lc08_mtl)
    b10, b11 = _dn(mtl, "10"), _dn(mtl, "11")
    assert b10[49] == 30263 and b11[49] == 26873
    assert mtl.brightness_temperature(b10, "10")[49] == pytest.approx(304.2516, abs=0.01)
    assert mtl.brightness_temperature(b11, "11")[49] == pytest.approx(301.1773, abs=0.01)
    bt = mtl.brightness_temperature(b10, "10")
    assert np.nanmin(bt) == pytest.approx(297.82, abs=0.01) and np.nanmax(bt) == pytest.approx(
        307.96, abs=0.01
    )


def test_toa_reflectance_with_sun_correction(lc08_mtl):
    """B2 pixel 50 (1-based): 0.10122 before and 0.118091 after the sun-elevation correction (README)."""
    mtl = read_mtl(lc08_mtl)
    rho = mtl.toa_reflectance(_dn(mtl, "2"), "2")[49]
    assert rho == pytest.approx(0.118091, abs=2e-5)
    assert rho * np.sin(np.radians(mtl.sun_elevation_deg)) == pytest.approx(0.10122, abs=2e-5)


def test_roles_by_sensor(lc08_mtl, le07_mtl):
    l8, l7 = read_mtl(lc08_mtl), read_mtl(le07_mtl)
    assert (l8.thermal_band, l8.red_nir_bands) == ("10", ("4", "5"))
    assert (l7.thermal_band, l7.red_nir_bands) == ("6_VCID_1", ("3", "4"))
    assert l7.band_path("6_VCID_2").name.endswith("B6_VCID_2.TIF")
    bt = l7.brightness_temperature(_dn(l7, "6_VCID_1"), "6_VCID_1")
    assert 280 < np.nanmedian(bt) < 320  # a July afternoon in Germany


C2_MTL = """GROUP = LANDSAT_METADATA_FILE
  GROUP = PRODUCT_CONTENTS
    LANDSAT_PRODUCT_ID = "LC09_L1TP_148035_20220820_20230402_02_T1"
    FILE_NAME_BAND_4 = "X_B4.TIF"
    FILE_NAME_BAND_5 = "X_B5.TIF"
    FILE_NAME_BAND_10 = "X_B10.TIF"
  END_GROUP = PRODUCT_CONTENTS
  GROUP = IMAGE_ATTRIBUTES
    SPACECRAFT_ID = "LANDSAT_9"
    SENSOR_ID = "OLI_TIRS"
    SUN_AZIMUTH = 130.5
    SUN_ELEVATION = 55.25
  END_GROUP = IMAGE_ATTRIBUTES
  GROUP = LEVEL1_RADIOMETRIC_RESCALING
    RADIANCE_MULT_BAND_10 = 3.8000E-04
    RADIANCE_ADD_BAND_10 = 0.10000
  END_GROUP = LEVEL1_RADIOMETRIC_RESCALING
  GROUP = LEVEL1_THERMAL_CONSTANTS
    K1_CONSTANT_BAND_10 = 799.0284
    K2_CONSTANT_BAND_10 = 1329.2405
  END_GROUP = LEVEL1_THERMAL_CONSTANTS
END_GROUP = LANDSAT_METADATA_FILE
END
"""


def test_collection2_syntax(tmp_path):
    p = tmp_path / "X_MTL.txt"
    p.write_text(C2_MTL)
    mtl = read_mtl(p)
    assert mtl.spacecraft == "LANDSAT_9" and mtl.thermal_band == "10"
    radiance = 3.8e-4 * 25000 + 0.1
    expected = 1329.2405 / np.log(799.0284 / radiance + 1)
    assert mtl.brightness_temperature(np.array([25000]), "10")[0] == pytest.approx(expected, rel=1e-9)
    assert np.isnan(mtl.brightness_temperature(np.array([0]), "10")[0])  # DN 0 is fill
    with pytest.raises(InputError, match="REFLECTANCE_MULT_BAND_4"):
        mtl.toa_reflectance(np.array([100]), "4")
    with pytest.raises(InputError, match="X_B10.TIF"):
        mtl.band_path("10")  # named in the MTL but not beside it


def test_bad_mtl_files(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_mtl(tmp_path / "missing_MTL.txt")
    junk = tmp_path / "junk_MTL.txt"
    junk.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe")
    with pytest.raises(InputError):
        read_mtl(junk)
    other = tmp_path / "other_MTL.txt"
    other.write_text("A = 1\nB = 2\n")
    with pytest.raises(InputError, match="SPACECRAFT_ID"):
        read_mtl(other)
