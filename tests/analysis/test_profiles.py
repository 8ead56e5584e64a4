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
