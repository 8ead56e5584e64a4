"""Where a model's errors on the held-out hard scenes come from (issue 26: what limits the hard-scene models).

    python benchmarks/segment_error_sources.py WORK [--checkpoint NAME=MODEL.pt ...] [--seeds 2000 ... 2005]

``WORK`` is the work folder of ``python -m glacierinv.segment.shipped`` (the held-out scenes are generated
there if missing). Default models: every shipped checkpoint whose channels the stacks have. Each model
classifies every held-out hard scene (fp32, the shipped recipe's tiling), and each pixel's error is charged
to the scene's true surface type (``truth/surface.tif``: seasonal snow, dead ice, moraine, frozen lake …)
and to its cloud opacity (``truth/cloud_opacity_pct.tif``).

Per model, per surface type: its share of the scenes' pixels, the share of its pixels given a wrong class,
and its share of all errors (background ↔ glacier and clean ice ↔ debris). Then the mIoU the model would
reach if the errors of one surface type were all corrected (the others unchanged): the gain each confuser
stands for, i.e. what limits the mIoU, in numbers. One more row charges the pixels under clouds of >= 50 %
opacity (any surface; they also count in their surface's row). The scenes' pixels are pooled, as in
``heldout.json``.
"""

from __future__ import annotations

import argparse
import os
import platform
from pathlib import Path

import numpy as np

CLOUDY_PCT = 50  # cloud opacity (%) from which a pixel's surface is taken as hidden
# surface types whose errors are also corrected together: snow of the accumulation area vs seasonal snow
GROUPS = {"both snows (glacier snow and seasonal snow)": ("snow", "seasonal_snow")}


def _surface_names() -> dict[int, str]:
    from glacierinv.synthetic.surface import SURFACE

    return {code: name for name, code in SURFACE.items()}


def _predict(stack: Path, checkpoint: Path, out: Path, tile_px: int) -> np.ndarray:
    from glacierinv.io.raster import read_raster
    from glacierinv.segment.infer import predict_stack

    predict_stack(
        stack, checkpoint, out, tile_px=tile_px, overlap_px=tile_px // 4, device="cpu", precision="fp32"
    )
    return read_raster(out, as_float=False)[0][0]


def error_sources(pred: np.ndarray, truth: np.ndarray, surface: np.ndarray, n_types: int) -> dict:
    """Confusion matrices (3×3, rows truth) of all pixels and of each surface type's pixels.

    ``pred`` and ``truth``: classes 0 background, 1 clean ice, 2 debris-covered ice (other values, e.g.
    255 nodata, are left out); ``surface``: surface-type codes ``0..n_types-1``.
    """
    ok = (truth <= 2) & (pred <= 2)
    t, p, s = truth[ok].astype("int64"), pred[ok].astype("int64"), surface[ok].astype("int64")
    per_type = np.bincount(s * 9 + t * 3 + p, minlength=n_types * 9).reshape(n_types, 3, 3)
    return {"all": per_type.sum(axis=0), "per_type": per_type}


def _miou(cm: np.ndarray) -> float:
    inter = np.diag(cm).astype(float)
    union = cm.sum(axis=0) + cm.sum(axis=1) - inter
    return float(np.mean(inter[union > 0] / union[union > 0]))


def corrected_miou(cm_all: np.ndarray, cm_type: np.ndarray) -> float:
    """mIoU if every pixel of one surface type were classified correctly (its confusion moved to the diagonal)."""
    fixed = cm_all - cm_type
    fixed[np.diag_indices(3)] += cm_type.sum(axis=1)
    return _miou(fixed)


def report(name: str, cms: dict, names: dict[int, str]) -> list[str]:
    cm_all = cms["all"]
    n_all, err_all = cm_all.sum(), cm_all.sum() - np.trace(cm_all)
    miou = _miou(cm_all)
    lines = [
        f"### {name}: mIoU {miou:.3f}, {err_all / n_all:.1%} of {n_all} pixels wrong",
        "",
        "| true surface | class | share of pixels | wrong | share of all errors | mIoU if corrected | gain |",
        "|---|---|---|---|---|---|---|",
    ]
    rows = []
    for code, cm in enumerate(cms["per_type"]):
        n = cm.sum()
        if n == 0:
            continue
        err = n - np.trace(cm)
        fixed = corrected_miou(cm_all, cm)
        cls = ["background", "clean ice", "debris"][int(np.argmax(cm.sum(axis=1)))]
        rows.append((err, names.get(code, str(code)), cls, n / n_all, err / n, err / err_all, fixed))
    cloudy = cms.get("cloudy")
    if cloudy is not None and cloudy.sum():
        err = cloudy.sum() - np.trace(cloudy)
        fixed = corrected_miou(cm_all, cloudy)
        rows.append((err, f"(any, under cloud >= {CLOUDY_PCT} %)", "any", cloudy.sum() / n_all, err / cloudy.sum(),
                     err / err_all, fixed))  # fmt: skip
    for _err, sname, cls, share, wrong, err_share, fixed in sorted(rows, reverse=True):
        lines.append(
            f"| {sname} | {cls} | {share:.1%} | {wrong:.1%} | {err_share:.1%} | {fixed:.3f} | "
            f"{fixed - miou:+.3f} |"
        )
    codes = {v: k for k, v in names.items()}
    for label, types in GROUPS.items():
        cm = sum(cms["per_type"][codes[t]] for t in types)
        err = cm.sum() - np.trace(cm)
        fixed = corrected_miou(cm_all, cm)
        lines.append(f"| {label} | | {cm.sum() / n_all:.1%} | {err / cm.sum():.1%} | {err / err_all:.1%} | "
                     f"{fixed:.3f} | {fixed - miou:+.3f} |")  # fmt: skip
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("work", type=Path)
    ap.add_argument("--checkpoint", nargs="*", default=[], help="NAME=MODEL.pt (added to the shipped ones)")
    ap.add_argument("--only", nargs="*", default=None, help="models to run (names); default all")
    ap.add_argument(
        "--seeds", type=int, nargs="*", default=None, help="held-out hard seeds (default 2000-2005)"
    )
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--tile-px", type=int, default=None, help="inference tile (default: the training tile)")
    args = ap.parse_args()

    import torch

    from glacierinv.io.raster import read_raster
    from glacierinv.segment.checkpoint import load_checkpoint
    from glacierinv.segment.shipped import HARD_HELDOUT_SEEDS, TRAIN_SETTINGS, make_scene, shipped_models

    torch.set_num_threads(args.threads)
    names = _surface_names()
    n_types = max(names) + 1
    models = {name: path for name, (path, _) in shipped_models().items()}
    models.update(dict(c.split("=", 1) for c in args.checkpoint))
    if args.only:
        models = {k: v for k, v in models.items() if k in args.only}
    scenes = [make_scene(args.work, s, "hard") for s in (args.seeds or HARD_HELDOUT_SEEDS)]
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
        f"{args.threads} threads; load {os.getloadavg()[0]:.1f}; held-out hard scenes "
        f"{[st.parent.parent.name for st, _ in scenes]}; inference tile {args.tile_px or TRAIN_SETTINGS['tile_px']} px"
    )
    out_dir = args.work / "error_sources"
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, ckpt in models.items():
        _, meta = load_checkpoint(Path(ckpt))
        total = {
            "all": np.zeros((3, 3), "int64"),
            "per_type": np.zeros((n_types, 3, 3), "int64"),
            "cloudy": np.zeros((3, 3), "int64"),
        }
        for stack, truth_path in scenes:
            pred = _predict(
                stack, Path(ckpt), out_dir / f"{name}.tif", args.tile_px or TRAIN_SETTINGS["tile_px"]
            )
            truth = read_raster(truth_path, as_float=False)[0][0]
            surface = read_raster(truth_path.parent / "surface.tif", as_float=False)[0][0]
            cms = error_sources(pred, truth, surface, n_types)
            total["all"] += cms["all"]
            total["per_type"] += cms["per_type"]
            opacity = read_raster(truth_path.parent / "cloud_opacity_pct.tif", as_float=False)[0][0]
            cloudy = error_sources(pred, truth, (opacity >= CLOUDY_PCT).astype("uint8"), 2)
            total["cloudy"] += cloudy["per_type"][1]
        print()
        print("\n".join(report(f"{name} ({', '.join(meta.channels)})", total, names)))


if __name__ == "__main__":
    main()
