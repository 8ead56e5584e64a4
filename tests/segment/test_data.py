"""Tiles and splits: spatial blocks keep overlapping tiles in one split; augmentation; labels."""

from __future__ import annotations

import numpy as np
import pytest

from glacierinv.errors import InputError
from glacierinv.segment.data import augment, label_raster, make_tiles


def test_split_by_blocks_never_shares_pixels():
    tiles = make_tiles([(512, 512), (384, 640)], tile_px=64, stride_px=32, split_block_px=128, seed=1)
    owner: dict[tuple[int, int, int], str] = {}
    for t in tiles:
        for r in range(t.row, t.row + t.size, 16):
            for c in range(t.col, t.col + t.size, 16):
                assert owner.setdefault((t.scene, r, c), t.split) == t.split
    n = {s: sum(t.split == s for t in tiles) for s in ("train", "val", "test")}
    assert n["val"] > 0 and n["test"] > 0
    assert 0.7 < n["train"] / len(tiles) < 0.9  # 8:1:1 by blocks (every block holds the same tile count)


def test_split_is_seeded():
    a = make_tiles([(256, 256)], tile_px=32, stride_px=32, split_block_px=64, seed=0)
    b = make_tiles([(256, 256)], tile_px=32, stride_px=32, split_block_px=64, seed=0)
    c = make_tiles([(256, 256)], tile_px=32, stride_px=32, split_block_px=64, seed=5)
    assert a == b and a != c
    with pytest.raises(InputError):
        make_tiles([(256, 256)], tile_px=64, stride_px=32, split_block_px=32)


def test_augment_moves_image_and_labels_together():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, (16, 16)).astype("uint8")
    x = np.stack([y.astype("float32"), y.astype("float32") * 2 + 0.1])
    optical = np.array([False, True])
    for seed in range(8):
        xa, ya = augment(x.copy(), y.copy(), np.random.default_rng(seed), optical)
        np.testing.assert_array_equal(xa[0], ya)  # geometry identical; channel 0 not jittered
        assert xa.shape == x.shape and ya.shape == y.shape


def test_labels_from_polygons(tmp_path):
    import geopandas as gpd
    from shapely.geometry import box

    from tests.segment.conftest import GRID_ORIGIN, toy_scene, write_stack

    bands, _ = toy_scene(size=64)
    stack = write_stack(tmp_path / "s.tif", bands)
    x0, y0 = GRID_ORIGIN
    glaciers = gpd.GeoDataFrame(geometry=[box(x0 + 20, y0 - 100, x0 + 100, y0 - 20)], crs="EPSG:32643")
    debris = gpd.GeoDataFrame(geometry=[box(x0 + 20, y0 - 100, x0 + 60, y0 - 60)], crs="EPSG:32643")
    glaciers.to_crs("EPSG:4326").to_file(tmp_path / "g.gpkg")  # another CRS: reprojected
    debris.to_file(tmp_path / "d.gpkg")
    out = label_raster(stack, tmp_path / "l.tif", glaciers=tmp_path / "g.gpkg", debris=tmp_path / "d.gpkg")
    import rasterio

    lab = rasterio.open(out).read(1)
    assert lab[30, 30] == 1 and lab[40, 15] == 2 and lab[5, 5] == 0
    assert abs((lab == 2).sum() - 20 * 20) <= 2 and abs((lab > 0).sum() - 40 * 40) <= 40


def _toy_dataset(tmp_path, **kwargs):
    import rasterio

    from glacierinv.io.grid import Grid
    from glacierinv.io.raster import write_raster
    from glacierinv.segment.data import OPTICAL_CHANNELS, TileDataset
    from tests.segment.conftest import CHANNELS, toy_scene, write_stack

    stacks, labels, shapes = [], [], []
    for s in range(2):
        bands, truth = toy_scene(size=96, seed=s)
        stacks.append(write_stack(tmp_path / f"s{s}.tif", bands))
        with rasterio.open(stacks[-1]) as ds:
            grid = Grid(ds.crs, ds.transform, (ds.height, ds.width))
        labels.append(write_raster(tmp_path / f"l{s}.tif", truth, grid, nodata=255))
        shapes.append(truth.shape)
    tiles = make_tiles(shapes, tile_px=32, stride_px=16, split_block_px=48, seed=0)
    optical = np.array([c in OPTICAL_CHANNELS for c in CHANNELS])
    idx = [list(range(len(CHANNELS)))] * 2
    mean, std = np.full(len(CHANNELS), 0.5), np.full(len(CHANNELS), 2.0)
    return TileDataset(stacks, labels, idx, tiles, mean, std, optical, 7, group_px=48, **kwargs)


def test_tiles_held_in_memory_equal_tiles_read_from_files(tmp_path):
    lazy = _toy_dataset(tmp_path)
    held = _toy_dataset(tmp_path, cache_mb=64)
    assert held.cached and not lazy.cached
    # overlapping tiles (stride 16 of 32 px) share pixels: each group window holds a pixel once, so the
    # cache is smaller than the tiles one by one (2 scenes × 96² at most, 7 channels: 6 float32 + labels)
    assert held.cache_bytes() <= 2 * 96 * 96 * (6 * 4 + 1) < len(held) * 32 * 32 * (6 * 4 + 1)
    for i in range(len(lazy)):
        for epoch in (0, 3):  # augmented with the same seeded draws
            xa, ya = lazy.item(i, epoch)
            xb, yb = held.item(i, epoch)
            np.testing.assert_array_equal(xa, xb)
            np.testing.assert_array_equal(ya, yb)
    x, y = held.batch([0, 1, 2], epoch=1)
    assert x.shape == (3, 6, 32, 32) and y.shape == (3, 32, 32) and y.dtype == np.int64
    # a tile handed out is a copy: modifying it leaves the cache as it was
    x0, _ = held.read(0)
    x0[:] = -1
    np.testing.assert_array_equal(held.read(0)[0], lazy.read(0)[0])


def test_tiles_over_the_memory_budget_are_read_from_files(tmp_path):
    ds = _toy_dataset(tmp_path, cache_mb=0.01)  # 10 KiB: far below the tiles' size
    assert not ds.cached
    assert ds.item(0)[0].shape == (6, 32, 32)
