"""Reproduce the shipped model ``models/unet_cbam_synthetic.pt`` with one command.

    python -m glacierinv.segment.shipped WORK_DIR [--epochs 8] [--threads 2]

Generates synthetic scenes with seeds 10-19 (512 px at 2 m), builds their feature stacks (blue, green,
red, nir, lst, slope), writes ``WORK_DIR/train.toml`` and trains a small U-Net+CBAM (base width 16,
depth 3, 128 px tiles, Dice loss, Adam lr 1e-3, seed 0) on CPU, then evaluates it and the baseline on the
held-out scenes 100 and 101 (seeds never used in training) and writes ``WORK_DIR/heldout.json``.
Copy ``WORK_DIR/run/best.pt`` to ``src/glacierinv/segment/models/`` to ship it.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

TRAIN_SEEDS = tuple(range(10, 20))
HELDOUT_SEEDS = (100, 101)
SCENE_PX = 512

TRAIN_SETTINGS = {
    "tile_px": 128,
    "base_width": 16,
    "depth": 3,
    "lr": 1e-3,  # 10× the seed's 1e-4: a few CPU epochs instead of 200 GPU epochs
    "lr_patience": 2,
    "patience": 4,
    "loss": "dice",
    "seed": 0,
}


def make_scene(work: Path, seed: int, size_px: int = SCENE_PX) -> tuple[Path, Path]:
    """Generate scene ``seed`` and its stack under ``work`` (reused if present) → (stack, truth)."""
    from glacierinv.config import load_config
    from glacierinv.preprocess.stack import build_feature_stack
    from glacierinv.synthetic import generate_scene

    d = work / f"scene{seed}"
    stack, truth = d / "stack" / "stack.tif", d / "truth" / "classes.tif"
    if not stack.exists():
        generate_scene(d, seed=seed, size_px=size_px)
        build_feature_stack(load_config(d / "config.toml"), d / "stack")
    return stack, truth


def write_train_toml(path: Path, scenes: list[tuple[Path, Path]], settings: dict) -> Path:
    """A training TOML with ``[train]`` settings and one ``[[scenes]]`` table per (stack, labels)."""
    lines = ["[train]"]
    for k, v in settings.items():
        lines.append(f"{k} = {json.dumps(v)}")
    for stack, labels in scenes:
        lines += ["", "[[scenes]]", f'stack = "{stack}"', f'labels = "{labels}"']
    path.write_text("\n".join(lines) + "\n")
    return path


def heldout_scores(checkpoint: Path, scenes: list[tuple[Path, Path]], work: Path, tile_px: int) -> dict:
    """U-Net and baseline scores (assess.metrics) pooled over held-out scenes."""
    import numpy as np

    from glacierinv.confusion import confusion_matrix, scores
    from glacierinv.io.raster import read_raster
    from glacierinv.segment.baseline import classify_stack
    from glacierinv.segment.infer import predict_stack

    cms = {"unet": np.zeros((3, 3), "int64"), "baseline": np.zeros((3, 3), "int64")}
    for stack, truth in scenes:
        out = work / "eval"
        out.mkdir(exist_ok=True)
        predict_stack(
            stack, checkpoint, out / "unet.tif", tile_px=tile_px, overlap_px=tile_px // 4, device="cpu"
        )
        classify_stack(stack, out / "baseline.tif")
        ref = read_raster(truth, as_float=False)[0][0]
        for m in cms:
            cms[m] += confusion_matrix(read_raster(out / f"{m}.tif", as_float=False)[0][0], ref)
    return {m: scores(cm) for m, cm in cms.items()}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("work", type=Path)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    from glacierinv.segment.train import load_train_config, train

    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    scenes = [make_scene(work, s) for s in TRAIN_SEEDS]
    settings = {**TRAIN_SETTINGS, "max_epochs": args.epochs, "threads": args.threads, "device": args.device}
    cfg = load_train_config(write_train_toml(work / "train.toml", scenes, settings))
    summary = train(cfg, work / "run", resume=(work / "run" / "last.pt").exists())
    held = heldout_scores(
        work / "run" / "best.pt", [make_scene(work, s) for s in HELDOUT_SEEDS], work, cfg.tile_px
    )
    result = {"train": summary, "heldout_seeds": list(HELDOUT_SEEDS), "heldout": held}
    (work / "heldout.json").write_text(json.dumps(result, indent=2))
    for m, s in held.items():
        f1 = {k: round(v["f1"], 3) for k, v in s["per_class"].items()}
        print(f"{m:9s} held-out mIoU {s['miou']:.3f}  OA {s['oa']:.3f}  F1 {f1}")


if __name__ == "__main__":
    main()
