"""The ``stack`` stage: configured imagery + DEM → ``stack.tif``, ``masks.tif``, ``source.tif``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from glacierinv.pipeline.stage import Progress, Stage

__all__ = ["STAGE", "build_stack", "stack_input_paths"]


def stack_input_paths(cfg) -> dict[str, Path]:
    """Every file the stack reads: the imagery keys of ``[inputs]`` and of every ``[[scenes]]`` entry (the
    sensor registry lists them, :func:`glacierinv.preprocess.sensors.scene_keys`), plus the band files a
    product's metadata file names (e.g. the Landsat bands beside an MTL).

    Labelled ``inputs.KEY``, ``scenes.NAME.KEY`` and ``….files.FILENAME``; product folders (a SAFE, a GF
    product) are hashed whole.
    """
    from glacierinv.preprocess.sensors import input_paths, product_files, scene_keys

    keys = set(scene_keys())
    out: dict[str, Path] = {}
    for label, path in input_paths(cfg).items():
        if label.startswith("scenes."):
            out[label] = path
        elif label in keys:
            out[f"inputs.{label}"] = path
    for label, path in product_files(cfg).items():
        out.setdefault(label, path)
    return out


def build_stack(cfg, out_dir: Path, *, window=None, progress: Progress | None = None) -> dict[str, Any]:
    """Build the feature stack of one configuration (a whole run, or one scene/tile part) into ``out_dir``."""
    from glacierinv.preprocess.stack import build_feature_stack

    result = build_feature_stack(
        cfg, out_dir, block_px=cfg.runtime.block_px, window=window, progress=progress
    )
    return summary_of(result)


def summary_of(result: Any) -> dict[str, Any]:
    """A JSON-able summary of a stack build result (dict, object with ``summary``, or dataclass)."""
    if isinstance(result, dict):
        return result
    if hasattr(result, "summary"):
        s = result.summary
        return s() if callable(s) else dict(s)
    if hasattr(result, "__dataclass_fields__"):
        return {k: v for k, v in vars(result).items() if isinstance(v, (int, float, str))}
    return {}


STAGE = Stage(
    name="stack",
    description="align inputs on the primary grid: pan-sharpened bands, LST, slope",
    reads=lambda cfg, run: stack_input_paths(cfg),
    config_sections=("stack",),
    writes=lambda cfg: ["stack.tif", "masks.tif", "source.tif"],
    run=lambda cfg, run, progress: build_stack(cfg, run.path, progress=progress),
    part_outputs=("stack.tif", "masks.tif", "source.tif"),
)
