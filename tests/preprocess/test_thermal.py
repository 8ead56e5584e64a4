"""LST: emissivity by NDVI, inverse Planck with emissivity correction, windowed file output on real data."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio

from glacierinv.io.raster import read_raster
from glacierinv.preprocess.landsat import read_mtl
from glacierinv.preprocess.thermal import (
    EMISSIVITY,
    emissivity_from_ndvi,
    fractional_vegetation_cover,
    land_surface_temperature,
    lst_from_bt,
    lst_from_dn,
    lst_inverse_planck,
)

K1, K2 = 774.8853, 1321.0789  # Landsat 8 TIRS B10


def test_fvc_and_emissivity_classes():
    ndvi = np.array([-0.3, 0.1, 0.2, 0.53, 0.86, 0.9, np.nan])
    fvc = fractional_vegetation_cover(ndvi)
    assert fvc[2] == 0 and fvc[4] == 1 and fvc[5] == 1
    assert fvc[3] == pytest.approx(0.25)  # ((0.53 − 0.2)/0.66)²
    eps = emissivity_from_ndvi(ndvi)
    assert eps[0] == EMISSIVITY["water_snow_ice"]
    assert eps[1] == EMISSIVITY["soil_rock"]
    assert EMISSIVITY["soil_rock"] < eps[3] < EMISSIVITY["vegetation"] + EMISSIVITY["cavity"]
    assert eps[5] == EMISSIVITY["vegetation"]
    assert np.isnan(eps[6])
    assert np.all((eps[:6] > 0.95) & (eps[:6] <= 1.0))


def test_inverse_planck_roundtrip_and_emissivity_correction():
    t = np.array([250.0, 273.15, 300.0])
    radiance = K1 / (np.exp(K2 / t) - 1)  # blackbody radiance at T
    np.testing.assert_allclose(lst_inverse_planck(radiance, np.ones(3), K1, K2), t, rtol=1e-12)
    # a grey body at T emits ε·B(T): inverting with ε recovers T, and T exceeds the BT
    eps = np.full(3, 0.97)
    np.testing.assert_allclose(lst_inverse_planck(eps * radiance, eps, K1, K2), t, rtol=1e-12)
    bt = K2 / np.log(K1 / (eps * radiance) + 1)
    assert np.all(t > bt)
    # the Artis & Carnahan approximation agrees within 0.1 K at these temperatures
    np.testing.assert_allclose(lst_from_bt(bt, eps, 10.895), t, atol=0.1)
    # atmosphere: transmissivity and path radiances are removed before the inversion
    l_up, l_down, tau = 1.2, 2.0, 0.8
    sensor = tau * (eps * radiance + (1 - eps) * l_down) + l_up
    np.testing.assert_allclose(
        lst_inverse_planck(sensor, eps, K1, K2, tau=tau, l_up=l_up, l_down=l_down), t, rtol=1e-12
    )


def test_lst_exceeds_bt_on_real_landsat(lc08_mtl):
    mtl = read_mtl(lc08_mtl)
    dn = {b: read_raster(mtl.band_path(b), as_float=False)[0][0] for b in ("10", "4", "5")}
    lst, bt = lst_from_dn(mtl, dn["10"], dn["4"], dn["5"])
    assert bt.ravel()[49] == pytest.approx(304.2516, abs=0.01)
    ok = np.isfinite(lst)
    assert ok.all()
    # emissivity 0.97–0.995 at ~300 K and 10.9 µm raises the temperature by ~0.3–2.3 K
    assert np.all(lst[ok] > bt[ok]) and np.all(lst[ok] - bt[ok] < 2.5)


@pytest.mark.parametrize("mtl_fixture", ["lc08_mtl", "le07_mtl"])
def test_lst_file_windowed(mtl_fixture, request, tmp_path):
    mtl_path = request.getfixturevalue(mtl_fixture)
    whole = land_surface_temperature(mtl_path, tmp_path / "lst.tif", bt_out=tmp_path / "bt.tif")
    land_surface_temperature(mtl_path, tmp_path / "lst16.tif", block_px=16)
    with rasterio.open(tmp_path / "lst.tif") as a, rasterio.open(tmp_path / "lst16.tif") as b:
        np.testing.assert_array_equal(a.read(), b.read())
        assert a.descriptions == ("lst",) and a.crs.to_epsg() == 32632
        lst = a.read(1)
    with rasterio.open(tmp_path / "bt.tif") as ds:
        bt = ds.read()
        names = ds.descriptions
    assert np.all(lst > bt[0])
    assert whole["valid_px"] == lst.size
    if mtl_fixture == "lc08_mtl":
        assert names == ("bt_b10", "bt_b11")
        assert bt[0].ravel()[49] == pytest.approx(304.2516, abs=0.01)
        assert bt[1].ravel()[49] == pytest.approx(301.1773, abs=0.01)
    else:
        assert names == ("bt_b6_vcid_1", "bt_b6_vcid_2")
        # low- and high-gain channels see the same surface: BTs agree within ~1 K
        assert np.nanmedian(np.abs(bt[0] - bt[1])) < 1.0


def test_snow_ice_and_water_emissivity_overrides():
    from glacierinv.preprocess.thermal import emissivity

    ndvi = np.array([0.1, 0.1, 0.1, 0.6])
    ndsi = np.array([0.7, -0.2, 0.7, -0.3])
    ndwi = np.array([0.1, 0.3, -0.4, -0.5])
    eps = emissivity(ndvi, ndsi, ndwi)
    # snow/ice wins over water; water from NDWI; vegetation from NDVI
    np.testing.assert_allclose(
        eps, [EMISSIVITY["snow_ice"], EMISSIVITY["water"], EMISSIVITY["snow_ice"], 0.99]
    )
    # without the indices, NDVI decides (debris-like NDVI 0.1 → bare ground)
    assert emissivity(ndvi)[0] == EMISSIVITY["soil_rock"]


def test_lst_uses_green_and_swir_when_present(lc08_mtl):
    mtl = read_mtl(lc08_mtl)
    assert set(mtl.lst_band_paths()) == {"thermal", "red", "nir", "green", "swir"}
    dn = {b: read_raster(mtl.band_path(b), as_float=False)[0][0] for b in ("10", "4", "5", "3", "6")}
    lst_all, bt = lst_from_dn(mtl, dn["10"], dn["4"], dn["5"], dn["3"], dn["6"])
    lst_ndvi, _ = lst_from_dn(mtl, dn["10"], dn["4"], dn["5"])
    assert np.all(lst_all > bt)
    # a summer lowland scene: few snow/water pixels, so the two agree closely on most pixels
    assert np.median(np.abs(lst_all - lst_ndvi)) < 0.05
