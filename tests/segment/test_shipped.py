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
    assert models["default"][1] == ["blue", "green", "red", "nir", "lst", "slope"]
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
