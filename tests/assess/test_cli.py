"""CLI tests: glacierinv assess accuracy|uncertainty|mmd and glacierinv compare (good and bad input)."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box
from typer.testing import CliRunner

from glacierinv.cli.main import app
from glacierinv.io.grid import Grid
from glacierinv.io.raster import write_raster
from tests.cli_checks import one_error_line as _one_error_line

runner = CliRunner()
X0, Y0 = 600_000.0, 5_200_000.0


def _b(x, y, w, h):
    return box(X0 + x, Y0 + y, X0 + x + w, Y0 + y + h)


@pytest.fixture()
def rasters(tmp_path):
    grid = Grid.from_bounds(32632, (X0, Y0, X0 + 400, Y0 + 200), 2.0)
    ref = np.zeros(grid.shape, dtype=np.uint8)
    ref[20:80, 20:180] = 1
    ref[60:80, 120:180] = 2
    pred = ref.copy()
    pred[60:80, 110:120] = 2
    write_raster(tmp_path / "pred.tif", pred, grid, nodata=255)
    write_raster(tmp_path / "ref.tif", ref, grid, nodata=255)
    regions = gpd.GeoDataFrame(
        {"name": ["west", "east"]}, geometry=[_b(0, 0, 200, 200), _b(200, 0, 200, 200)], crs=32632
    )
    regions.to_file(tmp_path / "regions.gpkg")
    return tmp_path


def test_accuracy_cli(rasters):
    out = rasters / "acc"
    args = ["assess", "accuracy", "--pred", str(rasters / "pred.tif"), "--ref", str(rasters / "ref.tif")]
    result = runner.invoke(
        app, [*args, "--regions", str(rasters / "regions.gpkg"), "--out", str(out), "--n-boot", "20"]
    )
    assert result.exit_code == 0, result.output
    assert "OA" in result.output
    acc = json.loads((out / "accuracy.json").read_text())
    assert acc["overall"]["per_class"]["debris"]["n_pred"] == 20 * 70
    regions = pd.read_csv(out / "regions.csv")
    assert regions["region"].tolist() == ["overall", "west", "east"]
    conf = pd.read_csv(out / "confusion.csv")
    assert conf.groupby("region")["n_pixels"].sum()["overall"] == 200 * 100
    # no overwrite without --force; with --force it is replaced
    _one_error_line(
        runner.invoke(app, [*args, "--out", str(out)]), "not empty", "--force"
    )  # a non-empty folder, as every command
    assert runner.invoke(app, [*args, "--out", str(out), "--force", "--n-boot", "0"]).exit_code == 0


def test_accuracy_cli_bad_input(rasters):
    out = rasters / "acc"
    base = ["assess", "accuracy", "--out", str(out)]
    _one_error_line(
        runner.invoke(app, [*base, "--pred", str(rasters / "nope.tif"), "--ref", str(rasters / "ref.tif")]),
        "nope.tif",
        "not found",
    )
    (rasters / "junk.tif").write_text("not a raster")
    _one_error_line(
        runner.invoke(app, [*base, "--pred", str(rasters / "junk.tif"), "--ref", str(rasters / "ref.tif")]),
        "junk.tif",
    )
    _one_error_line(
        runner.invoke(
            app,
            [
                *base,
                "--pred",
                str(rasters / "pred.tif"),
                "--ref",
                str(rasters / "ref.tif"),
                "--regions",
                str(rasters / "regions.gpkg"),
                "--region-column",
                "zone",
            ],
        ),
        "no column 'zone'",
    )
    assert not out.exists()


@pytest.fixture()
def inventory(tmp_path):
    glaciers = gpd.GeoDataFrame(
        {"glac_id": ["a", "b", "c"], "area_km2": [0.5, 0.5, 0.04]},
        geometry=[_b(0, 0, 1000, 500), _b(1000, 0, 1000, 500), _b(5000, 0, 200, 200)],
        crs=32632,
    )
    debris = gpd.GeoDataFrame({"glac_id": ["a"]}, geometry=[_b(0, 0, 200, 500)], crs=32632)
    path = tmp_path / "inventory.gpkg"
    glaciers.to_file(path, layer="glaciers")
    debris.to_file(path, layer="debris")
    return path


def test_uncertainty_cli(inventory, tmp_path):
    out = tmp_path / "unc.gpkg"
    result = runner.invoke(
        app, ["assess", "uncertainty", "--outlines", str(inventory), "--pixel-m", "2", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    g = gpd.read_file(out, layer="glaciers")
    assert {"area_unc_km2", "debris_unc_km2"} <= set(g.columns)
    # a and b share a divide: the complex's margin is 2 x (2000 + 500) m, c's is 800 m, buffer 4 m
    assert g["area_unc_km2"].sum() == pytest.approx((5000 + 800) * 4 / 1e6, rel=2e-3)
    assert g.set_index("glac_id").loc["a", "debris_unc_km2"] > 0
    assert "±" in result.output


def test_uncertainty_cli_bad_input(inventory, tmp_path):
    out = tmp_path / "unc.gpkg"
    base = ["assess", "uncertainty", "--outlines", str(inventory), "--out", str(out)]
    _one_error_line(runner.invoke(app, [*base, "--pixel-m", "0"]), "pixel size")
    _one_error_line(
        runner.invoke(
            app,
            [
                "assess",
                "uncertainty",
                "--outlines",
                str(tmp_path / "x.gpkg"),
                "--pixel-m",
                "2",
                "--out",
                str(out),
            ],
        ),
        "not found",
    )
    assert not out.exists()


def test_mmd_cli(tmp_path):
    auto = gpd.GeoDataFrame({"glac_id": ["a"]}, geometry=[_b(0, 0, 1000, 1000)], crs=32632)
    auto.to_file(tmp_path / "auto.gpkg")
    paths = []
    for k, side in enumerate((990, 1000, 1010)):
        p = tmp_path / f"analyst{k}.gpkg"
        gpd.GeoDataFrame({"glac_id": ["a"]}, geometry=[_b(0, 0, side, side)], crs=32632).to_file(p)
        paths.append(str(p))
    out = tmp_path / "mmd"
    result = runner.invoke(
        app,
        [
            "assess",
            "mmd",
            "--auto",
            str(tmp_path / "auto.gpkg"),
            "--digitisations",
            *paths,
            "--out",
            str(out),
            "--id-column",
            "glac_id",
        ],
    )
    assert result.exit_code == 0, result.output
    s = json.loads((out / "mmd.json").read_text())
    assert s["analysts"] == ["analyst0", "analyst1", "analyst2"]
    assert s["n_glaciers"] == 1
    per = pd.read_csv(out / "mmd_glaciers.csv")
    assert per["n_analysts"].iloc[0] == 3
    _one_error_line(
        runner.invoke(
            app,
            [
                "assess",
                "mmd",
                "--auto",
                str(tmp_path / "auto.gpkg"),
                "--digitisations",
                paths[0],
                "--out",
                str(tmp_path / "mmd2"),
            ],
        ),
        "at least 2 digitisations",
    )
    assert not (tmp_path / "mmd2").exists()


def test_compare_cli(inventory, tmp_path):
    ref = gpd.GeoDataFrame(
        {"RGIId": ["r1", "r2"]}, geometry=[_b(0, 0, 2000, 480), _b(8000, 0, 500, 500)], crs=32632
    ).to_crs(4326)
    ref.to_file(tmp_path / "rgi.shp")
    out = tmp_path / "cmp"
    result = runner.invoke(
        app,
        [
            "compare",
            "--ours",
            str(inventory),
            "--ref",
            str(tmp_path / "rgi.shp"),
            "--cell",
            "1",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    m = pd.read_csv(out / "matches.csv")
    assert sorted(m["ours_id"]) == ["a", "b"] and set(m["ref_id"]) == {"r1"}
    assert {"ours_area_km2", "ref_area_km2", "area_diff_km2"} <= set(m.columns)
    assert pd.read_csv(out / "omissions.csv")["id"].tolist() == ["r2"]
    assert pd.read_csv(out / "commissions.csv")["id"].tolist() == ["c"]
    for name in ("size_classes.png", "group_areas.png", "cells.png", "comparison.gpkg", "summary.json"):
        assert (out / name).exists(), name
    assert set(gpd.list_layers(out / "comparison.gpkg")["name"]) == {
        "matches",
        "omissions",
        "commissions",
        "cells",
    }


@pytest.mark.filterwarnings("ignore:.crs. was not provided")
def test_compare_cli_bad_input(inventory, tmp_path):
    out = tmp_path / "cmp"
    base = ["compare", "--ours", str(inventory), "--out", str(out)]
    _one_error_line(
        runner.invoke(app, [*base, "--ref", str(inventory), "--above-elevation", "3000"]), "--dem"
    )
    empty = gpd.GeoDataFrame({"glac_id": []}, geometry=[], crs=32632)
    empty.to_file(tmp_path / "empty.gpkg")
    _one_error_line(runner.invoke(app, [*base, "--ref", str(tmp_path / "empty.gpkg")]), "no features")
    nocrs = gpd.GeoDataFrame({"glac_id": ["x"]}, geometry=[_b(0, 0, 10, 10)])
    nocrs.to_file(tmp_path / "nocrs.shp")
    _one_error_line(runner.invoke(app, [*base, "--ref", str(tmp_path / "nocrs.shp")]), "no CRS")
    _one_error_line(
        runner.invoke(app, [*base, "--ref", str(inventory), "--ref-id", "rgi_id"]), "no id column"
    )
    assert not out.exists()


@pytest.mark.realdata
def test_compare_cli_hintereisferner(shared_data, tmp_path):
    d = shared_data / "oggm-sample" / "test-files"
    out = tmp_path / "hef"
    result = runner.invoke(
        app,
        [
            "compare",
            "--ours",
            str(d / "rgi7" / "rgi7g_hef.shp"),
            "--ref",
            str(d / "Hintereisferner_RGI6.shp"),
            "--out",
            str(out),
            "--no-figures",
        ],
    )
    assert result.exit_code == 0, result.output
    m = pd.read_csv(out / "matches.csv")
    assert len(m) == 1 and m["ref_area_km2"].iloc[0] == pytest.approx(8.036, rel=1e-4)
