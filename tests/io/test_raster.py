import numpy as np
import pytest
from rasterio.crs import CRS

from glacierinv.errors import InputError, NoOverlap, OutputError
from glacierinv.io import Grid, iter_windows, read_raster, write_raster
from glacierinv.io.atomic import atomic_path
from glacierinv.io.raster import RasterWriter, core_slice, read_on_grid


@pytest.fixture
def grid():
    return Grid.from_bounds(CRS.from_epsg(32643), (500000, 4000000, 500200, 4000100), 2.0)


def test_roundtrip_with_descriptions(tmp_path, grid):
    arr = np.random.default_rng(0).random((2, *grid.shape)).astype("float32")
    arr[0, 0, 0] = np.nan
    p = write_raster(tmp_path / "a.tif", arr, grid, descriptions=["red", "nir"])
    back, g = read_raster(p)
    assert g.shape == grid.shape and g.res == (2.0, 2.0)
    np.testing.assert_array_equal(np.isnan(back), np.isnan(arr))
    np.testing.assert_allclose(back[~np.isnan(back)], arr[~np.isnan(arr)])


def test_windows_cover_grid_once(grid):
    count = np.zeros(grid.shape, int)
    for read, core in iter_windows(grid, block=37, overlap=5):
        assert read.width >= core.width
        sub = np.zeros((int(read.height), int(read.width)), int)
        sub[core_slice(read, core)] += 1
        r0, c0 = int(read.row_off), int(read.col_off)
        count[r0 : r0 + sub.shape[0], c0 : c0 + sub.shape[1]] += sub
    assert (count == 1).all()


def test_missing_and_not_raster(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_raster(tmp_path / "nope.tif")
    fake = tmp_path / "fake.tif"
    fake.write_text("hello")
    with pytest.raises(InputError, match="not a readable raster"):
        read_raster(fake)


def test_failed_write_leaves_nothing(tmp_path, grid):
    target = tmp_path / "out.tif"
    with pytest.raises(RuntimeError), RasterWriter(target, grid) as w:
        w.write(np.zeros(grid.shape, "float32"))
        raise RuntimeError("crash mid-write")
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_no_file_is_error(tmp_path):
    with pytest.raises(OutputError), atomic_path(tmp_path / "x.txt"):
        pass


def test_read_on_grid_reprojects_and_checks_overlap(tmp_path, grid):
    arr = np.arange(grid.height * grid.width, dtype="float32").reshape(grid.shape)
    p = write_raster(tmp_path / "a.tif", arr, grid)
    coarse = Grid.from_bounds(grid.crs, grid.bounds, 4.0)
    out = read_on_grid(p, coarse)
    assert out.shape == (1, *coarse.shape)
    far = Grid.from_bounds(grid.crs, (600000, 4000000, 600100, 4000100), 2.0)
    with pytest.raises(NoOverlap):
        read_on_grid(p, far)
