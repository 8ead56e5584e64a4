"""Mainline profiles on the planar glacier: linear elevation, constant slope, uniform area concentration."""

from __future__ import annotations

import numpy as np
import pytest

from glacierinv.analysis.inventory import load_inventory
from glacierinv.analysis.profiles import mainline_profiles
from tests.analysis._planar import GRAD, SLOPE_DEG, Y0


def test_profile_along_the_fall_line(planar):
    inv = load_inventory(planar[0])
    sel = np.array([True, False])
    res = mainline_profiles(inv.glaciers, planar[1], centerlines=inv.centerlines, select=sel, n_bins=10)
    p = res.tables["per_glacier"]
    assert len(p) == 10 and (p["glac_id"] == "A").all()
    # the stored line runs uphill; the profile starts at the head (y0+1495) and ends at y0+505
    y = Y0 + 1495 - p["s_mid"].to_numpy() * 990
    assert p["z_m"].to_numpy() == pytest.approx(3000 + GRAD * (y - Y0), abs=1e-3)
    assert p["slope_deg"].to_numpy() == pytest.approx(SLOPE_DEG, abs=1e-3)
    # cells project evenly along the line (cells beyond its ends fall in the first / last bin)
    assert p["area_pct"].sum() == pytest.approx(100.0)
    assert p["area_pct"].iloc[1:-1].to_numpy() == pytest.approx(10.0, abs=0.6)
    s = res.tables[""]
    assert set(s["variable"]) == {"z_m", "slope_deg", "area_pct"} and (s["n_glaciers"] == 1).all()
    assert "1 from the centerlines layer" in res.notes[0]


def test_profile_from_the_dem_flow_path(planar):
    inv = load_inventory(planar[0])
    res = mainline_profiles(inv.glaciers, planar[1], centerlines=None, n_bins=10)
    p = res.tables["per_glacier"]
    assert set(p["glac_id"]) == {"A", "B"}
    for _, g in p.groupby("glac_id"):
        assert np.all(np.diff(g["z_m"].to_numpy()) < 0)  # descends from head to terminus
    assert "2 from DEM flow paths" in res.notes[0]


def test_locate_on_line_equals_geos_line_locate_point():
    """The branch-and-bound projection gives GEOS's answer, ties (first segment wins) included."""
    import shapely
    from shapely.geometry import LineString

    from glacierinv.analysis.profiles import locate_on_line

    rng = np.random.default_rng(0)
    t = np.linspace(0, 10, 300)
    wiggly = LineString(np.c_[t * 300 + rng.normal(0, 3, t.size), 200 * np.sin(t)])
    folded = LineString([(0, 0), (1000, 0), (1000, 100), (0, 100), (0, 100), (0, 200), (2000, 200)])
    # vertices on the 10 m point grid, many short segments (several runs of the search) and far points:
    # exact ties between non-adjacent segments
    walk = LineString(np.round(np.cumsum(rng.normal(0, 20, (400, 2)), axis=0) / 10) * 10 + [1500, 0])
    for line in (wiggly, folded, walk):
        xs, ys = np.meshgrid(np.arange(-50, 3050, 10.0), np.arange(-250, 260, 10.0))
        xs, ys = xs.ravel(), ys.ravel()
        expected = shapely.line_locate_point(line, shapely.points(xs, ys), normalized=True)
        np.testing.assert_allclose(locate_on_line(line, xs, ys), expected, rtol=0, atol=1e-12)
    assert locate_on_line(folded, np.zeros(0), np.zeros(0)).size == 0
