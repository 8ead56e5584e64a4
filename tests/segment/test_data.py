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
