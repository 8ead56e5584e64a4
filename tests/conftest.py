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
