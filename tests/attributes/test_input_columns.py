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
    """RGI 7's own columns are kept unchanged: surge_type, src_date, term_type keep their values; the
    published zmin_m/lmax_m/dem_source are kept as *_input beside ours (before: overwritten or null)."""
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
    assert list(g["rgi_id"]) == list(ref["rgi_id"]) and list(g["glac_id"]) == list(
        ref["rgi_id"]
    )  # id guessed
    for col in (
        "surge_type",
        "term_type",
        "src_date",
        "o1region",
        "o2region",
        "glac_name",
        "glims_id",
        "utm_zone",
    ):
        pd.testing.assert_series_equal(g[col], ref[col], check_names=False, check_dtype=False)
    for col in ("zmin_m", "zmax_m", "lmax_m", "dem_source", "slope_deg"):  # ours differ: input kept beside
        pd.testing.assert_series_equal(g[f"{col}_input"], ref[col], check_names=False, check_dtype=False)
    for col in ("area_km2", "cenlon", "utm_zone", "termlon"):  # kept as *_input unless ours are the same
        src_col = g[f"{col}_input"] if f"{col}_input" in g else g[col]
        np.testing.assert_allclose(src_col.astype(float), ref[col].astype(float), rtol=1e-6)
    assert "utm_zone_input" not in g  # identical values are not duplicated
    assert (g["dem_source"] == "srtm_oetztal.tif").all()  # ours: the DEM the statistics came from
    assert not g["zmin_m"].equals(ref["zmin_m"])  # ours, from SRTM


def test_kept_and_computed_columns_in_the_library(tmp_path):
    dem = _dem(tmp_path)
    g = gpd.GeoDataFrame({"glac_id": ["a", "b"], "surge_type": [3, None], "zmin_m": [1.0, 2.0],
                          "src_date": ["2003-07-30", None]},
                         geometry=[box(500200, 4000200, 500800, 4001800), box(501200, 4000200, 501800, 4001800)],
                         crs=UTM)  # fmt: skip
    out = compute_attributes(g, dem, src_date="2021-08-20")[0]
    assert list(out["surge_type"]) == [3, 9]  # input kept; ours (9, not assigned) only where it had none
    assert list(out["src_date"]) == ["2003-07-30", "2021-08-20"]
    assert list(out["zmin_m_input"]) == [1.0, 2.0] and (out["zmin_m"] > 4000).all()


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
