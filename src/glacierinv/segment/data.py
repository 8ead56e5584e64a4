"""Training data: label rasters on the stack grid, tiles, spatial-block splits, augmentation.

- Labels come from a class raster (any grid; nearest-neighbour onto the stack grid; 0/1/2, 255 nodata)
  or from glacier + debris polygons rasterised window by window (glacier → 1, debris → 2 on top).
- Each scene is cut into square **spatial blocks** of ``split_block_px``; blocks (over all scenes) are
  shuffled with the seed and dealt 8:1:1 to train/val/test. Tiles of ``tile_px`` with stride
  ``stride_px`` are cut *inside* blocks only, so overlapping tiles never straddle two splits.
- Tiles are read once into memory when they fit ``cache_mb`` (each group of overlapping tiles as one
  window, so a pixel shared by four tiles is read and held once); beyond that budget they are read lazily
  from the files at every use (memory then does not grow with the number of scenes).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.windows import Window

from glacierinv.classes import CLEAN_ICE, DEBRIS, NODATA
from glacierinv.errors import InputError
from glacierinv.io.grid import Grid
from glacierinv.io.raster import RasterWriter, iter_windows, open_raster, read_on_grid, read_window

__all__ = [
    "OPTICAL_CHANNELS",
    "Tile",
    "TileDataset",
    "augment",
    "assign_test_region",
    "channel_stats",
    "deal_validation",
    "label_raster",
    "make_tiles",
]

log = logging.getLogger(__name__)

OPTICAL_CHANNELS = frozenset({"blue", "green", "red", "nir", "pan", "swir", "swir1", "swir2"})


@dataclass(frozen=True)
class Tile:
    """One training tile: scene index, split name, window origin (row, col) and size in pixels."""

    scene: int
    split: str
    row: int
    col: int
    size: int


def label_raster(
    stack_path: str | Path,
    out_path: str | Path,
    *,
    classes: str | Path | None = None,
    glaciers: str | Path | None = None,
    debris: str | Path | None = None,
    ignore_edge_px: float = 0.0,
    block_px: int = 1024,
) -> Path:
    """Write a uint8 label raster on the grid of ``stack_path`` from a class raster or polygons.

    With polygons, ``ignore_edge_px`` > 0 sets to 255 (ignored in the loss and the scores) every pixel
    whose centre lies within ``ignore_edge_px`` pixels of a glacier or debris outline: a reference
    inventory and the image rarely share a date, so the margin itself is uncertain there.
    """
    with open_raster(stack_path) as ds:
        grid = Grid(ds.crs, ds.transform, (ds.height, ds.width))
    if classes is None and glaciers is None:
        raise InputError(
            "a training scene needs labels", stack_path, "Give `labels` (class raster) or `glaciers`"
        )
    if ignore_edge_px < 0:
        raise InputError(f"ignore_edge_px must be >= 0, not {ignore_edge_px}")
    layers, edge_zone = [], None
    if classes is None:
        layers, edge_zone = _label_polygons(glaciers, debris, grid, ignore_edge_px)
    with RasterWriter(out_path, grid, 1, "uint8", NODATA, descriptions=["class"]) as w:
        for _read, core in iter_windows(grid, block_px):
            if classes is not None:
                out = _class_window(classes, grid, core)
            else:
                out = _burn_window(layers, edge_zone, grid.window_grid(core))
            w.write(out, core)
    return Path(out_path)


def _label_polygons(glaciers, debris, grid: Grid, ignore_edge_px: float) -> tuple[list, object]:
    """The label polygons in ``grid``'s CRS as (GeoDataFrame, class value) pairs — glaciers 1, then debris 2
    (burnt over them) — and the zone within ``ignore_edge_px`` pixels of their outlines (None when 0)."""
    import shapely

    from glacierinv.io.vector import read_vector

    layers = []
    for path, value in ((glaciers, 1), (debris, 2)):
        if path is not None:
            gdf = read_vector(path, polygons=True).to_crs(grid.crs)
            layers.append((gdf, value))
    edge_zone = None
    if ignore_edge_px > 0:
        edges = [g.boundary for gdf, _ in layers for g in gdf.geometry if g is not None and not g.is_empty]
        if edges:
            edge_zone = shapely.union_all(edges).buffer(ignore_edge_px * abs(grid.transform.a))
    return layers, edge_zone


def _class_window(classes: str | Path, grid: Grid, core: Window) -> np.ndarray:
    """Labels of window ``core`` from a class raster (any grid; nearest): 0, 1, 2 kept, NaN/negative/other
    nodata → 255; InputError when it holds finite values other than 0, 1, 2 and 255."""
    arr = read_on_grid(classes, grid, core, 1, Resampling.nearest)
    bad = ~np.isfinite(arr) | (arr < 0) | ((arr > 2) & (arr != NODATA))
    if (bad & np.isfinite(arr)).any():
        raise InputError(
            "label raster holds values other than 0, 1, 2 and 255",
            classes,
            "Use the class coding of classes.tif",
        )
    return np.where(bad, NODATA, arr).astype("uint8")


def _burn_window(layers: list, edge_zone, sub: Grid) -> np.ndarray:
    """Labels of the window grid ``sub`` burnt from the polygon ``layers`` (0 outside; later layers over
    earlier ones), 255 in the ``edge_zone`` around the outlines."""
    from rasterio.features import rasterize

    out = np.zeros(sub.shape, "uint8")
    for gdf, value in layers:
        geoms = [g for g in gdf.geometry if g is not None and not g.is_empty]
        if geoms:
            burnt = rasterize(geoms, out_shape=sub.shape, transform=sub.transform, fill=0, default_value=1)
            out[burnt == 1] = value
    if edge_zone is not None and not edge_zone.is_empty:
        near = rasterize([edge_zone], out_shape=sub.shape, transform=sub.transform, fill=0, default_value=1)
        out[near == 1] = NODATA
    return out


def make_tiles(
    shapes: list[tuple[int, int]],
    *,
    tile_px: int,
    stride_px: int,
    split_block_px: int,
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
    seed: int = 0,
) -> list[Tile]:
    """Tiles of every scene, each assigned to the split of the spatial block it lies in.

    Blocks of ``split_block_px`` (≥ ``tile_px``) are dealt to train/val/test with a seeded shuffle in the
    given proportions (at least one block each for val and test when there are ≥ 3 blocks).
    """
    if split_block_px < tile_px:
        raise InputError(f"split_block_px ({split_block_px}) must be >= tile_px ({tile_px})")
    blocks = []
    for s, (h, w) in enumerate(shapes):
        for r in range(0, max(h - tile_px, 0) + 1, split_block_px):
            for c in range(0, max(w - tile_px, 0) + 1, split_block_px):
                blocks.append((s, r, c, min(r + split_block_px, h), min(c + split_block_px, w)))
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(blocks))
    n = len(blocks)
    n_val = max(1, int(round(fractions[1] * n))) if n >= 3 and fractions[1] > 0 else 0
    n_test = max(1, int(round(fractions[2] * n))) if n >= 3 and fractions[2] > 0 else 0
    split_of = {}
    for rank, b in enumerate(order):
        split_of[int(b)] = "val" if rank < n_val else ("test" if rank < n_val + n_test else "train")
    tiles = []
    for b, (s, r0, c0, r1, c1) in enumerate(blocks):
        for r in range(r0, r1 - tile_px + 1, stride_px):
            for c in range(c0, c1 - tile_px + 1, stride_px):
                tiles.append(Tile(s, split_of[b], r, c, tile_px))
    return tiles


def assign_test_region(
    tiles: list[Tile], transforms: list, region, *, scenes: list[int] | None = None
) -> list[Tile]:
    """Put the tiles that lie wholly inside ``region`` into the test split (a split by region).

    Parameters
    ----------
    tiles
        Tiles from :func:`make_tiles` (dealt to train/val; a ``test`` tile outside the region is kept as is).
    transforms
        Affine transform of each scene's grid (map units of ``region``).
    region
        A shapely (multi)polygon in the scenes' CRS: the held-out area.
    scenes
        Indices of the scenes the region applies to (default: all).

    Returns
    -------
    list of Tile
        Tiles wholly inside the region → ``test``; tiles that straddle its border are dropped, so no
        training pixel lies in the held-out area; the others keep their split.
    """
    import shapely

    shapely.prepare(region)
    out = []
    for t in tiles:
        if scenes is not None and t.scene not in scenes:
            out.append(t)
            continue
        tr = transforms[t.scene]  # north-up grids: x = c + col·a, y = f + row·e
        x0, x1 = tr.c + t.col * tr.a, tr.c + (t.col + t.size) * tr.a
        y0, y1 = tr.f + t.row * tr.e, tr.f + (t.row + t.size) * tr.e
        box = shapely.box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
        if region.contains(box):
            out.append(Tile(t.scene, "test", t.row, t.col, t.size))
        elif not region.intersects(box) or region.touches(box):
            out.append(t)
    return out


def deal_validation(tiles: list[Tile], split_block_px: int, fraction: float, seed: int = 0) -> list[Tile]:
    """Deal the tiles outside the test split to train / val by spatial blocks (seeded shuffle).

    Used after :func:`assign_test_region`, so that the validation blocks come from outside the held-out
    region. A tile belongs to the block of its origin (row // ``split_block_px``, col // ``split_block_px``);
    at least one block goes to val when there are two or more.
    """
    keys = sorted(
        {(t.scene, t.row // split_block_px, t.col // split_block_px) for t in tiles if t.split != "test"}
    )
    order = np.random.default_rng(seed).permutation(len(keys))
    n_val = max(1, int(round(fraction * len(keys)))) if len(keys) >= 2 and fraction > 0 else 0
    val = {keys[int(k)] for k in order[:n_val]}
    out = []
    for t in tiles:
        if t.split == "test":
            out.append(t)
        else:
            key = (t.scene, t.row // split_block_px, t.col // split_block_px)
            out.append(Tile(t.scene, "val" if key in val else "train", t.row, t.col, t.size))
    return out


def channel_stats(
    stacks: list[Path], band_idx: list[list[int]], tiles: list[Tile]
) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation over the valid pixels of ``tiles`` (float64 sums).

    Pixels shared by overlapping tiles count once per tile, i.e. as often as the network sees them.
    """
    n_ch = len(band_idx[0])
    s1, s2, n = np.zeros(n_ch), np.zeros(n_ch), np.zeros(n_ch)
    for t in tiles:
        with rasterio.open(stacks[t.scene]) as ds:
            x = read_window(ds, Window(t.col, t.row, t.size, t.size), [i + 1 for i in band_idx[t.scene]])
        x = x.reshape(n_ch, -1).astype("float64")
        ok = np.isfinite(x)
        s1 += np.where(ok, x, 0).sum(axis=1)
        s2 += np.where(ok, x * x, 0).sum(axis=1)
        n += ok.sum(axis=1)
    if (n == 0).any():
        raise InputError("a channel has no valid pixel in the training tiles", fix="Check the stacks")
    mean = s1 / n
    std = np.sqrt(np.maximum(s2 / n - mean**2, 0.0))
    return mean, np.maximum(std, 1e-6)


def augment(
    x: np.ndarray, y: np.ndarray, rng: np.random.Generator, optical: np.ndarray, jitter: float = 0.1
) -> tuple[np.ndarray, np.ndarray]:
    """Random flips, 90° rotations and brightness/contrast jitter (optical channels only).

    ``x`` is (C, H, W) in physical units, ``y`` (H, W); ``optical`` is a boolean mask of the channels that
    get the photometric jitter (reflectances: contrast × U(1 ± jitter) about the tile mean, brightness
    + U(± jitter/3)). Geometric transforms act on all channels and the labels alike.
    """
    k = int(rng.integers(4))
    x, y = np.rot90(x, k, axes=(1, 2)), np.rot90(y, k)
    if rng.random() < 0.5:
        x, y = x[:, :, ::-1], y[:, ::-1]
    if rng.random() < 0.5:
        x, y = x[:, ::-1, :], y[::-1, :]
    x = np.ascontiguousarray(x)
    if optical.any() and jitter > 0:
        contrast = 1.0 + rng.uniform(-jitter, jitter)
        brightness = rng.uniform(-jitter / 3, jitter / 3)
        xo = x[optical]
        m = np.nanmean(xo, axis=(1, 2), keepdims=True) if np.isfinite(xo).any() else 0.0
        x[optical] = (xo - m) * contrast + m + brightness
    return x, np.ascontiguousarray(y)


class TileDataset:
    """Normalised (x, y) tensors of tiles from the stacks and label rasters.

    NaN inputs become 0 after normalisation (the training mean) and their labels 255 (ignored).

    Parameters
    ----------
    cache_mb
        Memory budget (MiB) for holding the tiles' pixels in memory. When the windows that hold every tile
        (overlapping tiles grouped, each pixel once) fit in it, they are read once at construction and every
        later :meth:`read` is an array slice; otherwise (or with 0) tiles are read from the files at each use.
    group_px
        Tiles whose origins fall in the same ``group_px`` square (of one scene) are read as one window: the
        spatial split blocks of :func:`make_tiles`, inside which overlapping tiles are cut.
    """

    def __init__(
        self,
        stacks: list[Path],
        labels: list[Path],
        band_idx: list[list[int]],
        tiles: list[Tile],
        mean: np.ndarray,
        std: np.ndarray,
        optical: np.ndarray,
        augment_seed: int | None = None,
        *,
        cache_mb: float = 0.0,
        group_px: int | None = None,
    ):
        self.stacks, self.labels, self.band_idx, self.tiles = stacks, labels, band_idx, tiles
        self.mean = np.asarray(mean, "float32")[:, None, None]
        self.std = np.asarray(std, "float32")[:, None, None]
        self.optical, self.augment_seed = optical, augment_seed
        self._handles: dict[str, rasterio.DatasetReader] = {}
        self._cache: dict[tuple[int, int, int], tuple[int, int, np.ndarray, np.ndarray]] = {}
        self._group_px = group_px or 2 * max((t.size for t in tiles), default=1)
        if cache_mb > 0 and tiles:
            self._preload(cache_mb)

    def __len__(self) -> int:
        return len(self.tiles)

    @property
    def cached(self) -> bool:
        """True when the tiles are held in memory (see ``cache_mb``)."""
        return bool(self._cache)

    def _group(self, t: Tile) -> tuple[int, int, int]:
        return (t.scene, t.row // self._group_px, t.col // self._group_px)

    def cache_bytes(self) -> int:
        """Bytes the in-memory cache holds (or would hold): float32 channels + uint8 labels per pixel."""
        boxes = self._group_boxes()
        n_ch = len(self.band_idx[0])
        return sum((r1 - r0) * (c1 - c0) * (4 * n_ch + 1) for r0, c0, r1, c1 in boxes.values())

    def _group_boxes(self) -> dict[tuple[int, int, int], tuple[int, int, int, int]]:
        boxes: dict[tuple[int, int, int], tuple[int, int, int, int]] = {}
        for t in self.tiles:
            k = self._group(t)
            r0, c0, r1, c1 = boxes.get(k, (t.row, t.col, t.row + t.size, t.col + t.size))
            boxes[k] = (min(r0, t.row), min(c0, t.col), max(r1, t.row + t.size), max(c1, t.col + t.size))
        return boxes

    def _preload(self, cache_mb: float) -> None:
        need = self.cache_bytes()
        if need > cache_mb * 2**20:
            log.info(
                "training tiles need %.0f MiB, more than cache_mb = %g: read from the files at each use",
                need / 2**20,
                cache_mb,
            )
            return
        for k, (r0, c0, r1, c1) in sorted(self._group_boxes().items()):
            win = Window(c0, r0, c1 - c0, r1 - r0)
            scene = k[0]
            x = read_window(self._ds(self.stacks[scene]), win, [j + 1 for j in self.band_idx[scene]])
            y = read_window(self._ds(self.labels[scene]), win, 1, as_float=False)
            self._cache[k] = (r0, c0, np.ascontiguousarray(x, "float32"), np.ascontiguousarray(y))
        self.close()  # every pixel is in memory: no file handle is needed any more

    def _ds(self, path: Path) -> rasterio.DatasetReader:
        key = str(path)
        if key not in self._handles:
            self._handles[key] = rasterio.open(path)
        return self._handles[key]

    def read(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Tile ``i`` in physical units (x float32 (C,H,W) with NaN, y uint8); a copy the caller may modify."""
        t = self.tiles[i]
        if self._cache:
            r0, c0, xb, yb = self._cache[self._group(t)]
            r, c = t.row - r0, t.col - c0
            return xb[:, r : r + t.size, c : c + t.size].copy(), yb[r : r + t.size, c : c + t.size].copy()
        win = Window(t.col, t.row, t.size, t.size)
        x = read_window(self._ds(self.stacks[t.scene]), win, [j + 1 for j in self.band_idx[t.scene]])
        y = read_window(self._ds(self.labels[t.scene]), win, 1, as_float=False)
        return x, y

    def item(self, i: int, epoch: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Normalised, optionally augmented tile ``i`` (augmentation seeded by seed, epoch and index)."""
        x, y = self.read(i)
        if self.augment_seed is not None:
            rng = np.random.default_rng([self.augment_seed, epoch, i])
            x, y = augment(x, y, rng, self.optical)
        invalid = ~np.isfinite(x).all(axis=0)
        x = np.nan_to_num((x - self.mean) / self.std, nan=0.0, posinf=0.0, neginf=0.0).astype("float32")
        y = y.astype("int64")
        y[invalid] = NODATA
        return x, y

    def batch(self, indices, epoch: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Tiles ``indices`` stacked: x (B, C, H, W) float32, y (B, H, W) int64 (see :meth:`item`)."""
        items = [self.item(int(i), epoch) for i in indices]
        return np.stack([it[0] for it in items]), np.stack([it[1] for it in items])

    def has_glacier(self, i: int) -> bool:
        _, y = self.read(i)
        return bool(((y == CLEAN_ICE) | (y == DEBRIS)).any())

    def close(self) -> None:
        """Close the file handles (the in-memory cache, if any, stays usable)."""
        for ds in self._handles.values():
            ds.close()
        self._handles.clear()
