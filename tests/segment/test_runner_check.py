"""The segment stage's preflight (its ``Stage.check``): the U-Net checkpoint's channels against the stack."""

from __future__ import annotations

import pytest

from glacierinv.config import load_config
from glacierinv.errors import CheckpointError, ConfigError
from glacierinv.pipeline import check_run, get_stage
from glacierinv.segment.runner import check_checkpoint


def _unet(cfg, channels=None, checkpoint=None):
    seg = cfg.segment.model_copy(update={"method": "unet", "checkpoint": checkpoint})
    stack = cfg.stack.model_copy(update={"channels": channels or cfg.stack.channels})
    return cfg.model_copy(update={"segment": seg, "stack": stack})


def test_a_missing_channel_names_the_fix_and_the_shipped_models_that_fit(tiny_scene):
    cfg = _unet(load_config(tiny_scene / "config.toml"), channels=["blue", "green", "red", "nir", "slope"])
    assert get_stage("segment").check is check_checkpoint
    with pytest.raises(ConfigError) as err:
        check_run(cfg)  # the preflight of `run` / `config check` runs the stage's check
    msg = str(err.value)
    assert "unet_cbam_synthetic.pt needs channel(s) lst" in msg and "Fix: add lst to [stack] channels" in msg
    # the synthetic scene provides lst: the shipped models on blue…nir, lst, slope fit it
    assert "unet_cbam_synthetic.pt (blue, green, red, nir, lst, slope)" in msg
    assert "unet_cbam_synthetic_hard.pt (blue, green, red, nir, lst, slope)" in msg


def test_the_shipped_model_with_its_channels_passes_and_a_missing_file_is_named(tiny_scene, tmp_path):
    cfg = _unet(
        load_config(tiny_scene / "config.toml"), channels=["blue", "green", "red", "nir", "lst", "slope"]
    )
    check_checkpoint(cfg)
    with pytest.raises(CheckpointError, match="nope.pt: checkpoint not found"):
        check_checkpoint(_unet(cfg, checkpoint=str(tmp_path / "nope.pt")))
