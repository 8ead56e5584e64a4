"""Hard synthetic scenes (``difficulty="hard"``): layout, determinism, physics per band, exact truth, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.enums import Resampling
from rasterio.warp import reproject
from scipy import ndimage
from typer.testing import CliRunner

from glacierinv.cli.main import app
from glacierinv.errors import InputError
from glacierinv.preprocess.landsat import read_mtl
from glacierinv.synthetic import generate_scene
from glacierinv.synthetic.hard import draw_look
from glacierinv.synthetic.spectra import BANDS, SPECTRA, WAVELENGTH_UM, draw_spectra
from glacierinv.synthetic.surface import SURFACE

ALL6 = ["blue", "green", "red", "nir", "swir1", "swir2"]


@pytest.fixture(scope="module")
def hard(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("hard") / "scene"
    generate_scene(out, seed=1001, size_px=256, difficulty="hard", channels=ALL6)
    return out


def _read(path: Path) -> tuple[np.ndarray, tuple]:
    with rasterio.open(path) as ds:
        return ds.read().astype("float64"), ds.descriptions


def _on_fine(hard: Path, name: str) -> np.ndarray:
    """A coarser raster resampled (nearest) onto the 2 m primary grid."""
    with rasterio.open(hard / "pan.tif") as ref, rasterio.open(hard / name) as ds:
        out = np.full((ds.count, *ref.shape), np.nan, "float64")
        reproject(ds.read().astype("float64"), out, src_transform=ds.transform, src_crs=ds.crs,
                  dst_transform=ref.transform, dst_crs=ref.crs, resampling=Resampling.nearest)  # fmt: skip
    return out


def test_spectra_are_physical():
    """End members within 0-1, snow and ice dark in SWIR (Dozier 1989), vegetation red edge, rock rises."""
    assert len(BANDS) == len(WAVELENGTH_UM) == 6 and list(WAVELENGTH_UM) == sorted(WAVELENGTH_UM)
    for name, (lo, hi) in SPECTRA.items():
        assert len(lo) == len(hi) == 6, name
        assert all(0 <= a <= b <= 1 for a, b in zip(lo, hi, strict=True)), name
    for snow in ("snow", "seasonal_snow"):
        lo, hi = SPECTRA[snow]
        ndsi = [(s[1] - s[4]) / (s[1] + s[4]) for s in (lo, hi)]
        assert min(ndsi) > 0.6 and max(hi[4:]) <= 0.2  # NDSI of snow well above the 0.4 threshold
    assert max(SPECTRA["ice"][1][4:]) < 0.05  # bare ice absorbs SWIR
    for s in SPECTRA["vegetation"]:
        assert s[3] > 3 * s[2]  # red edge: NDVI > 0.5
    for s in SPECTRA["rock"] + SPECTRA["debris"]:
        assert s[4] > s[0]  # rock reflectance rises from the blue to 1.6 µm
    tab = draw_spectra(np.random.default_rng(0))
    assert np.allclose(tab["moraine"], tab["debris"]) and np.allclose(tab["dead_ice"], tab["debris"])


def test_look_draws_differ_per_seed_within_ranges():
    looks = [draw_look(np.random.default_rng(s)) for s in range(20)]
    assert len({round(lk.sun_azimuth_deg, 3) for lk in looks}) == 20
    for lk in looks:
        assert 25 <= lk.sun_elevation_deg <= 65 and 110 <= lk.sun_azimuth_deg <= 210
        assert 0 <= lk.snowline_frac <= 1.1 and 0 <= lk.cloud_cover <= 0.5 and lk.noise_std > 0
    assert any(lk.snowline_frac > 0.9 for lk in looks)  # some scenes snowy down to the termini


def test_layout_and_summary(hard):
    ms, names = _read(hard / "ms.tif")
    assert list(names) == ALL6 and ms.shape[0] == 6
    _, s2_names = _read(hard / "s2.tif")
    assert list(s2_names) == ["B2", "B3", "B4", "B8", "B11", "B12"]
    info = json.loads((hard / "scene.json").read_text())
    assert info["difficulty"] == "hard" and info["ms_channels"] == ALL6
    assert set(info["look"]) >= {"sun_azimuth_deg", "sun_elevation_deg", "snowline_frac", "haze_aot"}
    mtl = read_mtl(hard / "landsat" / "SYN_MTL.txt")  # the stack's shadows use the scene's own sun
    assert mtl.sun_elevation_deg == pytest.approx(info["look"]["sun_elevation_deg"], abs=1e-3)
    assert mtl.sun_azimuth_deg == pytest.approx(info["look"]["sun_azimuth_deg"], abs=1e-3)
    assert 0 <= info["seasonal_snow_offglacier_frac"] <= 1


def test_hard_is_deterministic_and_easy_is_the_default(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    generate_scene(a, seed=7, size_px=128, difficulty="hard")
    generate_scene(b, seed=7, size_px=128, difficulty="hard")
    for name in ("ms.tif", "s2.tif", "truth/classes.tif", "landsat/SYN_B10.TIF"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    e1, e2 = tmp_path / "e1", tmp_path / "e2"
    generate_scene(e1, seed=7, size_px=128)
    generate_scene(e2, seed=7, size_px=128, difficulty="easy", channels=["blue", "green", "red", "nir"])
    for name in ("ms.tif", "pan.tif", "s2.tif", "truth/surface.tif", "scene.json"):
        assert (e1 / name).read_bytes() == (e2 / name).read_bytes(), name
    easy = json.loads((e1 / "scene.json").read_text())
    assert "difficulty" not in easy and "look" not in easy  # the easy scene.json keeps its keys
    assert set(easy["surface_km2"]) == {k for k, v in SURFACE.items() if v <= 8}


def test_truth_is_exact_for_the_new_surfaces(hard):
    kind = _read(hard / "truth" / "surface.tif")[0][0]
    classes = _read(hard / "truth" / "classes.tif")[0][0]
    for name in ("seasonal_snow", "dead_ice", "vegetation", "turbid_lake", "frozen_lake", "rock", "lake"):
        assert (classes[kind == SURFACE[name]] == 0).all(), name
    for name in ("snow", "ice", "dirty_ice"):
        assert (classes[kind == SURFACE[name]] == 1).all(), name
    for name in ("debris", "pond"):
        assert (classes[kind == SURFACE[name]] == 2).all(), name
    dead = kind == SURFACE["dead_ice"]
    glacier = np.isin(classes, (1, 2))
    assert not (ndimage.binary_dilation(dead) & glacier).any()  # cut off from the glacier


def test_seasonal_snow_is_widespread_and_follows_elevation(tmp_path):
    """Over a few seeds: snow off-glacier is common and more frequent high than low."""
    fracs, high_minus_low = [], []
    for seed in (1001, 1002, 1003):
        d = tmp_path / f"s{seed}"
        generate_scene(d, seed=seed, size_px=160, difficulty="hard")
        kind = _read(d / "truth" / "surface.tif")[0][0]
        with rasterio.open(d / "dem.tif") as ds:
            dem = np.repeat(np.repeat(ds.read(1), 2, 0), 2, 1)[: kind.shape[0], : kind.shape[1]]
        off = _read(d / "truth" / "classes.tif")[0][0] == 0
        snow = kind == SURFACE["seasonal_snow"]
        fracs.append(json.loads((d / "scene.json").read_text())["seasonal_snow_offglacier_frac"])
        lo, hi = np.nanpercentile(dem[off], [33, 67])
        high_minus_low.append(snow[off & (dem > hi)].mean() - snow[off & (dem < lo)].mean())
    assert max(fracs) >= 0.2
    assert np.mean(high_minus_low) > 0


def test_band_physics_on_the_image(hard):
    """Away from clouds: snow NDSI > 0.4 and snow no brighter at 2.2 µm than at 1.6 µm in the 5 m image."""
    kind = _read(hard / "truth" / "surface.tif")[0][0]
    cloud = _read(hard / "truth" / "cloud_opacity_pct.tif")[0][0]
    ms = _on_fine(hard, "ms.tif")
    clear = ndimage.binary_erosion(cloud < 2, iterations=4)
    snow = ndimage.binary_erosion(np.isin(kind, (SURFACE["snow"], SURFACE["seasonal_snow"])), iterations=4)
    ok = snow & clear & np.isfinite(ms).all(axis=0)
    assert ok.sum() > 100
    green, swir1 = ms[1][ok], ms[4][ok]
    assert np.median((green - swir1) / (green + swir1)) > 0.4
    assert np.median(ms[5][ok]) <= np.median(ms[4][ok]) + 0.02  # snow darker (or equal) at 2.2 µm


def test_surface_temperatures(hard):
    kind = _read(hard / "truth" / "surface.tif")[0][0]
    t = _read(hard / "truth" / "surface_temperature_k.tif")[0][0]
    cold = np.isin(kind, (SURFACE["snow"], SURFACE["ice"], SURFACE["seasonal_snow"], SURFACE["dirty_ice"]))
    assert np.percentile(t[cold], 99) <= 273.15 + 2.0  # melting point plus the 0.5 K noise field
    debris = kind == SURFACE["debris"]
    assert t[debris].mean() > t[cold].mean() + 1.0
    rock = kind == SURFACE["rock"]
    assert 265 < np.median(t[rock]) < 310


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"difficulty": "medium"}, "difficulty"),
        ({"channels": ["blue", "green", "red", "nir", "swir2"]}, "swir2 needs --difficulty hard"),
        ({"channels": ["blue", "green", "red"], "difficulty": "hard"}, "blue, green, red and nir"),
        ({"channels": ["blue", "green", "red", "nir", "tir"], "difficulty": "hard"}, "unknown channel"),
    ],
)
def test_bad_arguments(tmp_path, kwargs, match):
    with pytest.raises(InputError, match=match):
        generate_scene(tmp_path / "x", size_px=64, **kwargs)
    assert not (tmp_path / "x").exists()


def test_cli_hard_and_bad_channels(tmp_path):
    runner = CliRunner()
    out = tmp_path / "h"
    r = runner.invoke(
        app,
        ["synth", "--out", str(out), "--size", "96", "--seed", "4", "--difficulty", "hard",
         "--channels", "blue,green,red,nir,swir1"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "hard" in r.output
    assert list(_read(out / "ms.tif")[1]) == ["blue", "green", "red", "nir", "swir1"]
    bad = tmp_path / "b"
    r = runner.invoke(app, ["synth", "--out", str(bad), "--size", "96", "--difficulty", "extreme"])
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert len([ln for ln in r.output.splitlines() if ln.strip()]) == 1
    assert not bad.exists()
