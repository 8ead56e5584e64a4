"""Precision choice, bf16 vs fp32 agreement, calibrated uncertainty (softmax / TTA / MC dropout), temperature."""

from __future__ import annotations

import math

import numpy as np
import pytest
import rasterio
import torch

from glacierinv.errors import CheckpointError, InputError
from glacierinv.segment import infer
from glacierinv.segment.calibration import (
    ReliabilityCounts,
    expected_calibration_error,
    fit_temperature,
)
from glacierinv.segment.checkpoint import ModelMeta, load_checkpoint, save_checkpoint
from glacierinv.segment.infer import normalised_entropy, predict_with_model, resolve_precision
from glacierinv.segment.model import UNetCBAM, UNetSpec
from tests.segment.conftest import toy_scene, write_stack
from tests.segment.test_infer import Pointwise, _meta


def _read(path):
    with rasterio.open(path) as ds:
        return ds.read()


# --- precision ---------------------------------------------------------------------------------------
def test_auto_precision_follows_native_bf16(monkeypatch):
    monkeypatch.setattr(infer.platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(infer.torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")
    monkeypatch.setattr(infer, "_cpu_flags", lambda: frozenset({"avx2", "avx512f", "avx512_bf16"}))
    assert resolve_precision("auto", "cpu") == "bf16"
    monkeypatch.setattr(infer, "_cpu_flags", lambda: frozenset({"avx2", "avx512f"}))
    assert resolve_precision("auto", "cpu") == "fp32"
    assert resolve_precision("bf16", "cpu") == "bf16" and resolve_precision("fp32", "cpu") == "fp32"
    monkeypatch.setattr(infer.platform, "machine", lambda: "arm64")
    monkeypatch.setattr(infer, "_cpu_flags", lambda: frozenset({"avx512_bf16"}))
    assert resolve_precision("auto", "cpu") == "fp32"  # never guessed from flags off x86
    with pytest.raises(InputError, match="precision"):
        resolve_precision("fp16", "cpu")


def test_summary_records_precision_used(tmp_path, monkeypatch):
    monkeypatch.setattr(infer, "native_bf16", lambda dev: False)
    bands, _ = toy_scene(size=64)
    stack = write_stack(tmp_path / "s.tif", bands)
    out = predict_with_model(stack, Pointwise(), _meta(), tmp_path / "c.tif", tile_px=32, overlap_px=8)
    assert out["precision"] == "fp32" and out["precision_requested"] == "auto"


def test_bf16_agrees_with_fp32_on_held_out_synthetic_scene(tiny_scene, tmp_path):
    """Issue 19: bf16 autocast classes agree with fp32 on >= 99.5 % of pixels; mIoU within 0.002.

    The tiny scene (seed 3) was never used to train the shipped model.
    """
    from glacierinv.assess.metrics import confusion_matrix, scores
    from glacierinv.config import load_config
    from glacierinv.preprocess.stack import build_feature_stack

    build_feature_stack(load_config(tiny_scene / "config.toml"), tmp_path)
    model, meta = load_checkpoint(None)
    truth = _read(tiny_scene / "truth" / "classes.tif")[0]
    pred = {}
    for prec in ("fp32", "bf16"):
        r = predict_with_model(
            tmp_path / "stack.tif", model, meta, tmp_path / f"{prec}.tif", tile_px=256, overlap_px=64,
            precision=prec,
        )  # fmt: skip
        assert r["precision"] == prec
        pred[prec] = _read(tmp_path / f"{prec}.tif")[0]
    valid = truth != 255
    agree = (pred["fp32"] == pred["bf16"])[valid].mean()
    miou = {k: scores(confusion_matrix(v, truth))["miou"] for k, v in pred.items()}
    assert agree >= 0.995, agree
    assert abs(miou["fp32"] - miou["bf16"]) <= 0.002, miou


# --- uncertainty raster --------------------------------------------------------------------------------
def test_uncertainty_is_normalised_entropy_of_proba(tmp_path):
    bands, truth = toy_scene(size=96, seed=1)
    stack = write_stack(tmp_path / "s.tif", bands)
    out = predict_with_model(
        stack, Pointwise(), _meta(), tmp_path / "c.tif", tmp_path / "p.tif",
        uncertainty_path=tmp_path / "u.tif", tile_px=32, overlap_px=12, block_px=64,
    )  # fmt: skip
    assert out["confidence"] == "softmax" and out["forward_passes_per_tile"] == 1
    unc = _read(tmp_path / "u.tif")[0]
    proba = _read(tmp_path / "p.tif").astype("float64") / 255.0
    assert np.isnan(unc[truth == 255]).all()
    ok = truth != 255
    assert np.nanmin(unc) >= 0 and np.nanmax(unc) <= 1
    np.testing.assert_allclose(unc[ok], normalised_entropy(proba)[ok], atol=0.02)  # uint8 rounding


def test_entropy_bounds():
    assert normalised_entropy(np.array([[1.0], [0.0], [0.0]]))[0] == pytest.approx(0.0, abs=1e-6)
    assert normalised_entropy(np.full((3, 1), 1 / 3))[0] == pytest.approx(1.0, abs=1e-6)


def test_tta_of_an_equivariant_model_equals_one_pass(tmp_path):
    """A pointwise model commutes with flips/rotations: TTA must reproduce the single pass exactly."""
    bands, _ = toy_scene(size=80, seed=2)
    stack = write_stack(tmp_path / "s.tif", bands)
    model, meta = Pointwise(), _meta()
    for mode in ("softmax", "tta"):
        r = predict_with_model(
            stack, model, meta, tmp_path / f"{mode}_c.tif", tmp_path / f"{mode}_p.tif",
            uncertainty_path=tmp_path / f"{mode}_u.tif", tile_px=32, overlap_px=8, confidence=mode,
        )  # fmt: skip
    assert r["forward_passes_per_tile"] == 4
    np.testing.assert_array_equal(_read(tmp_path / "softmax_c.tif"), _read(tmp_path / "tta_c.tif"))
    np.testing.assert_allclose(_read(tmp_path / "softmax_u.tif"), _read(tmp_path / "tta_u.tif"), atol=1e-5)


class Dropped(torch.nn.Module):
    """Pointwise logits through dropout: MC dropout must average several different passes."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(6, 3, 1)
        self.drop = torch.nn.Dropout2d(0.5)

    def forward(self, x):
        return self.conv(self.drop(x)) * 3.0


def test_mc_dropout_runs_and_restores_eval_mode(tmp_path):
    bands, truth = toy_scene(size=64, seed=3)
    stack = write_stack(tmp_path / "s.tif", bands)
    model = Dropped()
    torch.manual_seed(1)
    r = predict_with_model(
        stack, model, _meta(), tmp_path / "c.tif", tmp_path / "p.tif", uncertainty_path=tmp_path / "u.tif",
        tile_px=32, overlap_px=8, confidence="mc", mc_samples=6,
    )  # fmt: skip
    assert r["forward_passes_per_tile"] == 6 and not model.drop.training
    predict_with_model(
        stack, model, _meta(), tmp_path / "c1.tif", tmp_path / "p1.tif",
        uncertainty_path=tmp_path / "u1.tif", tile_px=32, overlap_px=8,
    )  # fmt: skip
    ok = truth != 255
    # averaging dropout samples spreads the probabilities: more entropy than the deterministic pass
    assert np.nanmean(_read(tmp_path / "u.tif")[0][ok]) > np.nanmean(_read(tmp_path / "u1.tif")[0][ok])


def test_confidence_settings_checked(tmp_path):
    bands, _ = toy_scene(size=64)
    stack = write_stack(tmp_path / "s.tif", bands)
    with pytest.raises(InputError, match="dropout"):
        predict_with_model(
            stack, Pointwise(), _meta(), tmp_path / "c.tif", tile_px=32, overlap_px=8, confidence="mc"
        )
    with pytest.raises(InputError, match="confidence"):
        predict_with_model(
            stack, Pointwise(), _meta(), tmp_path / "c.tif", tile_px=32, overlap_px=8, confidence="x"
        )
    assert not list(tmp_path.glob("c.tif*"))
    predict_with_model(
        stack, Pointwise(), _meta(), tmp_path / "c.tif", uncertainty_path=tmp_path / "u.tif",
        tile_px=32, overlap_px=8, confidence="none",
    )  # fmt: skip
    assert (tmp_path / "c.tif").exists() and not (tmp_path / "u.tif").exists()


def test_temperature_keeps_classes_and_flattens_probabilities(tmp_path):
    bands, truth = toy_scene(size=64, seed=4)
    stack = write_stack(tmp_path / "s.tif", bands)
    hot = _meta()
    hot.temperature = 3.0
    for name, meta in (("t1", _meta()), ("t3", hot)):
        r = predict_with_model(
            stack, Pointwise(), meta, tmp_path / f"{name}_c.tif", uncertainty_path=tmp_path / f"{name}_u.tif",
            tile_px=32, overlap_px=8,
        )  # fmt: skip
    assert r["temperature"] == 3.0
    np.testing.assert_array_equal(_read(tmp_path / "t1_c.tif"), _read(tmp_path / "t3_c.tif"))
    ok = truth != 255
    assert (_read(tmp_path / "t3_u.tif")[0][ok] >= _read(tmp_path / "t1_u.tif")[0][ok] - 1e-6).all()


# --- checkpoint temperature ----------------------------------------------------------------------------
def _tiny_meta():
    m = _meta()
    m.spec = UNetSpec(in_channels=6, base_width=4, depth=2)
    return m


def test_checkpoint_stores_temperature_and_old_ones_load_uncalibrated(tmp_path):
    meta = _tiny_meta()
    meta.temperature = 1.7
    save_checkpoint(tmp_path / "m.pt", UNetCBAM(meta.spec), meta)
    assert load_checkpoint(tmp_path / "m.pt")[1].temperature == pytest.approx(1.7)
    raw = torch.load(tmp_path / "m.pt", weights_only=True)
    del raw["temperature"]  # a checkpoint written before the field existed
    torch.save(raw, tmp_path / "old.pt")
    assert load_checkpoint(tmp_path / "old.pt")[1].temperature == 1.0
    raw["temperature"] = -1.0
    torch.save(raw, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="temperature"):
        load_checkpoint(tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="temperature"):
        ModelMeta(meta.spec, meta.channels, meta.norm_mean, meta.norm_std, temperature=float("nan"))


# --- calibration maths ---------------------------------------------------------------------------------
def test_fit_temperature_recovers_the_generating_temperature():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(40000, 3, generator=g) * 4.0
    labels = torch.multinomial(torch.softmax(z / 2.5, 1), 1, generator=g)[:, 0]
    assert fit_temperature(z, labels) == pytest.approx(2.5, rel=0.05)
    labels[:100] = 255  # ignored pixels do not matter
    assert fit_temperature(z, labels) == pytest.approx(2.5, rel=0.05)
    assert fit_temperature(z[:0], labels[:0]) == 1.0


def test_ece_zero_when_calibrated_large_when_overconfident():
    rng = np.random.default_rng(0)
    n = 200000
    conf = rng.uniform(0.4, 1.0, n)
    hit = rng.uniform(size=n) < conf  # correct with probability = confidence: calibrated
    truth = np.where(hit, 0, 1)
    proba = np.stack([conf, 1 - conf])
    assert expected_calibration_error(proba, truth) < 0.01
    over = np.stack([np.full(n, 0.99), np.full(n, 0.01)])
    assert expected_calibration_error(over, truth) == pytest.approx(0.99 - hit.mean(), abs=0.01)
    acc = ReliabilityCounts()
    acc.add(proba[:, : n // 2], truth[: n // 2])
    acc.add(proba[:, n // 2 :], truth[n // 2 :])  # windowed == whole
    assert acc.ece() == pytest.approx(expected_calibration_error(proba, truth), abs=1e-12)
    assert math.isnan(ReliabilityCounts().ece())
