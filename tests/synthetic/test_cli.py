"""``glacierinv synth`` through typer's CliRunner: both modes and bad input (exit 2, one line, no output)."""

from __future__ import annotations

import json

import geopandas as gpd
from shapely.geometry import box
from typer.testing import CliRunner

from glacierinv.cli.main import app
from tests.synthetic._helpers import toy_dem

runner = CliRunner()


def test_synth_writes_a_scene_and_summary(tmp_path):
    out = tmp_path / "scene"
    result = runner.invoke(app, ["synth", "--out", str(out), "--seed", "2", "--size", "160"])
    assert result.exit_code == 0, result.output
    assert "glacier area" in result.output
    assert (out / "config.toml").is_file() and (out / "truth" / "classes.tif").is_file()
    assert json.loads((out / "scene.json").read_text())["seed"] == 2
    assert not list(tmp_path.glob(".*tmp*"))  # no temporary folder left beside it


def test_synth_refuses_non_empty_out_without_force(tmp_path):
    out = tmp_path / "scene"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    result = runner.invoke(app, ["synth", "--out", str(out), "--size", "128"])
    assert result.exit_code == 2
    assert "not empty" in result.output and "Traceback" not in result.output
    assert sorted(p.name for p in out.iterdir()) == ["mine.txt"]
    result = runner.invoke(app, ["synth", "--out", str(out), "--size", "128", "--force"])
    assert result.exit_code == 0, result.output
    assert (out / "mine.txt").read_text() == "keep me" and (out / "pan.tif").is_file()


def test_synth_missing_dem_is_exit_2(tmp_path):
    gpd.GeoDataFrame(geometry=[box(0, 0, 1, 1)], crs=32643).to_file(tmp_path / "o.gpkg")
    out = tmp_path / "scene"
    result = runner.invoke(
        app,
        [
            "synth",
            "--dem",
            str(tmp_path / "nope.tif"),
            "--outlines",
            str(tmp_path / "o.gpkg"),
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 2
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and "nope.tif" in lines[0] and "not found" in lines[0]
    assert not out.exists()


def test_synth_bad_combinations_are_exit_2(tmp_path):
    out = tmp_path / "scene"
    assert runner.invoke(app, ["synth", "--out", str(out), "--res", "5"]).exit_code == 2
    assert runner.invoke(app, ["synth", "--out", str(out), "--size", "10"]).exit_code == 2
    toy_dem(tmp_path / "dem.tif")
    assert runner.invoke(app, ["synth", "--dem", str(tmp_path / "dem.tif"), "--out", str(out)]).exit_code == 2
    (tmp_path / "bad.gpkg").write_text("not a vector file")
    result = runner.invoke(
        app,
        [
            "synth",
            "--dem",
            str(tmp_path / "dem.tif"),
            "--outlines",
            str(tmp_path / "bad.gpkg"),
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert not out.exists()


def test_synth_over_a_dem(tmp_path):
    toy_dem(tmp_path / "dem.tif")
    gpd.GeoDataFrame(geometry=[box(501000, 4001000, 502000, 4002000)], crs=32643).to_file(tmp_path / "o.shp")
    out = tmp_path / "scene"
    result = runner.invoke(
        app,
        ["synth", "--dem", str(tmp_path / "dem.tif"), "--outlines", str(tmp_path / "o.shp"), "--res", "15",
         "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads((out / "scene.json").read_text())["mode"] == "over"
