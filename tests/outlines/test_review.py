"""Review flags on a constructed scene: one glacier per defect, plus controls that must not be flagged."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio

from glacierinv.errors import InputError
from glacierinv.outlines.review import REASONS, REVIEW_COLUMNS, ReviewParams, flag_for_review
from glacierinv.taskmap import using
from tests.outlines._scene import box_px, gdf, write
from tests.shuffled_cluster import ShuffledCluster

N = 600


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    d = tmp_path_factory.mktemp("review")
    a = box_px(20, 20, 320, 320).difference(box_px(150, 150, 180, 180))  # big glacier with a hole
    b = box_px(500, 50, 545, 95)  # small, low, isolated clean patch (0.0081 km²)
    c = box_px(400, 300, 570, 470)  # mid-size glacier
    glaciers = gdf(
        [
            {"outline_id": "A", "geometry": a},
            {"outline_id": "B", "geometry": b},
            {"outline_id": "C", "geometry": c},
        ]
    )
    debris = gdf(
        [
            {"debris_id": "D1", "outline_id": "A", "geometry": box_px(280, 40, 310, 80)},
            {"debris_id": "D2", "outline_id": "A", "geometry": box_px(280, 105, 310, 140)},  # 50 m gap
            {"debris_id": "D3", "outline_id": "C", "geometry": box_px(540, 310, 565, 330)},  # alone
        ]
    )
    classes = np.zeros((N, N), "uint8")
    classes[20:320, 20:320] = 1
    classes[150:180, 150:180] = 0
    classes[500:545, 50:95] = 1
    classes[400:570, 300:470] = 1
    classes[280:310, 40:80] = 2
    classes[280:310, 105:140] = 2
    proba = np.zeros((3, N, N), "float32")
    proba[0], proba[1], proba[2] = 0.95, 0.03, 0.02
    ice = classes > 0
    proba[0][ice], proba[1][ice], proba[2][ice] = 0.05, 0.9, 0.05
    proba[:, 100:200, 320:325] = np.array([0.3, 0.6, 0.1])[:, None, None]  # omitted ice east of A
    proba[:, 420:450, 320:350] = np.array([0.3, 0.45, 0.25])[:, None, None]  # low confidence in C
    masks = np.zeros((2, N, N), "uint8")
    masks[0, 30:60, 30:100] = 1  # cloud on A
    stack = np.zeros((6, N, N), "float32")
    stack[1], stack[3] = 0.3, 0.4  # green, nir → NDWI −0.14
    stack[1, 400:570, 470:490], stack[3, 400:570, 470:490] = 0.5, 0.1  # lake touching C
    stack[1, 100:130, 450:500], stack[3, 100:130, 450:500] = 0.5, 0.1  # lake far from every glacier
    rows = np.arange(N, dtype="float32")[:, None] * np.ones((1, N), "float32")
    dem = 6000.0 - 2.0 * rows  # 1 m per metre southwards: A 5360–6000 m, B ≈ 4955 m
    paths = {
        "classes_path": write(d / "classes.tif", classes, nodata=255),
        "proba_path": write(
            d / "proba.tif",
            np.round(proba * 255).astype("uint8"),
            descriptions=["background", "clean_ice", "debris"],
        ),  # fmt: skip
        "masks_path": write(d / "masks.tif", masks, nodata=255, descriptions=["cloud", "shadow"]),
        "stack_path": write(
            d / "stack.tif", stack, descriptions=["blue", "green", "red", "nir", "lst", "slope"]
        ),
        "dem_path": write(d / "dem.tif", dem.astype("float32")),
    }
    return glaciers, debris, paths


PARAMS = ReviewParams(large_glacier_km2=0.3)


def _by(flags):
    return {(r.outline_id, r.reason) for r in flags.itertuples()}


def test_each_reason_on_its_constructed_case(scene):
    glaciers, debris, paths = scene
    flags = flag_for_review(glaciers, debris, **paths, params=PARAMS)
    expected = {
        ("A", "internal_hole"),
        ("A", "boundary_omission"),
        ("A", "cloud_shadow"),
        ("A", "fragmented_debris"),
        ("B", "seasonal_snow"),
        ("B", "small_polygon"),
        ("C", "low_confidence"),
        ("C", "water"),
    }
    assert _by(flags) == expected
    assert set(flags["reason"]) == set(REASONS)
    hole = flags[flags.reason == "internal_hole"].iloc[0]
    assert hole.area_km2 == pytest.approx(60 * 60 * 1e-6, rel=0.02)  # 30×30 px of 2 m, ellipsoidal vs grid
    omission = flags[flags.reason == "boundary_omission"].iloc[0]
    assert omission.area_km2 == pytest.approx(3 * 100 * 4e-6, rel=0.05)  # the 3-px ring only, not 5 px
    water = flags[flags.reason == "water"].iloc[0]
    # the touching lake only, as far as it lies in the glacier's window (ring_px + 2 = 5 px beyond the outline)
    assert water.area_km2 == pytest.approx(5 * 170 * 4e-6, rel=0.05)
    assert "cloud" in flags[flags.reason == "cloud_shadow"].iloc[0].evidence


def test_glaciers_scanned_as_tasks_give_the_flags_of_one_process(scene):
    """Each glacier's window scan as a task (batches out of order, items pickled): the same flags, ranked
    the same, exactly as in process."""
    glaciers, debris, paths = scene
    one = flag_for_review(glaciers, debris, **paths, params=PARAMS)
    cluster = ShuffledCluster(slots=2)
    with using(cluster):
        tasks = flag_for_review(glaciers, debris, **paths, params=PARAMS)
    # three glaciers: one scan task each; A's two debris patches: one fragmented-debris task
    # (each map submits its heaviest batch first; a key keeps its batch's plan index)
    assert sorted(cluster.keys) == ["fragmented_debris-00000", *(f"review_scan-0000{k}" for k in range(3))]
    assert one.drop(columns="geometry").equals(tasks.drop(columns="geometry"))
    assert [g.wkb for g in one.geometry] == [g.wkb for g in tasks.geometry]


def test_ranked_by_area_times_weight(scene):
    glaciers, debris, paths = scene
    flags = flag_for_review(glaciers, debris, **paths, params=PARAMS)
    assert list(flags["priority"]) == list(range(1, len(flags) + 1))
    assert flags["score"].is_monotonic_decreasing
    assert flags.iloc[0]["flag_id"] == "F00001"
    np.testing.assert_allclose(flags["score"], flags["area_km2"] * flags["reason"].map(REASONS))
    assert flags.crs == glaciers.crs


def test_small_blocks_give_the_same_flags(scene):
    glaciers, debris, paths = scene
    big = flag_for_review(glaciers, debris, **paths, params=PARAMS)
    small = flag_for_review(
        glaciers, debris, **paths, params=ReviewParams(large_glacier_km2=0.3, block_px=64)
    )
    assert _by(big) == _by(small)
    np.testing.assert_allclose(
        big.sort_values(["outline_id", "reason"])["area_km2"],
        small.sort_values(["outline_id", "reason"])["area_km2"],
    )


def test_optional_rasters_skip_their_flags(scene):
    glaciers, debris, paths = scene
    flags = flag_for_review(glaciers, debris, classes_path=paths["classes_path"])
    assert set(flags["reason"]) == {"internal_hole", "small_polygon", "fragmented_debris"}


def test_no_glaciers_missing_ids_and_geographic_grid(scene, tmp_path):
    glaciers, debris, paths = scene
    none = flag_for_review(glaciers.iloc[:0].to_crs(4326), debris, **paths)
    assert none.empty and list(none.columns) == [*REVIEW_COLUMNS, "geometry"] and none.crs.to_epsg() == 4326
    with pytest.raises(InputError, match="outline_id"):
        flag_for_review(glaciers.drop(columns="outline_id"), debris, **paths)
    geographic = tmp_path / "classes_4326.tif"
    with rasterio.open(paths["classes_path"]) as ds:
        profile, arr = ds.profile, ds.read()
    with rasterio.open(geographic, "w", **{**profile, "crs": "EPSG:4326"}) as ds:
        ds.write(arr)
    with pytest.raises(InputError, match="metric"):  # checked before anything else, even without glaciers
        flag_for_review(glaciers.iloc[:0], debris, classes_path=geographic)


def test_reprojected_outlines_come_back_in_their_crs(scene):
    glaciers, debris, paths = scene
    flags = flag_for_review(glaciers.to_crs(4326), debris.to_crs(4326), **paths, params=PARAMS)
    assert flags.crs.to_epsg() == 4326
    assert ("B", "seasonal_snow") in _by(flags)


def test_no_snow_flag_when_patch_is_high(scene):
    glaciers, debris, paths = scene
    flags = flag_for_review(
        glaciers, debris, **paths, params=ReviewParams(large_glacier_km2=0.3, snow_below_m=1000)
    )
    assert ("B", "seasonal_snow") not in _by(flags)


def test_dem_nodata_is_not_an_elevation(scene, tmp_path):
    glaciers, debris, paths = scene
    import rasterio

    with rasterio.open(paths["dem_path"]) as ds:
        dem = ds.read(1)
    dem[480:560, 40:110] = -9999.0  # no DEM under B: it cannot be judged as low-lying snow
    p = write(tmp_path / "dem_nd.tif", dem, nodata=-9999.0)
    flags = flag_for_review(glaciers, debris, **{**paths, "dem_path": p}, params=PARAMS)
    assert ("B", "seasonal_snow") not in _by(flags)
    assert ("B", "small_polygon") in _by(flags)


def test_dem_in_feet_gives_the_elevation_evidence_in_metres(scene, tmp_path):
    """A DEM whose band unit is feet is converted to metres before the seasonal-snow elevation rule."""
    import rasterio

    glaciers, debris, paths = scene
    with rasterio.open(paths["dem_path"]) as ds:
        z = ds.read(1)
    feet = write(tmp_path / "dem_ft.tif", (z / 0.3048).astype("float32"))
    with rasterio.open(feet, "r+") as ds:
        ds.units = ("ft",)
    want = flag_for_review(glaciers, debris, **paths, params=PARAMS)
    got = flag_for_review(glaciers, debris, **{**paths, "dem_path": feet}, params=PARAMS)
    snow = want[want["reason"] == "seasonal_snow"]
    assert len(snow) and "median elevation" in snow["evidence"].iloc[0]
    assert got["evidence"].tolist() == want["evidence"].tolist()
