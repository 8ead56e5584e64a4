"""Issue 17.10: GIS outputs. classes.tif carries a colour table and category names; inventory.csv is rounded
to meaningful precision; the RGI 7 columns we can derive are offered; layers can be written in EPSG:4326."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from rasterio.crs import CRS
from shapely.geometry import box
from typer.testing import CliRunner

from glacierinv.attributes import compute_attributes
from glacierinv.attributes.export import add_rgi7_ids, round_inventory
from glacierinv.cli.main import app
from glacierinv.io.grid import Grid
from glacierinv.io.raster import write_raster

UTM = CRS.from_epsg(32632)
runner = CliRunner()


def test_classes_tif_has_colours_and_category_names(tmp_path):
    from tests.segment.conftest import toy_scene, write_stack

    bands, _ = toy_scene(size=64)
    stack = write_stack(tmp_path / "s.tif", bands)
    res = runner.invoke(app, ["segment", str(stack), "--out", str(tmp_path / "o"), "--method", "baseline"])
    assert res.exit_code == 0, res.output
    with rasterio.open(tmp_path / "o" / "classes.tif") as ds:
        cmap = ds.colormap(1)
    assert cmap[1] == (86, 180, 233, 255) and cmap[2] == (230, 159, 0, 255) and cmap[255][3] == 0
    aux = (tmp_path / "o" / "classes.tif.aux.xml").read_text()
    cats = aux.split("<CategoryNames>")[1].split("</CategoryNames>")[0].split("</Category>")
    assert [c.replace("<Category>", "") for c in cats[:3]] == ["background", "clean_ice", "debris"]
    assert cats[255].replace("<Category>", "") == "nodata"


def test_round_inventory_by_column_units():
    t = pd.DataFrame({"glac_id": ["a"], "area_km2": [0.123456789], "zmin_m": [2345.6789], "slope_deg": [12.3456],
                      "cenlon": [10.123456789], "debris_frac": [0.123456], "zmin_m_input": [1.0], "aspect_sec": [3]})  # fmt: skip
    r = round_inventory(t).iloc[0]
    assert r["area_km2"] == 0.123457 and r["zmin_m"] == 2345.7 and r["slope_deg"] == 12.3
    assert r["cenlon"] == 10.123457 and r["debris_frac"] == 0.1235 and r["aspect_sec"] == 3


def test_inventory_csv_is_rounded(baseline_run):
    csv = pd.read_csv(baseline_run.run_dir / "inventory.csv")
    text = (baseline_run.run_dir / "inventory.csv").read_text()
    assert len(csv) and "rgi_id" in csv and "termlon" in csv and "utm_zone" in csv
    for col, d in (("area_km2", 6), ("zmed_m", 1), ("slope_deg", 1), ("lmax_m", 1)):
        assert np.allclose(csv[col], csv[col].round(d)), col
    assert "e-" not in text.split("\n", 1)[1].split(",")[3]  # no float noise such as 0.12345678901234


def test_rgi7_ids_and_regions():
    g = gpd.GeoDataFrame({"cenlon": [10.7, 13.0], "cenlat": [46.8, 47.0]},
                         geometry=[box(0, 0, 1, 1), box(2, 2, 3, 3)], crs=4326)  # fmt: skip
    o1 = gpd.GeoDataFrame({"o1region": ["11"]}, geometry=[box(5, 44, 17, 49)], crs=4326)
    o2 = gpd.GeoDataFrame({"o2region": ["11-01"]}, geometry=[box(5, 44, 12, 49)], crs=4326)
    out = add_rgi7_ids(g, [o2, o1])
    assert list(out["o1region"]) == ["11", "11"] and list(out["o2region"]) == ["11-01", None]
    assert list(out["rgi_id"]) == ["glacierinv-G-11-00001", "glacierinv-G-11-00002"]
    assert add_rgi7_ids(g)["rgi_id"].iloc[0] == "glacierinv-G-00001"
    mine = add_rgi7_ids(g.assign(rgi_id=["X", "Y"]), [o1])
    assert list(mine["rgi_id"]) == ["X", "Y"]  # the input's ids are never replaced


def test_terminus_is_the_lowest_point_of_the_outline(tmp_path):
    grid = Grid.from_bounds(UTM, (640000, 5200000, 642000, 5202000), 10.0)
    rows, cols = np.indices(grid.shape)
    xs, ys = grid.xy(rows, cols)
    z = 3000.0 - 0.2 * (xs - 640000) + 0.05 * (ys - 5200000)  # lowest to the east and south
    dem = write_raster(tmp_path / "dem.tif", z.astype("float32"), grid)
    g = gpd.GeoDataFrame({"glac_id": ["T"]}, geometry=[box(640400, 5200400, 641600, 5201600)], crs=UTM)
    out = compute_attributes(g, dem)[0].iloc[0]
    term = gpd.GeoSeries(gpd.points_from_xy([out["termlon"]], [out["termlat"]]), crs=4326).to_crs(UTM).iloc[0]
    assert term.x == pytest.approx(641600, abs=15) and term.y == pytest.approx(5200400, abs=15)
    assert out["utm_zone"] == 32


def test_terminus_and_utm_zone_against_rgi7(shared_data):
    """RGI 7 HEF glaciers (COPDEM30) vs ours on SRTM 90 m: median terminus distance below one SRTM cell."""
    from pyproj import Geod

    d = shared_data / "oggm-sample"
    ref = gpd.read_file(d / "test-files" / "rgi7" / "rgi7g_hef_complex.shp")
    out = compute_attributes(ref[["rgi_id", "geometry"]], d / "test-workflow" / "srtm_oetztal.tif")[0]
    _, _, dist = Geod(ellps="WGS84").inv(out["termlon"], out["termlat"], ref["termlon"], ref["termlat"])
    assert np.median(dist) < 90  # measured 27 m
    assert (out["utm_zone"] == ref["utm_zone"]).all()


def test_attributes_cli_crs_export(tmp_path):
    grid = Grid.from_bounds(UTM, (640000, 5200000, 642000, 5202000), 10.0)
    rows, cols = np.indices(grid.shape)
    xs, _ = grid.xy(rows, cols)
    dem = write_raster(tmp_path / "dem.tif", (3000.0 - 0.2 * (xs - 640000)).astype("float32"), grid)
    outl = tmp_path / "g.gpkg"
    gpd.GeoDataFrame({"glac_id": ["T"]}, geometry=[box(640400, 5200400, 641600, 5201600)], crs=UTM).to_file(
        outl
    )
    out = tmp_path / "a.gpkg"
    res = runner.invoke(app, ["attributes", "--outlines", str(outl), "--dem", str(dem), "--crs", "EPSG:4326",
                              "--out", str(out)])  # fmt: skip
    assert res.exit_code == 0, res.output
    for layer in ("glaciers", "centerlines"):
        assert gpd.read_file(out, layer=layer).crs.to_epsg() == 4326
    from tests.cli_checks import one_error_line

    one_error_line(runner.invoke(app, ["attributes", "--outlines", str(outl), "--dem", str(dem), "--crs",
                                       "EPSG:999999", "--out", str(tmp_path / "b.gpkg")]), "EPSG:999999")  # fmt: skip
    assert not (tmp_path / "b.gpkg").exists()


def test_inventory_glacier_types_filled_like_the_analysis(baseline_run):
    """glac_type and aar of the inventory come from the same snow source as analysis/glacier_types.csv
    (before: always null)."""
    from glacierinv.io.vector import read_vector

    inv = read_vector(baseline_run.run_dir / "inventory.gpkg", layer="glaciers")
    types = pd.read_csv(baseline_run.run_dir / "analysis" / "glacier_types.csv").set_index("glac_id")
    typed = inv[inv["glac_type"].notna()]
    assert len(typed) and set(typed["glac_id"]) == set(types.index[types["glac_type"].notna()])
    for _, row in typed.iterrows():
        assert row["glac_type"] == types.loc[row["glac_id"], "glac_type"]
        assert row["aar"] == pytest.approx(types.loc[row["glac_id"], "aar"], abs=1e-6)


def test_fill_glacier_types_keeps_the_inputs_values(tmp_path):
    from glacierinv.attributes.export import fill_glacier_types

    grid = Grid.from_bounds(UTM, (640000, 5200000, 642000, 5202000), 10.0)
    rows, cols = np.indices(grid.shape)
    _, ys = grid.xy(rows, cols)
    dem = write_raster(tmp_path / "dem.tif", (3000.0 + 0.2 * (ys - 5200000)).astype("float32"), grid)
    snow = write_raster(tmp_path / "snow.tif", (ys > 5201000).astype("float32"), grid)  # upper half snow
    g = gpd.GeoDataFrame({"glac_id": ["a", "b", "c"], "area_km2": [1.44, 1.44, 0.01], "aar": [None, 0.2, None],
                          "glac_type": [None, "Turkestan", None]},
                         geometry=[box(640400, 5200400, 641600, 5201600)] * 2 + [box(0, 0, 1, 1)], crs=UTM)  # fmt: skip
    out = fill_glacier_types(g, dem, snow, min_area_km2=1.0)
    assert out["aar"].iloc[0] == pytest.approx(0.5, abs=0.05) and out["glac_type"].iloc[0] == "Mustagh"
    assert out["aar"].iloc[1] == 0.2 and out["glac_type"].iloc[1] == "Turkestan"  # the input's own values
    assert np.isnan(out["aar"].iloc[2]) and out["glac_type"].iloc[2] is None  # below the size threshold
