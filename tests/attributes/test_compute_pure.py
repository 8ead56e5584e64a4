"""The pure core of the attributes (geometries and a DEM array in, tables out; no files)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from rasterio.crs import CRS
from shapely.geometry import box

from glacierinv.attributes.compute import attributes_from_windows, compute_attributes, glacier_dem_attributes
from glacierinv.dem.windows import array_windows
from glacierinv.errors import InputError
from glacierinv.io.grid import Grid
from glacierinv.io.raster import write_raster

UTM = CRS.from_epsg(32643)


def _plane(dz_east: float = 0.0, dz_north: float = 0.3, z0: float = 5000.0):
    """A 2 km × 2 km tilted plane at 10 m: z = z0 + dz_east·x + dz_north·y (m)."""
    grid = Grid.from_bounds(UTM, (500000, 4000000, 502000, 4002000), 10.0)
    rows, cols = np.indices(grid.shape)
    xs, ys = grid.xy(rows, cols)
    return (z0 + dz_east * (xs - 500000) + dz_north * (ys - 4000000)).astype("float32"), grid


def _glaciers():
    return gpd.GeoDataFrame(
        {"name": ["a", "b"]},
        geometry=[box(500500, 4000500, 501500, 4001500), box(500100, 4001600, 500400, 4001900)],
        crs=UTM,
    )


def test_plane_facing_south_from_arrays():
    # the surface rises 30 % to the north → slope atan(0.3) = 16.70°, aspect 180° (S)
    dem, grid = _plane(dz_north=0.3)
    out, hyps = attributes_from_windows(_glaciers(), lambda geoms: array_windows(dem, grid, geoms))
    a = out.iloc[0]
    assert a["slope_deg"] == pytest.approx(np.degrees(np.arctan(0.3)), abs=0.01)
    assert a["aspect_deg"] == pytest.approx(180.0, abs=0.01) and a["aspect_sec"] == 5
    # cell centres inside [4000500, 4001500] north: 5000 + 0.3·(505 … 1495)
    assert a["zmin_m"] == pytest.approx(5000 + 0.3 * 505, abs=0.01)
    assert a["zmax_m"] == pytest.approx(5000 + 0.3 * 1495, abs=0.01)
    assert a["dem_cov"] == 1.0 and a["dem_source"] is None and list(out["glac_id"]) == ["G00001", "G00002"]
    assert hyps.groupby("glac_id")["share_permille"].sum().tolist() == [1000, 1000]


def test_pure_core_equals_the_file_level_function(tmp_path):
    dem, grid = _plane(dz_east=-0.1, dz_north=0.25)
    path = write_raster(tmp_path / "dem.tif", dem, grid)
    from_file = compute_attributes(_glaciers(), path, return_centerlines=True)
    pure = attributes_from_windows(
        _glaciers(),
        lambda geoms: array_windows(dem, grid, geoms),
        dem_source="dem.tif",
        return_centerlines=True,
    )
    pd.testing.assert_frame_equal(pd.DataFrame(pure[0]), pd.DataFrame(from_file[0]))
    pd.testing.assert_frame_equal(pure[1], from_file[1])
    assert all(a.equals_exact(b, 0) for a, b in zip(pure[2].geometry, from_file[2].geometry, strict=True))


def test_glacier_without_dem_gets_null_elevations():
    dem, grid = _plane()
    dem[:, :150] = np.nan  # the DEM has a hole under all of glacier a (x < 501500)
    (win,) = array_windows(dem, grid, _glaciers().iloc[:1].geometry)
    stats, line, bands = glacier_dem_attributes(win, min_dem_coverage=0.2)
    assert stats["dem_cov"] == 0.0 and stats["zmin_m"] is None and stats["aspect_sec"] == 9
    assert line is None and bands == [] and stats["lmax_m"] is None


def test_array_windows_need_a_metric_grid():
    dem, _ = _plane()
    geographic = Grid.from_bounds(CRS.from_epsg(4326), (75.0, 36.0, 75.02, 36.02), 0.0001)
    with pytest.raises(InputError, match="metres"):
        next(array_windows(dem, geographic, _glaciers().geometry))
