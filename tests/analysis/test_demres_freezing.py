"""DEM-resolution effects on a plane (exact window statistics) and freezing-level exposure."""

from __future__ import annotations

import numpy as np
import pytest

from glacierinv.analysis.demres import bootstrap_mean_ci, dem_resolution_effects
from glacierinv.analysis.freezing import freezing_level_exposure, shifted_freezing_level_m
from glacierinv.analysis.inventory import load_inventory
from glacierinv.analysis.sampling import sample_terrain
from tests.analysis._planar import GRAD, SLOPE_DEG


def test_plane_metrics_on_two_resolutions(planar):
    inv = load_inventory(planar[0])
    res = dem_resolution_effects(inv.glaciers, planar[1], planar[2], n_boot=200)
    per = res.tables["per_glacier"]
    m = per.groupby("metric")[["fine", "coarse"]].mean()
    assert m.loc["slope_mean_deg"].to_numpy() == pytest.approx(SLOPE_DEG, abs=1e-3)
    assert m.loc["slope_p90_deg"].to_numpy() == pytest.approx(SLOPE_DEG, abs=1e-3)
    # 90 m window: 9 px at 10 m, 3 px at 30 m; a plane rising along y only
    relief = [GRAD * 8 * 10, GRAD * 2 * 30]
    rough = [GRAD * 10 * np.sqrt((81 - 1) / 12), GRAD * 30 * np.sqrt((9 - 1) / 12)]
    assert m.loc["relief_m"].to_numpy() == pytest.approx(relief, rel=1e-4)
    assert m.loc["roughness_m"].to_numpy() == pytest.approx(rough, rel=1e-3)
    s = res.tables[""].set_index("metric")
    assert s.loc["relief_m", "mean_diff"] == pytest.approx(relief[0] - relief[1], rel=1e-4)
    assert s.loc["relief_m", "ci_low"] == pytest.approx(s.loc["relief_m", "ci_high"], abs=1e-4)  # no spread


def test_bootstrap_ci_covers_the_mean():
    rng = np.random.default_rng(1)
    v = rng.normal(5.0, 1.0, 400)
    mean, lo, hi = bootstrap_mean_ci(v, 2000, seed=3)
    assert lo < 5.0 < hi and hi - lo == pytest.approx(2 * 1.96 / 20, rel=0.2)
    assert np.isnan(bootstrap_mean_ci(np.array([np.nan]))[0])


def test_freezing_level_exposure(planar):
    inv = load_inventory(planar[0])
    h = sample_terrain(inv.glaciers, planar[1], debris=inv.debris)
    assert shifted_freezing_level_m(3000.0, 0.65, 6.5) == pytest.approx(3100.0)
    res = freezing_level_exposure(h, baseline_levels_m=[3050.0], warming_k=[0.0, 0.65, 1.3])
    sc = res.tables["scenarios"]
    # debris spans 3100-3200 m: FL 3050 → 0 %, 3150 → 50 %, 3250 → 100 %
    assert sc["debris_pct_below"].to_numpy() == pytest.approx([0.0, 50.0, 100.0], abs=1e-6)
    cum = res.tables["cumulative"].set_index("elevation_m")
    a, b = inv.area_km2
    assert cum.loc[3300.0, "glacier_km2_below"] == pytest.approx(a)
    assert cum.loc[3500.0, "glacier_km2_below"] == pytest.approx(a + b)
    default = freezing_level_exposure(h).tables["scenarios"]
    assert sorted(set(default["baseline_m"])) == [3100.0, 3200.0]  # debris quartiles 3125/3150/3175 → 100 m
