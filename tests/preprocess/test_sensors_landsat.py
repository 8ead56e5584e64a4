"""Landsat products straight into the pipeline: the real LC08 (C1 L1) and LE07 ETM+ crops, named by their
MTL only, plus a Collection 2 Level-2 product built to the USGS layout."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest
import rasterio
from typer.testing import CliRunner

from glacierinv.cli.main import app
from glacierinv.config import load_config
from glacierinv.errors import ConfigError, InputError
from glacierinv.io.raster import read_raster, write_raster
from glacierinv.preprocess.landsat import read_mtl
from glacierinv.preprocess.sensors import open_scene
from glacierinv.preprocess.sensors.landsat import open_landsat, qa_cloud
from glacierinv.preprocess.thermal import lst_from_dn
from tests.cli_checks import one_error_line

runner = CliRunner()
PIXELS = [(0, 0), (1, 8), (20, 20), (40, 3), (33, 37)]  # (row, col) on the 41×41 crops


def _mtl_number(path, key):
    """An MTL value read with a regex, independently of the package's parser."""
    m = re.search(rf"^\s*{key}\s*=\s*(\S+)", path.read_text(), re.M)
    return float(m.group(1))


def _config(tmp_path, mtl, dem, *, scenes: bool = False, extra: str = "") -> object:
    if scenes:
        text = f'[inputs]\ndem = "{dem}"\n\n[[scenes]]\nname = "ls"\nlandsat = "{mtl}"\n'
    else:
        text = f'[inputs]\nlandsat = "{mtl}"\ndem = "{dem}"\n'
    text += '\n[segment]\nmethod = "baseline"\n' + extra
    (tmp_path / "run.toml").write_text(text)
    return tmp_path / "run.toml"


@pytest.mark.parametrize("which, red_band", [("LC08", "4"), ("LE07", "3")])
def test_stack_from_mtl_only_matches_the_mtl_formula(landsat_dir, tmp_path, which, red_band):
    """`glacierinv stack` from a config naming only the MTL and the DEM: TOA reflectance by hand."""
    mtl = next(landsat_dir.glob(f"{which}*_MTL.txt"))
    cfg_path = _config(
        tmp_path,
        mtl,
        landsat_dir / "DEM.TIF",
        extra='\n[stack]\nchannels = ["blue", "green", "red", "nir", "swir1", "lst", "slope"]\n',
    )
    res = runner.invoke(app, ["stack", str(cfg_path), "--out", str(tmp_path / "stack")])
    assert res.exit_code == 0, res.output
    with rasterio.open(tmp_path / "stack" / "stack.tif") as ds:
        assert list(ds.descriptions) == ["blue", "green", "red", "nir", "swir1", "lst", "slope"]
        assert ds.res == (30.0, 30.0) and ds.shape == (41, 41)
        stack = ds.read()
    red_file = landsat_dir / f"{mtl.name[:-8]}_B{red_band}.TIF"
    with rasterio.open(red_file) as ds:
        dn = ds.read(1).astype("float64")
    m = _mtl_number(mtl, f"REFLECTANCE_MULT_BAND_{red_band}")
    a = _mtl_number(mtl, f"REFLECTANCE_ADD_BAND_{red_band}")
    sun = _mtl_number(mtl, "SUN_ELEVATION")
    for r, c in PIXELS:
        by_hand = (m * dn[r, c] + a) / np.sin(np.radians(sun))
        assert stack[2, r, c] == pytest.approx(by_hand, rel=1e-5, abs=1e-6)
    # LST as today: the emissivity chain of preprocess.thermal on the same DNs, and LST > BT (ε < 1)
    parsed = read_mtl(mtl)
    paths = parsed.lst_band_paths()
    dns = {k: read_raster(p, as_float=False)[0][0] for k, p in paths.items()}
    lst, bt = lst_from_dn(parsed, dns["thermal"], dns["red"], dns["nir"], dns.get("green"), dns.get("swir"))
    np.testing.assert_allclose(stack[5], lst, rtol=1e-6)
    assert np.all((stack[5] > bt) & (stack[5] - bt < 3.0))
    assert 280 < np.nanmean(stack[5]) < 320  # a July lowland scene


def test_landsat8_reference_bt_pixel_through_the_stack(lc08_mtl, landsat_dir, tmp_path):
    """Pixel 49 of B10 (data README: BT 304.2516 K): the stack's LST there is BT corrected by ε < 1."""
    from glacierinv.preprocess.stack import build_feature_stack

    cfg = load_config(_config(tmp_path, lc08_mtl, landsat_dir / "DEM.TIF"))
    res = build_feature_stack(cfg, tmp_path / "s")
    lst = read_raster(res.stack)[0][4].ravel()
    assert 304.2516 < lst[49] < 304.2516 + 3.0
    assert res.sensors["primary"]["sensor"] == "landsat" and res.sensors["primary"]["level"] == "L1"
    assert res.sensors["sun_azimuth_elevation_deg"][1] == pytest.approx(58.99675, abs=1e-4)


def test_tir_channel_is_the_reference_brightness_temperature(lc08_mtl, landsat_dir, tmp_path):
    """`tir` = at-sensor BT of B10: pixel 49 is 304.2516 K (data README, USGS formula); LST > BT (ε < 1)."""
    from glacierinv.preprocess.stack import build_feature_stack

    channels = ["blue", "green", "red", "nir", "lst", "tir", "slope"]
    cfg = load_config(
        _config(tmp_path, lc08_mtl, landsat_dir / "DEM.TIF", extra=f"\n[stack]\nchannels = {channels}\n")
    )
    res = build_feature_stack(cfg, tmp_path / "s")
    stack = read_raster(res.stack)[0]
    assert stack[5].ravel()[49] == pytest.approx(304.2516, abs=1e-3)
    assert np.all(stack[4] > stack[5])
    assert res.sensors["primary"]["tir"].startswith("Level-1 band 10 brightness temperature")


def test_tir_of_etm_is_the_low_gain_band_by_hand(le07_mtl, landsat_dir, tmp_path):
    """ETM+: B6 low gain (6_VCID_1), T = K2 / ln(K1 / (ML·DN + AL) + 1) with the MTL's values read by regex."""
    product = open_landsat(le07_mtl)
    bt = product.tir(product.grid)
    dn = read_raster(next(landsat_dir.glob("LE07*_B6_VCID_1.TIF")), as_float=False)[0][0].astype("float64")
    k = {
        n: _mtl_number(le07_mtl, f"{n}_BAND_6_VCID_1")
        for n in ("K1_CONSTANT", "K2_CONSTANT", "RADIANCE_MULT", "RADIANCE_ADD")
    }
    for r, c in PIXELS:
        radiance = k["RADIANCE_MULT"] * dn[r, c] + k["RADIANCE_ADD"]
        assert bt[r, c] == pytest.approx(k["K2_CONSTANT"] / np.log(k["K1_CONSTANT"] / radiance + 1), abs=1e-3)
    assert "tir" in product.channels


def test_tir_from_a_level2_product_is_refused_with_the_alternative(landsat_dir, tmp_path):
    mtl, _ = _level2(tmp_path, landsat_dir)
    assert open_landsat(mtl).tir is None  # Level-2 ships surface temperature (channel lst), not BT
    cfg = _config(
        tmp_path,
        mtl,
        landsat_dir / "DEM.TIF",
        extra='\n[stack]\nchannels = ["blue", "green", "red", "nir", "tir"]\n',
    )
    one_error_line(runner.invoke(app, ["config", "check", str(cfg)]), "tir", "Level-1")


@pytest.mark.parametrize("scenes", [False, True])
def test_run_records_the_sensor_and_the_baseline_rule(lc08_mtl, landsat_dir, tmp_path, scenes):
    """[inputs] landsat = MTL, or the same key in a [[scenes]] entry: stack + segment of `run_pipeline`
    (the crop is a lowland summer scene without glaciers, so later stages have nothing to outline)."""
    from glacierinv.pipeline import run_pipeline

    cfg = load_config(
        _config(tmp_path, lc08_mtl, landsat_dir / "DEM.TIF", scenes=scenes,
                extra='\n[stack]\nchannels = ["blue", "green", "red", "nir", "swir1", "lst", "slope"]\n')
    )  # fmt: skip
    run_pipeline(cfg, tmp_path / "run", stages=("stack", "segment"))
    with rasterio.open(tmp_path / "run" / "stack.tif") as ds:
        assert "swir1" in ds.descriptions and ds.shape == (41, 41)
    text = json.dumps(json.loads((tmp_path / "run" / "run.json").read_text()))
    assert "B4.TIF" in text  # the band files beside the MTL are hashed as stack inputs
    assert '"rule": "red/swir1"' in text and '"sensor": "landsat"' in text  # part-wise runs too (parts)


@pytest.mark.parametrize("which", ["LC08", "LE07"])
def test_glacierinv_run_on_the_real_crop_named_by_its_mtl(landsat_dir, tmp_path, which):
    """The whole `glacierinv run` from a config naming only the MTL and the DEM: every stage runs; the
    lowland summer crop holds no glacier, so the inventory is empty (valid layers, zero rows) with a warning."""
    mtl = next(landsat_dir.glob(f"{which}*_MTL.txt"))
    res = runner.invoke(
        app, ["run", str(_config(tmp_path, mtl, landsat_dir / "DEM.TIF")), "--out", str(tmp_path / "run")]
    )
    assert res.exit_code == 0, res.output
    run = tmp_path / "run"
    manifest = json.loads((run / "run.json").read_text())
    assert all(s["status"] == "done" for s in manifest["stages"].values())
    assert manifest["stages"]["stack"]["summary"]["sensors"]["primary"]["sensor"] == "landsat"
    assert "empty" in json.dumps(manifest["stages"]["attributes"]["summary"].get("warnings", []))
    import geopandas as gpd

    assert len(gpd.read_file(run / "inventory.gpkg", layer="glaciers")) == 0
    assert (run / "report" / "index.html").exists()


def test_config_check_names_only_the_mtl(lc08_mtl, landsat_dir, tmp_path):
    res = runner.invoke(app, ["config", "check", str(_config(tmp_path, lc08_mtl, landsat_dir / "DEM.TIF"))])
    assert res.exit_code == 0 and "OK" in res.output, res.output


def _copy_product(landsat_dir, tmp_path, prefix="LC08"):
    d = tmp_path / "product"
    d.mkdir()
    for f in landsat_dir.glob(f"{prefix}*"):
        shutil.copy(f, d / f.name)
    return d, next(d.glob("*_MTL.txt"))


def test_mtl_without_the_needed_keys(landsat_dir, tmp_path):
    d, mtl = _copy_product(landsat_dir, tmp_path)
    text = re.sub(r"^\s*REFLECTANCE_MULT_BAND_4\s*=.*$", "", mtl.read_text(), flags=re.M)
    mtl.write_text(text)
    cfg = _config(tmp_path, mtl, landsat_dir / "DEM.TIF")
    res = runner.invoke(app, ["run", str(cfg), "--out", str(tmp_path / "run")])
    one_error_line(res, "REFLECTANCE_MULT_BAND_4", mtl.name)
    assert not (tmp_path / "run").exists()


def test_band_file_missing_beside_the_mtl(landsat_dir, tmp_path):
    d, mtl = _copy_product(landsat_dir, tmp_path)
    next(d.glob("*_B5.TIF")).unlink()
    cfg = _config(tmp_path, mtl, landsat_dir / "DEM.TIF")
    for args in (["config", "check", str(cfg)], ["run", str(cfg), "--out", str(tmp_path / "run")]):
        one_error_line(runner.invoke(app, args), "B5.TIF")
    assert not (tmp_path / "run").exists()


def test_mixed_sensors_in_one_scene(lc08_mtl, landsat_dir, tmp_path):
    write_raster(
        tmp_path / "ms.tif",
        np.full((4, 41, 41), 0.2, "float32"),
        _grid_of(landsat_dir / "DEM.TIF"),
        descriptions=["blue", "green", "red", "nir"],
    )
    cfg = _config(tmp_path, lc08_mtl, landsat_dir / "DEM.TIF", extra="")
    text = cfg.read_text().replace("[inputs]\n", f'[inputs]\nms = "{tmp_path / "ms.tif"}"\n')
    cfg.write_text(text)
    for args in (["config", "check", str(cfg)], ["run", str(cfg), "--out", str(tmp_path / "run")]):
        one_error_line(runner.invoke(app, args), "mixed sensors", "landsat", "ms")
    assert not (tmp_path / "run").exists()
    with pytest.raises(ConfigError, match="mixed sensors"):
        open_scene(load_config(cfg))


def _grid_of(path):
    from glacierinv.io.raster import raster_grid

    return raster_grid(path)


# ---------------------------------------------------------------------------------------------------------
# Collection 2 Level-2, built to the USGS layout (LSDS-1619: SR_B*, ST_B10, QA_PIXEL, MTL groups)
# ---------------------------------------------------------------------------------------------------------
def _level2(tmp_path, landsat_dir):
    grid = _grid_of(landsat_dir / "DEM.TIF")
    d = tmp_path / "LC08_L2SP_195025_20230707_20230714_02_T1"
    d.mkdir()
    stem = d.name
    sr = {b: 7273 + 1000 * b for b in range(1, 8)}  # DN → 2.75e-5·DN − 0.2
    lines = ["GROUP = LANDSAT_METADATA_FILE", "  GROUP = PRODUCT_CONTENTS", '    PROCESSING_LEVEL = "L2SP"']
    for b, v in sr.items():
        write_raster(d / f"{stem}_SR_B{b}.TIF", np.full(grid.shape, v, "uint16"), grid)
        lines.append(f'    FILE_NAME_BAND_{b} = "{stem}_SR_B{b}.TIF"')
    write_raster(d / f"{stem}_ST_B10.TIF", np.full(grid.shape, 40000, "uint16"), grid)
    qa = np.full(grid.shape, 1 << 6, "uint16")  # clear
    qa[0, :5] = 1 << 3  # cloud
    qa[1, :5] = 1 << 4  # cloud shadow
    qa[2, :5] = (1 << 3) | (1 << 5)  # cloud and snow: snow wins (we map snow and ice)
    write_raster(d / f"{stem}_QA_PIXEL.TIF", qa, grid)
    lines += [
        f'    FILE_NAME_BAND_ST_B10 = "{stem}_ST_B10.TIF"',
        f'    FILE_NAME_QUALITY_L1_PIXEL = "{stem}_QA_PIXEL.TIF"',
        "  END_GROUP = PRODUCT_CONTENTS",
        "  GROUP = IMAGE_ATTRIBUTES",
        '    SPACECRAFT_ID = "LANDSAT_8"',
        '    SENSOR_ID = "OLI_TIRS"',
        "    SUN_AZIMUTH = 140.0",
        "    SUN_ELEVATION = 60.0",
        "  END_GROUP = IMAGE_ATTRIBUTES",
        "  GROUP = LEVEL2_SURFACE_REFLECTANCE_PARAMETERS",
    ]
    for b in sr:
        lines += [f"    REFLECTANCE_MULT_BAND_{b} = 2.75E-05", f"    REFLECTANCE_ADD_BAND_{b} = -0.200000"]
    lines += [
        "  END_GROUP = LEVEL2_SURFACE_REFLECTANCE_PARAMETERS",
        "  GROUP = LEVEL2_SURFACE_TEMPERATURE_PARAMETERS",
        "    TEMPERATURE_MULT_BAND_ST_B10 = 0.00341802",
        "    TEMPERATURE_ADD_BAND_ST_B10 = 149.000000",
        "  END_GROUP = LEVEL2_SURFACE_TEMPERATURE_PARAMETERS",
        "  GROUP = LEVEL1_RADIOMETRIC_RESCALING",  # Level-1 values also in the file: must not be used
    ]
    for b in sr:
        lines += [f"    REFLECTANCE_MULT_BAND_{b} = 2.0000E-05", f"    REFLECTANCE_ADD_BAND_{b} = -0.100000"]
    lines += ["  END_GROUP = LEVEL1_RADIOMETRIC_RESCALING", "END_GROUP = LANDSAT_METADATA_FILE", "END"]
    (d / f"{stem}_MTL.txt").write_text("\n".join(lines) + "\n")
    return d / f"{stem}_MTL.txt", sr


def test_level2_surface_reflectance_temperature_and_qa(landsat_dir, tmp_path):
    mtl, sr = _level2(tmp_path, landsat_dir)
    product = open_landsat(mtl)
    assert product.info["level"] == "L2"
    arr = product.read(["blue", "red", "swir1"], product.grid)
    assert arr[0, 5, 5] == pytest.approx(2.75e-5 * sr[2] - 0.2, abs=1e-6)
    assert arr[1, 5, 5] == pytest.approx(2.75e-5 * sr[4] - 0.2, abs=1e-6)
    assert arr[2, 5, 5] == pytest.approx(2.75e-5 * sr[6] - 0.2, abs=1e-6)
    assert product.lst(product.grid)[5, 5] == pytest.approx(0.00341802 * 40000 + 149.0, abs=1e-3)
    cloud = product.quality(product.grid)
    assert cloud[0, :5].all() and cloud[1, :5].all()
    assert not cloud[2, :5].any() and not cloud[5:, :].any()


def test_qa_bits():
    c2 = np.array([1 << 6, 1 << 3, 1 << 1, 1 << 2, 1 << 4, (1 << 3) | (1 << 5), 1])
    np.testing.assert_array_equal(qa_cloud(c2), [False, True, True, True, True, False, True])
    c1 = np.array([0, 1 << 4, 3 << 7, (1 << 4) | (3 << 9)])
    np.testing.assert_array_equal(qa_cloud(c1, collection1=True), [False, True, True, False])


def test_unsupported_mss(landsat_dir, tmp_path):
    d, mtl = _copy_product(landsat_dir, tmp_path)
    mtl.write_text(mtl.read_text().replace('SENSOR_ID = "OLI_TIRS"', 'SENSOR_ID = "MSS"'))
    with pytest.raises(InputError, match="MSS"):
        open_landsat(mtl)


@pytest.mark.parametrize("which", ["LC08", "LE07"])
def test_landsat_pan_sharpens_onto_the_15m_pan_band(landsat_dir, tmp_path, which):
    """[stack] landsat_pan = true: the stack is on the real 15 m B8 grid, `pan` is B8's TOA reflectance by
    hand, and with pansharpen = "none" red is the 30 m red upsampled bilinearly (by hand); gram_schmidt
    adds pan detail (differs from it) on the same grid."""
    mtl = next(landsat_dir.glob(f"{which}*_MTL.txt"))
    stacks = {}
    for method in ("none", "gram_schmidt"):
        extra = (
            '\n[stack]\nchannels = ["blue", "green", "red", "nir", "pan", "slope"]\nlandsat_pan = true\n'
            f'pansharpen = "{method}"\n'
        )
        cfg = _config(tmp_path, mtl, landsat_dir / "DEM.TIF", extra=extra)
        res = runner.invoke(app, ["stack", str(cfg), "--out", str(tmp_path / method)])
        assert res.exit_code == 0, res.output
        with rasterio.open(tmp_path / method / "stack.tif") as ds:
            assert ds.res == (15.0, 15.0) and ds.shape == (82, 82)
            stacks[method] = ds.read()
    dn = read_raster(landsat_dir / f"{mtl.name[:-8]}_B8.TIF", as_float=False)[0][0].astype("float64")
    m, a = _mtl_number(mtl, "REFLECTANCE_MULT_BAND_8"), _mtl_number(mtl, "REFLECTANCE_ADD_BAND_8")
    sun = np.sin(np.radians(_mtl_number(mtl, "SUN_ELEVATION")))
    for r, c in [
        (1, 1),
        (3, 17),
        (40, 40),
        (80, 5),
        (66, 74),
    ]:  # the outer ring: MS bilinear runs off the edge
        assert stacks["none"][4, r, c] == pytest.approx((m * dn[r, c] + a) / sun, rel=1e-5, abs=1e-6)
    red_band = "4" if which == "LC08" else "3"
    red30 = read_raster(landsat_dir / f"{mtl.name[:-8]}_B{red_band}.TIF", as_float=False)[0][0]
    red30 = (_mtl_number(mtl, f"REFLECTANCE_MULT_BAND_{red_band}") * red30.astype("float64")
             + _mtl_number(mtl, f"REFLECTANCE_ADD_BAND_{red_band}")) / sun  # fmt: skip
    up = stacks["none"][2]
    # the USGS B8 grid starts 7.5 m west and 7.5 m south of B4's: B8's even rows and odd columns are B4's
    # pixel centres (bilinear returns the 30 m value there), its even columns lie midway between two
    np.testing.assert_allclose(up[2:80:2, 3:80:2], red30[1:40, 1:40], rtol=1e-5, atol=1e-6)
    mid = (red30[1:40, 0:39] + red30[1:40, 1:40]) / 2
    np.testing.assert_allclose(up[2:80:2, 2:80:2], mid, rtol=1e-5, atol=1e-6)
    assert np.nanmax(np.abs(stacks["gram_schmidt"][2] - up)) > 1e-3


def test_landsat_pan_refused_where_there_is_none(landsat_dir, tmp_path):
    mtl, _ = _level2(tmp_path, landsat_dir)
    extra = '\n[stack]\nchannels = ["blue", "green", "red", "nir"]\nlandsat_pan = true\n'
    cfg = _config(tmp_path, mtl, landsat_dir / "DEM.TIF", extra=extra)
    one_error_line(runner.invoke(app, ["config", "check", str(cfg)]), "landsat_pan", "no pan band")
