"""Shared fixtures: real data from ../shared/data (skipped when absent), tiny grids."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("GLACIERINV_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of ../shared/data; skips the test when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_scene(tmp_path_factory) -> Path:
    """A small synthetic scene (generated once per session) for end-to-end and stage tests."""
    from glacierinv.synthetic import generate_scene

    out = tmp_path_factory.mktemp("scene")
    generate_scene(out, seed=3, size_px=400)
    return out


def _run(scene: Path, out: Path, method: str = "baseline", **runtime):
    from glacierinv.config import load_config
    from glacierinv.pipeline import run_pipeline

    cfg = load_config(scene / "config.toml")
    cfg = cfg.model_copy(update={"segment": cfg.segment.model_copy(update={"method": method})})
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


@pytest.fixture(scope="session")
def unet_run(tiny_scene, tmp_path_factory):
    """The whole pipeline with the default method (U-Net+CBAM, shipped model) on the tiny scene."""
    out = tmp_path_factory.mktemp("run_unet") / "run"
    return _run(tiny_scene, out, method="unet")
