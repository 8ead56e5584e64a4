"""U-Net inference over a whole feature stack: overlapping tiles, smooth blending, bounded memory.

The scene is covered by ``tile_px`` tiles on a fixed grid of origins with stride ``tile_px − overlap_px``
(the last tile of a row/column is aligned to the scene edge). Each tile's softmax probabilities are
multiplied by a separable raised-cosine (Hann) weight that falls towards the tile edges, summed, and
divided by the summed weights, so every pixel's probability is a smooth average dominated by tiles
that see it far from their borders: no seams. Channels are normalised with the checkpoint's training
statistics (scene-wide, never per tile).

Memory is bounded: tile rows are streamed top to bottom, keeping an accumulator of at most
``tile_px + stride + 256`` rows over one column strip of ``block_px`` (+ the tiles overlapping it);
finished rows are written out as soon as no later tile touches them. Tiles straddling a strip border
are computed for both strips (extra work ≈ ``tile_px / block_px``), so results do not depend on
``block_px``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import torch
from rasterio.windows import Window

from glacierinv.classes import NODATA
from glacierinv.errors import InputError
from glacierinv.io.grid import Grid
from glacierinv.io.raster import RasterWriter, class_writers, open_raster, read_window
from glacierinv.segment.checkpoint import ModelMeta, load_checkpoint, match_channels

__all__ = ["blend_weights", "predict_stack", "predict_with_model", "resolve_device", "tile_origins"]

log = logging.getLogger(__name__)

FLUSH_ROWS = 256
GDAL_CACHE_MB = 128  # bounded GDAL block cache (its default is 5 % of RAM)  # rows are written in multiples of the GeoTIFF block height where possible


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` → CUDA when available, else CPU; ``cuda`` without a GPU is a clear error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise InputError(
            "device 'cuda' requested but no CUDA GPU is available", fix="Use device = 'auto' or 'cpu'"
        )
    if device not in ("cpu", "cuda"):
        raise InputError(f"unknown device '{device}'", fix="Use auto, cpu or cuda")
    return torch.device(device)


def tile_origins(n: int, tile_px: int, stride: int) -> list[int]:
    """Tile start offsets covering ``[0, n)``: multiples of ``stride``, the last aligned to ``n − tile_px``."""
    if n <= tile_px:
        return [0]
    origins = list(range(0, n - tile_px, stride))
    origins.append(n - tile_px)
    return sorted(set(origins))


def blend_weights(tile_px: int, floor: float = 1e-3) -> np.ndarray:
    """Separable raised-cosine (Hann) weights of a ``tile_px`` tile, > 0 everywhere (``floor``).

    ``w(i) = sin²(π (i + ½) / tile_px)``: 1 in the centre, → 0 at the edges. The floor keeps scene-edge
    pixels (seen by one tile only) defined.
    """
    i = np.arange(tile_px, dtype="float64")
    w1 = np.sin(np.pi * (i + 0.5) / tile_px) ** 2
    return np.maximum(np.outer(w1, w1), floor).astype("float32")


def predict_stack(
    stack_path: str | Path,
    checkpoint: str | Path | None,
    classes_path: str | Path,
    proba_path: str | Path | None = None,
    *,
    tile_px: int = 512,
    overlap_px: int = 128,
    device: str = "auto",
    block_px: int = 8192,
    batch_size: int = 4,
    precision: str = "fp32",
    progress: Callable[[float], None] | None = None,
) -> dict[str, Any]:
    """Segment a feature stack with a U-Net checkpoint → ``classes.tif`` (+ ``proba.tif``).

    Parameters
    ----------
    stack_path : path
        Feature stack (band descriptions = channel names). The checkpoint's channels are taken by name.
    checkpoint : path or None
        ``.pt`` written by ``glacierinv train``; None = the shipped synthetic model.
    classes_path, proba_path : path
        Outputs: uint8 classes (0 background, 1 clean ice, 2 debris, 255 nodata) and optional 3-band
        uint8 probabilities ×255 (blended softmax). Written atomically.
    tile_px, overlap_px : int
        Tile size and overlap in pixels (seed: 512 px tiles, overlapping).
    device : {"auto", "cpu", "cuda"}
    block_px : int
        Column-strip width bounding memory (see module docstring).
    batch_size : int
        Tiles per forward pass.
    precision : {"fp32", "bf16"}
        bf16 autocast (CUDA, or CPUs with fast bf16); probabilities are accumulated in float32.

    Returns
    -------
    dict
        Pixel counts per class, tiles run, device, checkpoint path and its training summary.
    """
    dev = resolve_device(device)
    model, meta = load_checkpoint(checkpoint, dev)
    summary = predict_with_model(
        stack_path,
        model,
        meta,
        classes_path,
        proba_path,
        tile_px=tile_px,
        overlap_px=overlap_px,
        block_px=block_px,
        batch_size=batch_size,
        precision=precision,
        progress=progress,
    )
    summary["checkpoint"] = str(checkpoint) if checkpoint is not None else "shipped:unet_cbam_synthetic.pt"
    summary["model_channels"] = list(meta.channels)
    return summary


def _check_tiling(tile_px: int, overlap_px: int, block_px: int) -> int:
    if tile_px < 16 or tile_px % 16:
        raise InputError(f"tile_px must be a multiple of 16 and >= 16, not {tile_px}", fix="Use e.g. 512")
    if not 0 <= overlap_px < tile_px:
        raise InputError(f"overlap_px must be in [0, tile_px), not {overlap_px}", fix="Use e.g. tile_px / 4")
    if block_px < tile_px:
        raise InputError(f"block_px ({block_px}) must be >= tile_px ({tile_px})")
    return tile_px - overlap_px


@torch.no_grad()
def predict_with_model(
    stack_path: str | Path,
    model: torch.nn.Module,
    meta: ModelMeta,
    classes_path: str | Path,
    proba_path: str | Path | None = None,
    *,
    tile_px: int = 512,
    overlap_px: int = 128,
    block_px: int = 8192,
    batch_size: int = 4,
    precision: str = "fp32",
    progress: Callable[[float], None] | None = None,
) -> dict[str, Any]:
    """:func:`predict_stack` with a model already in memory (any module mapping (B,C,H,W) → logits)."""
    stride = _check_tiling(tile_px, overlap_px, block_px)
    if precision not in ("fp32", "bf16"):
        raise InputError(f"precision must be fp32 or bf16, not '{precision}'")
    model.eval()
    dev = next(iter(model.parameters()), torch.zeros(0)).device
    n_classes = len(meta.class_names)
    mean = np.asarray(meta.norm_mean, "float32")[:, None, None]
    std = np.asarray(meta.norm_std, "float32")[:, None, None]
    weights = blend_weights(tile_px)
    counts = np.zeros(256, "int64")
    n_tiles = 0
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB), open_raster(stack_path) as ds:
        bands = [i + 1 for i in match_channels(meta, list(ds.descriptions), stack_path)]
        grid = Grid(ds.crs, ds.transform, (ds.height, ds.width))
        height, width = grid.shape
        rows = tile_origins(height, tile_px, stride)
        cols = tile_origins(width, tile_px, stride)
        strip = max(block_px // FLUSH_ROWS, 1) * FLUSH_ROWS if block_px >= FLUSH_ROWS else block_px
        strips = [(c0, min(c0 + strip, width)) for c0 in range(0, width, strip)]
        total_steps = max(1, len(strips) * len(rows))
        step = 0
        with class_writers(classes_path, proba_path, grid, meta.class_names) as opened:
            for c0, c1 in strips:
                tcols = [x for x in cols if x < c1 and x + tile_px > c0]
                xa, xb = tcols[0], min(tcols[-1] + tile_px, width)
                acc = np.zeros((n_classes, 0, xb - xa), "float32")
                wsum = np.zeros((0, xb - xa), "float32")
                valid_acc = np.zeros((0, xb - xa), bool)
                top = 0  # first row of the scene held in the accumulators
                for ti, y0 in enumerate(rows):
                    y1 = min(y0 + tile_px, height)
                    x = read_window(ds, Window(xa, y0, xb - xa, y1 - y0), bands)
                    valid = np.isfinite(x).all(axis=0)
                    x = np.nan_to_num((x - mean) / std, nan=0.0, posinf=0.0, neginf=0.0).astype("float32")
                    need = y1 - top
                    if acc.shape[1] < need:
                        grow = need - acc.shape[1]
                        acc = np.concatenate([acc, np.zeros((n_classes, grow, xb - xa), "float32")], axis=1)
                        wsum = np.concatenate([wsum, np.zeros((grow, xb - xa), "float32")], axis=0)
                        valid_acc = np.concatenate([valid_acc, np.zeros((grow, xb - xa), bool)], axis=0)
                    valid_acc[y0 - top : y1 - top] = valid
                    tiles = [x[:, :, t - xa : min(t + tile_px, width) - xa] for t in tcols]
                    probs = _forward_tiles(model, tiles, tile_px, batch_size, dev, precision)
                    n_tiles += len(tiles)
                    for t, p in zip(tcols, probs, strict=True):
                        h, w_ = p.shape[1:]
                        wt = weights[:h, :w_]
                        acc[:, y0 - top : y0 - top + h, t - xa : t - xa + w_] += p * wt
                        wsum[y0 - top : y0 - top + h, t - xa : t - xa + w_] += wt
                    # rows above the next tile row are final
                    final_end = rows[ti + 1] if ti + 1 < len(rows) else height
                    if ti + 1 < len(rows):
                        final_end = top + ((final_end - top) // FLUSH_ROWS) * FLUSH_ROWS
                    if final_end > top:
                        n = final_end - top
                        counts += _flush(opened, acc[:, :n], wsum[:n], valid_acc[:n], top, c0, c1, xa)
                        acc, wsum, valid_acc = acc[:, n:], wsum[n:], valid_acc[n:]
                        top = final_end
                    step += 1
                    if progress is not None:
                        progress(step / total_steps)
    return {
        "method": "unet",
        "pixels_background": int(counts[0]),
        "pixels_clean_ice": int(counts[1]),
        "pixels_debris": int(counts[2]),
        "pixels_nodata": int(counts[NODATA]),
        "tiles": n_tiles,
        "tile_px": tile_px,
        "overlap_px": overlap_px,
        "device": str(dev),
        "precision": precision,
    }


def _forward_tiles(
    model: torch.nn.Module,
    tiles: list[np.ndarray],
    tile_px: int,
    batch_size: int,
    dev: torch.device,
    precision: str,
) -> list[np.ndarray]:
    """Softmax probabilities of each (C, h, w) tile (zero-padded to tile_px, cropped back)."""
    out: list[np.ndarray] = []
    for b0 in range(0, len(tiles), batch_size):
        chunk = tiles[b0 : b0 + batch_size]
        batch = np.zeros((len(chunk), chunk[0].shape[0], tile_px, tile_px), "float32")
        for k, t in enumerate(chunk):
            batch[k, :, : t.shape[1], : t.shape[2]] = t
        xb = torch.from_numpy(batch).to(dev)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
            logits = model(xb)
        p = torch.softmax(logits.float(), dim=1).cpu().numpy()
        out.extend(p[k, :, : t.shape[1], : t.shape[2]] for k, t in enumerate(chunk))
    return out


def _flush(
    writers: list[RasterWriter],
    acc: np.ndarray,
    wsum: np.ndarray,
    valid: np.ndarray,
    row0: int,
    c0: int,
    c1: int,
    xa: int,
) -> np.ndarray:
    """Write finished rows (core columns c0..c1 of the strip) and return their class histogram."""
    proba = acc[:, :, c0 - xa : c1 - xa] / wsum[None, :, c0 - xa : c1 - xa]
    ok = valid[:, c0 - xa : c1 - xa]
    classes = np.argmax(proba, axis=0).astype("uint8")
    classes[~ok] = NODATA
    window = Window(c0, row0, c1 - c0, acc.shape[1])
    writers[0].write(classes, window)
    if len(writers) > 1:
        scaled = np.round(np.clip(proba, 0.0, 1.0) * 255.0).astype("uint8")
        scaled[:, ~ok] = 0
        writers[1].write(scaled, window)
    return np.bincount(classes.ravel(), minlength=256)
