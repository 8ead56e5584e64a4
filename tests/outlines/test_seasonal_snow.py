"""Seasonal snow vs glacier ice in the review flags: connection, flow, prior inventory, other dates."""

from __future__ import annotations

import numpy as np
import pytest

from glacierinv.outlines.review import REASONS, ReviewParams, drains_onto, flag_for_review
from tests.outlines._scene import box_px, gdf, write

N = 300
PARAMS = ReviewParams(large_glacier_km2=0.05)
A = box_px(20, 20, 150, 150).difference(box_px(60, 60, 90, 90))  # glacier with a 30×30 px hole
P = box_px(200, 200, 215, 215)  # a small clean patch, 50 px south-east of A


def _classes(patch=1):
    c = np.zeros((N, N), "uint8")
    c[20:150, 20:150] = 1
    c[60:90, 60:90] = 0
    c[200:215, 200:215] = patch
    return c


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    d = tmp_path_factory.mktemp("snow")
    rows = np.arange(N, dtype="float32")[:, None] * np.ones((1, N), "float32")
    south = 5000.0 - 2.0 * rows  # falls southwards 1 m per metre: P (≈ 4590 m) lies 120 m below A's lower end
    cols = rows.T
    cone = 4000.0 + 2.0 * np.hypot(rows - 140, cols - 140)  # falls towards A's south-east corner from P
    paths = {
        "classes_path": write(d / "classes.tif", _classes(), nodata=255),
        "dem_path": write(d / "dem.tif", south.astype("float32")),
    }
    extra = {
        "cone": write(d / "cone.tif", cone.astype("float32")),
        "gone": write(d / "date2_gone.tif", _classes(patch=0), nodata=255),
        "kept": write(d / "date2_kept.tif", _classes(patch=1), nodata=255),
        "cloudy": write(d / "date2_cloud.tif", _classes(patch=255), nodata=255),
    }
    glaciers = gdf([{"outline_id": "A", "geometry": A}, {"outline_id": "P", "geometry": P}])
    return glaciers, paths, extra


def _snow(flags):
    return flags[flags.reason == "seasonal_snow"]


def test_drains_onto_follows_steepest_descent():
    z = np.array([[9, 8, 7], [8, 5, 6], [7, 6, 1]], "float32")
    target = np.zeros((3, 3), bool)
    target[2, 2] = True
    assert drains_onto(z, (0, 0), target, 1.0, 10.0)  # 9 → 5 → 1
    assert not drains_onto(z, (0, 0), target, 1.0, 1.0)  # too far
    target2 = np.zeros((3, 3), bool)
    target2[0, 2] = True  # upslope of the path: never reached
    assert not drains_onto(z, (0, 0), target2, 1.0, 10.0)
    pit = np.full((3, 3), 5.0, "float32")
    pit[1, 1] = 1.0
    assert not drains_onto(pit, (1, 1), target, 1.0, 10.0)  # a pit stops the path


def test_low_isolated_patch_draining_off_glacier_is_flagged(scene):
    glaciers, paths, _ = scene
    snow = _snow(flag_for_review(glaciers, None, **paths, params=PARAMS))
    assert list(snow.outline_id) == ["P"]
    assert "drains off-glacier" in snow.iloc[0].evidence
    assert snow.iloc[0].score == pytest.approx(snow.iloc[0].area_km2 * REASONS["seasonal_snow"])


def test_patch_draining_onto_a_glacier_is_connected(scene):
    """Outside the prior inventory, but its downslope path reaches A about 140 m away: it feeds A, not snow."""
    glaciers, paths, extra = scene
    prior = gdf([{"rgi_id": "RGI-1", "geometry": A}])
    flags = flag_for_review(
        glaciers, None, **{**paths, "dem_path": extra["cone"]}, params=PARAMS, prior=prior
    )
    assert _snow(flags).empty
    # with a flow reach shorter than that path it is not connected
    short = ReviewParams(large_glacier_km2=0.05, snow_flow_reach_m=40.0)
    flags = flag_for_review(glaciers, None, **{**paths, "dem_path": extra["cone"]}, params=short, prior=prior)
    assert list(_snow(flags).outline_id) == ["P"]


def test_outside_prior_inventory_gets_high_priority(scene):
    glaciers, paths, _ = scene
    prior = gdf([{"rgi_id": "RGI-1", "geometry": box_px(18, 18, 152, 152)}])  # A only
    flags = flag_for_review(glaciers, None, **paths, params=PARAMS, prior=prior)
    snow = _snow(flags)
    assert list(snow.outline_id) == ["P"]
    assert "outside the prior inventory" in snow.iloc[0].evidence
    assert snow.iloc[0].score == pytest.approx(snow.iloc[0].area_km2 * PARAMS.snow_strong_weight)
    # 0.0009 km² × 5 outranks A's 0.0036 km² internal hole (weight 1)
    assert flags.iloc[0].reason == "seasonal_snow" and flags.iloc[0].priority == 1
    # the prior inventory is evidence only: no flag or outline comes from its polygons
    assert set(flags.outline_id) == {"A", "P"}


def test_outside_prior_needs_no_dem(scene):
    glaciers, paths, _ = scene
    prior = gdf([{"rgi_id": "RGI-1", "geometry": A}])
    no_dem = {k: v for k, v in paths.items() if k != "dem_path"}
    snow = _snow(flag_for_review(glaciers, None, **no_dem, params=PARAMS, prior=prior))
    assert list(snow.outline_id) == ["P"]
    assert "drains" not in snow.iloc[0].evidence  # no DEM: no flow evidence claimed


def test_inside_prior_inventory_is_not_snow(scene):
    glaciers, paths, _ = scene
    prior = gdf(
        [{"rgi_id": "RGI-1", "geometry": A}, {"rgi_id": "RGI-2", "geometry": box_px(198, 198, 217, 217)}]
    )
    assert _snow(flag_for_review(glaciers, None, **paths, params=PARAMS, prior=prior)).empty


def test_prior_in_another_crs(scene):
    glaciers, paths, _ = scene
    prior = gdf([{"rgi_id": "RGI-1", "geometry": A}]).to_crs(4326)
    assert list(_snow(flag_for_review(glaciers, None, **paths, params=PARAMS, prior=prior)).outline_id) == [
        "P"
    ]


def test_other_dates_ice_persists_snow_does_not(scene):
    glaciers, paths, extra = scene
    high = ReviewParams(large_glacier_km2=0.05, snow_below_m=1000.0)  # the elevation rule alone: no flag
    assert _snow(flag_for_review(glaciers, None, **paths, params=high)).empty
    gone = _snow(flag_for_review(glaciers, None, **paths, params=high, other_dates=[extra["gone"]]))
    assert list(gone.outline_id) == ["P"] and "ice on other date(s): 0 %" in gone.iloc[0].evidence
    assert gone.iloc[0].score == pytest.approx(gone.iloc[0].area_km2 * high.snow_strong_weight)
    # ice on the other date too: persistent, so the low elevation alone does not flag it
    kept = flag_for_review(glaciers, None, **paths, params=PARAMS, other_dates=[extra["kept"]])
    assert _snow(kept).empty
    # the other date cannot see the patch (nodata): no evidence either way, the elevation rule applies
    cloudy = flag_for_review(glaciers, None, **paths, params=PARAMS, other_dates=[extra["cloudy"]])
    assert list(_snow(cloudy).outline_id) == ["P"]
    # A is ice on every date and connected to itself: never flagged
    assert "A" not in set(_snow(flag_for_review(glaciers, None, **paths, params=PARAMS,
                                               other_dates=[extra["gone"]])).outline_id)  # fmt: skip


def test_debris_patch_is_not_snow(scene, tmp_path):
    glaciers, paths, _ = scene
    c = _classes(patch=2)
    p = write(tmp_path / "classes_debris.tif", c, nodata=255)
    prior = gdf([{"rgi_id": "RGI-1", "geometry": A}])
    assert _snow(
        flag_for_review(glaciers, None, **{**paths, "classes_path": p}, params=PARAMS, prior=prior)
    ).empty


def test_prior_outlines_and_other_dates_in_the_pipeline(baseline_run, tiny_scene, tmp_path):
    """[inputs] prior_outlines / other_dates feed the review flags; the outlines themselves do not change."""
    import shutil

    import geopandas as gpd

    from glacierinv.config import load_config
    from glacierinv.errors import InputError
    from glacierinv.pipeline import run_pipeline

    run = tmp_path / "run"
    shutil.copytree(baseline_run.run_dir, run)
    before = gpd.read_file(run / "outlines.gpkg", layer="glaciers")
    cfg = load_config(tiny_scene / "config.toml")
    cfg = cfg.model_copy(update={"segment": cfg.segment.model_copy(update={"method": "baseline"})})
    import shapely

    x0, y0 = before.total_bounds[:2]
    far = shapely.box(x0 - 1000, y0 - 1000, x0 - 900, y0 - 900)  # one polygon far from every glacier
    prior = gpd.GeoDataFrame({"rgi_id": ["far"]}, geometry=[far], crs=before.crs)
    prior.to_file(tmp_path / "prior.gpkg")
    inputs = cfg.inputs.model_copy(update={"prior_outlines": tmp_path / "prior.gpkg"})
    run_pipeline(cfg.model_copy(update={"inputs": inputs}), run, stages=("outlines",), force=True)
    after = gpd.read_file(run / "outlines.gpkg", layer="glaciers")
    assert len(after) == len(before)
    assert after.area.sum() == pytest.approx(before.area.sum())  # the prior inventory is never copied in
    review = gpd.read_file(run / "outlines.gpkg", layer="review")
    snow = review[review.reason == "seasonal_snow"]
    assert len(snow) and snow.evidence.str.contains("outside the prior inventory").all()
    bad = cfg.inputs.model_copy(update={"other_dates": [tmp_path / "missing.tif"]})
    with pytest.raises(InputError, match="other_dates"):
        run_pipeline(cfg.model_copy(update={"inputs": bad}), run, stages=("outlines",), force=True)
