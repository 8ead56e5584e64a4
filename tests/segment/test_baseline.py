"""The rule baseline: classes on a toy scene with known truth, fallbacks, windowing, atomic outputs."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio

from glacierinv.errors import InputError
from glacierinv.segment.baseline import BaselineParams, classify_arrays, classify_stack
from tests.segment.conftest import toy_scene, write_stack


def _read(path):
    with rasterio.open(path) as ds:
        return ds.read(), ds.descriptions, ds.nodata


def test_toy_scene_classes(toy_stack, tmp_path):
    stack, truth = toy_stack
    summary = classify_stack(stack, tmp_path / "classes.tif", tmp_path / "proba.tif")
    classes = _read(tmp_path / "classes.tif")[0][0]
    # every pixel of the toy scene is unambiguous (class contrasts >> noise), so the rules are exact
    # except within one connectivity step of the class borders
    assert (classes[truth == 255] == 255).all()
    inner = truth.copy()
    inner[1:-1, 1:-1][(truth[:-2, 1:-1] != truth[1:-1, 1:-1]) | (truth[2:, 1:-1] != truth[1:-1, 1:-1])] = 254
    for k in (0, 1, 2):
        assert (classes[inner == k] == k).mean() > 0.99, k
    # the cold, flat, dark patch far from ice is moraine-like and must not become debris
    assert (classes[15:35, 82:94] == 0).all()
    assert summary["pixels_debris"] == int((classes == 2).sum())
    assert summary["pixels_nodata"] == int((truth == 255).sum())
    assert summary["debris_mapped"] is True


def test_proba_is_consistent_with_classes(toy_stack, tmp_path):
    stack, truth = toy_stack
    classify_stack(stack, tmp_path / "c.tif", tmp_path / "p.tif")
    proba, desc, _ = _read(tmp_path / "p.tif")
    classes = _read(tmp_path / "c.tif")[0][0]
    assert proba.dtype == np.uint8 and proba.shape[0] == 3
    assert desc == ("background", "clean_ice", "debris")
    valid = classes != 255
    total = proba[:, valid].astype(int).sum(axis=0)
    assert np.abs(total - 255).max() <= 2  # rounding of three scores
    agree = np.argmax(proba[:, valid], axis=0) == classes[valid]
    assert agree.mean() > 0.98


def test_windowed_equals_single_window(toy_stack, tmp_path):
    """Small blocks (with the connectivity margin) give the same classes as one block."""
    stack, _ = toy_stack
    classify_stack(stack, tmp_path / "one.tif", block_px=1024)
    classify_stack(stack, tmp_path / "many.tif", block_px=32, params=BaselineParams(margin_px=64))
    np.testing.assert_array_equal(_read(tmp_path / "one.tif")[0], _read(tmp_path / "many.tif")[0])


def test_without_thermal_and_slope_maps_no_debris(tmp_path, caplog):
    bands, truth = toy_scene()
    stack = write_stack(tmp_path / "s.tif", {k: bands[k] for k in ("blue", "green", "red", "nir")})
    summary = classify_stack(stack, tmp_path / "c.tif")
    classes = _read(tmp_path / "c.tif")[0][0]
    assert summary["debris_mapped"] is False and summary["pixels_debris"] == 0
    assert (classes[truth == 1] == 1).mean() > 0.99
    assert "clean ice only" in caplog.text


def test_missing_optical_band_is_clear_error(tmp_path):
    bands, _ = toy_scene()
    stack = write_stack(tmp_path / "s.tif", {k: bands[k] for k in ("blue", "green", "red", "lst")})
    with pytest.raises(InputError, match="nir"):
        classify_stack(stack, tmp_path / "c.tif")
    assert not (tmp_path / "c.tif").exists()


def test_ndsi_channel_vetoes_bright_non_snow():
    """With an NDSI (or SWIR) channel, a bright red>NIR surface with low NDSI is not ice."""
    bands, truth = toy_scene()
    ice = truth == 1
    bands["swir"] = np.where(ice, 0.05, 0.25).astype("float32")  # snow/ice absorb in SWIR
    classes, _ = classify_arrays(bands, 2.0)
    assert (classes[ice] == 1).mean() > 0.99
    bands["swir"] = np.full_like(bands["red"], 0.7)  # e.g. a bright cloud: NDSI ≈ 0
    classes, _ = classify_arrays(bands, 2.0)
    assert (classes[ice] == 1).mean() < 0.01


def test_missing_stack_is_input_error(tmp_path):
    with pytest.raises(InputError, match="not found"):
        classify_stack(tmp_path / "nope.tif", tmp_path / "c.tif")
