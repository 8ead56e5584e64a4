"""Tests of the multi-digitisation round robin: areas, spread, boundary distances, matching."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import box

from glacierinv.assess.mmd import boundary_distances_m, round_robin
from glacierinv.errors import InputError

X0, Y0 = 600_000.0, 5_200_000.0


def _sq(cx, cy, side):
    h = side / 2
    return box(X0 + cx - h, Y0 + cy - h, X0 + cx + h, Y0 + cy + h)


def _inv(ids, geoms):
    return gpd.GeoDataFrame({"glac_id": ids}, geometry=geoms, crs=32632)


def test_boundary_distances_concentric_squares():
    mean_d, haus = boundary_distances_m(_sq(0, 0, 1000), _sq(0, 0, 1020), step_m=1.0)
    # every boundary point is 10 m from the other boundary, except near the outer corners (up to 10√2)
    assert haus == pytest.approx(10 * np.sqrt(2), rel=1e-9)
    assert 10.0 <= mean_d < 10.1
    assert boundary_distances_m(_sq(0, 0, 500), _sq(0, 0, 500)) == (0.0, 0.0)


def test_round_robin_by_overlap_and_by_id():
    auto = _inv(["a", "b", "c"], [_sq(0, 0, 1000), _sq(3000, 0, 500), _sq(6000, 0, 300)])
    # analysts: glacier a at 980, 1000, 1020 m; b at 500 and 520 m; c digitised by D1 only (skipped)
    d1 = _inv(["a", "b", "c"], [_sq(0, 0, 980), _sq(3000, 0, 500), _sq(6000, 0, 300)])
    d2 = _inv(["a", "b"], [_sq(0, 0, 1000), _sq(3000, 0, 520)])
    d3 = _inv(["a"], [_sq(0, 0, 1020)])
    per, pairs, summary = round_robin(auto, [d1, d2, d3], step_m=5.0)
    per = per.set_index("id")
    assert list(per.index) == ["a", "b"]
    k = 1 / 0.9996**2 / 1e6  # UTM (central-meridian scale) m² → geodesic km²
    areas_a = np.array([980**2, 1000**2, 1020**2]) * k
    assert per.loc["a", "ref_area_km2"] == pytest.approx(areas_a.mean(), rel=2e-3)
    assert per.loc["a", "rel_diff_pct"] == pytest.approx(
        100 * (1000**2 - np.mean([980**2, 1000**2, 1020**2])) / np.mean([980**2, 1000**2, 1020**2]), abs=0.01
    )
    assert per.loc["a", "cv_pct"] == pytest.approx(100 * areas_a.std(ddof=1) / areas_a.mean(), rel=1e-3)
    assert per.loc["b", "n_analysts"] == 2 and np.isnan(per.loc["b", "D3_area_km2"])
    # pairs: a has auto + 3 analysts → 6 pairs; b has auto + 2 → 3
    assert len(pairs) == 9
    pa = pairs[(pairs["id"] == "a") & (pairs["a"] == "D1") & (pairs["b"] == "D3")].iloc[0]
    assert pa["hausdorff_m"] == pytest.approx(20 * np.sqrt(2), rel=1e-6)
    assert summary["n_glaciers"] == 2
    assert summary["overall_unc_pct"] == pytest.approx(per["rel_diff_pct"].abs().mean())
    per_id, _, s_id = round_robin(auto, [d1, d2, d3], id_column="glac_id", step_m=5.0)
    assert s_id["overall_unc_pct"] == pytest.approx(summary["overall_unc_pct"], rel=1e-9)
    assert s_id["matched_by"] == "glac_id"


def test_round_robin_bad_inputs():
    auto = _inv(["a"], [_sq(0, 0, 1000)])
    d1 = _inv(["a"], [_sq(0, 0, 990)])
    with pytest.raises(InputError, match="at least 2 digitisations"):
        round_robin(auto, [d1])
    far = _inv(["a"], [_sq(90_000, 0, 990)])
    with pytest.raises(InputError, match="no glacier was digitised"):
        round_robin(auto, [far, far])
    with pytest.raises(InputError, match="no column 'rgi'"):
        round_robin(auto, [d1, d1], id_column="rgi")
