"""Issue 17.4/17.5: the user's columns survive ``attributes`` unchanged; duplicate outlines are refused (or
warned about with --allow-overlaps) with their ids; each polygon repair is logged with its id and area."""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from rasterio.crs import CRS
from shapely.geometry import Polygon, box
from typer.testing import CliRunner

from glacierinv.attributes import compute_attributes
from glacierinv.attributes.compute import computed_column
from glacierinv.cli.main import app
from glacierinv.errors import InputError
from glacierinv.geometry import find_overlaps, repair_polygons
from glacierinv.io.vector import read_vector
from tests.cli_checks import one_error_line
from tests.ridge import ridge_dem

UTM = CRS.from_epsg(32643)
runner = CliRunner()


def _dem(tmp_path):
    return ridge_dem(tmp_path / "dem.tif", 20.0)


def test_rgi7_columns_survive(shared_data, tmp_path):
    """RGI 7's own columns survive unchanged under their own names (issue 24: its area_km2, cenlon,
    utm_zone … were dropped when ours were nearly equal); ours beside them as calc_<name>."""
    d = shared_data / "oggm-sample"
    src = d / "test-files" / "rgi7" / "rgi7g_hef_complex.shp"
    ref = gpd.read_file(src)
    before = src.read_bytes()
    out = tmp_path / "a.gpkg"
    res = runner.invoke(app, ["attributes", "--outlines", str(src), "--dem",
                              str(d / "test-workflow" / "srtm_oetztal.tif"), "--out", str(out)])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert src.read_bytes() == before
    g = read_vector(out, layer="glaciers")
    assert list(g["rgi_id"]) == list(ref["rgi_id"]) and list(g["glac_id"]) == list(ref["rgi_id"])
    for col in ref.columns.drop("geometry"):  # every input column, its name and values
        pd.testing.assert_series_equal(g[col], ref[col], check_names=False, check_dtype=False)
    assert not any(c.endswith("_input") for c in g.columns)
    # ours beside theirs: the same outlines give nearly RGI's area and centre, our DEM other elevations
    np.testing.assert_allclose(g["calc_area_km2"], ref["area_km2"], rtol=2e-3)
    np.testing.assert_allclose(g["calc_cenlon"], ref["cenlon"], atol=1e-3)
    assert (g["calc_dem_source"] == "srtm_oetztal.tif").all()  # ours: the DEM the statistics came from
    assert not np.allclose(g["calc_zmin_m"], ref["zmin_m"])  # ours, from SRTM


def test_kept_and_computed_columns_in_the_library(tmp_path):
    dem = _dem(tmp_path)
    g = gpd.GeoDataFrame({"glac_id": ["a", "b"], "surge_type": [3, None], "zmin_m": [1.0, 2.0],
                          "src_date": ["2003-07-30", None], "CenLat": [1.5, 2.5]},
                         geometry=[box(500200, 4000200, 500800, 4001800), box(501200, 4000200, 501800, 4001800)],
                         crs=UTM)  # fmt: skip
    out = compute_attributes(g, dem, src_date="2021-08-20")[0]
    assert list(out["surge_type"]) == [3, 9]  # input kept; ours (9, not assigned) only where it had none
    assert list(out["src_date"]) == ["2003-07-30", "2021-08-20"]
    assert list(out["zmin_m"]) == [1.0, 2.0] and (out["calc_zmin_m"] > 4000).all()
    assert list(out["CenLat"]) == [1.5, 2.5] and "cenlat" not in out and (out["calc_cenlat"] > 36).all()
    assert computed_column(out, "zmin_m") == "calc_zmin_m" and computed_column(out, "zmax_m") == "zmax_m"
    assert list(g.columns) == ["glac_id", "surge_type", "zmin_m", "src_date", "CenLat", "geometry"]


def test_input_area_kept_and_a_wrong_one_warned_about(tmp_path, caplog):
    """An input area_km2 keeps its values; one further than 1 % from the outline's geodesic area (another
    outline's area) is named in a warning, one within the area methods' spread is not."""
    dem = _dem(tmp_path)
    a, b = box(500200, 4000200, 500800, 4001800), box(501200, 4000200, 501800, 4001800)  # 0.96 km² each
    g = gpd.GeoDataFrame({"glac_id": ["near", "far"], "area_km2": [0.9605, 1.2]}, geometry=[a, b], crs=UTM)
    with caplog.at_level(logging.WARNING, logger="glacierinv"):
        out = compute_attributes(g, dem)[0]
    assert list(out["area_km2"]) == [0.9605, 1.2]
    np.testing.assert_allclose(out["calc_area_km2"], 0.96, rtol=2e-3)
    warned = [r.message for r in caplog.records if "area_km2" in r.message]
    assert len(warned) == 1 and "far: 1.2000 vs 0.96" in warned[0] and "near" not in warned[0]


def test_duplicate_outline_refused_with_ids(tmp_path):
    dem = _dem(tmp_path)
    a = box(500200, 4000200, 500800, 4001800)
    g = gpd.GeoDataFrame({"glac_id": ["A", "B", "A2"]}, geometry=[a, box(501200, 4000200, 501800, 4001800), a],
                         crs=UTM)  # fmt: skip
    pairs = find_overlaps(g, "glac_id")
    assert list(pairs[["id_a", "id_b"]].itertuples(index=False, name=None)) == [("A", "A2")]
    assert pairs["share"].iloc[0] == pytest.approx(1.0)
    with pytest.raises(InputError, match="A & A2"):
        compute_attributes(g, dem)
    out = compute_attributes(g, dem, allow_overlaps=True)[0]
    assert len(out) == 3
    # touching neighbours (a shared divide) are not overlaps
    touching = gpd.GeoDataFrame(
        {"glac_id": ["L", "R"]}, geometry=[box(0, 0, 10, 10), box(10, 0, 20, 10)], crs=UTM
    )
    assert find_overlaps(touching, "glac_id").empty


def test_duplicate_outline_cli(tmp_path):
    dem = _dem(tmp_path)
    a = box(500200, 4000200, 500800, 4001800)
    src = tmp_path / "dup.gpkg"
    gpd.GeoDataFrame({"glac_id": ["A", "A-copy"]}, geometry=[a, a], crs=UTM).to_file(src)
    out = tmp_path / "o.gpkg"
    line = one_error_line(runner.invoke(app, ["attributes", "--outlines", str(src), "--dem", str(dem), "--out",
                                              str(out)]), "A & A-copy", "--allow-overlaps")  # fmt: skip
    assert "overlap" in line and not out.exists()
    res = runner.invoke(app, ["attributes", "--outlines", str(src), "--dem", str(dem), "--out", str(out),
                              "--allow-overlaps"])  # fmt: skip
    assert res.exit_code == 0 and "A-copy" in res.output and "overlap" in res.output


def test_each_repair_logged_with_id_and_area(tmp_path, caplog):
    bowtie = Polygon([(500200, 4000200), (500800, 4001800), (500800, 4000200), (500200, 4001800)])
    g = gpd.GeoDataFrame({"glac_id": ["ok", "bow"]}, geometry=[box(0, 0, 10, 10), bowtie], crs=UTM)
    with caplog.at_level(logging.WARNING, logger="glacierinv"):
        fixed, repairs = repair_polygons(g, "glac_id")
    assert [r["id"] for r in repairs] == ["bow"] and fixed.geometry.is_valid.all()
    assert repairs[0]["area_after_km2"] > 0.4
    assert any("bow" in r.message and "km²" in r.message for r in caplog.records)
    assert g.geometry.iloc[1].equals(bowtie)  # the input is not modified


def test_rgi5_oetztal_repairs_are_reported(shared_data, caplog):
    """Three RGI 5 Ötztal polygons self-intersect: reading them names each one (before: silent)."""
    src = shared_data / "oggm-sample" / "test-workflow" / "rgi" / "rgi_oetztal.shp"
    with caplog.at_level(logging.WARNING, logger="glacierinv"):
        read_vector(src, polygons=True)
    named = {m for r in caplog.records for m in ("RGI50-11.00887", "RGI50-11.00958") if m in r.message}
    assert len([r for r in caplog.records if "repaired" in r.message]) == 3 and len(named) == 2
