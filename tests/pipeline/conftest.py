"""Fixtures for end-to-end runs on the small synthetic scene (each run once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from glacierinv.config import load_config
from glacierinv.pipeline import run_pipeline


def _run(scene: Path, out: Path, **runtime):
    cfg = load_config(scene / "config.toml")
    if runtime:
        cfg = cfg.model_copy(update={"runtime": cfg.runtime.model_copy(update=runtime)})
    return run_pipeline(cfg, out)


@pytest.fixture(scope="session")
def baseline_run(tiny_scene, tmp_path_factory):
    """The whole pipeline (baseline classifier) on the tiny synthetic scene, in-process, untiled."""
    out = tmp_path_factory.mktemp("run") / "run"
    return _run(tiny_scene, out)


@pytest.fixture(scope="session")
def tiled_run(tiny_scene, tmp_path_factory):
    """The same scene split into overlapping 160-px tiles processed as separate parts, then mosaicked."""
    out = tmp_path_factory.mktemp("run_tiled") / "run"
    return _run(tiny_scene, out, tile_px=160, tile_overlap_px=48)
