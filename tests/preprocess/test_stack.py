"""The feature stack on the synthetic scene: contract (bands, dtypes, grid), sources, masks, seamless
windows, channel validation."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio

from glacierinv.config import load_config
from glacierinv.errors import ConfigError
from glacierinv.io.raster import raster_grid
from glacierinv.preprocess.stack import KNOWN_CHANNELS, build_feature_stack


def _cfg(scene, **stack):
    cfg = load_config(scene / "config.toml")
    return cfg.model_copy(update={"stack": cfg.stack.model_copy(update=stack)}) if stack else cfg


@pytest.fixture(scope="module")
def built(tiny_scene, tmp_path_factory):
    out = tmp_path_factory.mktemp("stack")
    calls = []
    result = build_feature_stack(_cfg(tiny_scene), out, block_px=150, progress=calls.append)
    return out, result, calls


def test_stack_contract(built, tiny_scene):
    out, result, calls = built
    assert calls and calls[-1] == pytest.approx(1.0) and calls == sorted(calls)
    pan_grid = raster_grid(tiny_scene / "pan.tif")
    with rasterio.open(out / "stack.tif") as ds:
        assert ds.descriptions == ("blue", "green", "red", "nir", "lst", "slope")
        assert ds.dtypes[0] == "float32" and np.isnan(ds.nodata)
        assert (ds.crs, ds.transform, ds.shape) == (pan_grid.crs, pan_grid.transform, pan_grid.shape)
        stack = ds.read()
    with rasterio.open(out / "source.tif") as ds:
        source = ds.read(1)
    with rasterio.open(out / "masks.tif") as ds:
        assert ds.descriptions == ("cloud", "shadow") and ds.dtypes[0] == "uint8"
        masks = ds.read()
    valid = source > 0
    assert valid.mean() > 0.95
    assert set(np.unique(source)) <= {0, 1, 2}
    # a pixel is valid in every channel or in none
    np.testing.assert_array_equal(np.all(np.isfinite(stack), axis=0), valid)
    blue, green, red, nir, lst, slope = stack[:, valid]
    assert 0 <= np.percentile(red, 1) and np.percentile(red, 99) <= 1.2  # reflectance
    assert 200 < np.median(lst) < 320  # kelvin
    assert 0 <= slope.min() and slope.max() < 90  # degrees
    assert set(np.unique(masks[:, valid])) <= {0, 1}
    assert np.all(masks[:, ~valid] == 255)
    # Sentinel-2 fills exactly where the primary image is flagged cloudy (and S2 is clear)
    assert (source == 2).sum() > 0
    assert np.all(masks[0][source == 2] == 1)
    assert result.s2_fill_fraction == pytest.approx((source == 2).sum() / valid.sum())
    assert result.summary()["channels"] == list(result.channels)


def test_stack_tiled_equals_untiled(built, tiny_scene, tmp_path):
    out, _, _ = built
    build_feature_stack(_cfg(tiny_scene), tmp_path, block_px=400)
    for name in ("stack.tif", "source.tif", "masks.tif"):
        with rasterio.open(out / name) as a, rasterio.open(tmp_path / name) as b:
            np.testing.assert_array_equal(a.read(), b.read())


def test_optional_channels(tiny_scene, tmp_path):
    channels = ["pan", "ndsi", "ndwi", "ndvi", "swir", "elevation", "slope"]
    result = build_feature_stack(_cfg(tiny_scene, channels=channels, pansharpen="hpf"), tmp_path)
    with rasterio.open(result.stack) as ds:
        assert list(ds.descriptions) == channels
        arr = ds.read()
    ok = np.all(np.isfinite(arr), axis=0)
    for i in (1, 2, 3):
        assert np.all(np.abs(arr[i][ok]) <= 1.0)  # normalised differences
    with rasterio.open(tiny_scene / "dem.tif") as ds:
        zmin, zmax = float(np.nanmin(ds.read(1))), float(np.nanmax(ds.read(1)))
    assert zmin - 1 <= np.nanmin(arr[5]) and np.nanmax(arr[5]) <= zmax + 1


def test_unknown_channel_lists_known(tiny_scene, tmp_path):
    with pytest.raises(ConfigError) as err:
        build_feature_stack(_cfg(tiny_scene, channels=["blue", "thermal"]), tmp_path)
    assert "thermal" in str(err.value)
    assert all(c in str(err.value) for c in KNOWN_CHANNELS)
    assert not any(tmp_path.iterdir())


def test_missing_input_names_the_key(tiny_scene, tmp_path):
    cfg = _cfg(tiny_scene)
    cfg = cfg.model_copy(update={"inputs": cfg.inputs.model_copy(update={"landsat_mtl": None})})
    with pytest.raises(ConfigError, match=r"channel .lst.*\[inputs\] landsat .*landsat_mtl"):
        build_feature_stack(cfg, tmp_path)
    cfg = cfg.model_copy(update={"inputs": cfg.inputs.model_copy(update={"pan": None})})
    cfg = cfg.model_copy(update={"stack": cfg.stack.model_copy(update={"channels": ["red", "pan"]})})
    with pytest.raises(ConfigError, match=r"\[inputs\] pan"):
        build_feature_stack(cfg, tmp_path)
    assert not any(tmp_path.iterdir())


def test_ms_primary_without_pan(tiny_scene, tmp_path):
    cfg = _cfg(tiny_scene)
    cfg = cfg.model_copy(update={"inputs": cfg.inputs.model_copy(update={"pan": None})})
    result = build_feature_stack(cfg, tmp_path)
    assert result.shape == raster_grid(tiny_scene / "ms.tif").shape
    assert result.pixel_m == pytest.approx(raster_grid(tiny_scene / "ms.tif").res[0])


def test_coregister_applies_a_known_ms_shift(tiny_scene, tmp_path):
    """An MS image whose georeference is 3 m off is detected and put back in place."""
    import shutil

    from affine import Affine

    scene = tmp_path / "scene"
    shutil.copytree(tiny_scene, scene)
    with rasterio.open(scene / "ms.tif", "r+") as ds:
        ds.transform = Affine.translation(3.0, -2.0) @ ds.transform
    ok = build_feature_stack(_cfg(tiny_scene), tmp_path / "ok")
    fixed = build_feature_stack(_cfg(scene, coregister=True, pansharpen="none"), tmp_path / "fixed")
    assert fixed.shifts_m["ms"]["applied"]
    assert fixed.shifts_m["ms"]["dx_m"] == pytest.approx(3.0, abs=0.5)
    assert fixed.shifts_m["ms"]["dy_m"] == pytest.approx(-2.0, abs=0.5)
    assert ok.shifts_m == {}


def test_sentinel2_safe_folder_with_scl(tiny_scene, tmp_path):
    """Sentinel-2 given as a SAFE folder of integer band files + SCL fills the primary image's clouds."""
    from glacierinv.io.raster import read_raster, write_raster

    s2, grid = read_raster(tiny_scene / "s2.tif")
    cloud, _ = read_raster(tiny_scene / "s2_cloud.tif", as_float=False)
    img = tmp_path / "S2B_MSIL2A_TEST.SAFE" / "GRANULE" / "L2A_T43" / "IMG_DATA" / "R10m"
    for i, name in enumerate(("B02", "B03", "B04", "B08", "B11")):
        dn = np.round(np.nan_to_num(s2[i]) * 10000).astype("uint16")
        write_raster(img / f"T43_20210820_{name}_10m.tif", dn, grid, nodata=0)
    scl = np.where(cloud[0] == 1, 9, 4).astype("uint8")  # 9 cloud high probability, 4 vegetation
    write_raster(img / "T43_20210820_SCL_20m.tif", scl, grid)
    cfg = _cfg(tiny_scene)
    safe = tmp_path / "S2B_MSIL2A_TEST.SAFE"
    cfg = cfg.model_copy(update={"inputs": cfg.inputs.model_copy(update={"s2": safe, "s2_cloud_mask": None})})
    a = build_feature_stack(cfg, tmp_path / "safe")
    b = build_feature_stack(_cfg(tiny_scene), tmp_path / "tif")
    assert a.s2_fill_fraction == pytest.approx(b.s2_fill_fraction, abs=0.002)
    with rasterio.open(a.stack) as da, rasterio.open(b.stack) as db:
        filled = rasterio.open(a.source).read(1) == 2
        diff = np.abs(da.read(1)[filled] - db.read(1)[filled])
    assert filled.any() and np.nanmax(diff) < 2e-4  # 1e-4 quantisation of the integer product


def test_window_builds_match_the_whole(built, tiny_scene, tmp_path):
    """Tiles built with ``window=`` (scene-wide fit) equal the same part of a whole build (to float32
    rounding of the warper's coordinates)."""
    out, _, _ = built
    cfg = _cfg(tiny_scene)
    with rasterio.open(out / "stack.tif") as ds:
        whole = ds.read()
    for col, row in ((0, 0), (170, 230)):
        tile = build_feature_stack(cfg, tmp_path / f"t{col}", window=(col, row, 130, 170))
        with rasterio.open(tile.stack) as ds:
            part = ds.read()
            # slope and shadows use a margin beyond the tile, read from the full inputs
            ref = whole[:, row : row + 170, col : col + 130]
            np.testing.assert_array_equal(np.isnan(part), np.isnan(ref))
            np.testing.assert_allclose(part, ref, rtol=1e-6, atol=1e-5)


def test_dem_in_wrong_units_is_refused(tiny_scene, tmp_path):
    from glacierinv.errors import InputError
    from glacierinv.io.raster import read_raster, write_raster

    z, grid = read_raster(tiny_scene / "dem.tif")
    write_raster(tmp_path / "dem_dm.tif", z * 10.0, grid)  # decimetres
    cfg = _cfg(tiny_scene)
    cfg = cfg.model_copy(update={"inputs": cfg.inputs.model_copy(update={"dem": tmp_path / "dem_dm.tif"})})
    with pytest.raises(InputError, match="not elevations in metres"):
        build_feature_stack(cfg, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_cloud_mask_against_synthetic_truth(built, tiny_scene):
    """Clouds of the primary image are found (cores + grown edges) without flagging the snow fields."""
    truth_path = tiny_scene / "truth" / "cloud_primary.tif"
    if not truth_path.exists():
        pytest.skip("this synthetic scene has no primary cloud truth")
    out, _, _ = built
    with rasterio.open(out / "masks.tif") as ds:
        cloud = ds.read(1)
    with rasterio.open(truth_path) as ds:
        truth = ds.read(1) == 1
    ok = cloud != 255
    if truth[ok].sum() < 100:
        pytest.skip("too little cloud in this scene to score")
    flagged = (cloud == 1) & ok
    tp = (flagged & truth).sum()
    f1 = 2 * tp / (2 * tp + (flagged & ~truth).sum() + (~flagged & truth & ok).sum())
    # truth counts cloud opacity > 0.3; the thinnest edges are ambiguous by construction
    assert f1 > 0.6


def test_tir_beside_another_primary_image_from_landsat_mtl(tiny_scene, tmp_path):
    """`tir` (brightness temperature of the landsat_mtl thermal band) next to `lst`: same pixels valid,
    LST above BT (emissivity < 1, no atmosphere), both in kelvin."""
    result = build_feature_stack(_cfg(tiny_scene, channels=["red", "lst", "tir"]), tmp_path, block_px=150)
    with rasterio.open(result.stack) as ds:
        assert ds.descriptions == ("red", "lst", "tir")
        red, lst, tir = ds.read()
    valid = np.isfinite(red)
    assert valid.mean() > 0.95 and np.all(np.isfinite(tir[valid]))
    assert np.all(lst[valid] >= tir[valid]) and 200 < np.median(tir[valid]) < 320


@pytest.mark.parametrize("how", ["config", "band_unit"])
def test_dem_in_feet_gives_the_slope_of_the_dem_in_metres(tiny_scene, tmp_path, how):
    """[dem] z_unit = "ft" (or the file's band unit "ft"): slope, elevation and the shadow mask equal those
    of the same DEM in metres; without the unit the feet DEM is refused, never used as metres."""
    from glacierinv.errors import InputError
    from glacierinv.io.raster import read_raster, write_raster

    z, grid = read_raster(tiny_scene / "dem.tif")
    write_raster(tmp_path / "dem_ft.tif", z / 0.3048, grid)
    if how == "band_unit":
        with rasterio.open(tmp_path / "dem_ft.tif", "r+") as ds:
            ds.units = ["ft"]
    channels = ["red", "slope", "elevation"]
    ref = build_feature_stack(_cfg(tiny_scene, channels=channels), tmp_path / "m", block_px=150)
    cfg = _cfg(tiny_scene, channels=channels)
    cfg = cfg.model_copy(update={"inputs": cfg.inputs.model_copy(update={"dem": tmp_path / "dem_ft.tif"})})
    if how == "config":
        with pytest.raises(InputError, match="not elevations in metres.*z_unit"):
            build_feature_stack(cfg, tmp_path / "refused")
        cfg = cfg.model_copy(update={"dem": cfg.dem.model_copy(update={"z_unit": "ft"})})
    ft = build_feature_stack(cfg, tmp_path / "ft", block_px=150)
    a, b = read_raster(ref.stack)[0], read_raster(ft.stack)[0]
    # float32 elevations round to ~1 mm (ulp at 16 000 ft ≈ 0.6 mm, plus the m↔ft products): Horn's
    # gradient on the 4 m grid errs by ≤ 8·1 mm / (8·4 m) = 2.5e-4, doubled at edges → 0.03°
    np.testing.assert_allclose(b[1], a[1], rtol=0, atol=0.03)  # slope, degrees
    np.testing.assert_allclose(b[2], a[2], rtol=0, atol=5e-3)  # elevation, m (float32 rounding)
    assert np.nanmax(a[1]) > 10  # the scene has real slopes: the test would catch a factor 3.28
    np.testing.assert_array_equal(read_raster(ft.masks)[0], read_raster(ref.masks)[0])
