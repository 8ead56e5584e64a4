"""Per-glacier area range from the class probabilities: pixels with P(glacier) >= 0.75 inside, >= 0.25 near."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
from affine import Affine
from shapely.geometry import box

from glacierinv.attributes.proba_range import probability_area_range
from glacierinv.io.grid import Grid
from glacierinv.io.raster import write_raster
from glacierinv.taskmap import using
from tests.shuffled_cluster import ShuffledCluster

PX = 2.0  # m
ORIGIN = (500000.0, 4000000.0)


def _proba(tmp_path, p_glacier: np.ndarray):
    """uint8 proba.tif (background, clean_ice, debris) with P(glacier) split over ice and debris."""
    bg = 1 - p_glacier
    arr = np.stack([bg, p_glacier * 0.6, p_glacier * 0.4])
    grid = Grid("EPSG:32643", Affine(PX, 0, ORIGIN[0], 0, -PX, ORIGIN[1]), p_glacier.shape)
    data = np.round(arr * 255).astype("uint8")
    return write_raster(
        tmp_path / "proba.tif", data, grid, descriptions=["background", "clean_ice", "debris"]
    )


def _box(c0, r0, c1, r1):
    x0, y0 = ORIGIN
    return box(x0 + c0 * PX, y0 - r1 * PX, x0 + c1 * PX, y0 - r0 * PX)


def test_area_range_counts_core_inside_and_uncertain_margin_nearby(tmp_path):
    p = np.zeros((60, 80))
    p[10:30, 10:30] = 0.9  # glacier A: confident 20 × 20 core
    p[10:30, 30:33] = 0.5  # an uncertain 3-px margin just outside A (east)
    p[10:30, 8:10] = 0.3  # a weaker margin (west), also within 5 px
    p[40:50, 50:70] = 0.5  # glacier B: all uncertain
    p[10:30, 40:43] = 0.5  # uncertain pixels 10 px from A: beyond the 5-px ring, not A's
    proba = _proba(tmp_path, p)
    gl = gpd.GeoDataFrame(geometry=[_box(10, 10, 30, 30), _box(50, 40, 70, 50)], crs="EPSG:32643")
    a25, a75 = probability_area_range(gl, proba)
    km2 = PX * PX / 1e6
    assert a75[0] == pytest.approx(400 * km2)
    assert a25[0] == pytest.approx((400 + 60 + 40) * km2)
    assert a75[1] == 0.0 and a25[1] == pytest.approx(200 * km2)
    assert (a75 <= a25).all()


def test_ring_pixels_go_to_the_nearest_glacier_only(tmp_path):
    p = np.zeros((40, 60))
    p[10:20, 10:20] = 0.9
    p[10:20, 24:34] = 0.9
    p[10:20, 20:24] = 0.5  # a 4-px gap between two glaciers: 2 px each
    proba = _proba(tmp_path, p)
    gl = gpd.GeoDataFrame(geometry=[_box(10, 10, 20, 20), _box(24, 10, 34, 20)], crs="EPSG:32643")
    a25, _ = probability_area_range(gl, proba)
    km2 = PX * PX / 1e6
    assert a25.sum() == pytest.approx((100 + 100 + 40) * km2)  # the gap is counted once in total
    assert a25[0] == pytest.approx(a25[1])


def test_outside_the_raster_is_nan_and_empty_input(tmp_path):
    proba = _proba(tmp_path, np.full((20, 20), 0.9))
    far = gpd.GeoDataFrame(geometry=[_box(100, 100, 110, 110)], crs="EPSG:32643")
    a25, a75 = probability_area_range(far, proba)
    assert np.isnan(a25[0]) and np.isnan(a75[0])
    assert probability_area_range(far.iloc[:0], proba)[0].size == 0


def test_as_tasks_gives_the_ranges_of_one_process(tmp_path):
    """Each glacier (and its neighbours) in a task, batches out of order: the same areas, exactly."""
    rng = np.random.default_rng(7)
    p = rng.uniform(0, 1, (80, 120))
    boxes = [_box(c, r, c + 9, r + 11) for c in range(2, 110, 12) for r in (3, 20, 40, 60)]  # 2-3 px gaps
    gl = gpd.GeoDataFrame(geometry=boxes, crs="EPSG:32643")
    proba = _proba(tmp_path, p)
    one = probability_area_range(gl, proba)
    cluster = ShuffledCluster(slots=2)
    with using(cluster):
        tasks = probability_area_range(gl, proba)
    assert len(cluster.keys) == 12
    np.testing.assert_array_equal(one[0], tasks[0])
    np.testing.assert_array_equal(one[1], tasks[1])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_blocks_give_the_whole_window_ranges_where_glaciers_tie(tmp_path, seed):
    """Ring pixels equally near to two glaciers (odd gaps, corners, touching boxes): the nearest glacier in a
    block of ``block_px`` (with its ``ring_px + 1`` margin) is the one of the whole window's transform."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(0, 1, (90, 130))
    boxes = []
    for _ in range(40):
        r, c = rng.integers(0, 80), rng.integers(0, 120)
        boxes.append(_box(c, r, c + rng.integers(1, 14), r + rng.integers(1, 14)))
    gl = gpd.GeoDataFrame(geometry=boxes, crs="EPSG:32643")
    proba = _proba(tmp_path, p)
    whole = probability_area_range(gl, proba, ring_px=3, block_px=1000)
    for block in (4, 7, 16):
        part = probability_area_range(gl, proba, ring_px=3, block_px=block)
        assert whole[0].tolist() == part[0].tolist() and whole[1].tolist() == part[1].tolist()
