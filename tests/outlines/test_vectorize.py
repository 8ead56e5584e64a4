"""Vectorisation: seamless across block borders, minimum area, hole filling, debris clipped to glaciers."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from glacierinv.outlines.vectorize import vectorize_classes
from glacierinv.taskmap import using
from tests.outlines._scene import write
from tests.shuffled_cluster import ShuffledCluster

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


def test_windows_as_tasks_give_the_outlines_of_one_process(classes_path):
    """The windows vectorised in batches on a cluster, out of order: the same polygons, exactly, as in
    process (the glacier crossing 64-px window borders is merged the same way)."""
    g1, d1 = vectorize_classes(classes_path, block_px=64)
    cluster = ShuffledCluster(slots=3)
    with using(cluster):
        g2, d2 = vectorize_classes(classes_path, block_px=64)
    assert len(cluster.keys) > 1 and cluster.keys[0] == "window_polygons-00000"  # several batches ran
    for a, b in ((g1, g2), (d1, d2)):
        assert a.drop(columns="geometry").equals(b.drop(columns="geometry"))
        assert [g.wkb for g in a.geometry] == [g.wkb for g in b.geometry]


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


# --- the pure core (array in, GeoDataFrames out) -----------------------------------------------------
def test_vectorize_array_equals_the_raster_path(classes_path):
    """The array core and the one-window file path give the same outlines (ids, areas, geometry)."""
    import rasterio

    from glacierinv.outlines.vectorize import vectorize_array

    with rasterio.open(classes_path) as ds:
        classes, transform, crs = ds.read(1), ds.transform, ds.crs
    g_arr, d_arr = vectorize_array(classes, transform, crs)
    g_file, d_file = vectorize_classes(classes_path, block_px=4096)
    assert list(g_arr["outline_id"]) == list(g_file["outline_id"]) and len(g_arr) == 2
    assert all(a.equals_exact(b, 0) for a, b in zip(g_arr.geometry, g_file.geometry, strict=True))
    assert list(d_arr["outline_id"]) == list(d_file["outline_id"])
    np.testing.assert_array_equal(d_arr["area_km2"], d_file["area_km2"])


def test_vectorize_array_tiny_scene_by_hand():
    """A 100×100 px (2 m) glacier with a debris half: areas from the pixel counts, debris inside it."""
    from affine import Affine

    from glacierinv.outlines.vectorize import vectorize_array

    classes = np.zeros((120, 120), "uint8")
    classes[10:110, 10:110] = 1
    classes[60:110, 10:110] = 2
    transform = Affine(2.0, 0, 500000.0, 0, -2.0, 4000000.0)  # UTM 43N, near the central meridian
    glaciers, debris = vectorize_array(classes, transform, "EPSG:32643", simplify_px=0)
    assert list(glaciers["outline_id"]) == ["G00001"] and list(debris["outline_id"]) == ["G00001"]
    # 100×100 px of 4 m² = 0.04 km² on the map; the ellipsoidal area is (1/k0)² larger (k0 = 0.9996)
    assert glaciers["area_km2"].iloc[0] == pytest.approx(0.04 / 0.9996**2, rel=1e-4)
    assert debris["area_km2"].iloc[0] == pytest.approx(0.02 / 0.9996**2, rel=1e-4)
    assert glaciers.geometry.iloc[0].contains(debris.geometry.iloc[0].buffer(-0.5))
    empty_g, empty_d = vectorize_array(np.zeros((8, 8), "uint8"), transform, "EPSG:32643")
    assert len(empty_g) == 0 and len(empty_d) == 0 and list(empty_g.columns) == list(glaciers.columns)
