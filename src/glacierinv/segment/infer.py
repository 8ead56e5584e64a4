"""U-Net inference over a whole feature stack: overlapping tiles, smooth blending, bounded memory.

The scene is covered by ``tile_px`` tiles on a fixed grid of origins with stride ``tile_px − overlap_px``
(the last tile of a row/column is aligned to the scene edge). Each tile's softmax probabilities are
multiplied by a separable raised-cosine (Hann) weight that falls towards the tile edges, summed, and
divided by the summed weights, so every pixel's probability is a smooth average dominated by tiles
that see it far from their borders: no seams. Channels are normalised with the checkpoint's training
statistics (scene-wide, never per tile).

Memory is bounded: tile rows are streamed top to bottom, keeping an accumulator of at most
``tile_px + 2·stride + 256`` rows over one column strip of ``block_px`` (+ the tiles overlapping it);
finished rows are written out as soon as no later tile touches them. Tiles straddling a strip border
are computed for both strips (extra work ≈ ``tile_px / block_px``), so results do not depend on
``block_px``.

Throughput: the next tile row is read and normalised by a reader thread while the model runs, and
finished rows are converted and written (compressed GeoTIFF) by a writer thread; tiles are batched
across tile rows so every forward pass but the last of a strip has ``batch_size`` tiles (one shape, so
oneDNN/cuDNN kernels are built once). Around the model the work is numpy, single-threaded and in place
(the blend weights are applied in one batched multiply on the device, tiles are added to the float32
accumulators with ``np.add(..., out=)``, the argmax is one pass per class), so it does not wake torch's
thread team between forward passes; outputs are DEFLATE level 1 (:data:`OUTPUT_ZLEVEL`). In fp32 the
results are byte for byte those of the plain per-tile loop (tests/segment/test_infer.py).

Precision (``precision="auto"``, the default): bf16 autocast where the device computes bf16 natively
(CUDA GPUs with bf16 support; x86 CPUs with AVX512-BF16 or AMX), float32 elsewhere; on a CPU the bf16
forward takes its input channels-last (NHWC). Probabilities are accumulated in float32 either way; see
docs/segment.md for the agreement with float32.

Confidence (``confidence``): the blended class probabilities are calibrated by the checkpoint's
temperature (``softmax(logits / T)``, fitted on validation data; ``T = 1`` for old checkpoints) and
``uncertainty.tif`` holds their normalised predictive entropy ``H = −Σ p log p / log K`` (0 = certain,
1 = uniform). ``"softmax"`` uses one forward pass per tile (no extra cost); ``"tta"`` averages the
probabilities of 4 test-time augmentations (identity, horizontal and vertical flip, 90° rotation);
``"mc"`` averages ``mc_samples`` forward passes with dropout active (Monte-Carlo dropout); ``"none"``
writes no uncertainty raster.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import platform
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rasterio.windows import Window

from glacierinv.classes import NODATA
from glacierinv.config import SegmentConfig
from glacierinv.errors import InputError
from glacierinv.io.grid import Grid
from glacierinv.io.raster import FAST_ZLEVEL, RasterWriter, class_writers, open_raster, read_window
from glacierinv.segment.checkpoint import ModelMeta, load_checkpoint, match_channels

__all__ = [
    "CONFIDENCE_MODES",
    "PRECISIONS",
    "Prediction",
    "TileOptions",
    "batch_forward",
    "blend_weights",
    "finish_block",
    "native_bf16",
    "normalise_channels",
    "normalised_entropy",
    "predict_array",
    "predict_stack",
    "predict_with_model",
    "resolve_device",
    "resolve_precision",
    "tile_origins",
]

log = logging.getLogger(__name__)

FLUSH_ROWS = 256  # rows are written in multiples of the GeoTIFF block height where possible
OUTPUT_ZLEVEL = FAST_ZLEVEL  # DEFLATE level of classes/proba/uncertainty (see io.raster.FAST_ZLEVEL)
PRECISIONS = ("auto", "fp32", "bf16")
CONFIDENCE_MODES = ("softmax", "tta", "mc", "none")
TTA_TRANSFORMS = ("identity", "flip_x", "flip_y", "rot90")


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


@functools.cache
def _cpu_flags() -> frozenset[str]:
    """CPU feature flags from /proc/cpuinfo (Linux); empty where it does not exist."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def native_bf16(device: torch.device | str) -> bool:
    """True when ``device`` computes bf16 natively (so bf16 autocast pays).

    CUDA: ``torch.cuda.is_bf16_supported()`` (Ampere and newer). CPU: x86 with the ``avx512_bf16`` or
    ``amx_bf16`` instructions (read from /proc/cpuinfo; torch's ``get_cpu_capability()`` only names the
    vector width its kernels were dispatched to, e.g. "AVX2" on AMD EPYC CPUs that do have AVX512-BF16).
    Other CPUs (older x86, Apple/ARM) → False: bf16 would be emulated and slower.
    """
    dev = torch.device(device)
    if dev.type == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if dev.type != "cpu" or platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    capability = torch.backends.cpu.get_cpu_capability().upper()
    return bool({"avx512_bf16", "amx_bf16"} & _cpu_flags()) or "AMX" in capability


def resolve_precision(precision: str, device: torch.device | str) -> str:
    """``auto`` → ``bf16`` where :func:`native_bf16`, else ``fp32``; ``fp32``/``bf16`` are kept."""
    if precision not in PRECISIONS:
        raise InputError(f"precision must be one of {', '.join(PRECISIONS)}, not '{precision}'")
    if precision == "auto":
        return "bf16" if native_bf16(device) else "fp32"
    return precision


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


_SEGMENT_DEFAULTS = {name: f.default for name, f in SegmentConfig.model_fields.items()}


@dataclass(frozen=True)
class TileOptions:
    """How :func:`predict_stack`, :func:`predict_with_model` and :func:`predict_array` tile and run a stack.

    Attributes
    ----------
    tile_px, overlap_px : int or None
        Tile size and overlap in pixels; None: the tile size the checkpoint was trained on
        (``ModelMeta.tile_px``; the CBAM channel attention pools over the whole tile, so the network sees
        at another size statistics it did not learn) and a quarter of the tile (:func:`resolve_tiling`).
    block_px : int
        Column-strip width bounding memory (see module docstring).
    batch_size : int
        Tiles per forward pass.
    precision : {"auto", "fp32", "bf16"}
        bf16 autocast; ``auto`` = bf16 where the device has native bf16 (:func:`native_bf16`).
    confidence : {"softmax", "tta", "mc", "none"}
        How the probabilities behind ``uncertainty.tif`` are formed (module docstring).
    mc_samples : int
        Forward passes per tile for ``confidence="mc"``.
    """

    # the defaults are the segment stage's ([segment] in glacierinv.config, their only copy)
    tile_px: int | None = _SEGMENT_DEFAULTS["tile_px"]
    overlap_px: int | None = _SEGMENT_DEFAULTS["overlap_px"]
    block_px: int = _SEGMENT_DEFAULTS["strip_px"]
    batch_size: int = _SEGMENT_DEFAULTS["batch_size"]
    precision: str = _SEGMENT_DEFAULTS["precision"]
    confidence: str = _SEGMENT_DEFAULTS["confidence"]
    mc_samples: int = _SEGMENT_DEFAULTS["mc_samples"]


def predict_stack(
    stack_path: str | Path,
    checkpoint: str | Path | None,
    classes_path: str | Path,
    proba_path: str | Path | None = None,
    *,
    uncertainty_path: str | Path | None = None,
    device: str = _SEGMENT_DEFAULTS["device"],
    progress: Callable[[float], None] | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Segment a feature stack with a U-Net checkpoint → ``classes.tif`` (+ ``proba.tif``, ``uncertainty.tif``).

    Parameters
    ----------
    stack_path : path
        Feature stack (band descriptions = channel names). The checkpoint's channels are taken by name.
    checkpoint : path or None
        ``.pt`` written by ``glacierinv train``; None = the shipped synthetic model.
    classes_path, proba_path : path
        Outputs: uint8 classes (0 background, 1 clean ice, 2 debris, 255 nodata) and optional 3-band
        uint8 probabilities ×255 (blended, temperature-calibrated softmax). Written atomically.
    uncertainty_path : path, optional
        float32 normalised predictive entropy (0-1, NaN nodata); ignored when ``confidence="none"``.
    device : {"auto", "cpu", "cuda"}
    progress : callable, optional
        Called with the finished fraction (0-1).
    **options
        ``tile_px, overlap_px, block_px, batch_size, precision, confidence, mc_samples``: see
        :class:`TileOptions`.

    Returns
    -------
    dict
        Pixel counts per class, tiles run, device, precision used, checkpoint path and its training summary.
    """
    dev = resolve_device(device)
    model, meta = load_checkpoint(checkpoint, dev)
    summary = predict_with_model(
        stack_path, model, meta, classes_path, proba_path, uncertainty_path=uncertainty_path, progress=progress,
        **options,
    )  # fmt: skip
    summary["checkpoint"] = str(checkpoint) if checkpoint is not None else "shipped:unet_cbam_synthetic.pt"
    summary["model_channels"] = list(meta.channels)
    return summary


def resolve_tiling(tile_px: int | None, overlap_px: int | None, trained_tile_px: int) -> tuple[int, int]:
    """(tile, overlap) in px: ``tile_px`` or the checkpoint's training tile; ``overlap_px`` or tile / 4."""
    tile = int(tile_px) if tile_px else int(trained_tile_px)
    return tile, int(overlap_px) if overlap_px is not None else tile // 4


def _check_tiling(tile_px: int, overlap_px: int, block_px: int) -> int:
    if tile_px < 16 or tile_px % 16:
        raise InputError(f"tile_px must be a multiple of 16 and >= 16, not {tile_px}", fix="Use e.g. 512")
    if not 0 <= overlap_px < tile_px:
        raise InputError(f"overlap_px must be in [0, tile_px), not {overlap_px}", fix="Use e.g. tile_px / 4")
    if block_px < tile_px:
        raise InputError(f"block_px ({block_px}) must be >= tile_px ({tile_px})")
    return tile_px - overlap_px


class _Strip:
    """Accumulators of one column strip: rows ``top .. top + filled`` of the scene, preallocated."""

    def __init__(self, n_classes: int, rows: int, width: int):
        self.acc = np.zeros((n_classes, rows, width), "float32")
        self.wsum = np.zeros((rows, width), "float32")
        self.valid = np.zeros((rows, width), bool)
        self.top = 0
        self.end = 0  # scene rows top .. end are in use (rows below are zero)

    def ensure(self, end_row: int) -> None:
        """Room for scene rows up to ``end_row`` (grows only if a caller exceeds the planned bound)."""
        self.end = max(self.end, end_row)
        need = end_row - self.top
        if need > self.wsum.shape[0]:
            grow = need - self.wsum.shape[0]
            self.acc = np.concatenate(
                [self.acc, np.zeros((self.acc.shape[0], grow, self.acc.shape[2]), "float32")], 1
            )
            self.wsum = np.concatenate([self.wsum, np.zeros((grow, self.wsum.shape[1]), "float32")], 0)
            self.valid = np.concatenate([self.valid, np.zeros((grow, self.valid.shape[1]), bool)], 0)

    def take(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Copies of the first ``n`` rows; the rows in use below move up and the freed rows are zeroed."""
        out = self.acc[:, :n].copy(), self.wsum[:n].copy(), self.valid[:n].copy()
        used = max(self.end - self.top, n)
        for a in (self.acc.swapaxes(0, 1), self.wsum, self.valid):  # rows first
            a[: used - n] = a[n:used]
            a[used - n : used] = 0
        self.top += n
        return out


@dataclass(frozen=True)
class _Plan:
    """Tile origins and column strips of a ``height`` × ``width`` scene (see the module docstring)."""

    tile_px: int
    stride: int
    height: int
    width: int
    rows: list[int]
    cols: list[int]
    strips: list[tuple[int, int]]

    @classmethod
    def of(cls, height: int, width: int, tile_px: int, stride: int, block_px: int) -> _Plan:
        strip = max(block_px // FLUSH_ROWS, 1) * FLUSH_ROWS if block_px >= FLUSH_ROWS else block_px
        strips = [(c0, min(c0 + strip, width)) for c0 in range(0, width, strip)]
        rows, cols = tile_origins(height, tile_px, stride), tile_origins(width, tile_px, stride)
        return cls(tile_px, stride, height, width, rows, cols, strips)


def _check_options(confidence: str, mc_samples: int, batch_size: int) -> None:
    if confidence not in CONFIDENCE_MODES:
        raise InputError(f"confidence must be one of {', '.join(CONFIDENCE_MODES)}, not '{confidence}'")
    if confidence == "mc" and mc_samples < 2:
        raise InputError(f"mc_samples must be >= 2 for Monte-Carlo dropout, not {mc_samples}")
    if batch_size < 1:
        raise InputError(f"batch_size must be >= 1, not {batch_size}")


def normalise_channels(x: np.ndarray, mean: np.ndarray, inv_std: np.ndarray) -> np.ndarray:
    """Normalise a (C, H, W) float32 block in place with the checkpoint's statistics; returns the valid mask.

    ``x ← (x − mean) · inv_std`` per channel (``mean``, ``inv_std`` shaped (C, 1, 1)); pixels with a
    non-finite value in any channel are invalid (False) and set to 0 in every channel.
    """
    valid = np.isfinite(x).all(axis=0)
    x -= mean
    x *= inv_std
    x[~np.isfinite(x)] = 0.0
    return valid


def finish_block(
    acc: np.ndarray, wsum: np.ndarray, valid: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Blended probabilities → (classes, proba, valid) of finished rows (``acc`` is divided in place).

    ``proba = acc / wsum`` (summed weighted tile probabilities over summed weights); classes are its
    argmax (uint8), :data:`~glacierinv.classes.NODATA` where ``valid`` is False.
    """
    proba = acc
    np.divide(proba, wsum[None], out=proba)
    classes = _argmax0(proba)
    classes[~valid] = NODATA
    return classes, proba, valid


def _argmax0(proba: np.ndarray) -> np.ndarray:
    """``np.argmax(proba, axis=0).astype("uint8")`` for (K, H, W) finite values, K ≤ 255, without the
    transposed copy numpy's argmax over a leading axis makes: one pass per class, the first maximum wins
    (strict ``>``), as in :func:`numpy.argmax`."""
    if proba.shape[0] > 255 or not proba.shape[0]:
        return np.argmax(proba, axis=0).astype("uint8")
    best = proba[0].copy()
    classes = np.zeros(proba.shape[1:], "uint8")
    higher = np.empty(proba.shape[1:], bool)
    for k in range(1, proba.shape[0]):
        np.greater(proba[k], best, out=higher)
        classes[higher] = k
        np.maximum(best, proba[k], out=best)
    if np.isnan(best).any():  # numpy's argmax returns the first NaN: keep its answer there
        nan = np.isnan(proba).any(axis=0)
        classes[nan] = np.argmax(proba[:, nan], axis=0)
    return classes


def _stream_tiles(forward, plan: _Plan, n_channels: int, n_classes: int, batch_size: int, submit_read, emit,
                  progress=None) -> int:  # fmt: skip
    """Run the model over every tile of ``plan``, strip by strip, and hand finished rows to ``emit``.

    ``submit_read(xa, xb, y0)`` returns a future of the normalised block (C, rows, xb − xa) of the tile row
    at ``y0`` and its valid mask; ``emit(acc, wsum, valid, row0, c0, c1, xa)`` receives the accumulators of
    finished rows. Returns the number of tiles run.
    """
    weights = blend_weights(plan.tile_px)
    batch = torch.zeros((batch_size, n_channels, plan.tile_px, plan.tile_px), dtype=torch.float32)
    steps = _Steps(max(1, len(plan.strips) * len(plan.rows)), progress)
    n_tiles = 0
    for c0, c1 in plan.strips:
        n_tiles += _stream_strip(forward, plan, c0, c1, n_classes, batch, weights, submit_read, emit, steps)
    return n_tiles


class _Steps:
    """Progress over tile rows × strips."""

    def __init__(self, total: int, progress):
        self.total, self.done, self.progress = total, 0, progress

    def step(self) -> None:
        self.done += 1
        if self.progress is not None:
            self.progress(self.done / self.total)


def _stream_strip(forward, plan: _Plan, c0: int, c1: int, n_classes: int, batch, weights, submit_read, emit,
                  steps: _Steps) -> int:  # fmt: skip
    """One column strip ``c0 .. c1``: tile rows top to bottom, batched, finished rows emitted."""
    tile_px, rows, width = plan.tile_px, plan.rows, plan.width
    batch_size = batch.shape[0]
    batch_np, weights_t = batch.numpy(), torch.from_numpy(weights)
    tcols = [x for x in plan.cols if x < c1 and x + tile_px > c0]
    xa, xb = tcols[0], min(tcols[-1] + tile_px, width)
    st = _Strip(n_classes, min(tile_px + 2 * plan.stride + FLUSH_ROWS, plan.height), xb - xa)
    pending = submit_read(xa, xb, rows[0])
    queue: list[tuple[int, int, np.ndarray]] = []  # (tile row index, tile column, tile)
    left: dict[int, int] = {}  # tiles still to accumulate per tile row
    done_rows = 0  # tile rows whose tiles are all accumulated
    next_row = 0  # next tile row to take from the reader
    n_tiles = 0
    while done_rows < len(rows):
        # fill the queue to one full batch (tile rows are read one ahead by the reader)
        while len(queue) < batch_size and next_row < len(rows):
            x, valid = pending.result()
            y0 = rows[next_row]
            if next_row + 1 < len(rows):
                pending = submit_read(xa, xb, rows[next_row + 1])
            y1 = y0 + x.shape[1]
            st.ensure(y1)
            st.valid[y0 - st.top : y1 - st.top] = valid
            queue.extend((next_row, t, x[:, :, t - xa : min(t + tile_px, width) - xa]) for t in tcols)
            left[next_row] = len(tcols)
            next_row += 1
        chunk, queue = queue[:batch_size], queue[batch_size:]
        _fill_batch(batch_np, chunk, tile_px)
        weighted = forward(batch[: len(chunk)], weights_t).numpy()  # probabilities × blend weights
        n_tiles += len(chunk)
        for k, (ti, t, tile) in enumerate(chunk):
            _accumulate(st, weighted[k], weights, rows[ti] - st.top, t - xa, *tile.shape[1:])
            left[ti] -= 1
        while done_rows < len(rows) and left.get(done_rows) == 0:
            ti = done_rows
            done_rows += 1
            # rows above the next tile row are final
            final_end = rows[ti + 1] if ti + 1 < len(rows) else plan.height
            if ti + 1 < len(rows):
                final_end = st.top + ((final_end - st.top) // FLUSH_ROWS) * FLUSH_ROWS
            if final_end > st.top:
                row0 = st.top
                acc, wsum, valid = st.take(final_end - st.top)
                emit(acc, wsum, valid, row0, c0, c1, xa)
            steps.step()
    return n_tiles


def _fill_batch(batch: np.ndarray, chunk: list, tile_px: int) -> None:
    """Copy the tiles of ``chunk`` into ``batch`` (zero-padded to ``tile_px`` at the scene edges).

    numpy, single-threaded: a small copy that should not wake torch's thread team between forward passes.
    """
    for k, (_, _, tile) in enumerate(chunk):
        h, w_ = tile.shape[1:]
        batch[k, :, :h, :w_] = tile
        if h < tile_px or w_ < tile_px:
            batch[k, :, h:, :] = 0.0
            batch[k, :, :, w_:] = 0.0


def _accumulate(
    st: _Strip, weighted: np.ndarray, weights: np.ndarray, r0: int, x0: int, h: int, w_: int
) -> None:
    """Add one tile's weighted probabilities (and its weights) to the strip at row ``r0``, column ``x0``."""
    acc = st.acc[:, r0 : r0 + h, x0 : x0 + w_]
    np.add(acc, weighted[:, :h, :w_], out=acc)
    wsum = st.wsum[r0 : r0 + h, x0 : x0 + w_]
    np.add(wsum, weights[:h, :w_], out=wsum)


@dataclass
class Prediction:
    """Segmentation of an array: ``classes`` (H, W) uint8 (``NODATA`` where an input is invalid),
    ``proba`` (K, H, W) float32 blended calibrated probabilities, ``uncertainty`` (H, W) float32 normalised
    predictive entropy (0-1, NaN where invalid; None with ``confidence="none"``) and run figures."""

    classes: np.ndarray
    proba: np.ndarray
    uncertainty: np.ndarray | None
    summary: dict[str, Any]


@torch.inference_mode()
def predict_array(
    stack: np.ndarray,
    model: torch.nn.Module,
    meta: ModelMeta,
    **options: Any,
) -> Prediction:
    """Segment a feature stack held in memory (the pure core of :func:`predict_with_model`).

    Parameters
    ----------
    stack : (C, H, W) float array
        The model's channels (``meta.channels``, in that order), raw values (normalised here with the
        checkpoint's statistics); NaN = no data.
    model, meta
        Any module mapping (B, C, H, W) → logits, and its checkpoint metadata.
    **options
        :class:`TileOptions` as :func:`predict_stack`; the tiles and their blending are the same, so the
        result equals the file-level prediction of the same stack.

    Returns
    -------
    Prediction
    """
    stack = np.asarray(stack)
    if stack.ndim != 3 or stack.shape[0] != len(meta.channels):
        raise InputError(
            f"stack must be (channels, rows, cols) with the model's {len(meta.channels)} channels "
            f"({', '.join(meta.channels)}), not shape {stack.shape}"
        )
    run = _Run(model, meta, TileOptions(**options))
    tile_px, batch_size = run.opt.tile_px, run.opt.batch_size
    plan = run.plan(*stack.shape[1:])
    n_classes = len(meta.class_names)
    classes = np.full(stack.shape[1:], NODATA, "uint8")
    proba = np.zeros((n_classes, *stack.shape[1:]), "float32")
    unc = np.full(stack.shape[1:], np.nan, "float32") if run.opt.confidence != "none" else None

    def submit_read(xa: int, xb: int, y0: int) -> Future:
        x = stack[:, y0 : min(y0 + tile_px, plan.height), xa:xb].astype("float32", copy=True)
        done: Future = Future()
        done.set_result((x, normalise_channels(x, run.mean, run.inv_std)))
        return done

    def emit(acc, wsum, valid, row0, c0, c1, xa) -> None:
        core = slice(c0 - xa, c1 - xa)
        cls, p, ok = finish_block(acc[:, :, core], wsum[:, core], valid[:, core])
        rows = slice(row0, row0 + acc.shape[1])
        classes[rows, c0:c1], proba[:, rows, c0:c1] = cls, p
        if unc is not None:
            unc[rows, c0:c1] = np.where(ok, normalised_entropy(p), np.nan)

    n_tiles = _stream_tiles(run.forward, plan, stack.shape[0], n_classes, batch_size, submit_read, emit)
    counts = np.bincount(classes.ravel(), minlength=256)
    return Prediction(classes, proba, unc, run.summary(counts, n_tiles))


def batch_forward(
    model: torch.nn.Module, meta: ModelMeta, **options: Any
) -> Callable[[torch.Tensor], torch.Tensor]:
    """The forward pass :func:`predict_with_model` runs on each batch of tiles, for benchmarks and checks.

    Returns a function mapping a (B, C, T, T) float32 batch of normalised tiles to (B, K, T, T) float32
    calibrated class probabilities on the CPU, with the same precision, memory format, confidence mode and
    temperature as the tiled prediction (``options``: :class:`TileOptions`); the model's device is used.
    """
    run = _Run(model, meta, TileOptions(**options))

    def forward(batch: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return run.forward(batch)

    return forward


class _Run:
    """Checked options, device, precision, normalisation and forward pass of one prediction."""

    def __init__(self, model: torch.nn.Module, meta: ModelMeta, opt: TileOptions):
        tile, overlap = resolve_tiling(opt.tile_px, opt.overlap_px, meta.tile_px)
        self.opt = opt = dataclasses.replace(opt, tile_px=tile, overlap_px=overlap)
        self.stride = _check_tiling(opt.tile_px, opt.overlap_px, opt.block_px)
        _check_options(opt.confidence, opt.mc_samples, opt.batch_size)
        model.eval()
        self.dev = next(iter(model.parameters()), torch.zeros(0)).device
        self.prec = resolve_precision(opt.precision, self.dev)
        self.temperature = float(getattr(meta, "temperature", 1.0))
        self.mean = np.asarray(meta.norm_mean, "float32")[:, None, None]
        self.inv_std = (1.0 / np.asarray(meta.norm_std, "float32"))[:, None, None]
        self.forward = _Forward(model, self.dev, self.prec, self.temperature, opt.confidence, opt.mc_samples)

    def plan(self, height: int, width: int) -> _Plan:
        return _Plan.of(height, width, self.opt.tile_px, self.stride, self.opt.block_px)

    def summary(self, counts: np.ndarray, n_tiles: int) -> dict[str, Any]:
        return {
            "method": "unet",
            "pixels_background": int(counts[0]),
            "pixels_clean_ice": int(counts[1]),
            "pixels_debris": int(counts[2]),
            "pixels_nodata": int(counts[NODATA]),
            "tiles": n_tiles,
            "tile_px": self.opt.tile_px,
            "overlap_px": self.opt.overlap_px,
            "device": str(self.dev),
            "precision": self.prec,
            "precision_requested": self.opt.precision,
            "confidence": self.opt.confidence,
            "temperature": self.temperature,
            "forward_passes_per_tile": self.forward.passes,
        }


@torch.inference_mode()
def predict_with_model(
    stack_path: str | Path,
    model: torch.nn.Module,
    meta: ModelMeta,
    classes_path: str | Path,
    proba_path: str | Path | None = None,
    *,
    uncertainty_path: str | Path | None = None,
    progress: Callable[[float], None] | None = None,
    **options: Any,
) -> dict[str, Any]:
    """:func:`predict_stack` with a model already in memory (any module mapping (B,C,H,W) → logits).

    The file-level driver of :func:`predict_array`'s tiling: tile rows are read (and normalised) by a
    reader thread and finished rows written by a writer thread, so memory is bounded by ``block_px``.
    """
    run = _Run(model, meta, TileOptions(**options))
    tile_px, batch_size = run.opt.tile_px, run.opt.batch_size
    counts = np.zeros(256, "int64")
    unc_path = uncertainty_path if run.opt.confidence != "none" else None
    with (  # GDAL's block cache: configured once by the caller ([runtime] gdal_cache_mb)
        open_raster(stack_path) as ds,
        ThreadPoolExecutor(1, thread_name_prefix="glacierinv-read") as reader,
        ThreadPoolExecutor(1, thread_name_prefix="glacierinv-write") as writer,
    ):
        bands = [i + 1 for i in match_channels(meta, list(ds.descriptions), stack_path)]
        grid = Grid(ds.crs, ds.transform, (ds.height, ds.width))
        plan = run.plan(*grid.shape)
        writes: list[Future] = []

        def read_row(xa: int, xb: int, y0: int) -> tuple[np.ndarray, np.ndarray]:
            y1 = min(y0 + tile_px, plan.height)
            x = read_window(ds, Window(xa, y0, xb - xa, y1 - y0), bands)
            return x, normalise_channels(x, run.mean, run.inv_std)

        with _writers(classes_path, proba_path, unc_path, grid, meta.class_names) as opened:

            def emit(acc, wsum, valid, row0, c0, c1, xa) -> None:
                writes.append(writer.submit(_flush, opened, acc, wsum, valid, row0, c0, c1, xa, counts))
                # surface write errors early and keep at most two finished blocks in flight
                while len(writes) > 2 or (writes and writes[0].done()):
                    writes.pop(0).result()

            try:
                n_tiles = _stream_tiles(
                    run.forward, plan, len(bands), len(meta.class_names), batch_size,
                    lambda xa, xb, y0: reader.submit(read_row, xa, xb, y0), emit, progress,
                )  # fmt: skip
            finally:
                wait(writes)  # never close (or abort) the outputs under a running write
            for f in writes:
                f.result()
    return run.summary(counts, n_tiles)


class _Forward:
    """Calibrated softmax probabilities of a (B, C, T, T) batch: one pass, TTA or Monte-Carlo dropout."""

    def __init__(
        self,
        model: torch.nn.Module,
        dev: torch.device,
        precision: str,
        temperature: float,
        confidence: str,
        mc_samples: int,
    ):
        self.model, self.dev, self.bf16, self.t = model, dev, precision == "bf16", temperature
        # bf16 on a CPU: channels-last (NHWC) input lets oneDNN's bf16 convolutions skip their layout reorders
        # (measured 1.5x less CPU per forward, issue 26). fp32 stays NCHW: its results must not change.
        self.channels_last = self.bf16 and dev.type == "cpu"
        self.mode = confidence
        self.mc_samples = mc_samples
        self.passes = {"tta": len(TTA_TRANSFORMS), "mc": mc_samples}.get(confidence, 1)
        self.dropouts = [m for m in model.modules() if isinstance(m, torch.nn.modules.dropout._DropoutNd)]
        if confidence == "mc" and not self.dropouts:
            raise InputError(
                "confidence 'mc' needs a model with dropout layers", fix="Use 'tta' or 'softmax'"
            )
        self._weights: tuple[torch.Tensor, torch.Tensor] | None = None  # (host, device) blend weights

    def _proba(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(self.dev.type, dtype=torch.bfloat16, enabled=self.bf16):
            logits = self.model(x)
        logits = logits.float()
        if self.t != 1.0:
            logits = logits / self.t
        return torch.softmax(logits, dim=1)

    def __call__(self, batch: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
        """Probabilities (B, K, T, T) float32 on the CPU; multiplied by ``weights`` (T, T) when given (on the
        device, in place: one batched multiply instead of one per tile)."""
        x = batch.to(self.dev, non_blocking=True)
        if self.mode == "tta":
            p = self._proba(x)
            p += torch.flip(self._proba(torch.flip(x, (3,))), (3,))
            p += torch.flip(self._proba(torch.flip(x, (2,))), (2,))
            p += torch.rot90(self._proba(torch.rot90(x, 1, (2, 3))), -1, (2, 3))
            p /= len(TTA_TRANSFORMS)
        elif self.mode == "mc":
            for m in self.dropouts:
                m.train()
            try:
                p = self._proba(x)
                for _ in range(self.mc_samples - 1):
                    p += self._proba(x)
            finally:
                for m in self.dropouts:
                    m.eval()
            p /= self.mc_samples
        else:
            p = self._proba(x)
        if weights is not None:
            if self._weights is None or self._weights[0] is not weights:
                self._weights = (weights, weights.to(self.dev))
            p.mul_(self._weights[1])
        return p.cpu()


class _writers:
    """``class_writers`` (+ the uncertainty raster when asked), committed together or not at all."""

    def __init__(self, classes_path, proba_path, unc_path, grid: Grid, class_names):
        self.args = (classes_path, proba_path, grid, class_names, OUTPUT_ZLEVEL)
        self.unc_path, self.grid = unc_path, grid

    def __enter__(self) -> list:
        import contextlib

        self._stack = contextlib.ExitStack()
        self._stack.__enter__()
        try:
            opened = list(self._stack.enter_context(class_writers(*self.args)))
            opened = [opened[0], opened[1] if len(opened) > 1 else None]
            if self.unc_path is not None:
                opened.append(
                    self._stack.enter_context(
                        RasterWriter(
                            self.unc_path,
                            self.grid,
                            1,
                            "float32",
                            None,
                            descriptions=["entropy_norm"],
                            zlevel=OUTPUT_ZLEVEL,
                        )  # fmt: skip
                    )
                )
            else:
                opened.append(None)
        except BaseException:
            self._stack.__exit__(None, None, None)
            raise
        return opened

    def __exit__(self, *exc) -> bool | None:
        return self._stack.__exit__(*exc)


def normalised_entropy(proba: np.ndarray) -> np.ndarray:
    """Predictive entropy ``−Σ p log p`` of class probabilities (axis 0) divided by ``log K`` (0-1)."""
    k = proba.shape[0]
    p = np.clip(proba, 1e-12, 1.0)
    plogp = np.log(p)
    plogp *= p
    h = plogp.sum(axis=0)
    np.negative(h, out=h)
    h /= math.log(k)
    return h.astype("float32", copy=False)


def _flush(
    writers: list,
    acc: np.ndarray,
    wsum: np.ndarray,
    valid: np.ndarray,
    row0: int,
    c0: int,
    c1: int,
    xa: int,
    counts: np.ndarray,
) -> None:
    """Write finished rows (core columns c0..c1 of the strip) and add their class histogram to ``counts``."""
    core = slice(c0 - xa, c1 - xa)
    classes, proba, ok = finish_block(acc[:, :, core], wsum[:, core], valid[:, core])
    window = Window(c0, row0, c1 - c0, acc.shape[1])
    writers[0].write(classes, window)
    if writers[2] is not None:
        unc = normalised_entropy(proba)
        unc[~ok] = np.nan
        writers[2].write(unc, window)
    if writers[1] is not None:  # proba is not needed after this: scaled in place
        writers[1].write(_scale_uint8(proba, ok), window)
    counts += np.bincount(classes.ravel(), minlength=256)


def _scale_uint8(proba: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """``round(clip(proba, 0, 1) × 255)`` as uint8, 0 where not ``valid``; ``proba`` is overwritten."""
    np.clip(proba, 0.0, 1.0, out=proba)
    proba *= 255.0
    np.rint(proba, out=proba)
    scaled = proba.astype("uint8")
    if not valid.all():
        scaled[:, ~valid] = 0
    return scaled
