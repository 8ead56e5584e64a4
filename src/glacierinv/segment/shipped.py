"""Reproduce the hard-scene models ``models/unet_cbam_synthetic_hard.pt`` and ``models/unet_cbam_synthetic_swir.pt``.

    python -m glacierinv.segment.shipped WORK_DIR [--model hard|swir|both] [--epochs 60] [--threads 1]
        [--max-minutes 105] [--precision auto|fp32|bf16] [--phase 1|2]

Generates synthetic scenes (512 px at 2 m): the easy scenes with seeds 10-21 and hard, randomised scenes
(``difficulty="hard"``: random sun, widespread seasonal snow, thin/thick clouds with shadows, haze, dirty
and dead ice, vegetation, turbid/frozen lakes) with seeds 1010-1069; builds one feature stack per scene
(blue, green, red, nir, swir1, lst, slope); writes ``WORK_DIR/<model>/train.toml`` and trains a small
U-Net+CBAM (base width 16, depth 3, 128 px tiles, Dice + cross-entropy, Adam lr 1e-3, batch 8, seed 0) on
CPU for each channel set:

- ``hard``: blue, green, red, nir, lst, slope (``unet_cbam_synthetic_hard.pt``);
- ``swir``: blue, green, red, nir, swir1, lst, slope (``unet_cbam_synthetic_swir.pt``, Landsat/Sentinel-2).

Both start from the pipeline's default model ``unet_cbam_synthetic.pt`` (easy scenes 10-19, 10 epochs;
:func:`warm_start`), which stays the default (docs/segment.md, *The shipped models*, says why). A run is
resumable: ``--max-minutes`` stops it after an epoch, and the same command continues it. ``--phase 2``
continues from phase 1's best checkpoint on twice the hard scenes (seeds 1010-1129; ``WORK_DIR/<model>_phase2``).

Then evaluates each model and the baseline on held-out easy scenes (seeds 100, 101) and held-out hard
scenes (seeds 2000-2005), never used in training, and writes ``WORK_DIR/<model>/heldout.json`` (per class,
pooled over the scenes of each set, plus glacier precision on the hard scenes where seasonal snow covers at
least 20 % of the non-glacier area). Copy ``WORK_DIR/<model>/run/best.pt`` to
``src/glacierinv/segment/models/`` to ship it.

The stack's SWIR band is Sentinel-2 B11 (1.61 µm, 10 m), channel ``swir1`` of the sensor registry. (The
recorded run built its stacks before the registry, with the channel then called ``swir`` and relabelled
``swir1``: the same values.)
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

EASY_TRAIN_SEEDS = tuple(range(10, 22))
HARD_TRAIN_SEEDS = tuple(range(1010, 1070))  # phase 1
HARD_TRAIN_SEEDS_MORE = tuple(range(1070, 1130))  # added in phase 2
EASY_HELDOUT_SEEDS = (100, 101)
HARD_HELDOUT_SEEDS = tuple(range(2000, 2006))
SCENE_PX = 512
STACK_CHANNELS = ["blue", "green", "red", "nir", "swir1", "lst", "slope"]
log = logging.getLogger(__name__)
SNOWY_FRAC = 0.2  # hard scenes with seasonal snow on >= 20 % of the non-glacier area

MODELS_DIR = Path(__file__).parent / "models"
# the default model (easy scenes 10-19 only, 10 epochs): the warm start of both hard-scene models
INIT_MODEL = MODELS_DIR / "unet_cbam_synthetic.pt"
CHANNELS_VNIR_LST_SLOPE = ["blue", "green", "red", "nir", "lst", "slope"]
SHIPPED = {  # every shipped checkpoint: name -> (file stem, channels)
    "default": ("unet_cbam_synthetic", CHANNELS_VNIR_LST_SLOPE),
    "hard": ("unet_cbam_synthetic_hard", CHANNELS_VNIR_LST_SLOPE),
    "swir": ("unet_cbam_synthetic_swir", ["blue", "green", "red", "nir", "swir1", "lst", "slope"]),
}
MODELS = {name: SHIPPED[name] for name in ("hard", "swir")}  # the models this script trains

# phase 2 of the recipe: continue from phase 1's best checkpoint on twice the hard scenes (phase 1 reached
# a validation plateau with the training loss still falling: the variety of scenes, not CPU time, limited
# it), fresh Adam at half phase 1's learning rate (phase 1 ended at 1.6e-5 after its plateau reductions)
PHASE2_LR = 5e-4

TRAIN_SETTINGS = {
    "tile_px": 128,
    "base_width": 16,
    "depth": 3,
    "lr": 1e-3,  # 10× the seed's 1e-4: tens of CPU epochs instead of 200 GPU epochs
    "lr_patience": 3,
    "patience": 10,
    "loss": "dice_ce",  # Dice (seed Eq. 3) + cross-entropy: steadier gradients on the small CPU batches
    "batch_size": 8,
    "max_train_tiles": 0,  # every training tile, every epoch
    "seed": 0,
}


def shipped_models() -> dict[str, tuple[Path, list[str]]]:
    """The shipped checkpoints: name → (path, channels the model needs, in model order)."""
    return {name: (MODELS_DIR / f"{stem}.pt", list(ch)) for name, (stem, ch) in SHIPPED.items()}


def make_scene(work: Path, seed: int, difficulty: str = "easy", size_px: int = SCENE_PX) -> tuple[Path, Path]:
    """Generate scene ``seed`` and its stack under ``work`` (reused if present) → (stack, truth)."""
    from glacierinv.config import load_config
    from glacierinv.preprocess.stack import build_feature_stack
    from glacierinv.synthetic import generate_scene

    d = work / f"{difficulty}{seed}"
    stack, truth = d / "stack" / "stack.tif", d / "truth" / "classes.tif"
    if not stack.exists():
        generate_scene(d, seed=seed, size_px=size_px, difficulty=difficulty)
        cfg = load_config(d / "config.toml")
        cfg = cfg.model_copy(update={"stack": cfg.stack.model_copy(update={"channels": STACK_CHANNELS})})
        build_feature_stack(cfg, d / "stack")
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


def _snowy(stack: Path) -> bool:
    scene = json.loads((stack.parent.parent / "scene.json").read_text())
    return scene.get("seasonal_snow_offglacier_frac", 0.0) >= SNOWY_FRAC


def heldout_scores(checkpoint: Path, scenes: list[tuple[Path, Path]], work: Path, tile_px: int) -> dict:
    """U-Net and baseline scores (glacierinv.confusion, per class) pooled over held-out scenes.

    Adds ``glacier_precision`` (ice + debris vs background) and, for hard scenes, the same over the scenes
    with seasonal snow on >= 20 % of their non-glacier area (``snowy``: scene count and precision).
    """
    import numpy as np

    from glacierinv.confusion import confusion_matrix, scores
    from glacierinv.io.raster import read_raster
    from glacierinv.segment.baseline import classify_stack
    from glacierinv.segment.infer import predict_stack

    cms = {"unet": np.zeros((3, 3), "int64"), "baseline": np.zeros((3, 3), "int64")}
    snowy = {m: np.zeros((3, 3), "int64") for m in cms}
    n_snowy = 0
    for stack, truth in scenes:
        out = work / "eval"
        out.mkdir(parents=True, exist_ok=True)
        predict_stack(  # fp32: held-out scores independent of the machine's bf16 support
            stack,
            checkpoint,
            out / "unet.tif",
            tile_px=tile_px,
            overlap_px=tile_px // 4,
            device="cpu",
            precision="fp32",
        )
        classify_stack(stack, out / "baseline.tif")
        ref = read_raster(truth, as_float=False)[0][0]
        is_snowy = _snowy(stack)
        n_snowy += is_snowy
        for m in cms:
            cm = confusion_matrix(read_raster(out / f"{m}.tif", as_float=False)[0][0], ref)
            cms[m] += cm
            if is_snowy:
                snowy[m] += cm
    result = {}
    for m, cm in cms.items():
        s = scores(cm)
        s["glacier_precision"] = _glacier_precision(cm)
        s["snowy"] = {
            "n_scenes": n_snowy,
            "glacier_precision": _glacier_precision(snowy[m]) if n_snowy else None,
        }
        result[m] = s
    return result


def _glacier_precision(cm) -> float:
    """Precision of ice + debris vs background: glacier pixels mapped as glacier / all mapped as glacier."""
    pred = float(cm[:, 1:].sum())
    return float(cm[1:, 1:].sum()) / pred if pred else float("nan")


def _stack_stats(stacks: list[Path], channels: list[str]) -> tuple[list[float], list[float]]:
    """Mean and std of each channel over all valid pixels of the stacks (float64 sums)."""
    import numpy as np
    import rasterio

    s1, s2, n = np.zeros(len(channels)), np.zeros(len(channels)), np.zeros(len(channels))
    for stack in stacks:
        with rasterio.open(stack) as ds:
            names = [(d or "").lower() for d in ds.descriptions]
            x = ds.read([names.index(c) + 1 for c in channels]).reshape(len(channels), -1).astype("float64")
        ok = np.isfinite(x)
        s1 += np.where(ok, x, 0).sum(axis=1)
        s2 += np.where(ok, x * x, 0).sum(axis=1)
        n += ok.sum(axis=1)
    mean = s1 / n
    return mean.tolist(), np.sqrt(np.maximum(s2 / n - mean**2, 1e-12)).tolist()


def warm_start(init: Path, channels: list[str], stacks: list[Path], settings: dict, out: Path) -> Path:
    """Write ``out/last.pt``: the weights of ``init`` as the epoch-0 state that :func:`train` resumes from.

    The first convolution is re-expressed for the new input normalisation (per-channel mean/std of the
    training stacks; training recomputes them from its tiles, so this is close, not exact): a channel the
    initial model had keeps its filters scaled by std_new / std_old and the batch-norm running mean absorbs
    the shift of the mean; a channel it did not have (``swir1``) starts with zero weights, so the network
    starts as the initial model and learns what the new band adds. Optimiser and scheduler start fresh.
    """
    import dataclasses

    import torch

    from glacierinv.segment.checkpoint import load_checkpoint
    from glacierinv.segment.model import UNetCBAM

    old, meta = load_checkpoint(init)
    mean, std = _stack_stats(stacks, channels)
    spec = dataclasses.replace(meta.spec, in_channels=len(channels))
    state = {k: v.clone() for k, v in old.state_dict().items()}
    w_old = state["encoders.0.block.0.weight"]
    rm = state["encoders.0.block.1.running_mean"]
    w_new = torch.zeros(w_old.shape[0], len(channels), *w_old.shape[2:], dtype=w_old.dtype)
    old_names = [c.lower() for c in meta.channels]
    for j, c in enumerate(channels):
        if c in old_names:
            i = old_names.index(c)
            a = std[j] / meta.norm_std[i]
            b = (mean[j] - meta.norm_mean[i]) / meta.norm_std[i]
            w_new[:, j] = w_old[:, i] * a
            rm -= (w_old[:, i] * b).sum(dim=(1, 2))
    state["encoders.0.block.0.weight"] = w_new
    state["encoders.0.block.1.running_mean"] = rm
    model = UNetCBAM(spec)
    model.load_state_dict(state)
    opt = torch.optim.Adam(model.parameters(), lr=settings["lr"])
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, mode="max", factor=settings.get("lr_factor", 0.5), patience=settings["lr_patience"]
    )
    out.mkdir(parents=True, exist_ok=True)
    payload = {
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),
        "scheduler": sched.state_dict(),
        "history": [],
        "best": -1.0,
        "best_epoch": 0,
        "epoch": 0,
        "channels": list(channels),
        "tile_px": settings["tile_px"],
    }
    torch.save(payload, out / "last.pt")
    return out / "last.pt"


def phase_dir(work: Path, name: str, phase: int) -> Path:
    """Folder of one phase of one model's recipe: ``work/<name>`` (phase 1), ``work/<name>_phase2``."""
    return work / (name if phase == 1 else f"{name}_phase{phase}")


def train_model(
    work: Path, name: str, epochs: int, threads: int, device: str, max_minutes: float = 0.0,
    precision: str = "auto", phase: int = 1,
) -> dict:  # fmt: skip
    """Train one shipped model (``name`` in :data:`MODELS`) and score it on the held-out scenes.

    Phase 1 starts from the default model (:data:`INIT_MODEL`) on the easy and the phase-1 hard scenes;
    phase 2 starts from phase 1's ``best.pt`` on the easy scenes and the hard scenes of both phases, with a
    fresh optimiser at :data:`PHASE2_LR` (its folder: :func:`phase_dir`).

    Resumable: a second call with the same ``work`` and phase continues from its ``run/last.pt`` (e.g. after
    a ``max_minutes`` budget ran out, in another session). The held-out scores of the best checkpoint so far
    are computed after every call; ``train.finished`` in ``heldout.json`` says whether training ended
    (``max_epochs`` or early stop) or was cut short by the budget.
    """
    from glacierinv.segment.train import load_train_config, train

    _, channels = MODELS[name]
    hard_seeds = HARD_TRAIN_SEEDS + (HARD_TRAIN_SEEDS_MORE if phase == 2 else ())
    init = _phase_init(work, name, phase)
    scenes = [make_scene(work, s, "easy") for s in EASY_TRAIN_SEEDS]
    scenes += [make_scene(work, s, "hard") for s in hard_seeds]
    mdir = phase_dir(work, name, phase)
    mdir.mkdir(exist_ok=True)
    settings = {
        **TRAIN_SETTINGS,
        **({"lr": PHASE2_LR} if phase == 2 else {}),
        "channels": channels,
        "max_epochs": epochs,
        "threads": threads,
        "device": device,
        "precision": precision,
        "max_minutes": max_minutes,
    }
    cfg = load_train_config(write_train_toml(mdir / "train.toml", scenes, settings))
    if not (mdir / "run" / "last.pt").exists():
        warm_start(init, channels, [st for st, _ in scenes], settings, mdir / "run")
    summary = train(cfg, mdir / "run", resume=True)
    if not summary["finished"]:
        log.info("%s: stopped by the time budget after %d epochs (resume: run again); held-out scores of "
                 "the best checkpoint so far", name, summary["epochs_run"])  # fmt: skip
    held = _heldout_by_difficulty(mdir / "run" / "best.pt", work, mdir, cfg.tile_px)
    result = {
        "model": MODELS[name][0],
        "channels": channels,
        "train": summary,
        "init": INIT_MODEL.name if phase == 1 else f"{phase_dir(work, name, 1).name}/run/best.pt (phase 1)",
        "phase": phase,
        "train_seeds": {"easy": list(EASY_TRAIN_SEEDS), "hard": list(hard_seeds)},
        "heldout_seeds": {"easy": list(EASY_HELDOUT_SEEDS), "hard": list(HARD_HELDOUT_SEEDS)},
        "heldout": held,
    }
    (mdir / "heldout.json").write_text(json.dumps(result, indent=2))
    _print_heldout(name, held)
    return result


def _phase_init(work: Path, name: str, phase: int) -> Path:
    """The checkpoint a phase starts from: :data:`INIT_MODEL` for phase 1, phase 1's ``best.pt`` for phase 2
    (InputError when phase 1 has not run)."""
    from glacierinv.errors import InputError

    init = INIT_MODEL if phase == 1 else phase_dir(work, name, 1) / "run" / "best.pt"
    if not init.exists():
        raise InputError(f"{init}: phase {phase} starts from phase 1's best checkpoint; run phase 1 first")
    return init


def _heldout_by_difficulty(best: Path, work: Path, mdir: Path, tile_px: int) -> dict:
    """Held-out scores of the checkpoint ``best`` on the easy and the hard held-out scenes (by difficulty)."""
    return {
        "easy": heldout_scores(
            best, [make_scene(work, s, "easy") for s in EASY_HELDOUT_SEEDS], mdir, tile_px
        ),
        "hard": heldout_scores(
            best, [make_scene(work, s, "hard") for s in HARD_HELDOUT_SEEDS], mdir, tile_px
        ),
    }


def _print_heldout(name: str, held: dict) -> None:
    """One line per difficulty and method: mIoU, OA, F1 per class, glacier precision and snowiness."""
    for kind, by_method in held.items():
        for m, s in by_method.items():
            f1 = {k: round(v["f1"], 3) for k, v in s["per_class"].items()}
            print(
                f"{name:7s} {kind:4s} {m:9s} mIoU {s['miou']:.3f}  OA {s['oa']:.3f}  F1 {f1}  "
                f"glacier precision {s['glacier_precision']:.3f}  snowy {s['snowy']}"
            )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("work", type=Path)
    ap.add_argument("--model", choices=[*MODELS, "both"], default="both")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    ap.add_argument("--max-minutes", type=float, default=0.0, help="time budget per model (resumable)")
    ap.add_argument(
        "--phase", type=int, choices=[1, 2], default=1, help="2: continue on twice the hard scenes"
    )
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    from glacierinv.errors import GlacierInvError

    for name in MODELS if args.model == "both" else [args.model]:
        try:
            train_model(
                work,
                name,
                args.epochs,
                args.threads,
                args.device,
                args.max_minutes,
                args.precision,
                args.phase,
            )
        except GlacierInvError as exc:
            raise SystemExit(f"error: {exc}") from None


if __name__ == "__main__":
    main()
