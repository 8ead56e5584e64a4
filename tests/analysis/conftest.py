"""Planar-DEM fixtures (built once per session)."""

from __future__ import annotations

import pytest

from tests.analysis import _planar


@pytest.fixture(scope="session")
def planar(tmp_path_factory):
    """(inventory.gpkg, 10 m DEM, 30 m DEM) of the planar scene of :mod:`tests.analysis._planar`."""
    d = tmp_path_factory.mktemp("planar")
    return (
        _planar.inventory(d / "inventory.gpkg"),
        _planar.plane_dem(d / "dem10.tif", 10.0),
        _planar.plane_dem(d / "dem30.tif", 30.0),
    )
