"""Calibration benchmark (issue 20 item 5): temperature scaling of the shipped U-Net and the expected
calibration error (ECE) of its probabilities on held-out synthetic scenes, per confidence mode.

    .venv/bin/python benchmarks/segment_confidence.py --size 512 --val-seed 200 --test-seeds 201 202

- Temperature: fitted (minimum NLL, :func:`glacierinv.segment.calibration.fit_temperature`) on the logits
  of the labelled pixels of scene ``--val-seed`` (the validation scene; the shipped model was trained on
  seeds 10-19, so none of these seeds was seen in training).
- ECE (15 bins of the top-class probability, all valid pixels) on scenes ``--test-seeds`` — never used
  for fitting — from ``proba.tif`` of the segment pipeline (blended over overlapping tiles), for T = 1
  (uncalibrated) and the fitted T, confidence softmax / tta / mc; with the NLL of the truth class, the
  accuracy, and the mean normalised entropy on correct vs wrong pixels (a useful uncertainty is higher
  where the model is wrong).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np


def _scene(tmp: Path, seed: int, size: int) -> tuple[Path, Path]:
    from glacierinv.config import load_config
    from glacierinv.preprocess.stack import build_feature_stack
    from glacierinv.synthetic import generate_scene

    d = tmp / f"scene{seed}"
    generate_scene(d, seed=seed, size_px=size)
    build_feature_stack(load_config(d / "config.toml"), d / "stack")
    return d / "stack" / "stack.tif", d / "truth" / "classes.tif"


def _read(path: Path, bands=None) -> np.ndarray:
    from glacierinv.io.raster import open_raster, read_window

    with open_raster(path) as ds:
        return read_window(ds, None, bands, as_float=False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--val-seed", type=int, default=200)
    ap.add_argument("--test-seeds", type=int, nargs="+", default=[201, 202])
    ap.add_argument("--tile", type=int, default=256)
    ap.add_argument("--overlap", type=int, default=64)
    ap.add_argument("--modes", nargs="+", default=["softmax", "tta", "mc"])
    args = ap.parse_args()
    import torch

    from glacierinv.segment.calibration import ReliabilityCounts, fit_temperature, logits_of_tiles
    from glacierinv.segment.checkpoint import load_checkpoint, match_channels
    from glacierinv.segment.infer import predict_with_model, tile_origins

    print(f"load average {os.getloadavg()}")
    model, meta = load_checkpoint(None)
    print(f"shipped model: stored temperature {meta.temperature:g}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        stack, truth = _scene(tmp, args.val_seed, args.size)
        x = _read(stack).astype("float32")
        from glacierinv.io.raster import open_raster

        with open_raster(stack) as ds:
            idx = match_channels(meta, list(ds.descriptions), stack)
        x = x[idx]
        y = _read(truth)[0].astype("int64")
        invalid = ~np.isfinite(x).all(axis=0)
        x = np.nan_to_num(
            (x - np.array(meta.norm_mean)[:, None, None]) / np.array(meta.norm_std)[:, None, None]
        )
        y[invalid] = 255
        t, s = args.tile, args.tile - args.overlap
        tiles = [
            (x[:, r : r + t, c : c + t].astype("float32"), y[r : r + t, c : c + t])
            for r in tile_origins(args.size, t, s)
            for c in tile_origins(args.size, t, s)
        ]
        z, lab = logits_of_tiles(model, tiles)
        temp = fit_temperature(z, lab)
        nll1 = float(torch.nn.functional.cross_entropy(z, lab))
        nllt = float(torch.nn.functional.cross_entropy(z / temp, lab))
        print(
            f"fitted on scene {args.val_seed} ({lab.numel()} px): T = {temp:.3f}; "
            f"validation NLL {nll1:.4f} (T=1) -> {nllt:.4f}"
        )
        tests = [_scene(tmp, seed, args.size) for seed in args.test_seeds]
        print(f"held-out scenes {args.test_seeds} ({args.size}², tile {t}, overlap {args.overlap}):")
        print("  mode      T      ECE     NLL    accuracy  entropy(correct)  entropy(wrong)  seconds")
        for mode in args.modes:
            for temperature in (1.0, temp):
                meta.temperature = temperature
                rel = ReliabilityCounts(15)
                nll, n, ent_ok, ent_bad, n_ok, n_bad, secs = 0.0, 0, 0.0, 0.0, 0, 0, 0.0
                for k, (st, tr) in enumerate(tests):
                    out = tmp / f"out_{mode}_{temperature:.3f}_{k}"
                    out.mkdir()
                    torch.manual_seed(0)
                    t0 = time.perf_counter()
                    predict_with_model(
                        st, model, meta, out / "c.tif", out / "p.tif", uncertainty_path=out / "u.tif",
                        tile_px=t, overlap_px=args.overlap, confidence=mode, precision="fp32",
                    )  # fmt: skip
                    secs += time.perf_counter() - t0
                    proba = _read(out / "p.tif").astype("float64") / 255.0
                    proba /= np.maximum(proba.sum(axis=0), 1e-9)
                    truth = _read(tr)[0]
                    classes = _read(out / "c.tif")[0]
                    unc = _read(out / "u.tif")[0]
                    ok = (truth != 255) & (classes != 255)
                    rel.add(proba[:, ok], truth[ok])
                    pt = np.take_along_axis(proba, truth[None].astype("int64").clip(0, 2), 0)[0][ok]
                    nll += float(-np.log(np.clip(pt, 1e-4, 1)).sum())
                    n += int(ok.sum())
                    hit = (classes == truth) & ok
                    miss = (classes != truth) & ok
                    ent_ok += float(unc[hit].sum())
                    ent_bad += float(unc[miss].sum())
                    n_ok += int(hit.sum())
                    n_bad += int(miss.sum())
                print(
                    f"  {mode:<8} {temperature:5.3f}  {rel.ece():.4f}  {nll / n:.4f}  {n_ok / n:8.4f}  "
                    f"{ent_ok / max(n_ok, 1):16.3f}  {ent_bad / max(n_bad, 1):14.3f}  {secs:7.1f}"
                )
    print(f"load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
