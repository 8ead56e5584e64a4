"""The ``stack`` stage: configured imagery + DEM → ``stack.tif``, ``masks.tif``, ``source.tif``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from glacierinv.stage import Progress, Stage

__all__ = ["STAGE", "build_stack", "stack_input_paths"]

# inputs that other stages read (assessment truth, the coarse DEM of the analyses), not the stack
_NOT_STACK_INPUTS = ("dem_coarse", "truth_classes", "truth_glaciers")


def stack_input_paths(cfg) -> dict[str, Path]:
    """Every file the stack reads: the path-valued ``[inputs]`` and every ``[[scenes]]`` entry's files.

    Labelled ``inputs.KEY`` and ``scenes.NAME.KEY``. Whatever a config names is hashed, so adding a sensor
    key to the configuration needs no change here.
    """
    out: dict[str, Path] = {}
    for key, value in cfg.inputs:
        if isinstance(value, Path) and key not in _NOT_STACK_INPUTS:
            out[f"inputs.{key}"] = cfg.resolve(value)
    for scene in cfg.scenes:
        for key, value in scene:
            if isinstance(value, Path):
                out[f"scenes.{scene.name}.{key}"] = cfg.resolve(value)
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
