"""Snowline, AAR and glacier types (known answers on the planar DEM)."""

from __future__ import annotations

import numpy as np
import pytest

from glacierinv.analysis.inventory import load_inventory
from glacierinv.analysis.sampling import sample_terrain
from glacierinv.analysis.types import (
    classify_aar,
    glacier_types,
    read_surge_list,
    snowline_altitude,
    surge_flags,
)
from glacierinv.errors import InputError
from glacierinv.io.grid import Grid
from glacierinv.io.raster import raster_grid, read_raster, write_raster


def test_snowline_separates_snow_from_bare_ice():
    z = np.arange(100.0)
    assert snowline_altitude(z, z >= 60) == pytest.approx(59.5)
    assert snowline_altitude(z, np.ones(100, bool)) == 0.0  # all snow: AAR 1
    assert snowline_altitude(z, np.zeros(100, bool)) == 99.0
    noisy = z >= 60
    noisy[[5, 10, 90]] = ~noisy[[5, 10, 90]]  # avalanche snow low, a bare patch high
    assert snowline_altitude(z, noisy) == pytest.approx(59.5)


def test_classify_aar_thresholds():
    out = classify_aar(np.array([0.1, 0.3, 0.31, 0.6, 0.61, np.nan]))
    assert out.tolist() == ["Turkestan", "Turkestan", "Mustagh", "Mustagh", "Alpine", None]
    assert classify_aar(np.array([0.45]), (0.5, 0.7)).tolist() == ["Turkestan"]
    with pytest.raises(ValueError):
        classify_aar(np.array([0.5]), (0.6, 0.3))


def test_surge_flags_from_list_and_column(tmp_path):
    import pandas as pd

    g = pd.DataFrame({"glac_id": ["a", "b", "c", "d"], "surge_type": [0, 3, 9, 1]})
    assert surge_flags(g).tolist() == [False, True, False, False]
    p = tmp_path / "surge.txt"
    p.write_text("# surging\nd\n\n")
    assert surge_flags(g, read_surge_list(p)).tolist() == [False, True, False, True]
    (tmp_path / "s.csv").write_text("RGIId,x\na,1\n")
    assert read_surge_list(tmp_path / "s.csv") == {"a"}


def test_types_from_ela(planar):
    inv = load_inventory(planar[0])
    h = sample_terrain(inv.glaciers, planar[1], debris=inv.debris)
    res = glacier_types(inv, h, ela_column="ela_m", min_area_km2=0.1)
    t = res.tables[""].set_index("glac_id")
    # A: 3100-3300 m, ELA 3150 → AAR 0.75 (Alpine); B: 3400-3500 m, ELA 3480 → AAR 0.2 (Turkestan)
    assert t.loc["A", "aar"] == pytest.approx(0.75, abs=1e-9) and t.loc["A", "glac_type"] == "Alpine"
    assert t.loc["B", "aar"] == pytest.approx(0.2, abs=1e-9) and t.loc["B", "glac_type"] == "Turkestan"
    s = res.tables["summary"].set_index("group")
    assert s.loc["Alpine", "n"] == 1 and s.loc["Mustagh", "n"] == 0
    hyps = res.tables["hypsometry"]
    assert set(hyps["group"]) == {"Alpine", "Turkestan", "all"}
    only_big = glacier_types(inv, h, ela_column="ela_m", min_area_km2=0.5).tables[""]
    assert only_big["glac_id"].tolist() == ["A"]  # B (0.25 km²) is below the size threshold


def test_types_from_a_snow_raster(planar, tmp_path):
    inv = load_inventory(planar[0])
    dem, grid = read_raster(planar[1], 1)
    snow = (dem >= 3250.0).astype("float32")  # snow above 3250 m
    write_raster(tmp_path / "snow.tif", snow, Grid(grid.crs, grid.transform, grid.shape))
    assert raster_grid(tmp_path / "snow.tif").shape == grid.shape
    res = glacier_types(inv, None, dem_path=planar[1], snow_path=tmp_path / "snow.tif", min_area_km2=0.5)
    t = res.tables[""].iloc[0]
    assert t["snowline_m"] == pytest.approx(3250.0, abs=10.0)  # one 10 m cell = 2 m of elevation
    assert t["aar"] == pytest.approx(0.25, abs=0.01) and t["glac_type"] == "Turkestan"
    assert "hypsometry" not in res.tables  # no terrain histograms given


def test_types_need_an_aar_source(planar):
    inv = load_inventory(planar[0])
    with pytest.raises(InputError, match="need an AAR"):
        glacier_types(inv, None)
    with pytest.raises(InputError, match="ELA column 'nope'"):
        glacier_types(inv, None, ela_column="nope")
