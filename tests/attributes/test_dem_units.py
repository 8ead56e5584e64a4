"""Issue 17.6/17.7/17.8: DEM horizontal and vertical units are checked in one place (glacierinv.io.dem, used
by DemWindows for attributes, units and analyses): Web Mercator is not taken as ground metres, a DEM in feet
is refused unless its unit is given, a DEM that does not cover the outlines is refused by ``analyse``."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from rasterio.crs import CRS
from rasterio.warp import Resampling, calculate_default_transform, reproject
from shapely.geometry import box
from typer.testing import CliRunner

from glacierinv.attributes import compute_attributes
from glacierinv.cli.main import app
from glacierinv.errors import InputError
from glacierinv.io.dem import check_dem, dem_path, metric_grid
from glacierinv.io.grid import Grid
from glacierinv.io.raster import write_raster
from tests.cli_checks import one_error_line

UTM = CRS.from_epsg(32632)
runner = CliRunner()


def _plane_utm(tmp_path, name="dem.tif", scale=1.0, units=None):
    """A plane falling 20 % to the east (slope atan 0.2 = 11.31°) around 47° N, 2000-2400 m, times ``scale``."""
    grid = Grid.from_bounds(UTM, (640000, 5200000, 642000, 5202000), 10.0)
    rows, cols = np.indices(grid.shape)
    xs, _ = grid.xy(rows, cols)
    z = (2400.0 - 0.2 * (xs - 640000)) * scale
    p = write_raster(tmp_path / name, z.astype("float32"), grid)
    if units:
        with rasterio.open(p, "r+") as ds:
            ds.units = (units,)
    return p


def _warp(src, dst, crs):
    with rasterio.open(src) as s:
        t, w, h = calculate_default_transform(s.crs, crs, s.width, s.height, *s.bounds)
        prof = s.profile | {"crs": crs, "transform": t, "width": w, "height": h, "nodata": -9999.0}
        out = np.full((h, w), -9999.0, "float32")
        reproject(rasterio.band(s, 1), out, dst_transform=t, dst_crs=crs, resampling=Resampling.bilinear,
                  dst_nodata=-9999.0)  # fmt: skip
        with rasterio.open(dst, "w", **prof) as o:
            o.write(out, 1)
    return dst


def _glacier():
    return gpd.GeoDataFrame({"glac_id": ["P"]}, geometry=[box(640400, 5200400, 641600, 5201600)], crs=UTM)


def test_web_mercator_dem_gives_ground_slope_and_length(tmp_path):
    """EPSG:3857 metres are 1/cos(47°) = 1.47 ground metres: slope and lmax must match the UTM DEM (before:
    slope 7.8° instead of 11.3°, lmax +47 %)."""
    utm = _plane_utm(tmp_path)
    merc = _warp(utm, tmp_path / "dem3857.tif", "EPSG:3857")
    with rasterio.open(merc) as ds:
        ok, res_m = metric_grid(ds)
    assert not ok and res_m == pytest.approx(10.0, rel=0.05)
    ref = compute_attributes(_glacier(), utm)[0].iloc[0]
    got = compute_attributes(_glacier(), merc)[0].iloc[0]
    assert ref["slope_deg"] == pytest.approx(np.degrees(np.arctan(0.2)), abs=0.2)
    assert got["slope_deg"] == pytest.approx(ref["slope_deg"], abs=0.3)
    # length on a valley-like tongue along the slope (a square on a plane has no defined centerline head)
    tongue = gpd.GeoDataFrame({"glac_id": ["T"]}, geometry=[box(640200, 5200850, 641800, 5201150)], crs=UTM)
    ref_len = compute_attributes(tongue, utm)[0].iloc[0]["lmax_m"]
    got_len = compute_attributes(tongue, merc)[0].iloc[0]["lmax_m"]
    assert 1200 < ref_len < 1700  # head near the upper (west) end, terminus at the east end of 1600 m
    assert got_len == pytest.approx(ref_len, rel=0.03)


def test_hef_on_web_mercator(shared_data, tmp_path):
    """Hintereisferner on its SRTM warped to EPSG:3857: slope within 0.5° of the lat/lon DEM's (16.2°)."""
    d = shared_data / "oggm-sample" / "test-files"
    merc = _warp(d / "hef_srtm.tif", tmp_path / "hef3857.tif", "EPSG:3857")
    hef = gpd.read_file(d / "Hintereisferner_RGI6.shp")
    ref = compute_attributes(hef, d / "hef_srtm.tif")[0].iloc[0]
    got = compute_attributes(hef, merc)[0].iloc[0]
    assert got["slope_deg"] == pytest.approx(ref["slope_deg"], abs=0.5)
    assert got["lmax_m"] == pytest.approx(ref["lmax_m"], rel=0.05)


def test_dem_in_feet_refused_unless_unit_given(tmp_path):
    feet = _plane_utm(tmp_path, "feet.tif", scale=1 / 0.3048)  # 6562-7874 ft: plausible metres for a glacier
    mountain = _plane_utm(tmp_path, "feet_high.tif", scale=1.5 / 0.3048)  # 3000-3600 m = 9843-11811 ft
    with pytest.raises(InputError, match="--z-unit ft"):
        check_dem(mountain)
    with pytest.raises(InputError, match="not glacier elevations"):
        compute_attributes(_glacier(), mountain)
    ref = compute_attributes(_glacier(), _plane_utm(tmp_path))[0].iloc[0]
    got = compute_attributes(_glacier(), dem_path(feet, "ft"))[0].iloc[0]
    assert got["zmed_m"] == pytest.approx(ref["zmed_m"], abs=0.05)
    assert got["slope_deg"] == pytest.approx(ref["slope_deg"], abs=0.01)
    # the unit is read from the file when it says so (band unit "ft")
    tagged = _plane_utm(tmp_path, "tagged.tif", scale=1.5 / 0.3048, units="ft")
    assert compute_attributes(_glacier(), tagged)[0].iloc[0]["zmax_m"] < 3700


def test_cli_feet_dem_one_line_and_z_unit(tmp_path):
    mountain = _plane_utm(tmp_path, "feet_high.tif", scale=1.5 / 0.3048)
    outl = tmp_path / "g.gpkg"
    _glacier().to_file(outl)
    for cmd in ("attributes", "units"):
        out = tmp_path / f"{cmd}.gpkg"
        args = [cmd, "--outlines", str(outl), "--dem", str(mountain), "--out", str(out)]
        one_error_line(runner.invoke(app, args), str(mountain), "--z-unit ft")
        assert not out.exists()
    res = runner.invoke(app, ["attributes", "--outlines", str(outl), "--dem", str(mountain), "--z-unit", "ft",
                              "--out", str(tmp_path / "ok.gpkg")])  # fmt: skip
    assert res.exit_code == 0, res.output
    one_error_line(runner.invoke(app, ["attributes", "--outlines", str(outl), "--dem", str(mountain), "--z-unit",
                                       "furlong", "--out", str(tmp_path / "x.gpkg")]), "furlong")  # fmt: skip


def test_analyse_refuses_a_dem_that_does_not_cover(tmp_path):
    """Before: exit 0 with 'DEM coverage 0.0 %' and empty CSVs."""
    dem = _plane_utm(tmp_path)
    far = gpd.GeoDataFrame({"glac_id": ["F"]}, geometry=[box(700000, 5200400, 701200, 5201600)], crs=UTM)
    inv = tmp_path / "inv.gpkg"
    far.to_file(inv, layer="glaciers")
    out = tmp_path / "an"
    one_error_line(runner.invoke(app, ["analyse", str(inv), "--dem", str(dem), "--out", str(out)]),
                   "does not cover", str(dem))  # fmt: skip
    assert not out.exists()
