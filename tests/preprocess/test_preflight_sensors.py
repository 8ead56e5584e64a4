"""`glacierinv config check` runs exactly the preflight of `glacierinv run`: what run refuses, check refuses
(one line, exit 2, nothing written); the registry is the one list of input keys."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest
import rasterio
from typer.testing import CliRunner

from glacierinv.cli.main import app
from glacierinv.config import load_config
from glacierinv.io.raster import read_raster, write_raster
from glacierinv.preprocess.sensors import SENSORS, all_keys, input_keys
from glacierinv.preprocess.stack import build_feature_stack
from tests.cli_checks import one_error_line

runner = CliRunner()


@pytest.fixture
def scene(tiny_scene, tmp_path):
    d = tmp_path / "scene"
    shutil.copytree(tiny_scene, d)
    return d


def _set(cfg_path, **inputs):
    """Rewrite [inputs] keys of a config (None removes the key)."""
    text = cfg_path.read_text()
    for key, value in inputs.items():
        text = re.sub(rf"^{key}\s*=.*\n", "", text, flags=re.M)
        if value is not None:
            text = text.replace("[inputs]\n", f'[inputs]\n{key} = "{value}"\n', 1)
    cfg_path.write_text(text)
    return cfg_path


def _check_and_run_refuse(cfg, tmp_path, *needles):
    check = one_error_line(runner.invoke(app, ["config", "check", str(cfg)]), *needles)
    run = one_error_line(runner.invoke(app, ["run", str(cfg), "--out", str(tmp_path / "run")]), *needles)
    assert check == run  # the same preflight
    assert not (tmp_path / "run").exists()


def _ms_with(scene, names, extra=None):
    arr, grid = read_raster(scene / "ms.tif")
    arr = arr[: len(names)] if extra is None else np.concatenate([arr, extra[None]])
    write_raster(scene / "ms_test.tif", arr.astype("float32"), grid, descriptions=names)
    return scene / "ms_test.tif"


def test_three_band_ms(scene, tmp_path):
    ms = _ms_with(scene, ["blue", "green", "red"])
    _check_and_run_refuse(_set(scene / "config.toml", ms=ms), tmp_path, "lacks band(s) nir", "ms_test.tif")


def test_undescribed_bands(scene, tmp_path):
    ms = _ms_with(scene, ["", "", "", ""])
    _check_and_run_refuse(_set(scene / "config.toml", ms=ms), tmp_path, "lacks band(s) blue", "ms_test.tif")


def test_text_file_named_tif(scene, tmp_path):
    (scene / "fake.tif").write_text("not a raster\n")
    _check_and_run_refuse(
        _set(scene / "config.toml", ms=scene / "fake.tif"), tmp_path, "not a readable raster"
    )


def test_missing_mtl_while_lst_is_a_channel(scene, tmp_path):
    cfg = _set(scene / "config.toml", landsat_mtl=None)
    _check_and_run_refuse(cfg, tmp_path, "channel 'lst'", "landsat_mtl")


def test_primary_cloud_mask_and_truth_glaciers_are_checked(scene, tmp_path):
    (scene / "bad.gpkg").write_text("nope")
    _check_and_run_refuse(
        _set(scene / "config.toml", truth_glaciers=scene / "bad.gpkg"), tmp_path, "bad.gpkg"
    )
    (scene / "cloud.tif").write_text("nope")
    cfg = _set(
        scene / "config.toml", truth_glaciers="truth/glaciers.gpkg", primary_cloud_mask=scene / "cloud.tif"
    )
    _check_and_run_refuse(cfg, tmp_path, "cloud.tif")


def test_unknown_key_lists_the_known(scene, tmp_path):
    cfg = _set(scene / "config.toml", landsta="x.txt")
    line = one_error_line(runner.invoke(app, ["config", "check", str(cfg)]), "unknown [inputs] key 'landsta'")
    assert all(k in line for k in input_keys())


def test_five_band_ms_with_swir_builds(scene, tmp_path):
    """Formerly `ValueError: shape-mismatch for sum` in the stack; now the SWIR band is channel swir1."""
    arr, _ = read_raster(scene / "ms.tif")
    ms = _ms_with(scene, ["blue", "green", "red", "nir", "swir"], extra=0.5 * arr[3])
    cfg_path = _set(scene / "config.toml", ms=ms)
    assert runner.invoke(app, ["config", "check", str(cfg_path)]).exit_code == 0
    cfg = load_config(cfg_path)
    cfg = cfg.model_copy(
        update={"stack": cfg.stack.model_copy(update={"channels": ["blue", "red", "swir1", "ndsi", "lst"]})}
    )
    res = build_feature_stack(cfg, tmp_path / "stack")
    stack, _ = read_raster(res.stack)
    with rasterio.open(res.stack) as ds:
        assert list(ds.descriptions) == ["blue", "red", "swir1", "ndsi", "lst"]
    ok = np.isfinite(stack[2])
    assert ok.mean() > 0.9 and np.nanmax(stack[2]) <= 1.0


def test_template_lists_every_registry_key_and_loads(tmp_path):
    res = runner.invoke(app, ["config", "template"])
    assert res.exit_code == 0
    for k in all_keys():
        if k.example is not None:
            assert f"{k.name} = " in res.output
    for s in SENSORS:
        assert s.title in res.output
    (tmp_path / "t.toml").write_text(res.output)
    cfg = load_config(tmp_path / "t.toml")
    assert cfg.stack.channels[-2:] == ["lst", "slope"]
