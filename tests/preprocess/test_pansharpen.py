"""Pan-sharpening: Wald's protocol on the real Landsat 8 pan (15 m) + MS (30 m), windowed file output."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.crs import CRS

from glacierinv.errors import ConfigError, InputError
from glacierinv.io.grid import Grid
from glacierinv.io.raster import read_raster, write_raster
from glacierinv.preprocess.landsat import read_mtl
from glacierinv.preprocess.pansharpen import (
    METHODS,
    PanSharpener,
    ergas,
    pansharpen_file,
    sam_deg,
    wald_protocol,
)


@pytest.fixture(scope="module")
def landsat_ms_pan(lc08_mtl):
    mtl = read_mtl(lc08_mtl)
    bands = []
    for b in ("2", "3", "4", "5"):
        dn, grid = read_raster(mtl.band_path(b), as_float=False)
        bands.append(mtl.toa_reflectance(dn[0], b))
    dn, pan_grid = read_raster(mtl.band_path("8"), as_float=False)
    return (
        np.stack(bands).astype("float32"),
        grid,
        mtl.toa_reflectance(dn[0], "8").astype("float32"),
        pan_grid,
    )


@pytest.mark.parametrize("method", ["brovey", "gram_schmidt", "hpf"])
def test_wald_protocol_beats_bilinear_on_real_landsat(method, landsat_ms_pan):
    ms, grid, pan, pan_grid = landsat_ms_pan
    q = wald_protocol(ms, grid, pan, pan_grid, method)
    assert q["ratio"] == 2.0
    # sharpening must add real detail: lower ERGAS than plain bilinear upsampling of the degraded MS
    assert q["ergas"] < 0.95 * q["ergas_bilinear"]
    assert q["ergas"] < 6.0 and q["sam_deg"] < 4.5
    if method == "brovey":  # a ratio method keeps every pixel's spectral angle
        assert q["sam_deg"] == pytest.approx(q["sam_deg_bilinear"], abs=1e-3)


def test_metrics_perfect_and_known():
    ref = np.random.default_rng(0).uniform(0.1, 0.5, (3, 8, 8))
    assert ergas(ref, ref, 4.0) == 0.0 and sam_deg(ref, ref) == pytest.approx(0.0, abs=1e-5)
    # a uniform 10 % gain: RMSE_b/μ_b = 0.1·√(E[x²])/E[x] per band; ERGAS = 100/ratio · √(mean_b of its square)
    rel = [0.1 * np.sqrt(np.mean(b**2)) / np.mean(b) for b in ref]
    assert ergas(ref, 1.1 * ref, 2.0) == pytest.approx(50.0 * np.sqrt(np.mean(np.square(rel))), rel=1e-6)
    flat = np.ones((3, 4, 4)) * np.array([0.2, 0.3, 0.4])[:, None, None]
    assert ergas(flat, 1.1 * flat, 2.0) == pytest.approx(5.0, rel=1e-6)
    assert sam_deg(ref, 1.1 * ref) == pytest.approx(0.0, abs=1e-5)


def test_unknown_method():
    with pytest.raises(ConfigError, match="gram_schmidt"):
        PanSharpener("ihs")


@pytest.mark.parametrize("method", METHODS)
def test_file_windowed_equals_whole(method, tmp_path):
    rng = np.random.default_rng(4)
    crs = CRS.from_epsg(32643)
    pan = rng.uniform(0.1, 0.6, (96, 96)).astype("float32")
    pan_grid = Grid(crs, Affine(2.0, 0, 400_000.0, 0, -2.0, 3_900_000.0), (96, 96))
    ms = np.stack([pan.reshape(24, 4, 24, 4).mean((1, 3)) * k for k in (0.8, 0.9, 1.0, 1.2)])
    ms_grid = Grid(crs, Affine(8.0, 0, 400_000.0, 0, -8.0, 3_900_000.0), (24, 24))
    write_raster(tmp_path / "pan.tif", pan, pan_grid)
    write_raster(tmp_path / "ms.tif", ms, ms_grid, descriptions=["blue", "green", "red", "nir"])
    pansharpen_file(tmp_path / "ms.tif", tmp_path / "pan.tif", tmp_path / "a.tif", method, block_px=1024)
    pansharpen_file(tmp_path / "ms.tif", tmp_path / "pan.tif", tmp_path / "b.tif", method, block_px=20)
    with rasterio.open(tmp_path / "a.tif") as a, rasterio.open(tmp_path / "b.tif") as b:
        assert a.descriptions == ("blue", "green", "red", "nir") and a.shape == (96, 96)
        np.testing.assert_allclose(a.read(), b.read(), atol=1e-6)
        sharp = a.read()
    if method != "none":  # the pan's fine structure reaches the MS bands
        corr = np.corrcoef(sharp[2].ravel(), pan.ravel())[0, 1]
        assert corr > 0.9


def test_non_overlapping_inputs(tmp_path):
    crs = CRS.from_epsg(32643)
    write_raster(
        tmp_path / "pan.tif", np.ones((8, 8), "float32"), Grid(crs, Affine(2, 0, 0, 0, -2, 16), (8, 8))
    )
    far = Grid(crs, Affine(8, 0, 90_000, 0, -8, 90_000), (2, 2))
    write_raster(tmp_path / "ms.tif", np.ones((4, 2, 2), "float32"), far)
    with pytest.raises(InputError, match="does not overlap"):
        pansharpen_file(tmp_path / "ms.tif", tmp_path / "pan.tif", tmp_path / "out.tif")
    assert not (tmp_path / "out.tif").exists()
