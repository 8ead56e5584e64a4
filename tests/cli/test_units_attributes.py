"""CLI of units and attributes on the real Ötztal data and on bad input."""

import pytest
from typer.testing import CliRunner

from glacierinv.cli.main import app
from glacierinv.io.vector import list_layers, read_vector

runner = CliRunner()


def _error(result):
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and result.output.strip().startswith("glacierinv: error:")


def test_attributes_on_rgi(shared_data, tmp_path):
    d = shared_data / "oggm-sample" / "test-workflow"
    out = tmp_path / "a.gpkg"
    res = runner.invoke(app, ["attributes", "--outlines", str(d / "rgi" / "rgi_oetztal.shp"), "--dem",
                              str(d / "srtm_oetztal.tif"), "--id-column", "RGIId", "--out", str(out)])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert {"glaciers", "hypsometry", "centerlines"} <= set(list_layers(out))
    g = read_vector(out, layer="glaciers")
    assert len(g) == 20 and "RGIId" in g and g["zmed_m"].notna().all()
    _error(runner.invoke(app, ["attributes", "--outlines", str(d / "rgi" / "rgi_oetztal.shp"), "--dem",
                               str(d / "srtm_oetztal.tif"), "--out", str(out)]))  # exists, no --force  # fmt: skip


def test_units_on_rgi7_complex(shared_data, tmp_path):
    d = shared_data / "oggm-sample"
    out = tmp_path / "u.gpkg"
    res = runner.invoke(app, ["units", "--outlines", str(d / "test-files" / "rgi7" / "rgi7c_hef.shp"), "--dem",
                              str(d / "test-workflow" / "srtm_oetztal.tif"), "--min-unit-km2", "0.3", "--out", str(out)])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert len(read_vector(out, layer="glaciers")) > 20 and len(read_vector(out, layer="divides")) > 0


@pytest.mark.parametrize("cmd", ["units", "attributes"])
def test_bad_input(cmd, tmp_path, tiny_scene):
    lines = tmp_path / "lines.geojson"
    lines.write_text('{"type":"FeatureCollection","features":[{"type":"Feature","properties":{},'
                     '"geometry":{"type":"LineString","coordinates":[[0,0],[1,1]]}}]}')  # fmt: skip
    out = tmp_path / "o.gpkg"
    dem = tiny_scene / "dem.tif"
    _error(
        runner.invoke(app, [cmd, "--outlines", str(lines), "--dem", str(dem), "--out", str(out)])
    )  # not polygons
    _error(
        runner.invoke(
            app, [cmd, "--outlines", str(tmp_path / "none.gpkg"), "--dem", str(dem), "--out", str(out)]
        )
    )
    truth = tiny_scene / "truth" / "glaciers.gpkg"
    txt = tmp_path / "dem.tif"
    txt.write_text("no")
    _error(runner.invoke(app, [cmd, "--outlines", str(truth), "--dem", str(txt), "--out", str(out)]))
    assert not out.exists()
