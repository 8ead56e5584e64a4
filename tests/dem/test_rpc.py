import numpy as np
import pytest
import rasterio

from glacierinv.dem.rpc import check_against_gdal, read_rpc
from glacierinv.errors import InputError


def _img(shared_data, name):
    return shared_data / "s2p-stereo" / "input_pair" / name


def test_projection_matches_gdal(shared_data):
    path = _img(shared_data, "img_01.tif")
    rng = np.random.default_rng(0)
    lon = 55.645 + 0.01 * rng.random(50)
    lat = -21.235 + 0.01 * rng.random(50)
    # same RPC polynomial as GDAL up to float rounding (GDAL works in pixel corners: shifted 0.5 px)
    assert check_against_gdal(path, lon, lat, 2300.0) < 1e-6


def test_localize_inverts_project(shared_data):
    model = read_rpc(_img(shared_data, "img_02.tif"))
    cols, rows = np.meshgrid(np.linspace(0, 1000, 7), np.linspace(0, 1000, 7))
    for h in (1500.0, 2400.0):
        lon, lat = model.localize(cols, rows, h)
        c, r = model.project(lon, lat, h)
        assert np.max(np.abs(c - cols)) < 1e-3
        assert np.max(np.abs(r - rows)) < 1e-3


def test_image_without_rpc_is_a_clear_error(tmp_path):
    path = tmp_path / "plain.tif"
    with rasterio.open(path, "w", driver="GTiff", width=8, height=8, count=1, dtype="uint16") as ds:
        ds.write(np.ones((1, 8, 8), "uint16"))
    with pytest.raises(InputError, match="no RPC camera model.*RPB"):
        read_rpc(path)
