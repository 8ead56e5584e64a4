"""``glacierinv attributes`` / ``units`` on small synthetic files: outputs and bad input (exit 2, one line)."""

from __future__ import annotations

import geopandas as gpd
import pytest
from rasterio.crs import CRS
from shapely.geometry import Polygon, box
from typer.testing import CliRunner

from glacierinv.cli.main import app
from glacierinv.io.vector import list_layers, read_vector
from tests.ridge import ridge_dem

UTM = CRS.from_epsg(32643)
runner = CliRunner()


@pytest.fixture
def files(tmp_path):
    dem = ridge_dem(tmp_path / "dem.tif", 20.0)
    outl = tmp_path / "g.gpkg"
    gpd.GeoDataFrame({"name": ["a", "b"]}, geometry=[box(500200, 4000200, 500800, 4001800),
                     box(501200, 4000200, 501800, 4001800)], crs=UTM).to_file(outl)  # fmt: skip
    return tmp_path, dem, outl


def _error(result, out):
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("glacierinv: error:"), result.output
    assert not out.exists()


def test_attributes_cli_layers(files):
    tmp, dem, outl = files
    out = tmp / "a.gpkg"
    res = runner.invoke(app, ["attributes", "--outlines", str(outl), "--dem", str(dem), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert {"glaciers", "hypsometry", "centerlines"} <= set(list_layers(out))
    g = read_vector(out, layer="glaciers")
    assert list(g.glac_id) == ["G00001", "G00002"] and list(g.name) == ["a", "b"]
    assert g.aspect_sec.tolist() == [7, 3]  # west half faces west (7), east half east (3)
    h = gpd.read_file(out, layer="hypsometry")
    assert h.groupby("glac_id").share_permille.sum().tolist() == [1000, 1000]


def test_units_cli_layers(files):
    tmp, dem, _ = files
    cplx = tmp / "c.gpkg"
    body = box(500200, 4000200, 501800, 4001800).difference(box(500900, 4000000, 501100, 4000900))
    gpd.GeoDataFrame(geometry=[body], crs=UTM).to_file(cplx)  # two tongues either side of a rock notch
    out = tmp / "u.gpkg"
    res = runner.invoke(app, ["units", "--outlines", str(cplx), "--dem", str(dem), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert len(read_vector(out, layer="glaciers")) == 2 and len(gpd.read_file(out, layer="divides")) == 1


@pytest.mark.parametrize("cmd", ["attributes", "units"])
def test_bad_input_one_line_exit_2(files, cmd):
    tmp, dem, outl = files
    out = tmp / "o.gpkg"
    nocrs = tmp / "nocrs.geojson"
    nocrs.write_text('{"type":"FeatureCollection","features":[{"type":"Feature","properties":{},'
                     '"geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]}}]}')  # fmt: skip
    far = tmp / "far.gpkg"
    gpd.GeoDataFrame(geometry=[box(600000, 4000000, 601000, 4001000)], crs=UTM).to_file(far)
    points = tmp / "pts.gpkg"
    gpd.GeoDataFrame(geometry=gpd.points_from_xy([500500], [4000500]), crs=UTM).to_file(points)
    for o in (points, far):
        _error(runner.invoke(app, [cmd, "--outlines", str(o), "--dem", str(dem), "--out", str(out)]), out)
    # a GeoJSON without "crs" is WGS84 by the standard: its polygon at (0, 0) is outside the DEM
    _error(runner.invoke(app, [cmd, "--outlines", str(nocrs), "--dem", str(dem), "--out", str(out)]), out)


def test_self_intersecting_polygon_is_repaired(files):
    tmp, dem, _ = files
    bowtie = Polygon([(500200, 4000200), (500800, 4001800), (500800, 4000200), (500200, 4001800)])
    g = gpd.GeoDataFrame(geometry=[bowtie], crs=UTM)
    from glacierinv.attributes import compute_attributes

    out = compute_attributes(g, dem)[0]
    assert out.geometry.iloc[0].is_valid and out.area_km2.iloc[0] > 0.4
