"""Check every input of a run before anything is written, so bad input never leaves partial output.

Each check raises a :class:`~glacierinv.errors.GlacierInvError` with one line: what is wrong, in which
file, and what to do. Checks are cheap: headers, the last block (catches truncated files) and a
decimated read (catches all-NaN / all-nodata rasters), never a whole-scene read.
"""

from __future__ import annotations

from pathlib import Path

from glacierinv.config import RunConfig
from glacierinv.errors import CheckpointError, ConfigError
from glacierinv.io.raster import check_integrity, check_overlap, open_raster
from glacierinv.preprocess.sensors import scene_keys

__all__ = ["check_inputs", "checkpoint_channels", "shipped_models"]


def check_inputs(cfg: RunConfig, *, checkpoint: bool = True) -> None:
    """Validate the scenes' inputs: every scene's products (existence, format, metadata, integrity,
    overlap, channels), and that the U-Net checkpoint's channels are in the stack. The inputs only one
    later stage reads are that stage's own check (:attr:`glacierinv.pipeline.stage.Stage.check`);
    :func:`glacierinv.pipeline.check_run` runs both, for ``glacierinv config check`` and ``run`` alike."""
    from glacierinv.preprocess.sensors import check_keys, scene_configs

    check_keys(cfg)

    available: list[set[str]] = []
    for name, scfg, _ in scene_configs(cfg):
        try:
            available.append(_check_scene(scfg))
        except ConfigError as exc:
            if not cfg.scenes:
                raise
            raise ConfigError(f"scene '{name}': {exc}") from None
    if checkpoint:
        _check_checkpoint(cfg, set.intersection(*available) if available else set())


def _check_scene(cfg: RunConfig) -> set[str]:
    """One scene: open its products, check every file it reads, the overlap and the channels.

    Returns the channels its inputs can provide.
    """
    from glacierinv.preprocess.sensors import available_channels, open_scene
    from glacierinv.preprocess.stack import check_channels

    for key in scene_keys():
        cfg.input_path(key, required=(key == "dem"))  # existence, with the key's name
    scene = open_scene(cfg)
    primary = scene.primary
    refs = [*primary.bands.values(), *([primary.pan] if primary.pan is not None else [])]
    rpc_files = {r.path for r in refs if r.rpc}
    files = [*scene.files(), *(p for p in (scene.dem, scene.primary_cloud, scene.s2_cloud) if p is not None)]
    for path in dict.fromkeys(files):
        with open_raster(path, need_crs=path not in rpc_files) as ds:
            check_integrity(ds, path.name)
    grid = primary.grid
    for path in dict.fromkeys(files):
        if path not in rpc_files:
            with open_raster(path) as ds:
                check_overlap(ds, grid, path)
    check_channels(cfg, scene)
    return set(available_channels(scene))


def checkpoint_channels(path: Path) -> list[str]:
    """The channel names a U-Net checkpoint declares (read safely, without building the model)."""
    import torch

    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
        return [str(c) for c in raw["channels"]]
    except Exception as exc:  # noqa: BLE001 - any failure means an unusable checkpoint
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: not a readable glacierinv checkpoint ({first})") from None


def shipped_models() -> dict[str, list[str]]:
    """The models shipped in ``glacierinv/segment/models/`` → the channels each declares."""
    from glacierinv.segment.checkpoint import SHIPPED_MODEL

    return {p.name: checkpoint_channels(p) for p in sorted(SHIPPED_MODEL.parent.glob("*.pt"))}


def _check_checkpoint(cfg: RunConfig, available: set[str]) -> None:
    """Stop before anything is written when the U-Net needs a channel the stack will not hold."""
    if cfg.segment.method != "unet":
        return
    from glacierinv.segment.checkpoint import SHIPPED_MODEL

    path = cfg.resolve(cfg.segment.checkpoint) or SHIPPED_MODEL
    if not Path(path).is_file():
        raise CheckpointError(f"{path}: checkpoint not found. Fix [segment] checkpoint or omit it")
    needed = checkpoint_channels(Path(path))
    stack = {c.lower() for c in cfg.stack.channels}
    missing = [c for c in needed if c.lower() not in stack]
    if not missing:
        return
    fits = [f"{name} ({', '.join(ch)})" for name, ch in shipped_models().items() if set(ch) <= available]
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
