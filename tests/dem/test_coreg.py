import geopandas as gpd
import numpy as np
import pytest
from scipy import ndimage
from shapely.geometry import box

from glacierinv.dem.coreg import coregister_arrays, coregister_dem
from glacierinv.errors import NoOverlap

from ._helpers import utm_grid, write_dem

RES = 10.0


def _terrain(n=240, seed=0):
    rng = np.random.default_rng(seed)
    # smooth relief with all aspects (needed by Nuth & Kääb), slopes up to ~40°
    return (ndimage.gaussian_filter(rng.normal(size=(n + 40, n + 40)), 8) * 3000 + 1500).astype("float64")


def _shifted(z, drow, dcol, dz):
    return (ndimage.shift(z, (drow, dcol), order=3) + dz)[20:-20, 20:-20].astype("float32")


def test_recovers_known_subpixel_shift():
    z = _terrain()
    grid = utm_grid(240, RES)
    ref = z[20:-20, 20:-20].astype("float32")
    dem = _shifted(z, 0.4, 0.3, 5.0)  # content moved 0.3 px east, 0.4 px south, 5 m up
    aligned, r = coregister_arrays(ref, dem, grid)
    # the correction is the opposite move: dx = -3 m, dy = +4 m, dz = -5 m (tolerance 0.1 px = 1 m)
    assert abs(r.dx_m + 0.3 * RES) < 0.1 * RES
    assert abs(r.dy_m - 0.4 * RES) < 0.1 * RES
    assert abs(r.dz_m + 5.0) < 0.2
    assert r.nmad_after_m < 0.2 * r.nmad_before_m


def test_glacier_change_is_excluded_by_the_stable_mask(tmp_path):
    z = _terrain(seed=1)
    grid = utm_grid(240, RES)
    ref = z[20:-20, 20:-20].astype("float32")
    dem = _shifted(z, -0.5, 0.2, 2.0)
    dem[60:180, 60:180] -= 30.0  # a glacier thinned by 30 m between the two DEMs
    ref_p = write_dem(tmp_path / "ref.tif", ref, grid)
    dem_p = write_dem(tmp_path / "dem.tif", dem, grid)
    left, bottom, right, top = grid.bounds
    glacier = box(left + 55 * RES, top - 185 * RES, left + 185 * RES, top - 55 * RES)
    outlines = tmp_path / "glaciers.gpkg"
    gpd.GeoDataFrame(geometry=[glacier], crs=grid.crs).to_file(outlines)
    r = coregister_dem(dem_p, ref_p, tmp_path / "out.tif", stable_mask=outlines)
    assert abs(r.dz_m + 2.0) < 0.3  # not pulled towards the glacier's -30 m
    assert abs(r.dx_m + 0.2 * RES) < 0.15 * RES and abs(r.dy_m + 0.5 * RES) < 0.15 * RES
    assert (tmp_path / "out.tif").exists()


def test_disjoint_dems_raise(tmp_path):
    z = _terrain()[20:-20, 20:-20]
    a = write_dem(tmp_path / "a.tif", z, utm_grid(240, RES))
    b = write_dem(tmp_path / "b.tif", z, utm_grid(240, RES, x0=900000.0))
    with pytest.raises(NoOverlap):
        coregister_dem(b, a, tmp_path / "out.tif")
    assert not (tmp_path / "out.tif").exists()
