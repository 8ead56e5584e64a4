"""RGI 5/6 → RGI 7 column mapping and inventory loading."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from glacierinv.analysis.inventory import load_inventory, require_columns, to_rgi7_columns
from glacierinv.errors import InputError
from glacierinv.io.vector import write_layers


def test_rgi5_columns_are_renamed_and_sentinels_dropped():
    df = pd.DataFrame({"RGIId": ["x"], "Area": [1.5], "Zmin": [-9999], "Zmax": [3000], "Zmed": [2500],
                       "Slope": [-9.0], "Aspect": [45], "Lmax": [1200], "CenLon": [10.0], "CenLat": [46.0]})  # fmt: skip
    out = to_rgi7_columns(df)
    assert {"glac_id", "area_km2", "zmin_m", "zmax_m", "zmed_m", "slope_deg", "aspect_deg", "lmax_m"} <= set(
        out
    )
    assert np.isnan(out["zmin_m"][0]) and np.isnan(out["slope_deg"][0])
    assert out["zmax_m"][0] == 3000 and out["aspect_deg"][0] == 45


def test_existing_rgi7_names_win():
    out = to_rgi7_columns(pd.DataFrame({"Area": [1.0], "area_km2": [2.0]}))
    assert out["area_km2"][0] == 2.0 and "Area" in out


def test_missing_ids_and_areas_are_created(tmp_path):
    g = gpd.GeoDataFrame(geometry=[box(500_000, 5e6, 501_000, 5.001e6)], crs=32632)
    write_layers(tmp_path / "g.gpkg", {"glaciers": g})
    inv = load_inventory(tmp_path / "g.gpkg")
    assert inv.glaciers["glac_id"].tolist() == ["G000000"]
    assert inv.area_km2[0] == pytest.approx(1.0, rel=2e-3)  # UTM scale 0.9996 on the central meridian
    assert inv.debris is None and inv.centerlines is None


def test_duplicate_ids_are_refused(tmp_path):
    g = gpd.GeoDataFrame({"glac_id": ["a", "a"]}, geometry=[box(0, 0, 1, 1), box(2, 0, 3, 1)], crs=32632)
    write_layers(tmp_path / "g.gpkg", {"glaciers": g})
    with pytest.raises(InputError, match="more than once"):
        load_inventory(tmp_path / "g.gpkg")


def test_require_columns_names_the_analysis():
    with pytest.raises(InputError, match="analysis 'aspect' needs column"):
        require_columns(pd.DataFrame({"a": [1]}), ["aspect_deg"], "aspect")
