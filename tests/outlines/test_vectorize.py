"""Vectorisation: seamless across block borders, minimum area, hole filling, debris clipped to glaciers."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from glacierinv.outlines.vectorize import vectorize_classes
from tests.outlines._scene import write

N = 300


@pytest.fixture(scope="module")
def classes_path(tmp_path_factory):
    d = tmp_path_factory.mktemp("vec")
    rr, cc = np.mgrid[0:N, 0:N]
    classes = np.zeros((N, N), "uint8")
    blob = (rr - 140) ** 2 / 110**2 + (cc - 150) ** 2 / 80**2 < 1  # crosses many 64-px block borders
    classes[blob] = 1
    classes[blob & (rr > 200)] = 2  # debris tongue
    classes[100:110, 140:150] = 0  # 10×10 px hole = 400 m² < 0.001 km²: filled
    classes[60:90, 120:150] = 0  # 30×30 px hole = 3600 m² ≥ 0.001 km²: kept
    classes[5:15, 5:15] = 1  # 400 m² patch < 0.005 km²: dropped
    classes[250:290, 250:290] = 1  # 6400 m² patch ≥ 0.005 km²: kept
    classes[0:3, 297:300] = 255
    return write(d / "classes.tif", classes, nodata=255)


def test_identical_for_block_sizes_64_and_4096(classes_path):
    g64, d64 = vectorize_classes(classes_path, block_px=64)
    g4k, d4k = vectorize_classes(classes_path, block_px=4096)
    assert list(g64["outline_id"]) == list(g4k["outline_id"])
    for a, b in zip(g64.geometry, g4k.geometry, strict=True):
        assert shapely.symmetric_difference(a, b).area < 1e-6
    np.testing.assert_allclose(g64["area_km2"], g4k["area_km2"], rtol=1e-9)
    np.testing.assert_allclose(d64["area_km2"].sum(), d4k["area_km2"].sum(), rtol=1e-9)


def test_min_area_and_hole_filling(classes_path):
    glaciers, debris = vectorize_classes(classes_path, block_px=64, simplify_px=0)
    assert len(glaciers) == 2  # the big blob and the 6400 m² patch; the 400 m² patch is gone
    assert glaciers["area_km2"].min() == pytest.approx(0.0064, rel=0.01)
    big = glaciers.geometry[glaciers["area_km2"].idxmax()]
    assert len(big.interiors) == 1  # small hole filled, large one kept
    assert shapely.Polygon(big.interiors[0]).area == pytest.approx(3600.0)
    assert all(d.within(big.buffer(1e-6)) for d in debris.geometry)
    assert set(debris["outline_id"]) == {glaciers["outline_id"][glaciers["area_km2"].idxmax()]}


def test_higher_min_area_drops_more(classes_path):
    glaciers, _ = vectorize_classes(classes_path, min_area_km2=0.01)
    assert len(glaciers) == 1
