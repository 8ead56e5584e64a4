"""Fixtures of the preprocess tests: the real Landsat crops (skipped when ../shared/data is absent)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def landsat_dir(shared_data) -> Path:
    d = shared_data / "landsat8-thermal"
    if not d.is_dir():
        pytest.skip("landsat8-thermal is absent")
    return d


@pytest.fixture(scope="session")
def lc08_mtl(landsat_dir) -> Path:
    return next(landsat_dir.glob("LC08*_MTL.txt"))


@pytest.fixture(scope="session")
def le07_mtl(landsat_dir) -> Path:
    return next(landsat_dir.glob("LE07*_MTL.txt"))
