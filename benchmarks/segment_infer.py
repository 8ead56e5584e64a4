"""Segment-stage benchmark (issues 4, 19, 20): tiled U-Net inference throughput vs the raw model forward
on the same tiles (ratio, goal >= 0.85), fp32 vs bf16 autocast (speed and agreement), the cost of the
confidence modes, and peak memory vs scene size. Every figure printed comes from this run:

    .venv/bin/python benchmarks/segment_infer.py --sizes 1024 4096 --tile 512 --overlap 128

A synthetic scene (seed 100, never used for training) is generated and stacked once; larger stacks are
made by mirroring it (the model does not care, and only the size matters for speed and memory).

- "pipeline": :func:`glacierinv.segment.infer.predict_stack` end to end (read, normalise, forward,
  blend, argmax, write classes.tif + proba.tif).
- "forward": the same tiles, batched by 4 from memory, through the pipeline's own per-batch forward
  (``glacierinv.segment.infer.batch_forward``: model + softmax, same precision and memory format).
- cpu_time_ratio (fp32) and bf16_cpu_time_ratio = forward CPU seconds ÷ pipeline CPU seconds (process
  time, all threads): the same ratio measured in CPU work, less sensitive to other jobs on a shared machine.
- ratio (fp32) and bf16_ratio = pipeline MP/s ÷ forward MP/s (both in scene megapixels per second). Both
  run in this process, interleaved, ``--repeats`` times; the best (least disturbed) time of each is kept,
  because the machine is shared and single timings are noisy.
- Peak RSS: each size runs in a fresh subprocess reporting its ``VmHWM``; an import-only child gives the
  interpreter baseline. Memory should stay flat-ish while time grows with pixels (windowed inference).
- bf16 accuracy: classes of the bf16 and fp32 pipelines agree on >= 99.5 % of valid pixels, and their
  mIoU against the truth of the held-out base scene (easy, seed 100, 512 px at 2 m: one of the two easy
  held-out scenes of docs/segment.md, here with this run's tiles) differ by <= 0.002 (printed PASS/FAIL).
  (Before issue 26 the class rasters were read as their first row only: agreement and mIoU 0.498 came
  from 512 pixels.)
- confidence cost (``--confidence-size``): pipeline seconds with ``confidence`` = none / softmax / tta / mc
  (8 samples) ÷ the plain pipeline (none), interleaved, best of ``--repeats``; > 2x means it stays off
  by default.
Uses the shipped model (``models/unet_cbam_synthetic.pt``) on CPU unless --device cuda.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, sys, time
import torch
torch.set_num_threads(int(sys.argv[5]))
from glacierinv.segment.infer import predict_stack
secs, px = 0.0, 0
if sys.argv[1] != "-":
    t = time.perf_counter()
    r = predict_stack(sys.argv[1], None, sys.argv[2] + "/classes.tif", sys.argv[2] + "/proba.tif",
                      tile_px=int(sys.argv[3]), overlap_px=int(sys.argv[4]), device=sys.argv[6])
    secs = time.perf_counter() - t
    px = r["pixels_background"] + r["pixels_clean_ice"] + r["pixels_debris"] + r["pixels_nodata"]
hwm = [ln for ln in open("/proc/self/status") if ln.startswith("VmHWM:")]
print(json.dumps({"seconds": secs, "mpx": px / 1e6, "peak_rss_mb": int(hwm[0].split()[1]) / 1024}))
"""


def mirrored_stack(src: Path, dst: Path, size: int) -> Path:
    """Write a ``size``² stack by mirror-tiling ``src`` window by window."""
    import numpy as np

    from glacierinv.io.grid import Grid
    from glacierinv.io.raster import RasterWriter, iter_windows, open_raster, read_window

    with open_raster(src) as ds:
        data = read_window(ds)
        names = list(ds.descriptions)
        grid = Grid(ds.crs, ds.transform, (size, size))
    h, w = data.shape[1:]
    rows = np.arange(size) % (2 * h)
    rows = np.where(rows < h, rows, 2 * h - 1 - rows)
    cols = np.arange(size) % (2 * w)
    cols = np.where(cols < w, cols, 2 * w - 1 - cols)
    with RasterWriter(dst, grid, len(names), "float32", None, descriptions=names) as out:
        for _r, core in iter_windows(grid, 1024):
            r0, c0 = int(core.row_off), int(core.col_off)
            rr = rows[r0 : r0 + int(core.height)]
            cc = cols[c0 : c0 + int(core.width)]
            out.write(data[:, rr][:, :, cc], core)
    return dst


def pipeline(
    stack: Path,
    out: Path,
    tile: int,
    overlap: int,
    device: str,
    precision: str,
    confidence: str = "none",
    keep: Path | None = None,
) -> dict:
    """Time predict_stack end to end (model loading included, as the stage does it)."""
    from glacierinv.segment.infer import predict_stack

    t, c = time.perf_counter(), time.process_time()
    predict_stack(
        stack,
        None,
        out / "classes.tif",
        out / "proba.tif",
        uncertainty_path=out / "uncertainty.tif",
        tile_px=tile,
        overlap_px=overlap,
        device=device,
        precision=precision,
        confidence=confidence,
    )
    secs, cpu = time.perf_counter() - t, time.process_time() - c
    if keep is not None:
        (out / "classes.tif").replace(keep)
    for name in ("classes.tif", "proba.tif", "uncertainty.tif"):
        (out / name).unlink(missing_ok=True)
    return {"seconds": secs, "cpu": cpu}


def read_classes(path: Path):
    """The whole class raster, (rows, cols) uint8."""
    from glacierinv.io.raster import open_raster, read_window

    with open_raster(path) as ds:
        return read_window(ds, None, [1], as_float=False)[0]  # [1]: a (1, rows, cols) read, not one row


def bf16_check(a, b, truth=None) -> str:
    """Agreement of two class rasters (valid pixels) and, with truth, their mIoU difference."""
    from glacierinv.assess.metrics import confusion_matrix, scores

    if a.ndim != 2 or a.shape != b.shape or (truth is not None and truth.shape != a.shape):
        raise ValueError(
            f"class rasters differ in shape: {a.shape}, {b.shape}, truth {getattr(truth, 'shape', None)}"
        )
    valid = (a != 255) & (b != 255)
    agree = float((a == b)[valid].mean())
    text = f"agreement {100 * agree:.3f} % of {int(valid.sum())} px"
    ok = agree >= 0.995
    if truth is not None:
        m = [scores(confusion_matrix(x, truth))["miou"] for x in (a, b)]
        text += f", mIoU fp32 {m[0]:.4f} bf16 {m[1]:.4f} (diff {abs(m[0] - m[1]):.4f})"
        ok = ok and abs(m[0] - m[1]) <= 0.002
    return text + (" PASS" if ok else " FAIL")


def forward_only(stack: Path, tile: int, overlap: int, device: str, precision: str) -> dict:
    """Time the forward pass predict_stack runs per batch (``batch_forward``: same precision, memory format,
    softmax) over the same tiles, pre-read into memory and batched by 4 (predict_stack's default)."""
    import numpy as np
    import torch

    from glacierinv.io.raster import open_raster, read_window
    from glacierinv.segment.checkpoint import load_checkpoint, match_channels
    from glacierinv.segment.infer import batch_forward, resolve_device, tile_origins

    dev = resolve_device(device)
    model, meta = load_checkpoint(None, dev)
    with open_raster(stack) as ds:
        bands = [i + 1 for i in match_channels(meta, list(ds.descriptions), stack)]
        x = read_window(ds, None, bands)
        h, w = ds.height, ds.width
    x = np.nan_to_num((x - np.array(meta.norm_mean)[:, None, None]) / np.array(meta.norm_std)[:, None, None])
    x = x.astype("float32")
    origins = [
        (r, c) for r in tile_origins(h, tile, tile - overlap) for c in tile_origins(w, tile, tile - overlap)
    ]
    tiles = [x[:, r : r + tile, c : c + tile] for r, c in origins]
    batches = [torch.from_numpy(np.stack(tiles[i : i + 4])) for i in range(0, len(tiles), 4)]
    forward = batch_forward(model, meta, precision=precision, confidence="none")
    forward(batches[0])  # warm-up
    t, c = time.perf_counter(), time.process_time()
    for b in batches:
        p = forward(b)  # probabilities on the CPU (synchronises a GPU)
    secs, cpu = time.perf_counter() - t, time.process_time() - c
    del p
    return {"seconds": secs, "cpu": cpu, "mpx": h * w / 1e6, "tiles": len(tiles)}


def child(stack: Path | str, out: Path | str, tile: int, overlap: int, threads: int, device: str) -> dict:
    cmd = [sys.executable, "-c", CHILD, str(stack), str(out), str(tile), str(overlap), str(threads), device]
    res = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[512, 1024, 2048])
    ap.add_argument("--tile", type=int, default=256)
    ap.add_argument("--overlap", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--confidence-size", type=int, default=1024, help="scene size of the cost test (0: skip)")
    ap.add_argument(
        "--precisions", nargs="+", choices=("fp32", "bf16"), default=["fp32", "bf16"],
        help="precisions to time (fp32 only: skip bf16, which is ~50x slower where the CPU emulates it)",
    )  # fmt: skip
    args = ap.parse_args()
    if "fp32" not in args.precisions:
        ap.error("--precisions must include fp32 (the reference of every ratio)")
    import torch

    torch.set_num_threads(args.threads)
    from glacierinv.config import load_config
    from glacierinv.preprocess.stack import build_feature_stack
    from glacierinv.segment.infer import resolve_device, resolve_precision, tile_origins
    from glacierinv.synthetic import generate_scene

    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs visible, "
        f"torch {torch.__version__}, {args.threads} threads, device {args.device}; "
        f"precision auto -> {resolve_precision('auto', resolve_device(args.device))}; load {os.getloadavg()}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        generate_scene(tmp / "scene", seed=100, size_px=512)
        build_feature_stack(load_config(tmp / "scene" / "config.toml"), tmp / "scene" / "stack")
        truth512 = read_classes(tmp / "scene" / "truth" / "classes.tif")
        base = child("-", "-", args.tile, args.overlap, args.threads, args.device)["peak_rss_mb"]
        print(f"interpreter + libraries baseline RSS: {base:.0f} MB")
        print(f"tile {args.tile} px, overlap {args.overlap} px")
        print(f"best of {args.repeats} interleaved runs; MP/s = scene megapixels per second")
        print(
            "size_px  tiles  pipeline_MP/s  forward_MP/s  ratio  bf16_pipeline_MP/s  bf16_forward_MP/s  "
            "bf16_ratio  bf16/fp32_fwd  cpu_time_ratio  bf16_cpu_time_ratio  peak_RSS_MB  added_MB"
        )
        for size in args.sizes:
            stack = mirrored_stack(tmp / "scene" / "stack" / "stack.tif", tmp / f"stack{size}.tif", size)
            out = tmp / f"out{size}"
            out.mkdir()
            best: dict[str, float] = {}
            for rep in range(args.repeats):
                for prec in args.precisions:
                    keep = tmp / f"classes_{prec}.tif" if rep == 0 else None
                    r = pipeline(stack, out, args.tile, args.overlap, args.device, prec, keep=keep)
                    best["pipe" + prec] = min(best.get("pipe" + prec, float("inf")), r["seconds"])
                    best["cpupipe" + prec] = min(best.get("cpupipe" + prec, float("inf")), r["cpu"])
                    r = forward_only(stack, args.tile, args.overlap, args.device, prec)
                    best["fwd" + prec] = min(best.get("fwd" + prec, float("inf")), r["seconds"])
                    best["cpufwd" + prec] = min(best.get("cpufwd" + prec, float("inf")), r["cpu"])
            n_tiles = len(tile_origins(size, args.tile, args.tile - args.overlap)) ** 2
            mem = child(stack, out, args.tile, args.overlap, args.threads, args.device)
            rate = {k: size * size / 1e6 / v for k, v in best.items()}
            nan = float("nan")
            print(
                f"{size:7d}  {n_tiles:5d}  {rate['pipefp32']:13.3f}  {rate['fwdfp32']:12.3f}  "
                f"{rate['pipefp32'] / rate['fwdfp32']:5.2f}  {rate.get('pipebf16', nan):18.3f}  "
                f"{rate.get('fwdbf16', nan):17.3f}  {rate.get('pipebf16', nan) / rate.get('fwdbf16', nan):10.2f}  "
                f"{rate.get('fwdbf16', nan) / rate['fwdfp32']:13.2f}  "
                f"{best['cpufwdfp32'] / best['cpupipefp32']:14.2f}  "
                f"{best.get('cpufwdbf16', nan) / best.get('cpupipebf16', nan):19.2f}  {mem['peak_rss_mb']:11.0f}  "
                f"{mem['peak_rss_mb'] - base:8.0f}"
            )
            if "bf16" in args.precisions:
                a, b = read_classes(tmp / "classes_fp32.tif"), read_classes(tmp / "classes_bf16.tif")
                truth = truth512 if size == 512 else None
                print(f"         bf16 vs fp32 classes at {size}²: {bf16_check(a, b, truth)}")
        # the accuracy check against truth on the held-out scene itself
        if 512 not in args.sizes and "bf16" in args.precisions:
            stack = tmp / "scene" / "stack" / "stack.tif"
            out = tmp / "out_check"
            out.mkdir()
            for prec in ("fp32", "bf16"):
                pipeline(stack, out, args.tile, args.overlap, args.device, prec, keep=tmp / f"chk_{prec}.tif")
            a, b = read_classes(tmp / "chk_fp32.tif"), read_classes(tmp / "chk_bf16.tif")
            print(
                f"bf16 vs fp32 on the held-out 512² scene (seed 100) vs truth: {bf16_check(a, b, truth512)}"
            )
        if args.confidence_size:
            size = args.confidence_size
            stack = mirrored_stack(tmp / "scene" / "stack" / "stack.tif", tmp / f"conf{size}.tif", size)
            out = tmp / "out_conf"
            out.mkdir()
            prec = resolve_precision("auto", resolve_device(args.device))
            best = {}
            for _ in range(args.repeats):
                for mode in ("none", "softmax", "tta", "mc"):
                    r = pipeline(stack, out, args.tile, args.overlap, args.device, prec, confidence=mode)
                    best[mode] = min(best.get(mode, float("inf")), r["seconds"])
            print(
                f"confidence cost at {size}² ({prec}), seconds (x plain): "
                + ", ".join(f"{m} {best[m]:.1f} ({best[m] / best['none']:.2f}x)" for m in best)
            )
        print(f"load average at the end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
