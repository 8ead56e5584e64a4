"""The synthetic scene: layout contract, determinism, physics, truth consistency and the "hard" property."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rasterio.enums import Resampling
from rasterio.warp import reproject

from glacierinv.config import load_config
from glacierinv.errors import InputError
from glacierinv.geometry import area_km2
from glacierinv.preprocess.landsat import read_mtl
from glacierinv.synthetic import generate_scene
from glacierinv.synthetic.scene import MIN_GLACIER_KM2, NOISE_STD
from glacierinv.synthetic.surface import SURFACE

RASTERS = ("pan.tif", "ms.tif", "s2.tif", "s2_cloud.tif", "dem.tif", "dem30.tif", "truth/classes.tif")
LANDSAT = ("SYN_B4.TIF", "SYN_B5.TIF", "SYN_B10.TIF", "SYN_B11.TIF", "SYN_MTL.txt")


@pytest.fixture(scope="module")
def scene(tmp_path_factory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("syn") / "scene"
    return out, generate_scene(out, seed=3, size_px=400)


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.suffix != ".gpkg"  # GeoPackages embed a write timestamp
    }


def _fraction_on(mask: np.ndarray, src: rasterio.DatasetReader, dst: rasterio.DatasetReader) -> np.ndarray:
    """Fraction of each ``dst`` pixel covered by ``mask`` (given on ``src``'s grid)."""
    out = np.zeros(dst.shape, "float32")
    reproject(mask.astype("float32"), out, src_transform=src.transform, src_crs=src.crs,
              dst_transform=dst.transform, dst_crs=dst.crs, resampling=Resampling.average)  # fmt: skip
    return out


def test_layout_crs_dtypes_and_band_names(scene):
    out, info = scene
    for name in RASTERS:
        assert (out / name).is_file(), name
    for name in LANDSAT:
        assert (out / "landsat" / name).is_file(), name
    assert (out / "truth" / "glaciers.gpkg").is_file()
    assert (out / "config.toml").is_file() and (out / "scene.json").is_file()
    expect = {
        "pan.tif": (("pan",), "float32", 2.0),
        "ms.tif": (("blue", "green", "red", "nir"), "float32", 5.0),
        "s2.tif": (("B2", "B3", "B4", "B8", "B11"), "float32", 10.0),
        "s2_cloud.tif": (None, "uint8", 10.0),
        "dem.tif": (None, "float32", 4.0),
        "dem30.tif": (None, "float32", 30.0),
        "truth/classes.tif": (None, "uint8", 2.0),
    }
    with rasterio.open(out / "pan.tif") as pan:
        bounds = pan.bounds
        assert pan.shape == (400, 400)
    for name, (bands, dtype, res) in expect.items():
        with rasterio.open(out / name) as ds:
            assert ds.crs.to_epsg() == 32643, name
            assert ds.dtypes[0] == dtype, name
            assert ds.res == pytest.approx((res, res)), name
            if bands:
                assert ds.descriptions == bands, name
            # same extent, up to one coarse cell at the right/bottom edges
            assert ds.bounds.left == pytest.approx(bounds.left) and ds.bounds.top == pytest.approx(bounds.top)
            assert 0 <= ds.bounds.right - bounds.right < res and 0 <= bounds.bottom - ds.bounds.bottom < res
    for band in ("B4", "B5", "B10", "B11"):
        with rasterio.open(out / "landsat" / f"SYN_{band}.TIF") as ds:
            assert ds.dtypes[0] == "uint16" and ds.res == (30.0, 30.0)


def test_config_loads_and_points_at_the_files(scene):
    out, _ = scene
    cfg = load_config(out / "config.toml")
    assert cfg.inputs.img_source == "synthetic" and cfg.inputs.dem_source == "synthetic-4m"
    for key in ("pan", "ms", "s2", "s2_cloud_mask", "landsat_mtl", "dem", "dem_coarse", "truth_classes",
                "truth_glaciers"):  # fmt: skip
        assert cfg.input_path(key).is_file(), key
    assert cfg.inputs.src_date


def test_mtl_is_collection2_syntax_and_parses(scene):
    out, _ = scene
    text = (out / "landsat" / "SYN_MTL.txt").read_text()
    for group in ("PRODUCT_CONTENTS", "LEVEL1_RADIOMETRIC_RESCALING", "LEVEL1_THERMAL_CONSTANTS"):
        assert f"GROUP = {group}" in text and f"END_GROUP = {group}" in text
    assert text.rstrip().endswith("END")
    mtl = read_mtl(out / "landsat" / "SYN_MTL.txt")
    assert mtl.spacecraft.upper() == "LANDSAT_8"
    assert mtl.number("K1_CONSTANT_BAND_10") == pytest.approx(774.8853)
    assert mtl.band_path("10").is_file()


def test_deterministic_from_seed(tmp_path):
    a = generate_scene(tmp_path / "a", seed=11, size_px=160)
    b = generate_scene(tmp_path / "b", seed=11, size_px=160)
    generate_scene(tmp_path / "c", seed=12, size_px=160)
    assert a.glacier_area_km2 == b.glacier_area_km2
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    ga = gpd.read_file(tmp_path / "a" / "truth" / "glaciers.gpkg", layer="glaciers")
    gb = gpd.read_file(tmp_path / "b" / "truth" / "glaciers.gpkg", layer="glaciers")
    assert ga.geometry.geom_equals_exact(gb.geometry, 1e-9).all()
    da, dc = _digest(tmp_path / "a"), _digest(tmp_path / "c")
    assert da["pan.tif"] != dc["pan.tif"] and da["truth/classes.tif"] != dc["truth/classes.tif"]


def test_physical_ranges(scene):
    out, _ = scene
    for name in ("pan.tif", "ms.tif", "s2.tif"):
        with rasterio.open(out / name) as ds:
            arr = ds.read()
        assert np.nanmin(arr) >= 0 and np.nanmax(arr) <= 1, name
    with rasterio.open(out / "dem.tif") as ds:
        dem = ds.read(1)
    assert 3000 < np.nanmin(dem) and np.nanmax(dem) < 7500
    with rasterio.open(out / "truth" / "surface_temperature_k.tif") as ds:
        t = ds.read(1)
    assert 265 < np.nanmin(t) and np.nanmax(t) < 315
    with rasterio.open(out / "s2_cloud.tif") as ds:
        assert set(np.unique(ds.read(1))) <= {0, 1}
    with rasterio.open(out / "truth" / "classes.tif") as ds:
        assert set(np.unique(ds.read(1))) <= {0, 1, 2, 255}


def test_spectral_signatures(scene):
    """Clean ice/snow: bright VIS, lower NIR, dark SWIR (NDSI high); water dark in NIR; rock NDSI < 0."""
    out, _ = scene
    with rasterio.open(out / "truth" / "surface.tif") as src, rasterio.open(out / "s2.tif") as s2:
        kind = src.read(1)
        bands = s2.read()
        clouds = rasterio.open(out / "s2_cloud.tif").read(1).astype(bool)

        def mean(codes):
            pure = (_fraction_on(np.isin(kind, codes), src, s2) > 0.999) & ~clouds
            return bands[:, pure].mean(axis=1)

        ice = mean((SURFACE["snow"], SURFACE["ice"]))
        rock = mean((SURFACE["rock"],))
    ndsi = lambda b: (b[1] - b[4]) / (b[1] + b[4])  # noqa: E731 - green vs SWIR (B3, B11)
    assert ndsi(ice) > 0.6 and ndsi(rock) < 0.1
    assert ice[3] < ice[2] < ice[0]  # NIR < red < blue for ice and snow


def test_truth_consistency(scene):
    out, info = scene
    glaciers = gpd.read_file(out / "truth" / "glaciers.gpkg", layer="glaciers")
    debris = gpd.read_file(out / "truth" / "glaciers.gpkg", layer="debris")
    divides = gpd.read_file(out / "truth" / "glaciers.gpkg", layer="divides")
    assert glaciers["glac_id"].is_unique and glaciers["glac_id"].str.match(r"^SYN-\d{4}$").all()
    np.testing.assert_allclose(glaciers["area_km2"], area_km2(glaciers), rtol=1e-9)
    # units do not overlap (shared edges only)
    union = glaciers.geometry.union_all()
    assert union.area == pytest.approx(glaciers.geometry.area.sum(), rel=1e-9)
    # the class raster and the polygons agree (pixelisation: both come from the same pixels)
    with rasterio.open(out / "truth" / "classes.tif") as ds:
        classes = ds.read(1)
        px_km2 = abs(ds.res[0] * ds.res[1]) / 1e6
    utm_area = glaciers.geometry.area.sum() / 1e6
    assert utm_area == pytest.approx(((classes == 1) | (classes == 2)).sum() * px_km2, rel=1e-6)
    assert debris.geometry.area.sum() / 1e6 == pytest.approx((classes == 2).sum() * px_km2, rel=1e-6)
    # debris belongs to its glacier
    ids = dict(zip(glaciers["glac_id"], glaciers.geometry, strict=True))
    for gid, geom in zip(debris["glac_id"], debris.geometry, strict=True):
        assert geom.difference(ids[gid]).area < 1e-6
    # tiny units are flagged; the summary matches
    assert (glaciers["tiny"] == (glaciers["area_km2"] < MIN_GLACIER_KM2)).all()
    assert info.n_glaciers == len(glaciers) and info.n_tiny_glaciers == int(glaciers["tiny"].sum())
    assert info.glacier_area_km2 == pytest.approx(glaciers["area_km2"].sum())
    # divides lie on the boundaries of the two units they separate
    for a, b, line in zip(divides["glac_id_a"], divides["glac_id_b"], divides.geometry, strict=True):
        assert line.length > 0
        assert ids[a].boundary.distance(line.interpolate(0.5, normalized=True)) < 1e-6
        assert ids[b].boundary.distance(line.interpolate(0.5, normalized=True)) < 1e-6
    assert len(divides) >= 1  # seed 3 has a complex split into units along drainage divides
    summary = json.loads((out / "scene.json").read_text())
    assert summary["seed"] == 3 and summary["n_glaciers"] == len(glaciers)


def test_glaciers_follow_the_ela(scene):
    """Accumulation (snow) lies above the ELA, tongues reach below it; rock dominates far below."""
    out, info = scene
    with rasterio.open(out / "truth" / "surface.tif") as ds:
        kind = ds.read(1)
    with rasterio.open(out / "pan.tif") as pan, rasterio.open(out / "dem.tif") as dem:
        z = np.empty(pan.shape, "float32")
        reproject(dem.read(1), z, src_transform=dem.transform, src_crs=dem.crs, dst_transform=pan.transform,
                  dst_crs=pan.crs, resampling=Resampling.bilinear)  # fmt: skip
    ice = np.isin(kind, (SURFACE["snow"], SURFACE["ice"], SURFACE["debris"], SURFACE["pond"]))
    ela = info.ela_m
    assert np.median(z[kind == SURFACE["snow"]]) > ela
    assert np.median(z[np.isin(kind, (SURFACE["ice"], SURFACE["debris"]))]) < ela
    assert (ice & (z < ela)).sum() > 0.05 * ice.sum()  # tongues descend below the ELA
    assert ice[z > ela].mean() > 3 * ice[z < ela].mean()  # ice fraction much higher above the ELA
    assert np.median(z[kind == SURFACE["debris"]]) < np.median(z[kind == SURFACE["ice"]])  # debris lowest


def test_debris_is_optically_like_moraine_but_thermally_distinct(scene):
    """The hard property: debris vs moraine/talus class means differ by less than the sensor noise std in
    each MS band (cloud-free pure 5 m pixels), while their surface temperature differs by more than 5 K."""
    out, _ = scene
    with rasterio.open(out / "truth" / "surface.tif") as src, rasterio.open(out / "ms.tif") as ms:
        kind = src.read(1)
        bands = ms.read()
        cloud = _fraction_on(rasterio.open(out / "truth" / "cloud_opacity_pct.tif").read(1) > 0, src, ms) > 0
        debris = (_fraction_on(kind == SURFACE["debris"], src, ms) > 0.999) & ~cloud
        moraine = (
            _fraction_on(np.isin(kind, (SURFACE["moraine"], SURFACE["talus"])), src, ms) > 0.999
        ) & ~cloud
    assert debris.sum() > 50 and moraine.sum() > 50
    for b, name in enumerate(("blue", "green", "red", "nir")):
        diff = abs(bands[b][debris].mean() - bands[b][moraine].mean())
        assert diff < NOISE_STD, name
    with rasterio.open(out / "truth" / "surface_temperature_k.tif") as ds:
        t = ds.read(1)
    t_debris = t[kind == SURFACE["debris"]].mean()
    t_moraine = t[np.isin(kind, (SURFACE["moraine"], SURFACE["talus"]))].mean()
    assert t_moraine - t_debris > 5.0
    assert abs(t[kind == SURFACE["ice"]].mean() - 273.15) < 0.5


def test_landsat_dn_inverts_to_surface_temperature(scene):
    """The preprocess LST retrieval (NDVI emissivity + inverse Planck) gives back the rendered temperature
    on pure 30 m pixels (no atmosphere is rendered, so only DN rounding and emissivity mixing remain)."""
    from glacierinv.preprocess.thermal import land_surface_temperature

    out, _ = scene
    lst_path = out.parent / "lst.tif"
    land_surface_temperature(out / "landsat" / "SYN_MTL.txt", lst_path)
    with rasterio.open(lst_path) as l30, rasterio.open(out / "truth" / "surface.tif") as src:
        lst = l30.read(1)
        kind = src.read(1)
        t = rasterio.open(out / "truth" / "surface_temperature_k.tif").read(1)
        t30 = _fraction_on(t, src, l30)  # mean temperature per 30 m cell
        for codes in (
            (SURFACE["snow"], SURFACE["ice"]),
            (SURFACE["rock"], SURFACE["moraine"], SURFACE["talus"]),
        ):
            pure = _fraction_on(np.isin(kind, codes), src, l30) > 0.999
            assert pure.sum() > 5
            np.testing.assert_allclose(lst[pure], t30[pure], atol=0.1)


def test_clouds_differ_between_primary_and_s2(scene):
    out, _ = scene
    with (
        rasterio.open(out / "truth" / "cloud_primary.tif") as m,
        rasterio.open(out / "truth" / "cloud_opacity_pct.tif") as o,
    ):
        assert ((m.read(1) == 1) == (o.read(1) > 30)).mean() > 0.999  # the mask is opacity > 30 %
    with rasterio.open(out / "truth" / "cloud_primary.tif") as p, rasterio.open(out / "s2_cloud.tif") as s2:
        primary_on_s2 = _fraction_on(p.read(1) == 1, p, s2) > 0.5
        s2c = s2.read(1) == 1
    if primary_on_s2.any() and s2c.any():
        jaccard = (primary_on_s2 & s2c).sum() / (primary_on_s2 | s2c).sum()
        assert jaccard < 0.5


def test_bad_arguments(tmp_path):
    with pytest.raises(InputError, match="size"):
        generate_scene(tmp_path / "x", size_px=10)
    with pytest.raises(InputError, match="pixel"):
        generate_scene(tmp_path / "y", pixel_m=-1)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**31 - 1), pixel_m=st.sampled_from([2.0, 5.0, 10.0]))
def test_truth_invariants_for_any_seed(tmp_path_factory, seed, pixel_m):
    """For any seed: units never overlap, polygons and class raster agree, glacier snow lies above the ELA
    while bare ice and seasonal snow lie below it."""
    out = tmp_path_factory.mktemp("fuzz")
    info = generate_scene(out, seed=seed, size_px=128, pixel_m=pixel_m)
    glaciers = gpd.read_file(out / "truth" / "glaciers.gpkg", layer="glaciers")
    with rasterio.open(out / "truth" / "classes.tif") as ds:
        n_ice = int(((ds.read(1) == 1) | (ds.read(1) == 2)).sum())
    assert glaciers.geometry.area.sum() == pytest.approx(n_ice * pixel_m**2, rel=1e-6, abs=1e-6)
    if len(glaciers) > 1:
        assert glaciers.geometry.union_all().area == pytest.approx(glaciers.geometry.area.sum(), rel=1e-9)
    assert info.n_glaciers == len(glaciers)
    with rasterio.open(out / "truth" / "surface.tif") as ds, rasterio.open(out / "dem.tif") as dem:
        kind = ds.read(1)[::2, ::2]  # the DEM cells are 2 x 2 primary pixels
        z = dem.read(1)[: kind.shape[0], : kind.shape[1]]
    assert 3000 < np.nanmin(z) and np.nanmax(z) < 7500
    for code, above in ((SURFACE["snow"], True), (SURFACE["ice"], False), (SURFACE["seasonal_snow"], False)):
        if (kind == code).sum() > 10:
            assert (np.median(z[kind == code]) > info.ela_m) == above, code
