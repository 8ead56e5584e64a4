import numpy as np
import rasterio

from glacierinv.dem.gridding import (
    QUALITY_FILLED,
    QUALITY_MATCHED,
    QUALITY_NODATA,
    fill_gaps,
    fuse_dsms,
    grid_points_median,
    mosaic_dsms,
    remove_outliers,
)

from ._helpers import utm_grid, write_dem


def test_grid_points_median_per_cell():
    grid = utm_grid(4, res=1.0, x0=0.0, y0=4.0)
    # three points in cell (0, 0), one in (3, 3), one outside
    x = np.array([0.2, 0.5, 0.9, 3.5, 9.0])
    y = np.array([3.9, 3.5, 3.1, 0.5, 0.5])
    z = np.array([10.0, 100.0, 12.0, 5.0, 7.0])
    out = grid_points_median(x, y, z, grid)
    assert out[0, 0] == 12.0  # median of 10, 12, 100: robust to the blunder
    assert out[3, 3] == 5.0
    assert np.isnan(out).sum() == 14


def test_remove_outliers_drops_spikes_and_isolated_cells():
    yy, xx = np.mgrid[0:40, 0:40]
    z = (0.3 * xx + 0.1 * yy).astype("float32")  # a plane, 0.3 m per cell
    z[20, 20] += 25.0  # spike
    z[:, 30:] = np.nan
    z[5, 35] = 3.0  # isolated cell in the empty part
    out = remove_outliers(z, res_m=1.0, radius_m=2.0, max_dev_m=3.0, min_support=0.3)
    assert np.isnan(out[20, 20]) and np.isnan(out[5, 35])
    kept = np.isfinite(z) & np.isfinite(out)
    assert kept.sum() >= np.isfinite(z).sum() - 3  # the plane itself survives (edges included)


def test_fill_gaps_marks_filled_cells_and_leaves_wide_gaps():
    yy, xx = np.mgrid[0:50, 0:50]
    z = (0.5 * xx).astype("float32")
    z[10:12, 10:12] = np.nan  # small hole
    z[:, 30:] = np.nan  # wide gap (20 cells)
    out, q = fill_gaps(z, res_m=1.0, max_distance_m=4.0)
    assert (q[10:12, 10:12] == QUALITY_FILLED).all()
    assert np.allclose(out[10:12, 10:12], 0.5 * xx[10:12, 10:12], atol=0.6)
    assert (q[:, 40:] == QUALITY_NODATA).all() and np.isnan(out[:, 40:]).all()
    assert (q[:, :10] == QUALITY_MATCHED).all()


def test_fuse_prefers_matched_median():
    a = np.array([[1.0, np.nan]], "float32")
    b = np.array([[3.0, 7.0]], "float32")
    c = np.array([[100.0, np.nan]], "float32")
    qa = np.array([[1, 0]], "uint8")
    qb = np.array([[1, 2]], "uint8")
    qc = np.array([[1, 0]], "uint8")
    z, q = fuse_dsms([a, b, c], [qa, qb, qc])
    assert z[0, 0] == 3.0 and q[0, 0] == QUALITY_MATCHED
    assert z[0, 1] == 7.0 and q[0, 1] == QUALITY_FILLED


def test_mosaic_feathers_the_overlap(tmp_path):
    g1 = utm_grid(60, res=1.0, x0=0.0, y0=60.0)
    g2 = utm_grid(60, res=1.0, x0=40.0, y0=60.0)  # overlaps g1 on x in [40, 60)
    p1 = write_dem(tmp_path / "a.tif", np.full((60, 60), 10.0), g1)
    p2 = write_dem(tmp_path / "b.tif", np.full((60, 60), 20.0), g2)
    out = mosaic_dsms([p1, p2], tmp_path / "m.tif", feather_m=10.0)
    with rasterio.open(out) as ds:
        z = ds.read(1)
        assert ds.width == 100 and ds.height == 60
    row = z[30]
    assert np.allclose(row[:35], 10.0) and np.allclose(row[65:], 20.0)
    overlap = row[40:60]
    assert (np.diff(overlap) >= -1e-4).all()  # a ramp from one DSM to the other, no step
    assert np.max(np.abs(np.diff(row))) < 2.0
