"""Tests of glacierinv.assess.metrics: hand-computed matrices, invariants, rasters window by window."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from shapely.geometry import box

from glacierinv.assess.metrics import accuracy_from_rasters, confusion_matrix, scores
from glacierinv.errors import InputError
from glacierinv.io.grid import Grid
from glacierinv.io.raster import write_raster
from glacierinv.taskmap import using
from tests.shuffled_cluster import ShuffledCluster

# ------------------------------------------------------------------ confusion matrix and scores


def test_confusion_matrix_hand_computed():
    ref = np.array([[0, 0, 1, 1], [1, 2, 2, 255]])
    pred = np.array([[0, 1, 1, 1], [2, 2, 0, 0]])
    cm = confusion_matrix(pred, ref)
    # rows = reference, columns = prediction; the nodata reference pixel is excluded
    expected = np.array([[1, 1, 0], [0, 2, 1], [1, 0, 1]])
    np.testing.assert_array_equal(cm, expected)


def test_confusion_matrix_nan_and_nodata_in_pred():
    ref = np.array([0.0, 1.0, 2.0, 1.0])
    pred = np.array([0.0, np.nan, 2.0, 255.0])
    np.testing.assert_array_equal(confusion_matrix(pred, ref), np.diag([1, 0, 1]))


def test_confusion_matrix_rejects_bad_values_and_shapes():
    with pytest.raises(ValueError, match="outside 0..2"):
        confusion_matrix(np.array([0, 5]), np.array([0, 1]))
    with pytest.raises(ValueError, match="shape"):
        confusion_matrix(np.zeros(3), np.zeros(4))


def test_scores_hand_computed():
    cm = np.array([[50, 5, 5], [10, 20, 0], [0, 5, 5]])  # 100 px
    s = scores(cm)
    assert s["n_pixels"] == 100
    assert s["oa"] == pytest.approx(0.75)
    bg, ice, deb = (s["per_class"][k] for k in ("background", "clean_ice", "debris"))
    # background: TP 50, FP 10, FN 10
    assert bg["precision"] == pytest.approx(50 / 60)
    assert bg["recall"] == pytest.approx(50 / 60)
    assert bg["f1"] == pytest.approx(50 / 60)
    assert bg["iou"] == pytest.approx(50 / 70)
    # clean ice: TP 20, FP 10, FN 10
    assert ice["f1"] == pytest.approx(40 / 60)
    assert ice["iou"] == pytest.approx(20 / 40)
    # debris: TP 5, FP 5, FN 5 -> seed Eq. 5 = 2PR/(P+R) with P = R = 0.5
    assert deb["precision"] == pytest.approx(0.5)
    assert deb["f1"] == pytest.approx(0.5)
    assert deb["iou"] == pytest.approx(5 / 15)
    assert s["miou"] == pytest.approx((50 / 70 + 0.5 + 1 / 3) / 3)
    # glacier = ice + debris merged: TP 30, FP 10, FN 10
    assert s["glacier"]["f1"] == pytest.approx(60 / 80)
    assert s["glacier"]["iou"] == pytest.approx(30 / 50)
    ex = scores(cm, miou_exclude=["background"])
    assert ex["miou"] == pytest.approx((0.5 + 1 / 3) / 2)
    assert ex["miou_classes"] == ["clean_ice", "debris"]
    json.dumps(s, allow_nan=False)


def test_scores_absent_class_is_none_and_left_out_of_miou():
    cm = np.array([[10, 0, 0], [0, 5, 0], [0, 0, 0]])
    s = scores(cm)
    assert s["per_class"]["debris"]["f1"] is None
    assert s["per_class"]["debris"]["iou"] is None
    assert s["miou"] == pytest.approx(1.0)
    assert s["miou_classes"] == ["background", "clean_ice"]
    json.dumps(s, allow_nan=False)


class_arrays = st.integers(1, 60).flatmap(
    lambda n: st.tuples(
        arrays(np.uint8, n, elements=st.integers(0, 2)), arrays(np.uint8, n, elements=st.integers(0, 2))
    )
)


@settings(max_examples=60, deadline=None)
@given(class_arrays)
def test_scores_are_bounded(pair):
    pred, ref = pair
    s = scores(confusion_matrix(pred, ref))
    assert 0.0 <= s["oa"] <= 1.0
    assert 0.0 <= s["miou"] <= 1.0
    for c in s["per_class"].values():
        for k in ("precision", "recall", "f1", "iou"):
            assert c[k] is None or 0.0 <= c[k] <= 1.0
        if c["iou"] is not None:
            assert c["iou"] <= c["f1"] + 1e-12  # IoU = F1 / (2 - F1) <= F1


@settings(max_examples=40, deadline=None)
@given(arrays(np.uint8, st.integers(1, 80), elements=st.integers(0, 2)))
def test_perfect_prediction_scores_one(ref):
    s = scores(confusion_matrix(ref, ref))
    assert s["oa"] == 1.0
    assert s["miou"] == 1.0
    for c in s["per_class"].values():
        assert c["f1"] in (None, 1.0)


@settings(max_examples=40, deadline=None)
@given(class_arrays, st.permutations([0, 1, 2]))
def test_invariant_to_pixel_order_and_class_relabelling(pair, perm):
    pred, ref = pair
    s = scores(confusion_matrix(pred, ref))
    order = np.random.default_rng(len(pred)).permutation(len(pred))
    assert scores(confusion_matrix(pred[order], ref[order]))["confusion_matrix"] == s["confusion_matrix"]
    lut = np.array(perm, dtype=np.uint8)
    s2 = scores(confusion_matrix(lut[pred], lut[ref]))
    assert s2["oa"] == pytest.approx(s["oa"])
    assert s2["miou"] == pytest.approx(s["miou"])
    names = ["background", "clean_ice", "debris"]
    for k in range(3):
        a, b = s["per_class"][names[k]]["f1"], s2["per_class"][names[perm[k]]]["f1"]
        assert (a is None and b is None) or a == pytest.approx(b)


# ------------------------------------------------------------------ rasters

GRID = Grid.from_bounds(32643, (500_000, 4_000_000, 500_000 + 2 * 300, 4_000_000 + 2 * 200), 2.0)


def _classes(seed: int = 0, noise: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    ref = np.zeros(GRID.shape, dtype=np.uint8)
    ref[40:160, 50:250] = 1
    ref[110:160, 150:250] = 2
    pred = ref.copy()
    flip = rng.random(GRID.shape) < noise
    pred[flip] = rng.integers(0, 3, flip.sum())
    ref[:5] = 255
    return pred, ref


def test_accuracy_from_rasters_matches_in_memory_and_is_windowing_invariant(tmp_path):
    pred, ref = _classes()
    write_raster(tmp_path / "pred.tif", pred, GRID, nodata=255)
    write_raster(tmp_path / "ref.tif", ref, GRID, nodata=255)
    expected = confusion_matrix(pred, ref)
    small = accuracy_from_rasters(
        tmp_path / "pred.tif", tmp_path / "ref.tif", block_px=64, boot_block_px=32, n_boot=50
    )
    big = accuracy_from_rasters(
        tmp_path / "pred.tif", tmp_path / "ref.tif", block_px=4096, boot_block_px=32, n_boot=50
    )
    assert small["overall"]["confusion_matrix"] == expected.tolist()
    assert big["overall"]["confusion_matrix"] == expected.tolist()
    assert small["overall"]["ci"] == big["overall"]["ci"]  # same blocks, same seed → same replicates
    o = small["overall"]
    assert o["area_km2"] == pytest.approx(expected.sum() * 4 / 1e6)
    assert o["n_blocks"] == int(np.ceil(195 / 32) * np.ceil(300 / 32)) - 0  # rows 5.. are valid
    lo, hi = o["ci"]["oa"]
    assert lo <= o["oa"] <= hi
    assert hi - lo < 0.05  # 60 000 px with 7 % independent errors: the interval is narrow
    json.dumps(small, allow_nan=False)


def test_windows_as_tasks_give_the_assessment_of_one_process(tmp_path):
    """The windows counted as tasks (batches out of order, items and results pickled) and summed here: the
    same confusion matrices, block counts and bootstrap intervals, per region too, as in one process."""
    pred, ref = _classes()
    write_raster(tmp_path / "pred.tif", pred, GRID, nodata=255)
    write_raster(tmp_path / "ref.tif", ref, GRID, nodata=255)
    x0, y_top = GRID.bounds[0], GRID.bounds[3]
    regions = gpd.GeoDataFrame(
        {"name": ["west", "east"]},
        geometry=[box(x0, y_top - 400, x0 + 300, y_top), box(x0 + 300, y_top - 400, x0 + 600, y_top)],
        crs=32643,
    )
    kwargs = {"regions": regions, "block_px": 64, "boot_block_px": 32, "n_boot": 50}
    one = accuracy_from_rasters(tmp_path / "pred.tif", tmp_path / "ref.tif", **kwargs)
    cluster = ShuffledCluster(slots=2, batches_per_slot=3)
    with using(cluster):
        tasks = accuracy_from_rasters(tmp_path / "pred.tif", tmp_path / "ref.tif", **kwargs)
    # 4 x 5 windows of 64 px in 2 x 3 = 6 batches
    assert sorted(cluster.keys) == [f"assess_blocks-{b:05d}" for b in range(6)]
    assert json.dumps(tasks) == json.dumps(one)
    assert set(one["regions"]) == {"west", "east"}


def test_accuracy_reference_on_another_grid_nearest(tmp_path):
    pred, _ = _classes()
    # reference at 4 m: each reference pixel covers 2x2 prediction pixels
    coarse = Grid.from_bounds(32643, GRID.bounds, 4.0)
    ref4 = np.zeros(coarse.shape, dtype=np.uint8)
    ref4[20:80, 25:125] = 1
    write_raster(tmp_path / "pred.tif", pred, GRID, nodata=255)
    write_raster(tmp_path / "ref4.tif", ref4, coarse, nodata=255)
    res = accuracy_from_rasters(tmp_path / "pred.tif", tmp_path / "ref4.tif", n_boot=0)
    ref_fine = np.repeat(np.repeat(ref4, 2, axis=0), 2, axis=1)
    assert res["overall"]["confusion_matrix"] == confusion_matrix(pred, ref_fine).tolist()
    assert res["ref_kind"].startswith("raster (resampled")
    assert res["overall"]["ci"] is None


def test_accuracy_reference_polygons_and_regions(tmp_path):
    pred, ref = _classes(noise=0.0)
    ref[:5] = 0  # polygons have no nodata
    write_raster(tmp_path / "pred.tif", pred, GRID, nodata=255)
    x0, y_top = GRID.bounds[0], GRID.bounds[3]

    def px_box(r0, r1, c0, c1):
        return box(x0 + 2 * c0, y_top - 2 * r1, x0 + 2 * c1, y_top - 2 * r0)

    glaciers = gpd.GeoDataFrame({"glac_id": ["g1"]}, geometry=[px_box(40, 160, 50, 250)], crs=32643)
    debris = gpd.GeoDataFrame({"glac_id": ["g1"]}, geometry=[px_box(110, 160, 150, 250)], crs=32643)
    # reference polygons stored in geographic coordinates: reprojected onto the prediction grid
    glaciers.to_crs(4326).to_file(tmp_path / "ref.gpkg", layer="glaciers")
    debris.to_crs(4326).to_file(tmp_path / "ref.gpkg", layer="debris")
    regions = gpd.GeoDataFrame(
        {"name": ["west", "east"]}, geometry=[px_box(0, 200, 0, 150), px_box(0, 200, 150, 300)], crs=32643
    )
    res = accuracy_from_rasters(tmp_path / "pred.tif", tmp_path / "ref.gpkg", regions=regions, n_boot=20)
    assert res["ref_kind"] == "polygons"
    # pixel-centre rasterisation of reprojected squares: only edge pixels can differ
    assert res["overall"]["oa"] > 0.995
    assert set(res["regions"]) == {"west", "east"}
    w, e = res["regions"]["west"], res["regions"]["east"]
    assert w["n_pixels"] + e["n_pixels"] == res["overall"]["n_pixels"] == pred.size
    assert w["per_class"]["debris"]["n_ref"] == 0  # all debris is in the east half
    assert e["per_class"]["debris"]["n_ref"] == pytest.approx(50 * 100, rel=0.05)


def test_accuracy_bad_inputs(tmp_path):
    pred, ref = _classes()
    write_raster(tmp_path / "pred.tif", pred, GRID, nodata=255)
    bad = ref.copy()
    bad[100, 100] = 7
    write_raster(tmp_path / "bad.tif", bad, GRID, nodata=255)
    with pytest.raises(InputError, match="outside 0..2"):
        accuracy_from_rasters(tmp_path / "pred.tif", tmp_path / "bad.tif", n_boot=0)
    (tmp_path / "junk.dat").write_text("neither raster nor vector")
    with pytest.raises(InputError, match="neither a readable raster nor a vector"):
        accuracy_from_rasters(tmp_path / "pred.tif", tmp_path / "junk.dat")
    with pytest.raises(InputError, match="not found"):
        accuracy_from_rasters(tmp_path / "pred.tif", tmp_path / "missing.tif")
    far = Grid.from_bounds(32643, (0, 0, 600, 400), 2.0)
    write_raster(tmp_path / "far.tif", ref, far, nodata=255)
    with pytest.raises(InputError, match="overlap"):
        accuracy_from_rasters(tmp_path / "pred.tif", tmp_path / "far.tif")
    regions = gpd.GeoDataFrame({"zone": ["a"]}, geometry=[box(*GRID.bounds)], crs=32643)
    write_raster(tmp_path / "ref.tif", ref, GRID, nodata=255)
    with pytest.raises(InputError, match="no column 'name'"):
        accuracy_from_rasters(tmp_path / "pred.tif", tmp_path / "ref.tif", regions=regions)


def test_synthetic_truth_polygons_rasterise_to_truth_classes(tiny_scene):
    """The synthetic truth polygons (glaciers + debris layers) are the truth raster, per region too."""
    truth = tiny_scene / "truth" / "classes.tif"
    from glacierinv.io.raster import raster_grid

    grid = raster_grid(truth)
    left, bottom, right, top = grid.bounds
    third = (right - left) / 3
    regions = gpd.GeoDataFrame(
        {"name": ["west", "central", "east"]},
        geometry=[box(left + k * third, bottom, left + (k + 1) * third, top) for k in range(3)],
        crs=grid.crs,
    )
    res = accuracy_from_rasters(truth, tiny_scene / "truth" / "glaciers.gpkg", regions=regions, n_boot=10)
    assert res["overall"]["oa"] == 1.0
    assert res["overall"]["miou"] == 1.0
    assert sum(r["n_pixels"] for r in res["regions"].values()) == res["overall"]["n_pixels"]
    assert all(r["oa"] == 1.0 for r in res["regions"].values())
