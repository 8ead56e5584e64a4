"""``glacierinv units``: ids from the input's id column, new options, bad input (exit 2, one line)."""

from __future__ import annotations

import geopandas as gpd
import pytest
from rasterio.crs import CRS
from shapely.geometry import box
from typer.testing import CliRunner

from glacierinv.cli.main import app
from glacierinv.io.vector import read_vector
from tests.ridge import ridge_dem

UTM = CRS.from_epsg(32643)
runner = CliRunner()


@pytest.fixture
def files(tmp_path):
    dem = ridge_dem(tmp_path / "dem.tif", 10.0)
    body = box(500300, 4000300, 501700, 4001700).difference(box(500900, 4000000, 501100, 4000900))
    outl = tmp_path / "c.gpkg"
    gpd.GeoDataFrame({"glac_id": ["KGI-7"], "name": ["x"]}, geometry=[body], crs=UTM).to_file(outl)
    return tmp_path, dem, outl


def test_units_cli_ids_from_input(files):
    tmp, dem, outl = files
    out = tmp / "u.gpkg"
    r = runner.invoke(app, ["units", "--outlines", str(outl), "--dem", str(dem), "--out", str(out),
                            "--smooth-m", "0", "--reach-m", "100"])  # fmt: skip
    assert r.exit_code == 0, r.output
    units = read_vector(out, layer="glaciers")
    assert sorted(units.glac_id) == ["KGI-7-01", "KGI-7-02"] and set(units.outline_id) == {"KGI-7"}
    out2 = tmp / "v.gpkg"
    r = runner.invoke(app, ["units", "--outlines", str(outl), "--dem", str(dem), "--out", str(out2),
                            "--id-column", "name"])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert set(read_vector(out2, layer="glaciers").outline_id) == {"x"}


@pytest.mark.parametrize(
    "extra", [["--id-column", "nope"], ["--reach-m", "-3"], ["--smooth-m", "-1"], ["--min-unit-km2", "-1"]]
)
def test_units_cli_bad_input(files, extra):
    tmp, dem, outl = files
    out = tmp / "bad.gpkg"
    r = runner.invoke(app, ["units", "--outlines", str(outl), "--dem", str(dem), "--out", str(out), *extra])
    assert r.exit_code == 2, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("glacierinv: error:"), r.output
    assert not out.exists()


def test_units_cli_without_id_column(files):
    """Outlines with no id column: complexes are numbered C00001… (not an error)."""
    tmp, dem, outl = files
    bare = tmp / "bare.gpkg"
    gpd.read_file(outl)[["geometry"]].to_file(bare)
    out = tmp / "b.gpkg"
    r = runner.invoke(app, ["units", "--outlines", str(bare), "--dem", str(dem), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert set(read_vector(out, layer="glaciers").outline_id) == {"C00001"}


def test_units_config_defaults_are_the_library_defaults():
    """[units] reach_m / smooth_m reach the pipeline's units stage with the library's defaults."""
    from glacierinv.config import UnitsConfig
    from glacierinv.units.subdivide import DEFAULT_REACH_M, DEFAULT_SMOOTH_M

    assert UnitsConfig().reach_m == DEFAULT_REACH_M and UnitsConfig().smooth_m == DEFAULT_SMOOTH_M
