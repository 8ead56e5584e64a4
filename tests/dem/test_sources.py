import numpy as np
import rasterio

from glacierinv.dem.sources import SOURCE_FALLBACK, SOURCE_NONE, SOURCE_PRIMARY, merge_with_fallback

from ._helpers import utm_grid, write_dem


def test_gaps_filled_from_fallback_with_source_codes(tmp_path):
    fine = utm_grid(40, res=5.0)
    coarse = utm_grid(8, res=30.0, x0=500000.0 - 20, y0=5200000.0 + 20)  # covers the fine grid
    z1 = np.full((40, 40), 1000.0)
    z1[10:20, 10:20] = np.nan  # a gap in the primary DEM (e.g. a stereo hole in a shadow)
    z1[:, 38:] = np.nan
    p1 = write_dem(tmp_path / "fine.tif", z1, fine)
    p2 = write_dem(tmp_path / "coarse.tif", np.full((8, 8), 990.0), coarse)
    shares = merge_with_fallback(p1, p2, tmp_path / "dem.tif", primary_name="zy3", fallback_name="copdem30")
    with rasterio.open(tmp_path / "dem.tif") as ds:
        z, src = ds.read(1), ds.read(2)
        assert ds.tags()["dem_source_1"] == "zy3" and ds.tags()["dem_source_2"] == "copdem30"
    assert (src[10:20, 10:20] == SOURCE_FALLBACK).all() and np.allclose(z[10:20, 10:20], 990.0)
    assert (src[:5, :5] == SOURCE_PRIMARY).all() and np.allclose(z[:5, :5], 1000.0)
    assert not (src == SOURCE_NONE).any()
    assert abs(shares["fallback_frac"] - (100 + 80) / 1600) < 1e-9
