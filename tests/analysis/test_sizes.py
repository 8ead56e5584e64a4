"""Size classes, debris on the largest glaciers, equal-area grid distribution."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import Point

from glacierinv.analysis.sizes import (
    SIZE_CLASSES_KM2,
    debris_by_glacier_size,
    equal_area_crs,
    grid_distribution,
    size_classes,
)


def test_class_edges_belong_to_the_upper_class():
    t = size_classes(np.array([0.1, 0.5, 0.0999, 100.0, 250.0]))
    n = dict(zip(t["class_km2"], t["n"], strict=True))
    assert n["<0.1"] == 1 and n["0.1-0.5"] == 1 and n["0.5-1"] == 1 and n[">100"] == 2


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0.001, 500.0), min_size=1, max_size=50))
def test_shares_sum_to_100_and_counts_match(areas):
    a = np.array(areas)
    t = size_classes(a)
    assert t["n"].sum() == len(a)
    assert t["n_pct"].sum() == pytest.approx(100.0)
    assert t["area_km2"].sum() == pytest.approx(a.sum())
    direct = np.histogram(a, bins=np.array(SIZE_CLASSES_KM2[:-1] + (1e9,)))[0]
    assert t["n"].tolist() == direct.tolist()


def test_debris_on_the_largest_glaciers():
    t = debris_by_glacier_size(np.array([150.0, 120.0, 2.0, 0.05]), np.array([30.0, 10.0, 10.0, 0.0]))
    big = t.set_index("class_km2").loc[">100"]
    assert big["n_glaciers"] == 2 and big["debris_km2"] == 40.0
    assert big["debris_pct_of_total"] == pytest.approx(80.0)
    assert big["debris_pct_of_class"] == pytest.approx(100 * 40 / 270)


def test_grid_cells_hold_the_objects_they_contain():
    pts = gpd.GeoSeries([Point(10.0, 46.0), Point(10.001, 46.001), Point(10.5, 46.0)], crs=4326)
    crs = equal_area_crs(gpd.GeoDataFrame(geometry=pts))
    xy = pts.to_crs(crs)
    origin = (float(xy.x.iloc[0]) - 2500.0, float(xy.y.iloc[0]) - 2500.0)  # first point mid-cell
    t = grid_distribution(pts, np.array([1.0, 2.0, 4.0]), crs, 5.0, origin)
    assert t["n"].sum() == 3 and t["area_km2"].sum() == 7.0
    assert sorted(t["n"].tolist()) == [1, 2]  # the two close points share a 5 km cell
    assert crs.is_projected and "Lambert Azimuthal Equal Area" in crs.to_wkt()
