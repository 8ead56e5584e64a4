"""The ``segment`` stage: ``stack.tif`` → ``classes.tif`` (+ ``proba.tif``) with the configured method."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from glacierinv.pipeline.stage import Stage

__all__ = ["STAGE", "check_checkpoint", "segment_stack"]


def segment_stack(
    cfg,
    stack_path: Path,
    classes_path: Path,
    proba_path: Path | None,
    uncertainty_path: Path | None = None,
) -> dict[str, Any]:
    """Classify one feature stack with the configured method (the band-ratio baseline or the U-Net).

    ``proba_path`` is written only when ``[segment] write_proba`` is on; ``uncertainty_path`` only by
    the U-Net with ``[segment] confidence`` other than ``"none"``.
    """
    proba = proba_path if cfg.segment.write_proba else None
    if cfg.segment.method == "baseline":
        from glacierinv.segment.baseline import classify_stack

        return classify_stack(stack_path, classes_path, proba, block_px=cfg.runtime.block_px)
    from glacierinv.segment.infer import predict_stack

    return predict_stack(
        stack_path,
        cfg.resolve(cfg.segment.checkpoint),
        classes_path,
        proba,
        tile_px=cfg.segment.tile_px,
        overlap_px=cfg.segment.overlap_px,
        device=cfg.segment.device,
        batch_size=cfg.segment.batch_size,
        precision=cfg.segment.precision,
        confidence=cfg.segment.confidence,
        mc_samples=cfg.segment.mc_samples,
        uncertainty_path=uncertainty_path,
        block_px=cfg.segment.strip_px,
    )


def block_cache_mb(cfg, run) -> float:
    """The block cache the U-Net stage uses (MiB): tiles of a row overlap the previous row by
    ``overlap_px``, so the stack's blocks holding those rows (one block row more, for the reader's
    prefetch) are read again, across one column strip; the outputs are written in whole block rows.
    Every other block is read once, so a larger cache only holds memory (measured in docs/pipeline.md).
    The band-ratio baseline reads each block once: the minimum."""
    if cfg.segment.method != "unet":
        return 0.0
    import numpy as np

    from glacierinv.io.raster import open_raster

    with open_raster(run / "stack.tif") as ds:
        block_h = ds.block_shapes[0][0]
        width = min(ds.width, cfg.segment.strip_px + 2 * cfg.segment.tile_px)
        rows = (math.ceil(cfg.segment.overlap_px / block_h) + 1) * block_h
        stack_bytes = rows * width * ds.count * np.dtype(ds.dtypes[0]).itemsize
    outputs_bytes = block_h * width * (1 + 3 + 4)  # classes uint8, proba 3 × uint8, uncertainty float32
    return (stack_bytes + outputs_bytes) / 2**20


def writes_uncertainty(cfg) -> bool:
    """True when the segment stage writes ``uncertainty.tif`` (U-Net with confidence on)."""
    return cfg.segment.method == "unet" and cfg.segment.confidence != "none"


def _reads(cfg, run) -> dict[str, Path]:
    out = {"stack.tif": run / "stack.tif"}
    if cfg.segment.method == "unet":
        from glacierinv.segment.checkpoint import SHIPPED_MODEL

        # the shipped model is an input too: a new release's model re-runs the stage
        out["segment.checkpoint"] = (
            cfg.resolve(cfg.segment.checkpoint) if cfg.segment.checkpoint else SHIPPED_MODEL
        )
    return out


def check_checkpoint(cfg) -> None:
    """The stage's preflight: the U-Net checkpoint exists and every channel it needs is in ``[stack]
    channels``; otherwise one line naming the missing channels and the shipped models that fit the
    configured sensors (the channels every scene's products can provide)."""
    if cfg.segment.method != "unet":
        return
    from glacierinv.errors import CheckpointError, ConfigError
    from glacierinv.segment.checkpoint import SHIPPED_MODEL, checkpoint_channels, shipped_model_channels

    path = cfg.resolve(cfg.segment.checkpoint) or SHIPPED_MODEL
    if not Path(path).is_file():
        raise CheckpointError(f"{path}: checkpoint not found. Fix [segment] checkpoint or omit it")
    stack = {c.lower() for c in cfg.stack.channels}
    missing = [c for c in checkpoint_channels(Path(path)) if c.lower() not in stack]
    if not missing:
        return
    available = _available_channels(cfg)
    fits = [
        f"{name} ({', '.join(ch)})" for name, ch in shipped_model_channels().items() if set(ch) <= available
    ]
    providable = [c for c in missing if c in available]
    fix = (
        f"add {', '.join(providable)} to [stack] channels"
        if len(providable) == len(missing)
        else "name products that provide them (docs/sensors.md)"
    )
    raise ConfigError(
        f"config: the U-Net checkpoint {Path(path).name} needs channel(s) {', '.join(missing)} that the stack "
        f"lacks ([stack] channels = {list(cfg.stack.channels)}). Shipped models that fit the configured "
        f"sensors: {'; '.join(fits) or 'none'}. Fix: {fix}, set [segment] checkpoint to a fitting model, or "
        'use [segment] method = "baseline"'
    )


def _available_channels(cfg) -> set[str]:
    """The channels every scene of the run can provide (its products, by the sensor registry)."""
    from glacierinv.preprocess.sensors import available_channels, open_scene, scene_configs

    per_scene = [set(available_channels(open_scene(scfg))) for _, scfg, _ in scene_configs(cfg)]
    return set.intersection(*per_scene) if per_scene else set()


STAGE = Stage(
    name="segment",
    description="classify background / clean ice / debris-covered ice",
    reads=_reads,
    config_sections=("segment",),
    extra_params=lambda cfg: {"tile_px": cfg.runtime.tile_px},
    writes=lambda cfg: (
        ["classes.tif"]
        + (["proba.tif"] if cfg.segment.write_proba else [])
        + (["uncertainty.tif"] if writes_uncertainty(cfg) else [])
    ),
    run=lambda cfg, run, progress: segment_stack(
        cfg, run / "stack.tif", run / "classes.tif", run / "proba.tif", run / "uncertainty.tif"
    ),
    part_outputs=("classes.tif", "proba.tif", "uncertainty.tif"),
    check=check_checkpoint,
    block_cache_mb=block_cache_mb,
)
