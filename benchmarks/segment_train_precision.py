"""Training-step benchmark (issue 19 item 1, "same for training where it pays"): fp32 vs bf16 autocast
for the U-Net training step (forward + loss + backward + Adam step) on this machine.

    .venv/bin/python benchmarks/segment_train_precision.py --tile 256 --batch 4 --steps 6 --repeats 3

- Model: the shipped checkpoint's architecture and weights (``models/unet_cbam_synthetic.pt``), copied
  twice so that both precisions start from the same weights.
- Data: tiles of the held-out synthetic scene (seed 100, 512²), normalised as the checkpoint says, with
  the exact truth classes; the same batches, in the same order, for both precisions.
- Speed: seconds per training step, fp32 and bf16 interleaved ``--repeats`` times over ``--steps``
  steps each, best of the repeats (the machine may be shared); ratio = fp32 s/step ÷ bf16 s/step
  (> 1: bf16 pays).
- Agreement: after the steps, the loss of both models on the same batch and the share of pixels where
  their predicted classes agree (bf16 training drifting away from fp32 would show here).
- ``native_bf16`` (glacierinv.segment.infer) tells whether this device computes bf16 natively; where it
  does not (e.g. AVX2-only x86), bf16 is emulated and expected to be much slower, which is why
  ``[train] precision = "auto"`` trains in fp32 on CPU.
"""

from __future__ import annotations

import argparse
import copy
import os
import tempfile
import time
from pathlib import Path

import numpy as np


def _tiles(tile: int) -> tuple[np.ndarray, np.ndarray, object]:
    from glacierinv.config import load_config
    from glacierinv.io.raster import open_raster, read_window
    from glacierinv.preprocess.stack import build_feature_stack
    from glacierinv.segment.checkpoint import load_checkpoint, match_channels
    from glacierinv.synthetic import generate_scene

    model, meta = load_checkpoint(None)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp) / "scene"
        generate_scene(d, seed=100, size_px=512)
        build_feature_stack(load_config(d / "config.toml"), d / "stack")
        with open_raster(d / "stack" / "stack.tif") as ds:
            idx = match_channels(meta, list(ds.descriptions), d / "stack" / "stack.tif")
            x = read_window(ds, None, None).astype("float32")[idx]
        with open_raster(d / "truth" / "classes.tif") as ds:
            y = read_window(ds, None, None, as_float=False)[0].astype("int64")
    x = (x - np.array(meta.norm_mean)[:, None, None]) / np.array(meta.norm_std)[:, None, None]
    y[~np.isfinite(x).all(axis=0)] = 255
    x = np.nan_to_num(x).astype("float32")
    n = 512 // tile
    xs = np.stack(
        [x[:, r * tile : (r + 1) * tile, c * tile : (c + 1) * tile] for r in range(n) for c in range(n)]
    )
    ys = np.stack(
        [y[r * tile : (r + 1) * tile, c * tile : (c + 1) * tile] for r in range(n) for c in range(n)]
    )
    return xs, ys, model


def _steps(model, opt, loss_fn, batches, bf16: bool) -> float:
    import torch

    model.train()
    t0 = time.perf_counter()
    for x, y in batches:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = model(x)
        loss = loss_fn(logits.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return (time.perf_counter() - t0) / len(batches)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tile", type=int, default=256)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()
    import torch

    from glacierinv.segment.infer import native_bf16
    from glacierinv.segment.losses import make_loss

    torch.set_num_threads(args.threads)
    print(f"load average {os.getloadavg()}; threads {args.threads}; native bf16 on cpu: {native_bf16('cpu')}")
    xs, ys, base = _tiles(args.tile)
    rng = np.random.default_rng(0)
    batches = []
    for _ in range(args.steps):
        pick = rng.choice(len(xs), size=args.batch, replace=len(xs) < args.batch)
        batches.append((torch.from_numpy(xs[pick]), torch.from_numpy(ys[pick])))
    loss_fn = make_loss("dice_ce")
    runs = {}
    for name in ("fp32", "bf16"):
        torch.manual_seed(0)
        model = copy.deepcopy(base)
        runs[name] = (model, torch.optim.Adam(model.parameters(), lr=1e-4))
    best = {"fp32": float("inf"), "bf16": float("inf")}
    for _ in range(args.repeats):
        for name in ("fp32", "bf16"):
            model, opt = runs[name]
            best[name] = min(best[name], _steps(model, opt, loss_fn, batches, name == "bf16"))
    x, y = batches[0]
    preds, losses = {}, {}
    with torch.no_grad():
        for name, (model, _) in runs.items():
            model.eval()
            logits = model(x)
            losses[name] = float(loss_fn(logits, y))
            preds[name] = logits.argmax(1)
    valid = y != 255
    agree = float((preds["fp32"] == preds["bf16"])[valid].float().mean())
    print(f"tile {args.tile}², batch {args.batch}, {args.steps} steps × {args.repeats} repeats (best kept)")
    print(
        f"  fp32 {best['fp32']:.3f} s/step, bf16 {best['bf16']:.3f} s/step, fp32/bf16 = {best['fp32'] / best['bf16']:.2f}"
    )
    print(
        f"  after {args.steps * args.repeats} steps: loss fp32 {losses['fp32']:.4f}, bf16 {losses['bf16']:.4f}; "
        f"classes agree on {100 * agree:.2f} % of valid pixels"
    )
    print(f"load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
