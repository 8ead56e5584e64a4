"""Terrain histograms, hypsometry, slope and aspect on the planar DEM (exact answers)."""

from __future__ import annotations

import numpy as np
import pytest

from glacierinv.analysis.inventory import load_inventory
from glacierinv.analysis.sampling import sample_terrain
from glacierinv.analysis.topography import aspect_distribution, hypsometry, slope_distribution
from tests.analysis._planar import SLOPE_DEG


@pytest.fixture(scope="module")
def hist(planar):
    inv = load_inventory(planar[0])
    return inv, sample_terrain(inv.glaciers, planar[1], debris=inv.debris, z_step_m=10.0)


def test_areas_add_up_to_the_inventory(hist):
    inv, h = hist
    z0, g, d = h.z_dense()
    assert g.sum() == pytest.approx(inv.area_km2.sum(), rel=1e-9)  # every cell has DEM
    assert d.sum() == pytest.approx(inv.area_km2[0] / 2, rel=1e-9)  # debris = lower half of A
    assert (h.table["dem_cov"] == 1.0).all()


def test_hypsometry_of_the_plane(hist):
    inv, h = hist
    t = hypsometry(h, band_m=100.0).tables[""].set_index("band_min_m")
    a, b = inv.area_km2
    # A spans 3100-3300 m evenly, B 3400-3500 m
    assert t.loc[3100.0, "glacier_km2"] == pytest.approx(a / 2, rel=1e-9)
    assert t.loc[3200.0, "glacier_km2"] == pytest.approx(a / 2, rel=1e-9)
    assert t.loc[3300.0, "glacier_km2"] == pytest.approx(0.0, abs=1e-12)
    assert t.loc[3400.0, "glacier_km2"] == pytest.approx(b, rel=1e-9)
    assert t.loc[3100.0, "debris_km2"] == pytest.approx(a / 2, rel=1e-9)
    assert t["debris_km2"].sum() == pytest.approx(a / 2, rel=1e-9)
    t200 = h.hypsometry(200.0).set_index("band_min_m")  # bands aligned on multiples of 200 m
    assert t200.loc[3000.0, "glacier_km2"] == pytest.approx(a / 2, rel=1e-9)


def test_area_below_interpolates(hist):
    inv, h = hist
    g, d = h.area_below([3100.0, 3150.0, 3300.0, 9000.0])
    a, b = inv.area_km2
    assert g == pytest.approx([0.0, a / 4, a, a + b], rel=1e-9, abs=1e-12)
    assert d[-1] == pytest.approx(a / 2)


def test_slope_of_the_plane(hist):
    _, h = hist
    res = slope_distribution(h, bin_deg=5)
    t = res.tables[""]
    k = int(SLOPE_DEG // 5)
    assert t["glacier_pct"].iloc[k] == pytest.approx(100.0)  # 11.31° → the 10-15° bin
    below = res.tables["below"].set_index("below_deg")
    assert below.loc[10, "glacier_pct"] == 0.0 and below.loc[15, "glacier_pct"] == pytest.approx(100.0)


def test_aspect_from_the_dem_and_from_columns(hist):
    inv, h = hist
    assert np.allclose(h.table["aspect_deg"], 180.0)  # plane falls towards south
    t = aspect_distribution(inv, h).tables[""].set_index("sector")
    assert t.loc["S", "n"] == 2 and t.loc["S", "area_pct"] == pytest.approx(100.0)
    inv.glaciers["aspect_deg"] = [10.0, 350.0]  # both north (sector 1 is [-22.5, 22.5))
    t = aspect_distribution(inv).tables[""].set_index("sector")
    assert t.loc["N", "n"] == 2


def test_bad_band_is_refused(hist):
    _, h = hist
    with pytest.raises(ValueError, match="multiple"):
        h.hypsometry(15.0)
