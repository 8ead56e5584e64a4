"""The shipped models: loadable safely, channels as declared, held-out figures recorded for easy and hard scenes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from glacierinv.segment.checkpoint import SHIPPED_MODEL, load_checkpoint
from glacierinv.segment.shipped import MODELS, _glacier_precision, shipped_models


def test_registry_names_both_channel_sets():
    models = shipped_models()
    assert models["default"][0] == SHIPPED_MODEL
    assert models["default"][1] == models["hard"][1] == ["blue", "green", "red", "nir", "lst", "slope"]
    for path, channels in models.values():
        assert load_checkpoint(path)[1].channels == channels
    assert "swir1" in models["swir"][1] and "swir" not in models["swir"][1]  # sensor-registry names


@pytest.mark.parametrize("name", list(MODELS))
def test_shipped_checkpoint_loads_with_its_channels_and_figures(name):
    path, channels = shipped_models()[name]
    model, meta = load_checkpoint(path)
    assert list(meta.channels) == channels
    assert meta.spec.in_channels == len(channels)
    held = json.loads(path.with_name(path.stem + "_heldout.json").read_text())
    assert held["channels"] == channels
    for kind in ("easy", "hard"):
        for method in ("unet", "baseline"):
            s = held["heldout"][kind][method]
            assert 0 <= s["miou"] <= 1 and set(s["per_class"]) == {"background", "clean_ice", "debris"}
    assert set(held["heldout_seeds"]["hard"]).isdisjoint(held["train_seeds"]["hard"])
    assert set(held["heldout_seeds"]["easy"]).isdisjoint(held["train_seeds"]["easy"])


def test_glacier_precision():
    cm = np.array([[90, 5, 5], [2, 50, 0], [0, 3, 20]])  # rows truth, columns prediction
    assert _glacier_precision(cm) == pytest.approx((50 + 0 + 3 + 20) / (5 + 5 + 50 + 0 + 3 + 20))
    assert np.isnan(_glacier_precision(np.zeros((3, 3))))


def test_warm_start_keeps_the_model_and_adds_a_silent_channel(tmp_path):
    """The warm start re-expresses the first layer for new normalisation; a new channel starts at zero weight."""
    import torch

    from glacierinv.io.grid import Grid
    from glacierinv.io.raster import write_raster
    from glacierinv.segment.checkpoint import ModelMeta, save_checkpoint
    from glacierinv.segment.model import UNetCBAM, UNetSpec
    from glacierinv.segment.shipped import _stack_stats, warm_start

    torch.manual_seed(0)
    spec = UNetSpec(in_channels=2, base_width=4, depth=1, cbam=False)
    old = UNetCBAM(spec)
    with torch.no_grad():  # non-trivial batch-norm statistics
        old.encoders[0].block[1].running_mean.uniform_(-1, 1)
    old.eval()
    init = save_checkpoint(
        tmp_path / "init.pt", old, ModelMeta(spec, ["red", "lst"], [0.3, 280.0], [0.1, 5.0])
    )
    rng = np.random.default_rng(1)
    grid = Grid.from_bounds(32643, (0, 0, 32, 32), 1.0)
    x = np.stack(
        [rng.uniform(0.1, 0.6, (32, 32)), rng.uniform(0.0, 0.4, (32, 32)), rng.normal(285, 3, (32, 32))]
    )
    stack = tmp_path / "stack.tif"
    write_raster(stack, x.astype("float32"), grid, descriptions=["red", "swir1", "lst"])
    channels = ["red", "swir1", "lst"]
    settings = {"lr": 1e-3, "lr_patience": 2, "tile_px": 32}
    state = torch.load(warm_start(init, channels, [stack], settings, tmp_path / "run"), weights_only=True)
    assert state["epoch"] == 0 and state["channels"] == channels and state["history"] == []
    new = UNetCBAM(UNetSpec(in_channels=3, base_width=4, depth=1, cbam=False))
    new.load_state_dict(state["model"])
    new.eval()
    mean, std = _stack_stats([stack], channels)
    xn = torch.from_numpy(
        ((x - np.array(mean)[:, None, None]) / np.array(std)[:, None, None]).astype("float32")
    )
    xo = torch.from_numpy(
        ((x[[0, 2]] - np.array([[[0.3]], [[280.0]]])) / np.array([[[0.1]], [[5.0]]])).astype("float32")
    )
    with torch.no_grad():
        a, b = old(xo[None]), new(xn[None])
    inner = (slice(None), slice(None), slice(10, -10), slice(10, -10))  # zero padding differs near the border
    assert torch.allclose(a[inner], b[inner], atol=1e-4)


def test_phase2_needs_phase1_and_says_so(tmp_path, capsys):
    """Phase 2 starts from phase 1's best checkpoint: without it, one line, exit status 2, nothing written."""
    from glacierinv.segment.shipped import main, phase_dir

    assert phase_dir(tmp_path, "swir", 1) == tmp_path / "swir"
    assert phase_dir(tmp_path, "swir", 2) == tmp_path / "swir_phase2"
    with pytest.raises(SystemExit) as exc:
        main([str(tmp_path), "--model", "swir", "--phase", "2"])
    assert "phase 1" in str(exc.value) and str(tmp_path / "swir" / "run" / "best.pt") in str(exc.value)
    assert list(tmp_path.iterdir()) == []


def test_phase2_seeds_are_new_and_disjoint_from_heldout():
    from glacierinv.segment.shipped import HARD_HELDOUT_SEEDS, HARD_TRAIN_SEEDS, HARD_TRAIN_SEEDS_MORE

    assert set(HARD_TRAIN_SEEDS_MORE).isdisjoint(HARD_TRAIN_SEEDS)
    assert set(HARD_TRAIN_SEEDS_MORE).isdisjoint(HARD_HELDOUT_SEEDS)
