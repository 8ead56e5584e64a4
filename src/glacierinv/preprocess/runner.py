"""The ``stack`` stage: configured imagery + DEM → ``stack.tif``, ``masks.tif``, ``source.tif``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from glacierinv.pipeline.stage import Progress, Stage

__all__ = ["STAGE", "build_stack", "check_scenes", "stack_input_paths"]


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


def check_scenes(cfg) -> None:
    """The stage's preflight: every scene's products (existence, format, metadata, integrity — the last
    block and a decimated read —, overlap with the primary grid, the channels asked for). A bad input of
    one of several ``[[scenes]]`` is named by its scene."""
    from glacierinv.errors import ConfigError
    from glacierinv.preprocess.sensors import check_keys, scene_configs

    check_keys(cfg)
    for name, scfg, _ in scene_configs(cfg):
        try:
            _check_scene(scfg)
        except ConfigError as exc:
            if not cfg.scenes:
                raise
            raise ConfigError(f"scene '{name}': {exc}") from None


def _check_scene(cfg) -> None:
    """One scene: open its products, check every file it reads, the overlap and the channels."""
    from glacierinv.io.raster import check_integrity, check_overlap, open_raster
    from glacierinv.preprocess.sensors import open_scene, scene_keys
    from glacierinv.preprocess.stack import check_channels

    for key in scene_keys():
        cfg.input_path(key, required=(key == "dem"))  # existence, with the key's name
    scene = open_scene(cfg)
    primary = scene.primary
    refs = [*primary.bands.values(), *([primary.pan] if primary.pan is not None else [])]
    rpc_files = {r.path for r in refs if r.rpc}
    files = [*scene.files(), *(p for p in (scene.dem, scene.primary_cloud, scene.fill_cloud) if p is not None)]
    for path in dict.fromkeys(files):
        with open_raster(path, need_crs=path not in rpc_files) as ds:
            check_integrity(ds, path.name)
    grid = primary.grid
    for path in dict.fromkeys(files):
        if path not in rpc_files:
            with open_raster(path) as ds:
                check_overlap(ds, grid, path)
    check_channels(cfg, scene)


STAGE = Stage(
    name="stack",
    description="align inputs on the primary grid: pan-sharpened bands, LST, slope",
    reads=lambda cfg, run: stack_input_paths(cfg),
    config_sections=("stack",),
    writes=lambda cfg: ["stack.tif", "masks.tif", "source.tif"],
    run=lambda cfg, run, progress: build_stack(cfg, run.path, progress=progress),
    part_outputs=("stack.tif", "masks.tif", "source.tif"),
    check=check_scenes,
)
