"""``glacierinv analyse`` and ``glacierinv report`` from the command line: good input and bad input."""

from __future__ import annotations

import json
import shutil

from typer.testing import CliRunner

from glacierinv.cli.main import app
from tests.cli_checks import one_error_line

runner = CliRunner()


def test_analyse_cli_on_a_run_inventory(baseline_run, tiny_scene, tmp_path):
    out = tmp_path / "an"
    args = ["analyse", str(baseline_run.run_dir / "inventory.gpkg"), "--dem", str(tiny_scene / "dem.tif"),
            "--dem-coarse", str(tiny_scene / "dem30.tif"), "--n-boot", "50", "--out", str(out)]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "analysis.json").read_text())
    # no snow raster or ELA, but the run's inventory now carries aar (issue 17.10): types from that column
    assert summary["analyses"]["types"]["status"] == "done"
    assert summary["analyses"]["dem_resolution"]["status"] == "done"
    assert (out / "hypsometry.csv").exists() and (out / "dem_resolution.png").exists()
    # an existing folder is kept without --force, replaced with it
    again = runner.invoke(app, args)
    one_error_line(again, "--force")
    assert (out / "analysis.json").exists()
    assert runner.invoke(app, [*args, "--only", "sizes", "--force"]).exit_code == 0
    assert sorted(p.name for p in out.glob("*.csv")) == [
        "size_classes.csv",
        "size_classes_debris_by_glacier_size.csv",
    ]


def test_analyse_cli_bad_input(baseline_run, tiny_scene, tmp_path):
    inv = str(baseline_run.run_dir / "inventory.gpkg")
    out = str(tmp_path / "an")
    one_error_line(runner.invoke(app, ["analyse", str(tmp_path / "nope.gpkg"), "--out", out]), "nope.gpkg")
    one_error_line(
        runner.invoke(app, ["analyse", inv, "--aar-thresholds", "0.3", "--out", out]), "--aar-thresholds"
    )
    one_error_line(runner.invoke(app, ["analyse", inv, "--warming", "1,x", "--out", out]), "--warming")
    one_error_line(runner.invoke(app, ["analyse", inv, "--only", "colour", "--out", out]), "colour")
    # types need an AAR source: an inventory without aar (the run's now carries one, issue 17.10)
    import geopandas as gpd

    no_aar = tmp_path / "no_aar.gpkg"
    gpd.read_file(inv, layer="glaciers").drop(columns=["aar", "glac_type"]).to_file(no_aar, layer="glaciers")
    one_error_line(runner.invoke(app, ["analyse", str(no_aar), "--only", "types", "--out", out]), "types")
    not_a_dem = tmp_path / "dem.tif"
    not_a_dem.write_text("not a raster")
    one_error_line(runner.invoke(app, ["analyse", inv, "--dem", str(not_a_dem), "--out", out]), "dem.tif")
    assert not (tmp_path / "an").exists()  # nothing written by a refused call


def test_report_cli(baseline_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(baseline_run.run_dir, run)
    page = run / "report" / "index.html"
    before = page.read_bytes()
    one_error_line(runner.invoke(app, ["report", str(run)]), "--force")
    assert page.read_bytes() == before  # not overwritten
    result = runner.invoke(app, ["report", str(run), "--title", "Hunza test", "--force"])
    assert result.exit_code == 0, result.output
    assert "Hunza test" in page.read_text()
    one_error_line(runner.invoke(app, ["report", str(tmp_path / "missing")]), "run folder not found")
    (tmp_path / "empty").mkdir()
    one_error_line(runner.invoke(app, ["report", str(tmp_path / "empty")]), "inventory.gpkg")
