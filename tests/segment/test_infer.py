"""Tiled inference: blending maths, no seams, tiled == untiled, nodata, name matching, bad settings."""

from __future__ import annotations

import math

import numpy as np
import pytest
import rasterio
import torch

from glacierinv.errors import CheckpointError, InputError
from glacierinv.segment.checkpoint import ModelMeta, load_checkpoint, save_checkpoint
from glacierinv.segment.infer import blend_weights, predict_stack, predict_with_model, tile_origins
from glacierinv.segment.model import UNetSpec
from tests.segment.conftest import toy_scene, write_stack

CH = ["blue", "green", "red", "nir", "lst", "slope"]


class Pointwise(torch.nn.Module):
    """A model without spatial context: tiled and untiled predictions must agree to float precision."""

    def __init__(self, n_in: int = 6):
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(n_in, 3, 1)

    def forward(self, x):
        return self.conv(x) * 3.0


def _meta(n_in: int = 6) -> ModelMeta:
    return ModelMeta(
        UNetSpec(in_channels=n_in), CH[:n_in], [0.3] * 4 + [285.0, 20.0], [0.2] * 4 + [8.0, 10.0]
    )


def _read(path):
    with rasterio.open(path) as ds:
        return ds.read()


def test_tile_origins_cover_and_align():
    assert tile_origins(100, 128, 96) == [0]
    o = tile_origins(300, 64, 48)
    assert o[0] == 0 and o[-1] == 300 - 64 and all(b - a <= 48 for a, b in zip(o, o[1:], strict=False))


def test_blend_weights_smooth_positive_symmetric():
    w = blend_weights(64)
    assert w.shape == (64, 64) and (w > 0).all() and w.max() <= 1.0
    np.testing.assert_allclose(w, w[::-1, ::-1], atol=1e-7)
    assert w[32, 32] > 0.99 and w[0, 32] < 0.01


def test_tiled_equals_untiled_for_a_pointwise_model(tmp_path):
    """Blending, strips and row flushing reproduce a one-tile prediction (here exactly: no context)."""
    bands, truth = toy_scene(size=150, seed=1)
    stack = write_stack(tmp_path / "s.tif", bands)
    model, meta = Pointwise(), _meta()
    predict_with_model(
        stack, model, meta, tmp_path / "one.tif", tmp_path / "one_p.tif", tile_px=160, overlap_px=0
    )
    predict_with_model(
        stack,
        model,
        meta,
        tmp_path / "many.tif",
        tmp_path / "many_p.tif",
        tile_px=32,
        overlap_px=12,
        block_px=64,
    )
    np.testing.assert_array_equal(_read(tmp_path / "one.tif"), _read(tmp_path / "many.tif"))
    diff = np.abs(_read(tmp_path / "one_p.tif").astype(int) - _read(tmp_path / "many_p.tif").astype(int))
    assert diff.max() <= 1  # uint8 rounding of equal floats
    classes = _read(tmp_path / "one.tif")[0]
    assert (classes[truth == 255] == 255).all() and (classes[truth != 255] != 255).all()
    assert (_read(tmp_path / "one_p.tif")[:, truth == 255] == 0).all()


def test_shipped_model_constant_scene_has_no_seams(tmp_path):
    """A constant input gives the same class everywhere and a flat probability across tile borders."""
    size = 200
    value = {"blue": 0.8, "green": 0.78, "red": 0.75, "nir": 0.62, "lst": 273.0, "slope": 12.0}  # clean ice
    stack = write_stack(
        tmp_path / "c.tif", {k: np.full((size, size), v, "float32") for k, v in value.items()}
    )
    predict_stack(
        stack, None, tmp_path / "k.tif", tmp_path / "p.tif", tile_px=64, overlap_px=24, device="cpu"
    )
    classes, proba = _read(tmp_path / "k.tif")[0], _read(tmp_path / "p.tif")[1].astype(int)
    assert (classes == 1).all()
    inner = proba[24:-24, 24:-24]  # away from the scene edge (zero padding there is real context)
    assert inner.max() - inner.min() <= 3  # within ~1 % probability across all tile borders


def test_shipped_model_tiled_vs_one_tile(tmp_path):
    """Overlapping tiles vs one big tile: ≥ 99 % agreement, disagreements not on tile borders."""
    bands, _ = toy_scene(size=192, seed=2)
    stack = write_stack(tmp_path / "s.tif", bands)
    predict_stack(stack, None, tmp_path / "one.tif", tile_px=192, overlap_px=0, device="cpu")
    predict_stack(stack, None, tmp_path / "many.tif", tile_px=64, overlap_px=16, device="cpu")
    a, b = _read(tmp_path / "one.tif")[0], _read(tmp_path / "many.tif")[0]
    assert (a == b).mean() >= 0.99
    border = np.zeros(a.shape, bool)
    for o in tile_origins(192, 64, 48)[1:]:
        border[o - 2 : o + 2, :] = border[:, o - 2 : o + 2] = True
    if (a != b).any():  # changes are not concentrated on tile borders
        assert (a != b)[border].mean() <= 2 * max((a != b)[~border].mean(), 0.005)


def test_stack_band_order_does_not_matter(tmp_path):
    bands, _ = toy_scene(size=64)
    s1 = write_stack(tmp_path / "a.tif", bands)
    s2 = write_stack(tmp_path / "b.tif", {k: bands[k] for k in reversed(list(bands))})
    model, meta = Pointwise(), _meta()
    predict_with_model(s1, model, meta, tmp_path / "a_c.tif", tile_px=32, overlap_px=8)
    predict_with_model(s2, model, meta, tmp_path / "b_c.tif", tile_px=32, overlap_px=8)
    np.testing.assert_array_equal(_read(tmp_path / "a_c.tif"), _read(tmp_path / "b_c.tif"))


def test_missing_channel_is_checkpoint_error_and_no_output(tmp_path):
    bands, _ = toy_scene(size=64)
    stack = write_stack(tmp_path / "s.tif", {k: bands[k] for k in ("blue", "green", "red", "nir", "slope")})
    with pytest.raises(CheckpointError, match="lst"):
        predict_stack(stack, None, tmp_path / "c.tif", tmp_path / "p.tif", tile_px=32, overlap_px=8)
    assert not list(tmp_path.glob("c.tif*")) and not list(tmp_path.glob("p.tif*"))


@pytest.mark.parametrize(("tile", "overlap"), [(30, 4), (32, 32), (32, -1)])
def test_bad_tiling_is_input_error(tmp_path, tile, overlap):
    bands, _ = toy_scene(size=64)
    stack = write_stack(tmp_path / "s.tif", bands)
    with pytest.raises(InputError):
        predict_with_model(stack, Pointwise(), _meta(), tmp_path / "c.tif", tile_px=tile, overlap_px=overlap)


def test_checkpoint_file_round_trip_through_predict_stack(tmp_path):
    from glacierinv.segment.model import UNetCBAM

    torch.manual_seed(0)
    meta = _meta()
    meta.spec = UNetSpec(in_channels=6, base_width=4, depth=2)
    save_checkpoint(tmp_path / "m.pt", UNetCBAM(meta.spec), meta)
    bands, _ = toy_scene(size=64)
    stack = write_stack(tmp_path / "s.tif", bands)
    out = predict_stack(stack, tmp_path / "m.pt", tmp_path / "c.tif", tile_px=32, overlap_px=8, device="cpu")
    assert out["tiles"] == 9 and out["pixels_nodata"] == 64 * 3
    assert load_checkpoint(tmp_path / "m.pt")[1].channels == CH


# --- the pure core (arrays in, arrays out) ----------------------------------------------------------------
def test_predict_array_matches_a_single_tile_softmax():
    """One tile covering the array, a pointwise model: the blended proba is that tile's softmax."""
    from glacierinv.segment.infer import predict_array

    bands, _ = toy_scene(size=32, seed=2)
    stack = np.stack([bands[c] for c in CH]).astype("float32")
    model, meta = Pointwise(), _meta()
    pred = predict_array(stack, model, meta, tile_px=32, overlap_px=8, precision="fp32")
    x = (stack - np.array(meta.norm_mean, "float32")[:, None, None]) / np.array(meta.norm_std, "float32")[
        :, None, None
    ]
    valid = np.isfinite(x).all(axis=0)
    x[~np.isfinite(x)] = 0.0
    with torch.no_grad():
        expect = torch.softmax(model(torch.from_numpy(x)[None]), 1)[0].numpy()
    np.testing.assert_allclose(pred.proba[:, valid], expect[:, valid], atol=1e-6)
    assert (pred.classes[~valid] == 255).all() and (~valid).any()
    np.testing.assert_array_equal(pred.classes[valid], expect.argmax(0)[valid])
    assert np.isnan(pred.uncertainty[~valid]).all() and (pred.uncertainty[valid] >= 0).all()
    assert pred.summary["tiles"] == 1 and pred.summary["pixels_nodata"] == int((~valid).sum())


def test_predict_array_equals_the_file_level_prediction(tmp_path):
    """The pure core and the windowed file driver run the same tiles: identical classes and probabilities."""
    from glacierinv.segment.infer import predict_array

    bands, _ = toy_scene(size=150, seed=1)
    stack_path = write_stack(tmp_path / "s.tif", bands)
    model, meta = Pointwise(), _meta()
    kw = {"tile_px": 48, "overlap_px": 16, "block_px": 64, "batch_size": 3, "precision": "fp32"}
    summary = predict_with_model(stack_path, model, meta, tmp_path / "c.tif", tmp_path / "p.tif", **kw)
    pred = predict_array(np.stack([bands[c] for c in CH]), model, meta, **kw)
    np.testing.assert_array_equal(pred.classes, _read(tmp_path / "c.tif")[0])
    scaled = np.round(np.clip(pred.proba, 0.0, 1.0) * 255.0).astype("uint8")
    scaled[:, pred.classes == 255] = 0
    np.testing.assert_array_equal(scaled, _read(tmp_path / "p.tif"))
    assert pred.summary == summary


def test_predict_array_refuses_a_stack_of_the_wrong_shape():
    from glacierinv.segment.infer import predict_array

    with pytest.raises(InputError, match="6 channels"):
        predict_array(np.zeros((4, 32, 32), "float32"), Pointwise(), _meta())
    with pytest.raises(InputError, match="6 channels"):
        predict_array(np.zeros((32, 32), "float32"), Pointwise(), _meta())
    with pytest.raises(TypeError, match="tile"):
        predict_array(np.zeros((6, 32, 32), "float32"), Pointwise(), _meta(), tile=32)  # TileOptions names


def _reference_blend(stack: np.ndarray, model, meta, tile_px: int, overlap_px: int):
    """The blending as first written (issue 4): every tile alone through the model in fp32, its softmax
    times the Hann weights added (in tile row-major order) to float32 scene accumulators, divided, argmax.
    No strips, batches, threads or in-place tricks: the plain definition the optimised path must equal."""
    from glacierinv.segment.infer import blend_weights, normalise_channels

    x = stack.astype("float32", copy=True)
    valid = normalise_channels(
        x,
        np.asarray(meta.norm_mean, "float32")[:, None, None],
        (1.0 / np.asarray(meta.norm_std, "float32"))[:, None, None],
    )
    _, h, w = x.shape
    acc = np.zeros((len(meta.class_names), h, w), "float32")
    wsum = np.zeros((h, w), "float32")
    weights = blend_weights(tile_px)
    stride = tile_px - overlap_px
    for r in tile_origins(h, tile_px, stride):
        for c in tile_origins(w, tile_px, stride):
            tile = np.zeros((1, x.shape[0], tile_px, tile_px), "float32")
            part = x[:, r : r + tile_px, c : c + tile_px]
            th, tw = part.shape[1:]
            tile[0, :, :th, :tw] = part
            with torch.no_grad():
                p = torch.softmax(model(torch.from_numpy(tile)).float(), 1)[0].numpy()
            acc[:, r : r + th, c : c + tw] += p[:, :th, :tw] * weights[:th, :tw]
            wsum[r : r + th, c : c + tw] += weights[:th, :tw]
    proba = acc / wsum
    classes = np.argmax(proba, axis=0).astype("uint8")
    classes[~valid] = 255
    scaled = np.round(np.clip(proba, 0.0, 1.0) * 255.0).astype("uint8")
    scaled[:, ~valid] = 0
    k = proba.shape[0]
    p = np.clip(proba, 1e-12, 1.0)
    entropy = (-(p * np.log(p)).sum(axis=0) / math.log(k)).astype("float32")
    entropy[~valid] = np.nan
    return classes, scaled, entropy


def test_optimised_pipeline_equals_the_reference_blend_in_fp32(tmp_path):
    """Issue 26: batching, strips, numpy blending, the fast argmax and in-place scaling change no byte in fp32:
    classes, proba and uncertainty of the file driver equal the plain tile loop (the shipped U-Net: spatial
    context; scene edges, nodata, tiles straddling strip borders)."""
    model, meta = load_checkpoint(None)
    bands, _ = toy_scene(size=150, seed=1)
    stack = write_stack(tmp_path / "s.tif", bands)
    kw = {"tile_px": 48, "overlap_px": 16, "precision": "fp32", "batch_size": 1}
    predict_with_model(
        stack, model, meta, tmp_path / "c.tif", tmp_path / "p.tif", uncertainty_path=tmp_path / "u.tif",
        block_px=64, **kw,
    )  # fmt: skip
    classes, scaled, entropy = _reference_blend(np.stack([bands[c] for c in CH]), model, meta, 48, 16)
    assert (classes == 255).any() and len(np.unique(classes)) > 2  # nodata and several classes exercised
    np.testing.assert_array_equal(_read(tmp_path / "c.tif")[0], classes)
    np.testing.assert_array_equal(_read(tmp_path / "p.tif"), scaled)
    np.testing.assert_array_equal(_read(tmp_path / "u.tif")[0], entropy)  # NaN == NaN for assert_array_equal


def test_tiles_default_to_the_size_the_checkpoint_was_trained_on(tmp_path):
    """CBAM pools over the whole tile: without tile_px the checkpoint's training tile (and a quarter of it
    as overlap) is used; an explicit tile_px / overlap_px still wins."""
    from glacierinv.segment.checkpoint import SHIPPED_MODEL, checkpoint_tile_px
    from glacierinv.segment.infer import resolve_tiling
    from glacierinv.segment.model import UNetCBAM

    assert resolve_tiling(None, None, 128) == (128, 32)
    assert resolve_tiling(256, None, 128) == (256, 64)
    assert resolve_tiling(None, 0, 128) == (128, 0)
    torch.manual_seed(0)
    meta = _meta()
    meta.spec = UNetSpec(in_channels=6, base_width=4, depth=2)
    meta.tile_px = 48
    save_checkpoint(tmp_path / "m.pt", UNetCBAM(meta.spec), meta)
    assert checkpoint_tile_px(tmp_path / "m.pt") == 48
    assert checkpoint_tile_px(None) == load_checkpoint(SHIPPED_MODEL)[1].tile_px == 128
    stack = write_stack(tmp_path / "s.tif", toy_scene(size=96)[0])
    out = predict_stack(stack, tmp_path / "m.pt", tmp_path / "c.tif", device="cpu")
    assert (out["tile_px"], out["overlap_px"], out["tiles"]) == (48, 12, 9)  # origins 0, 36, 48 per axis
    out = predict_stack(stack, tmp_path / "m.pt", tmp_path / "d.tif", tile_px=32, device="cpu")
    assert (out["tile_px"], out["overlap_px"]) == (32, 8)
