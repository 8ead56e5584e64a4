"""Feature and loss ablations on synthetic scenes (issue 4, seed Table S1), as far as a CPU allows:

    .venv/bin/python benchmarks/segment_ablation.py WORK_DIR --scenes 6 --epochs 3

Generates synthetic scenes (seeds 10, 11, …; 512 px at 2 m) with their stacks, then trains one small
U-Net+CBAM per variant (MS, MS+slope, MS+LST, MS+LST+slope with Dice; MS+LST+slope with Focal) on the
same spatial 8:1:1 split and prints the test-split table (OA, F1 per class, mIoU). Settings are those
of the shipped model (128 px tiles, base width 16, depth 3, lr 1e-3) with fewer epochs; the figures
are therefore a short-training comparison, not converged models. Re-running resumes finished variants.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("work", type=Path)
    ap.add_argument("--scenes", type=int, default=6)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", nargs="*", default=None, help="variant names to run (default: all)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    from glacierinv.segment.ablation import run_ablation
    from glacierinv.segment.shipped import TRAIN_SEEDS, TRAIN_SETTINGS, make_scene, write_train_toml
    from glacierinv.segment.train import load_train_config

    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    scenes = [make_scene(work / "scenes", s) for s in TRAIN_SEEDS[: args.scenes]]
    settings = {**TRAIN_SETTINGS, "max_epochs": args.epochs, "threads": args.threads, "device": "cpu"}
    cfg = load_train_config(write_train_toml(work / "train.toml", scenes, settings))
    table = run_ablation(cfg, work / "runs", only=args.only)
    print(f"{args.scenes} synthetic scenes (512 px), {args.epochs} epochs per variant, test split:")
    print(table["markdown"])


if __name__ == "__main__":
    main()
