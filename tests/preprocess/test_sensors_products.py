"""Sentinel-2 SAFE products (L1C, L2A, processing baseline 04.00) and a GF-2 PMS pair with RPC, built in
the tests to the providers' published layouts and metadata, read straight into the stack."""

from __future__ import annotations

import math

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.rpc import RPC
from typer.testing import CliRunner

from glacierinv.cli.main import app
from glacierinv.config import load_config
from glacierinv.errors import ConfigError
from glacierinv.io.grid import Grid
from glacierinv.io.raster import read_raster, write_raster
from glacierinv.preprocess.sensors import open_scene
from glacierinv.preprocess.sensors.gfzy import earth_sun_distance_au
from glacierinv.preprocess.stack import build_feature_stack
from tests.cli_checks import one_error_line

runner = CliRunner()
pytestmark = pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
CRS_ = CRS.from_epsg(32643)
G10 = Grid(CRS_, Affine(10, 0, 500_000, 0, -10, 4_000_000), (40, 40))
G20 = Grid(CRS_, Affine(20, 0, 500_000, 0, -20, 4_000_000), (20, 20))
G60 = Grid(CRS_, Affine(60, 0, 500_000, 0, -60, 4_000_000), (7, 7))
DN10 = {"B02": 3000, "B03": 3500, "B04": 4000, "B08": 5000}  # stored DN (offset −1000 applies)
DN20 = {"B11": 1600, "B12": 1400}
BAND_ID = {"B01": 0, "B02": 1, "B03": 2, "B04": 3, "B08": 7, "B11": 11, "B12": 12}


def _jp2(path, arr, grid):
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(
        path, "w", driver="JP2OpenJPEG", width=grid.width, height=grid.height, count=1, dtype=arr.dtype,
        crs=grid.crs, transform=grid.transform, QUALITY=100, REVERSIBLE="YES",
    ) as ds:  # fmt: skip
        ds.write(arr[None])


def _mtd_tl(granule, zenith=35.0, azimuth=150.0):
    (granule / "MTD_TL.xml").write_text(
        "<n1:Level-1C_Tile_ID><n1:Geometric_Info><Tile_Angles><Mean_Sun_Angle>"
        f'<ZENITH_ANGLE unit="deg">{zenith}</ZENITH_ANGLE><AZIMUTH_ANGLE unit="deg">{azimuth}</AZIMUTH_ANGLE>'
        "</Mean_Sun_Angle></Tile_Angles></n1:Geometric_Info></n1:Level-1C_Tile_ID>"
    )


def _l2a(tmp_path, baseline="0400", offset=-1000):
    """S2A_MSIL2A_…_N0400_….SAFE: MTD_MSIL2A.xml with BOA_QUANTIFICATION_VALUE and BOA_ADD_OFFSET per band,
    GRANULE/L2A_*/IMG_DATA/R10m/*_B02_10m.jp2, R20m/*_B11_20m.jp2 and *_SCL_20m.jp2."""
    root = tmp_path / f"S2A_MSIL2A_20220820T055641_N{baseline}_R091_T43SDV_20220820T082040.SAFE"
    granule = root / "GRANULE" / "L2A_T43SDV_A037233_20220820T060150"
    img = granule / "IMG_DATA"
    for b, v in DN10.items():
        _jp2(img / "R10m" / f"T43SDV_20220820T055641_{b}_10m.jp2", np.full(G10.shape, v, "uint16"), G10)
    for b, v in {**DN20, "B02": 1}.items():  # B02 also at 20 m: the 10 m file must win
        _jp2(img / "R20m" / f"T43SDV_20220820T055641_{b}_20m.jp2", np.full(G20.shape, v, "uint16"), G20)
    scl = np.full(G20.shape, 4, "uint8")  # vegetation
    scl[:5, :5] = 9  # cloud high probability
    scl[10:, 10:] = 11  # snow: clear
    _jp2(img / "R20m" / "T43SDV_20220820T055641_SCL_20m.jp2", scl, G20)
    _jp2(granule / "QI_DATA" / "MSK_DETFOO_B02.jp2", np.ones(G10.shape, "uint8"), G10)  # not a band
    _mtd_tl(granule)
    offsets = "".join(f'<BOA_ADD_OFFSET band_id="{i}">{offset}</BOA_ADD_OFFSET>' for i in range(13))
    lists = (
        f"<BOA_ADD_OFFSET_VALUES_LIST>{offsets}</BOA_ADD_OFFSET_VALUES_LIST>" if offset is not None else ""
    )
    (root / "MTD_MSIL2A.xml").write_text(
        "<n1:Level-2A_User_Product><n1:General_Info><Product_Image_Characteristics>"
        '<QUANTIFICATION_VALUES_LIST><BOA_QUANTIFICATION_VALUE unit="none">10000</BOA_QUANTIFICATION_VALUE>'
        f"</QUANTIFICATION_VALUES_LIST>{lists}</Product_Image_Characteristics></n1:General_Info>"
        "</n1:Level-2A_User_Product>"
    )
    return root


def _l1c(tmp_path):
    """S2B_MSIL1C_…_N0400_….SAFE: flat IMG_DATA/*_B02.jp2, QUANTIFICATION_VALUE and RADIO_ADD_OFFSET in
    MTD_MSIL1C.xml, QI_DATA/MSK_CLASSI_B00.jp2 (opaque clouds, cirrus, snow)."""
    root = tmp_path / "S2B_MSIL1C_20220812T055639_N0400_R091_T43SDV_20220812T074213.SAFE"
    granule = root / "GRANULE" / "L1C_T43SDV_A028284_20220812T060219"
    for b, v in DN10.items():
        _jp2(granule / "IMG_DATA" / f"T43SDV_20220812T055639_{b}.jp2", np.full(G10.shape, v, "uint16"), G10)
    for b, v in DN20.items():
        _jp2(granule / "IMG_DATA" / f"T43SDV_20220812T055639_{b}.jp2", np.full(G20.shape, v, "uint16"), G20)
    classi = np.zeros((3, *G60.shape), "uint8")
    classi[0, 0, 0] = 1  # opaque cloud
    classi[1, 6, 6] = 1  # cirrus
    with rasterio.open(
        granule / "QI_DATA" / "MSK_CLASSI_B00.jp2" if (granule / "QI_DATA").mkdir(parents=True) is None else None,
        "w", driver="JP2OpenJPEG", width=7, height=7, count=3, dtype="uint8", crs=CRS_,
        transform=G60.transform, QUALITY=100, REVERSIBLE="YES",
    ) as ds:  # fmt: skip
        ds.write(classi)
    _mtd_tl(granule, zenith=30.0)
    offsets = "".join(f'<RADIO_ADD_OFFSET band_id="{i}">-1000</RADIO_ADD_OFFSET>' for i in range(13))
    (root / "MTD_MSIL1C.xml").write_text(
        "<n1:Level-1C_User_Product><n1:General_Info><Product_Image_Characteristics>"
        '<QUANTIFICATION_VALUE unit="none">10000</QUANTIFICATION_VALUE>'
        f"<Radiometric_Offset_List>{offsets}</Radiometric_Offset_List>"
        "</Product_Image_Characteristics></n1:General_Info></n1:Level-1C_User_Product>"
    )
    return root


def _dem(tmp_path, grid=G10):
    z = 4000 + 2.0 * np.arange(grid.width)[None, :] + 0 * np.arange(grid.height)[:, None]
    write_raster(tmp_path / "dem.tif", z.astype("float32"), grid)
    return tmp_path / "dem.tif"


def _s2_config(
    tmp_path, safe, channels='["blue", "green", "red", "nir", "swir1", "swir2", "slope"]', key="sentinel2"
):
    text = (
        f'[inputs]\n{key} = "{safe}"\ndem = "{_dem(tmp_path)}"\n\n[stack]\nchannels = {channels}\n\n'
        '[segment]\nmethod = "baseline"\n'
    )
    (tmp_path / "run.toml").write_text(text)
    return tmp_path / "run.toml"


@pytest.mark.parametrize("level", ["L2A", "L1C"])
def test_safe_baseline_04_offsets_quantification_and_20m_bands(tmp_path, level):
    safe = _l2a(tmp_path) if level == "L2A" else _l1c(tmp_path)
    res = build_feature_stack(load_config(_s2_config(tmp_path, safe)), tmp_path / "stack")
    stack, grid = read_raster(res.stack)
    assert grid.res == (10.0, 10.0) and grid.shape == G10.shape
    expect = {c: (DN10[b] - 1000) / 10000 for c, b in zip(("blue", "green", "red", "nir"), DN10, strict=True)}
    expect |= {"swir1": (DN20["B11"] - 1000) / 10000, "swir2": (DN20["B12"] - 1000) / 10000}
    for i, c in enumerate(res.channels[:6]):
        np.testing.assert_allclose(stack[i][np.isfinite(stack[i])], expect[c], rtol=1e-6)
    assert np.isfinite(stack[4]).mean() > 0.9  # 20 m bands resampled onto the 10 m grid
    primary = res.sensors["primary"]
    assert primary["level"] == level and primary["quantification"] == 10000
    assert primary["offsets"]["B4"] == -1000 and primary["offsets"]["B11"] == -1000
    assert res.sensors["sun_azimuth_elevation_deg"] == [150.0, 55.0 if level == "L2A" else 60.0]
    masks = read_raster(res.masks, as_float=False)[0]
    if level == "L2A":  # SCL 9 (cloud high probability) → cloud; SCL 11 (snow) → clear
        assert (masks[0][:10, :10] == 1).all() and (masks[0][25:, 25:] == 0).all()
    else:  # MSK_CLASSI band 1 (opaque) at the first 60 m cell, band 2 (cirrus) at the last
        assert (masks[0][:6, :6] == 1).all() and (masks[0][36:, 36:] == 1).all()
        assert (masks[0][10:30, 10:30] == 0).all()


def test_pre_04_baseline_has_no_offset(tmp_path):
    safe = _l2a(tmp_path, baseline="0301", offset=None)
    res = build_feature_stack(load_config(_s2_config(tmp_path, safe)), tmp_path / "stack")
    red = read_raster(res.stack)[0][2]
    np.testing.assert_allclose(red[np.isfinite(red)], DN10["B04"] / 10000, rtol=1e-6)


def test_baseline_04_without_its_metadata_is_refused(tmp_path):
    safe = _l2a(tmp_path)
    (safe / "MTD_MSIL2A.xml").unlink()
    one_error_line(runner.invoke(app, ["config", "check", str(_s2_config(tmp_path, safe))]), "baseline 04.00")


def test_band_missing_from_the_product(tmp_path):
    safe = _l2a(tmp_path)
    next(safe.rglob("*_B08_10m.jp2")).unlink()
    cfg = _s2_config(tmp_path, safe)
    for args in (["config", "check", str(cfg)], ["run", str(cfg), "--out", str(tmp_path / "run")]):
        one_error_line(runner.invoke(app, args), "B8", "not found")
    assert not (tmp_path / "run").exists()


def test_corrupt_jp2(tmp_path):
    safe = _l1c(tmp_path)
    band = next(safe.rglob("*_B04.jp2"))
    data = band.read_bytes()
    band.write_bytes(data[: len(data) // 3])  # a truncated download
    cfg = _s2_config(tmp_path, safe)
    for args in (["config", "check", str(cfg)], ["run", str(cfg), "--out", str(tmp_path / "run")]):
        one_error_line(runner.invoke(app, args), "B04.jp2")
    assert not (tmp_path / "run").exists()


def test_s2_and_sentinel2_are_one_input(tmp_path):
    safe = _l2a(tmp_path)
    cfg = _s2_config(tmp_path, safe)
    cfg.write_text(cfg.read_text().replace("[inputs]\n", f'[inputs]\ns2 = "{safe}"\n'))
    with pytest.raises(ConfigError, match="s2 or sentinel2"):
        open_scene(load_config(cfg))


def test_unet_checkpoint_channels_checked_before_anything_is_written(tmp_path):
    """Sentinel-2 has no thermal band: the shipped U-Net (…, lst, slope) cannot run; the preflight says so."""
    safe = _l2a(tmp_path)
    cfg = _s2_config(tmp_path, safe)
    cfg.write_text(cfg.read_text().replace('method = "baseline"', 'method = "unet"'))
    for args in (["config", "check", str(cfg)], ["run", str(cfg), "--out", str(tmp_path / "run")]):
        line = one_error_line(runner.invoke(app, args), "needs channel(s)", "lst", "Shipped models that fit")
        assert "unet_cbam_synthetic.pt" in line
    assert not (tmp_path / "run").exists()


# ---------------------------------------------------------------------------------------------------------
# GF-2 PMS1 Level-1A pair with RPC (pan: RPC GeoTIFF tags; MS: .rpb side-car), provider XML
# ---------------------------------------------------------------------------------------------------------
_NUM_LINE = [0.0] * 20
_NUM_LINE[2] = -1.0  # line_n = −P (north up)
_NUM_SAMP = [0.0] * 20
_NUM_SAMP[1] = 1.0  # samp_n = L
_DEN = [1.0] + [0.0] * 19
LAT0, LON0 = 28.0, 86.9  # Everest region, UTM 45N


def _rpc(n_px):
    half = n_px / 2
    return dict(
        line_off=half, samp_off=half, lat_off=LAT0, long_off=LON0, height_off=5000.0, line_scale=half,
        samp_scale=half, lat_scale=0.00145, long_scale=0.00165, height_scale=500.0,
    )  # fmt: skip


def _rpb_text(p, samp=_NUM_SAMP):
    coef = lambda c: ",\n".join(f"\t\t\t{v:+.12e}" for v in c)  # noqa: E731
    return (
        'satId = "GF2";\nbandId = "MS";\nSpecId = "RPC00B";\nBEGIN_GROUP = IMAGE\n\terrBias = 1.0;\n'
        f"\terrRand = 0.0;\n\tlineOffset = {p['line_off']};\n\tsampOffset = {p['samp_off']};\n"
        f"\tlatOffset = {p['lat_off']};\n\tlongOffset = {p['long_off']};\n\theightOffset = {p['height_off']};\n"
        f"\tlineScale = {p['line_scale']};\n\tsampScale = {p['samp_scale']};\n\tlatScale = {p['lat_scale']};\n"
        f"\tlongScale = {p['long_scale']};\n\theightScale = {p['height_scale']};\n"
        f"\tlineNumCoef = (\n{coef(_NUM_LINE)});\n\tlineDenCoef = (\n{coef(_DEN)});\n"
        f"\tsampNumCoef = (\n{coef(samp)});\n\tsampDenCoef = (\n{coef(_DEN)});\nEND_GROUP = IMAGE\nEND;\n"
    )


def _xml(sensor="PMS1", sat="GF2", when="2016-08-12 05:12:33", zenith=25.0):
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<ProductMetaData>\n'
        f"<SatelliteID>{sat}</SatelliteID>\n<SensorID>{sensor}</SensorID>\n<ReceiveTime>{when}</ReceiveTime>\n"
        "<ProductLevel>LEVEL1A</ProductLevel>\n<SolarAzimuth>135.2</SolarAzimuth>\n"
        f"<SolarZenith>{zenith}</SolarZenith>\n<Bands>1,2,3,4</Bands>\n</ProductMetaData>\n"
    )


GF_DN = {"pan": 800, "blue": 450, "green": 500, "red": 520, "nir": 600}
ESUN = {"pan": 1364.0, "blue": 1941.0, "green": 1854.0, "red": 1541.0, "nir": 1086.0}  # test values


def _gf2(tmp_path, samp=_NUM_SAMP):
    d = tmp_path / "GF2_PMS1_E86.9_N28.0_20160812_L1A0001756880"
    d.mkdir()
    stem = d.name
    with rasterio.open(
        d / f"{stem}-PAN1.tiff", "w", driver="GTiff", width=400, height=400, count=1, dtype="uint16",
        rpcs=RPC(line_num_coeff=_NUM_LINE, line_den_coeff=_DEN, samp_num_coeff=samp,
                 samp_den_coeff=_DEN, **_rpc(400)),
    ) as ds:  # fmt: skip
        ds.write(np.full((1, 400, 400), GF_DN["pan"], "uint16"))
    with rasterio.open(
        d / f"{stem}-MSS1.tiff", "w", driver="GTiff", width=100, height=100, count=4, dtype="uint16"
    ) as ds:
        ds.write(np.stack([np.full((100, 100), GF_DN[c], "uint16") for c in ("blue", "green", "red", "nir")]))
    (d / f"{stem}-MSS1.rpb").write_text(_rpb_text(_rpc(100), samp))
    (d / f"{stem}-MSS1.xml").write_text(_xml())
    (d / f"{stem}-PAN1.xml").write_text(_xml())
    return d


def _gf_config(tmp_path, product, esun=True, dem_m=5000.0, z_unit=None):
    from pyproj import Transformer

    x, y = Transformer.from_crs(4326, 32645, always_xy=True).transform(LON0, LAT0)
    dem_grid = Grid(CRS.from_epsg(32645), Affine(5, 0, x - 400, 0, -5, y + 400), (160, 160))
    z = np.full(dem_grid.shape, dem_m, "float32")
    write_raster(tmp_path / "dem.tif", z, dem_grid)
    cal = ""
    if esun:
        cal = "\n[inputs.calibration]\nesun = {" + ", ".join(f"{k} = {v}" for k, v in ESUN.items()) + "}\n"
    text = (
        f'[inputs]\ngf = "{product}"\ndem = "{tmp_path / "dem.tif"}"\n{cal}\n[stack]\n'
        'channels = ["blue", "green", "red", "nir", "pan", "slope"]\npansharpen = "none"\n\n'
        '[segment]\nmethod = "baseline"\n'
    )
    if z_unit is not None:
        text += f'\n[dem]\nz_unit = "{z_unit}"\n'
    (tmp_path / "run.toml").write_text(text)
    return tmp_path / "run.toml"


def test_gf2_pms_pair_calibrated_and_orthorectified_through_the_rpc(tmp_path):
    product = _gf2(tmp_path)
    res = build_feature_stack(load_config(_gf_config(tmp_path, product)), tmp_path / "stack")
    stack, grid = read_raster(res.stack)
    assert grid.crs.to_epsg() == 32645 and grid.res == (0.8, 0.8)  # UTM 45N at the nominal GF-2 pan size
    # footprint: the RPC puts the scene centre at (LAT0, LON0)
    from pyproj import Transformer

    cx, cy = Transformer.from_crs(32645, 4326, always_xy=True).transform(
        (grid.bounds[0] + grid.bounds[2]) / 2, (grid.bounds[1] + grid.bounds[3]) / 2
    )
    assert cx == pytest.approx(LON0, abs=2e-4) and cy == pytest.approx(LAT0, abs=2e-4)
    d = earth_sun_distance_au(__import__("datetime").date(2016, 8, 12))
    gains = {"pan": 0.1501, "blue": 0.1322, "green": 0.155, "red": 0.1477, "nir": 0.1613}  # CRESDA 2016
    core = (slice(50, -50), slice(50, -50))
    for i, c in enumerate(("blue", "green", "red", "nir", "pan")):
        rho = math.pi * gains[c] * GF_DN[c] * d * d / (ESUN[c] * math.cos(math.radians(25.0)))
        np.testing.assert_allclose(stack[i][core], rho, rtol=1e-5)
    info = res.sensors["primary"]
    assert info["satellite"] == "GF2" and info["orthorectified_by"] == "RPC + DEM"
    assert info["gain_offset"]["red"] == [0.1477, 0.0]


def test_gf_config_overrides_the_table(tmp_path):
    product = _gf2(tmp_path)
    cfg = _gf_config(tmp_path, product)
    cfg.write_text(
        cfg.read_text().replace("[inputs.calibration]\n", "[inputs.calibration]\ngain = {red = 0.2}\n")
    )
    scene = open_scene(load_config(cfg))
    assert scene.primary.info["gain_offset"]["red"] == [0.2, 0.0]


def test_gf2_toa_reflectance_with_the_tabulated_esun(tmp_path):
    """No [inputs.calibration]: gains (2016) and ESUN (GF2-PMS1) come from the tables; ρ by hand."""
    product = _gf2(tmp_path)
    cfg = _gf_config(tmp_path, product, esun=False)
    res = build_feature_stack(load_config(cfg), tmp_path / "stack")
    stack, _ = read_raster(res.stack)
    d = earth_sun_distance_au(__import__("datetime").date(2016, 8, 12))
    gains = {"pan": 0.1501, "blue": 0.1322, "green": 0.155, "red": 0.1477, "nir": 0.1613}  # CRESDA 2016
    esun = {"pan": 1364.26, "blue": 1941.76, "green": 1853.73, "red": 1541.79, "nir": 1086.47}  # CRESDA
    core = (slice(50, -50), slice(50, -50))
    for i, c in enumerate(("blue", "green", "red", "nir", "pan")):
        rho = math.pi * gains[c] * GF_DN[c] * d * d / (esun[c] * math.cos(math.radians(25.0)))
        np.testing.assert_allclose(stack[i][core], rho, rtol=1e-5)
    info = res.sensors["primary"]
    assert info["calibration_table"] == "GF2-PMS1" and info["esun"]["nir"] == 1086.47
    # one channel overridden in the config, the others still from the table
    cfg.write_text(
        cfg.read_text().replace("[stack]", "[inputs.calibration]\nesun = {nir = 1000.0}\n\n[stack]")
    )
    info = open_scene(load_config(cfg)).primary.info
    assert info["esun"]["nir"] == 1000.0 and info["esun"]["red"] == 1541.79


def _zy3(tmp_path, sat="ZY302"):
    """The GF-2 test pair renamed to a ZY-3 product (NAD pan, MUX multispectral)."""
    gf = _gf2(tmp_path)
    d = tmp_path / "ZY3_NAD_E86.9_N28.0_20170812_L1A0004567890"
    d.mkdir()
    for f in gf.iterdir():
        name = f.name.replace(gf.name, "ZY3_X_E86.9_N28.0_20170812_L1A0004567890")
        name = name.replace("ZY3_X", "ZY3_NAD" if "-PAN" in name else "ZY3_MUX").replace("-PAN1", "")
        name = name.replace("-MSS1", "")
        text = f.read_bytes()
        if f.suffix == ".xml":
            text = _xml(
                sensor="MUX" if "MUX" in name else "NAD", sat=sat, when="2017-08-12 05:12:33"
            ).encode()
        (d / name).write_bytes(text)
    return d


def test_zy3_runs_with_relative_pan_and_band_equivalent_esun(tmp_path, caplog):
    """ZY-3-02: CRESDA 2017 MUX gains are tabulated, its NAD gain and every ZY-3 ESUN are not published.
    The MUX bands take the band-equivalent ESUN (mean of the cameras with the same nominal edges), the pan
    band sharpens in relative units and is no stack channel; config values replace both."""
    from glacierinv.preprocess.sensors.gfzy import ESUN as TABLE
    from glacierinv.preprocess.sensors.gfzy import band_equivalent_esun

    cfg = _gf_config(tmp_path, _zy3(tmp_path), esun=False)
    cfg.write_text(cfg.read_text().replace("gf = ", "zy3 = "))
    # the 'pan' channel asks for a calibrated pan band, in one line
    one_error_line(runner.invoke(app, ["config", "check", str(cfg)]), "channel 'pan'", "gain/esun for pan")
    cfg.write_text(cfg.read_text().replace('"nir", "pan"', '"nir"'))
    assert runner.invoke(app, ["config", "check", str(cfg)]).exit_code == 0
    with caplog.at_level("WARNING"):
        res = build_feature_stack(load_config(cfg), tmp_path / "stack")
    assert "no published ESUN for blue" in caplog.text and "relative units" in caplog.text
    info = res.sensors["primary"]
    assert info["calibration_table"] == "ZY3-02" and info["gain_offset"]["red"] == [0.2189, 0.0]
    assert "pan" not in info["gain_offset"] and info["pan"].startswith("relative DN")
    # band-equivalent ESUN: the mean over the 9 tabulated cameras, each within 1.5 % of it
    for c in ("blue", "green", "red", "nir"):
        values = [row[c] for row in TABLE.values()]
        assert info["esun"][c] == pytest.approx(sum(values) / len(values), abs=0.01)
        assert band_equivalent_esun(c)[1] < 0.015
        assert info["esun_source"][c].startswith("band-equivalent")
    # TOA reflectance by hand with those values (MUX gains 2017, 2017-08-12, zenith 25°)
    stack, _ = read_raster(res.stack)
    d = earth_sun_distance_au(__import__("datetime").date(2017, 8, 12))
    gains = {"blue": 0.2136, "green": 0.1993, "red": 0.2189, "nir": 0.1965}
    core = (slice(50, -50), slice(50, -50))
    for i, c in enumerate(("blue", "green", "red", "nir")):
        rho = math.pi * gains[c] * GF_DN[c] * d * d / (info["esun"][c] * math.cos(math.radians(25.0)))
        np.testing.assert_allclose(stack[i][core], rho, rtol=1e-5)
    # config values calibrate the pan band and replace the band-equivalent ESUN
    cfg.write_text(
        cfg.read_text()
        .replace('"nir"', '"nir", "pan"')
        .replace("[stack]", "[inputs.calibration]\ngain = {pan = 0.2}\nesun = " + _toml(ESUN) + "\n\n[stack]")
    )
    info = open_scene(load_config(cfg)).primary.info
    assert info["gain_offset"]["pan"] == [0.2, 0.0] and info["esun"] == ESUN
    assert set(info["esun_source"].values()) == {"config"} and "pan" not in info


def _toml(d):
    return "{" + ", ".join(f"{k} = {v}" for k, v in d.items()) + "}"


@pytest.mark.parametrize(
    ("sat", "camera", "key"),
    [("GF2", "PMS1", "GF2-PMS1"), ("GF1", "PMS2", "GF1-PMS2"), ("GF6", "PMS", "GF6-PMS"), ("GF6", "WFV", "GF6-PMS"),
     ("ZY3", "MUX", "ZY3-01"), ("ZY3-01", "NAD", "ZY3-01"), ("ZY302", "MUX", "ZY3-02"), ("ZY303", "NAD", "ZY3-03")],
)  # fmt: skip
def test_camera_key(sat, camera, key):
    from glacierinv.preprocess.sensors.gfzy import camera_key

    assert camera_key(sat, camera) == key


def test_esun_table_is_physically_consistent():
    """Transcription guard: ESUN falls with wavelength (blue > green > red > NIR, the pan band between NIR
    and blue), and each MS band lies within 6 % of Landsat 7 ETM+'s ESUN for the band of the same nominal
    edges (Chander et al. 2009, Table 11: 1997, 1812, 1533, 1039); the 6 % is the spread between sensors of
    one nominal band (SRF shape, solar model: S2A B8 1041 vs CRESDA NIR 1081-1091), not a fitted value."""
    from glacierinv.preprocess.sensors.gfzy import CALIBRATION, ESUN

    etm = {"blue": 1997.0, "green": 1812.0, "red": 1533.0, "nir": 1039.0}
    for key, e in ESUN.items():
        assert key in CALIBRATION
        assert e["blue"] > e["green"] > e["red"] > e["nir"], key
        assert "pan" not in e or e["nir"] < e["pan"] < e["blue"], key  # GF-1 WFV has no pan band
        for c, ref in etm.items():
            assert abs(e[c] / ref - 1) < 0.06, (key, c)


def test_gf_without_rpc_or_xml(tmp_path):
    product = _gf2(tmp_path)
    next(product.glob("*-MSS1.rpb")).unlink()
    cfg = _gf_config(tmp_path, product)
    one_error_line(runner.invoke(app, ["config", "check", str(cfg)]), "RPC")
    next(product.glob("*-MSS1.xml")).unlink()
    one_error_line(runner.invoke(app, ["config", "check", str(cfg)]), "MSS1.xml")


def test_rpc_heights_from_a_dem_in_feet(tmp_path):
    """An RPC whose sample depends on height: a DEM in feet with [dem] z_unit = "ft" orthorectifies exactly
    as the same DEM in metres (GDAL RPC_HEIGHT_SCALE); a different height moves the image (the test bites)."""
    samp = list(_NUM_SAMP)
    samp[3] = 0.02  # samp_n = L + 0.02·H: 1 height_scale (500 m) shifts the image by 0.02·half-width
    stacks = {}
    for name, dem, unit in [("m", 5500.0, None), ("ft", 5500.0 / 0.3048, "ft"), ("low", 5000.0, None)]:
        d = tmp_path / name
        d.mkdir()
        product = _gf2(d, samp)
        pan = np.full((400, 400), 300, "uint16")
        pan[:, ::7] = 1000  # stripes across the sample direction make a shift visible
        with rasterio.open(next(product.glob("*-PAN1.tiff")), "r+") as ds:
            ds.write(pan, 1)
        cfg = load_config(_gf_config(d, product, dem_m=dem, z_unit=unit))
        stacks[name] = read_raster(build_feature_stack(cfg, d / "stack").stack)
    (m, grid_m), (ft, grid_ft), (low, grid_low) = stacks["m"], stacks["ft"], stacks["low"]
    assert grid_ft.transform.almost_equals(grid_m.transform, precision=1e-3) and grid_ft.shape == grid_m.shape
    core = (slice(60, -60), slice(60, -60))
    assert np.isfinite(m[4][core]).all()
    np.testing.assert_allclose(ft[4][core], m[4][core], rtol=1e-4, atol=1e-4)
    # 500 m lower: the footprint moves by 0.02 · 200 px · 0.8 m ≈ 3 m east (or the pixels change)
    moved = abs(grid_low.transform.c - grid_m.transform.c) > 1.0
    assert moved or np.nanmax(np.abs(low[4][core] - m[4][core])) > 0.01


def test_gf1_wfv_single_image_with_the_tabulated_coefficients(tmp_path):
    """A GF-1 WFV2 image (16 m MS only, no pan): 16 m UTM grid, ρ by hand with CRESDA's 2017 WFV2 gains
    (as in CRESDA's 2017 notice) and the WFV2 ESUN."""
    gf = _gf2(tmp_path)
    d = tmp_path / "GF1_WFV2_E86.9_N28.0_20170812_L1A0002500000"
    d.mkdir()
    for suffix in (".tiff", ".rpb"):
        (d / f"{d.name}{suffix}").write_bytes(next(gf.glob(f"*-MSS1{suffix}")).read_bytes())
    (d / f"{d.name}.xml").write_text(_xml(sensor="WFV2", sat="GF1", when="2017-08-12 05:12:33"))
    cfg = _gf_config(tmp_path, d, esun=False)
    cfg.write_text(cfg.read_text().replace('"nir", "pan", "slope"', '"nir", "slope"'))
    res = build_feature_stack(load_config(cfg), tmp_path / "stack")
    stack, grid = read_raster(res.stack)
    assert grid.res == (16.0, 16.0)
    d_au = earth_sun_distance_au(__import__("datetime").date(2017, 8, 12))
    gains = {"blue": 0.2097, "green": 0.163, "red": 0.1339, "nir": 0.1521}
    esun = {"blue": 1955.11, "green": 1847.22, "red": 1569.45, "nir": 1087.87}
    for i, c in enumerate(("blue", "green", "red", "nir")):
        rho = math.pi * gains[c] * GF_DN[c] * d_au**2 / (esun[c] * math.cos(math.radians(25.0)))
        core = stack[i][5:-5, 5:-5]
        assert np.isfinite(core).all()
        np.testing.assert_allclose(core, rho, rtol=1e-5)
    assert res.sensors["primary"]["calibration_table"] == "GF1-WFV2"


def test_glacierinv_run_on_a_gf2_pair_named_by_its_folder(tmp_path):
    """`glacierinv run` from a config naming only the GF-2 product folder and the DEM (baseline: no shipped
    U-Net takes GF's channels without Landsat LST): every stage runs, calibration recorded in run.json."""
    import json

    cfg = _gf_config(tmp_path, _gf2(tmp_path), esun=False)
    text = cfg.read_text()
    cfg.write_text(text.replace('"pan", ', "").replace('pansharpen = "none"\n', ""))
    res = runner.invoke(app, ["run", str(cfg), "--out", str(tmp_path / "run")])
    assert res.exit_code == 0, res.output
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert all(s["status"] in ("done", "skipped") for s in run["stages"].values())
    info = run["stages"]["stack"]["summary"]["sensors"]["primary"]
    assert info["calibration_table"] == "GF2-PMS1" and info["esun_source"]["red"] == "CRESDA GF2-PMS1"
    assert (tmp_path / "run" / "inventory.gpkg").exists()
