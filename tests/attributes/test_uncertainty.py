"""Tests of the buffer-method uncertainty: analytic squares, shared divides, CRS independence, debris."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import box

from glacierinv.attributes.uncertainty import buffer_uncertainty
from glacierinv.errors import InputError

X0, Y0 = 500_000.0, 4_000_000.0  # UTM 43N, on the central meridian (scale factor k0 = 0.9996)
# areas are on the ellipsoid: a UTM square of side L at the central meridian covers L²/k0² on the ground
K2 = 0.9996**2


def _sq(x, y, side):
    return box(X0 + x, Y0 + y, X0 + x + side, Y0 + y + side)


def _analytic_km2(perimeter_m, d, n_convex_corners=4):
    # (A(+d) - A(-d)) / 2 for a convex rectilinear polygon with round outer joins: P*d + corner terms;
    # square: A(+d) = L² + 4Ld + pi d², A(-d) = (L - 2d)², so each corner adds (pi/4 - 1) d² / 2
    return (perimeter_m * d + n_convex_corners * (np.pi / 4 - 1) * d * d / 2) / 1e6 / K2


def test_square_matches_perimeter_times_buffer():
    side, d = 1000.0, 4.0
    g = gpd.GeoDataFrame({"glac_id": ["a"], "area_km2": [1.0]}, geometry=[_sq(0, 0, side)], crs=32643)
    out, tot = buffer_uncertainty(g, pixel_size_m=2.0, buffer_px=2.0)
    # relative tolerance 1e-3: round buffers are polygonised with 8 segments per quarter circle
    assert out["area_unc_km2"].iloc[0] == pytest.approx(_analytic_km2(4 * side, d), rel=1e-3)
    assert tot["glacier_unc_km2"] == pytest.approx(_analytic_km2(4 * side, d), rel=1e-3)
    assert tot["glacier_unc_pct"] == pytest.approx(100 * 4 * side * d / side**2, rel=2e-3)
    assert list(out.columns[:3]) == ["glac_id", "area_km2", "area_unc_km2"]
    assert np.isnan(out["debris_unc_km2"].iloc[0])
    assert tot["debris_unc_km2"] is None


@settings(max_examples=15, deadline=None)
@given(
    st.floats(200, 3000),
    st.floats(200, 3000),
    st.floats(0.05, 0.95),
    st.floats(1.0, 30.0),
)
def test_adjacent_units_sum_to_their_union(w, h, split, pixel_m):
    """Interior divides are not margins: two units sharing an edge give the union's uncertainty."""
    left = box(X0, Y0, X0 + split * w, Y0 + h)
    right = box(X0 + split * w, Y0, X0 + w, Y0 + h)
    units = gpd.GeoDataFrame({"glac_id": ["l", "r"]}, geometry=[left, right], crs=32643)
    union = gpd.GeoDataFrame({"glac_id": ["u"]}, geometry=[box(X0, Y0, X0 + w, Y0 + h)], crs=32643)
    out, tot = buffer_uncertainty(units, pixel_size_m=pixel_m, buffer_px=2.0)
    _, tot_u = buffer_uncertainty(union, pixel_size_m=pixel_m, buffer_px=2.0)
    assert tot["glacier_unc_km2"] == pytest.approx(tot_u["glacier_unc_km2"], rel=1e-9)
    assert out["area_unc_km2"].sum() == pytest.approx(tot_u["glacier_unc_km2"], rel=1e-9)
    assert tot["n_complexes"] == 1
    # each unit gets about its own outer margin (left: 2 * split * w + h), up to corner terms ~d² that
    # matter only when a unit is not much wider than the buffer
    d = 2 * pixel_m
    if min(split, 1 - split) * w > 10 * d:
        assert out["area_unc_km2"].iloc[0] == pytest.approx((2 * split * w + h) * d / 1e6 / K2, rel=0.02)


def test_separate_glaciers_add_up_and_crs_does_not_matter():
    g = gpd.GeoDataFrame({"glac_id": ["a", "b"]}, geometry=[_sq(0, 0, 500), _sq(2000, 0, 800)], crs=32643)
    out, tot = buffer_uncertainty(g, pixel_size_m=2.0)
    out_geo, tot_geo = buffer_uncertainty(g.to_crs(4326), pixel_size_m=2.0)
    assert tot["n_complexes"] == 2
    assert out["area_unc_km2"].tolist() == pytest.approx(
        [_analytic_km2(2000, 4), _analytic_km2(3200, 4)], rel=2e-3
    )
    # geographic input is buffered in its UTM zone: same figures within the vertex-densification error
    assert tot_geo["glacier_unc_km2"] == pytest.approx(tot["glacier_unc_km2"], rel=2e-3)
    assert tot_geo["glacier_area_km2"] == pytest.approx(tot["glacier_area_km2"], rel=1e-6)


def test_debris_uncertainty_allocated_to_its_glacier():
    g = gpd.GeoDataFrame(
        {"glac_id": ["a", "b"], "debris_km2": [0.04, 0.0]},
        geometry=[_sq(0, 0, 1000), _sq(3000, 0, 1000)],
        crs=32643,
    )
    debris = gpd.GeoDataFrame(geometry=[_sq(0, 0, 200)], crs=32643)  # in a corner of glacier a
    out, tot = buffer_uncertainty(g, debris, pixel_size_m=2.0)
    assert out["debris_unc_km2"].iloc[0] == pytest.approx(_analytic_km2(800, 4), rel=1e-3)
    assert out["debris_unc_km2"].iloc[1] == 0.0
    assert tot["debris_unc_km2"] == pytest.approx(_analytic_km2(800, 4), rel=1e-3)
    assert tot["debris_unc_pct"] == pytest.approx(100 * _analytic_km2(800, 4) * K2 / 0.04, rel=1e-3)
    assert list(out.columns).index("debris_unc_km2") == list(out.columns).index("debris_km2") + 1


def test_empty_and_bad_inputs():
    empty = gpd.GeoDataFrame({"glac_id": []}, geometry=[], crs=32643)
    out, tot = buffer_uncertainty(empty, empty, pixel_size_m=2.0)
    assert len(out) == 0 and tot["glacier_unc_km2"] == 0.0 and tot["glacier_unc_pct"] is None
    g = gpd.GeoDataFrame({"glac_id": ["a"]}, geometry=[_sq(0, 0, 100)], crs=32643)
    with pytest.raises(InputError, match="pixel size"):
        buffer_uncertainty(g, pixel_size_m=0)
    with pytest.raises(InputError, match="no CRS"):
        buffer_uncertainty(gpd.GeoDataFrame(geometry=[_sq(0, 0, 100)]), pixel_size_m=2)


def test_complexes_as_tasks_give_the_uncertainty_of_one_process():
    """Each complex's bands in a task (batches out of order, pickled): the same numbers, exactly."""
    from glacierinv.taskmap import using
    from tests.shuffled_cluster import ShuffledCluster

    geoms = [_sq(x, y, 300.0) for x in (0, 300, 900, 1500) for y in (0, 300, 1000)]  # touching units
    g = gpd.GeoDataFrame({"glac_id": [str(i) for i in range(len(geoms))]}, geometry=geoms, crs=32643)
    debris = gpd.GeoDataFrame(geometry=[_sq(10, 10, 100.0), _sq(920, 20, 50.0)], crs=32643)
    one = buffer_uncertainty(g, debris, pixel_size_m=2.0, buffer_px=2.0)
    cluster = ShuffledCluster(slots=2)
    with using(cluster):
        tasks = buffer_uncertainty(g, debris, pixel_size_m=2.0, buffer_px=2.0)
    assert "buffer_uncertainty-00001" in cluster.keys  # several batches of complexes ran
    np.testing.assert_array_equal(one[0]["area_unc_km2"], tasks[0]["area_unc_km2"])
    np.testing.assert_array_equal(one[0]["debris_unc_km2"], tasks[0]["debris_unc_km2"])
    assert one[1] == tasks[1]
