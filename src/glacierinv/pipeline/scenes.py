"""Many scenes and tiles → one seamless raster set: plan parts, process each as a task, mosaic.

A *part* is a whole scene or a tile of one (``[runtime] tile_px``), processed independently (feature stack,
then segmentation) in ``RUN/parts/<key>/`` — in-process or on Dask workers (:mod:`glacierinv.pipeline.distributed`).
The mosaic writes ``RUN/stack.tif``, ``classes.tif``, ``proba.tif``, ``masks.tif`` and ``source.tif`` on one
output grid, window by window, so glaciers that cross tile or scene borders are vectorised as one polygon
later. Rules:

- tiles of one scene: each output pixel comes from the tile whose *core* holds it (the overlap margin is
  computed for context and discarded), so tiling does not change the result away from numerical noise;
- several scenes: by ``priority`` (lower first) when given, else primary imagery (pan/MS) before
  Sentinel-2-only scenes, then least cloud; a pixel is taken from the first scene where it is valid and
  cloud-free, and only then from a cloudy one.

Each part records its spec hash in ``part.json``; a finished part is not recomputed on re-run.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rasterio.crs import CRS
from rasterio.enums import Resampling

from glacierinv.classes import NODATA
from glacierinv.config import RunConfig, config_from_dict
from glacierinv.errors import ConfigError, InputError
from glacierinv.io.atomic import atomic_path
from glacierinv.io.grid import Grid
from glacierinv.io.raster import (
    RasterWriter,
    iter_windows,
    open_raster,
    raster_grid,
    read_on_grid,
    read_window,
)

__all__ = ["Part", "mosaic_parts", "plan_parts", "process_part"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Part:
    """One unit of work: a scene, or a tile (``core`` window) of a scene's primary grid."""

    key: str
    scene: str
    config: dict  # the part's RunConfig as JSON (inputs of its scene)
    base_dir: str
    priority: tuple
    core_bounds: tuple[float, float, float, float] | None = (
        None  # (left, bottom, right, top) of the tile core
    )
    crs: str | None = None  # CRS of core_bounds (the scene's primary grid)
    read_window: tuple[int, int, int, int] | None = None  # (col_off, row_off, width, height) incl. overlap

    def spec_hash(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True, default=str).encode()).hexdigest()[:16]


def _primary(cfg: RunConfig):
    """The opened primary product of a one-scene config (its grid defines the scene's tiles)."""
    from glacierinv.preprocess.sensors import open_scene

    return open_scene(cfg).primary


def _scene_configs(cfg: RunConfig) -> list[tuple[str, RunConfig, int | None]]:
    from glacierinv.preprocess.sensors import scene_configs

    return scene_configs(cfg)


def plan_parts(cfg: RunConfig) -> list[Part]:
    """The parts of a run: every scene, split into tiles when ``runtime.tile_px`` > 0."""
    from glacierinv.preprocess.sensors import key_role

    parts = []
    names = [name for name, _, _ in _scene_configs(cfg)]
    if len(set(names)) != len(names):
        raise ConfigError("config: [[scenes]] names must be unique")
    for rank, (name, scfg, priority) in enumerate(_scene_configs(cfg)):
        product = _primary(scfg)
        grid = product.grid
        sensor_rank = 1 if key_role(product.key) == "fill" else 0  # a gap-fill product alone ranks below
        prio = (priority if priority is not None else 10**6, sensor_rank, rank)
        cfg_json = scfg.model_dump(mode="json")
        tile = cfg.runtime.tile_px
        if tile <= 0:
            parts.append(Part(_safe(name), name, cfg_json, str(scfg.base_dir), prio))
            continue
        for read, core in iter_windows(grid, block=tile, overlap=cfg.runtime.tile_overlap_px):
            cgrid = grid.window_grid(core)
            parts.append(
                Part(
                    f"{_safe(name)}-r{int(core.row_off):07d}-c{int(core.col_off):07d}",
                    name,
                    cfg_json,
                    str(scfg.base_dir),
                    prio,
                    cgrid.bounds,
                    grid.crs.to_string(),
                    (int(read.col_off), int(read.row_off), int(read.width), int(read.height)),
                )
            )
    return parts


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name) or "scene"


def process_part(part: Part, run_dir: str | Path, stage: str) -> dict[str, Any]:
    """Run ``stage`` ("stack" or "segment") for one part in ``RUN/parts/<key>/``; skip it if current.

    Returns ``{"key", "scene", "status": "ran" | "skipped", "summary"}``: the stage's summary of this part
    (sensor and calibration of the stack, rule or model of the segmentation …), kept in ``part.json`` so a
    skipped part reports the summary of the run that made its outputs.
    """
    folder = Path(run_dir) / "parts" / part.key
    folder.mkdir(parents=True, exist_ok=True)
    record_path = folder / "part.json"
    record = json.loads(record_path.read_text()) if record_path.exists() else {}
    outputs = {"stack": ["stack.tif"], "segment": ["classes.tif"]}[stage]
    if record.get(stage) == part.spec_hash() and all((folder / o).exists() for o in outputs):
        summary = record.get(f"{stage}_summary", {})
        return {"key": part.key, "scene": part.scene, "status": "skipped", "summary": summary}
    cfg = config_from_dict(part.config, Path(part.base_dir), f"part {part.key}")
    if stage == "stack":
        from glacierinv.preprocess.runner import build_stack

        # a tile is a window of the scene's primary grid: scene-wide statistics (pan-sharpening fit) are
        # shared by all tiles, so tiles equal an untiled build
        summary = build_stack(cfg, folder, window=part.read_window)
    else:
        from glacierinv.segment.runner import segment_stack

        summary = segment_stack(
            cfg,
            folder / "stack.tif",
            folder / "classes.tif",
            folder / "proba.tif",
            folder / "uncertainty.tif",
        )
    # JSON-able: numpy scalars as numbers, paths as text
    summary = json.loads(
        json.dumps(summary or {}, default=lambda o: o.item() if hasattr(o, "item") else str(o))
    )
    record[stage] = part.spec_hash()
    record[f"{stage}_summary"] = summary
    with atomic_path(record_path) as tmp:
        tmp.write_text(json.dumps(record))
    return {"key": part.key, "scene": part.scene, "status": "ran", "summary": summary}


# -------------------------------------------------------------------------------------------------------
# mosaicking
# -------------------------------------------------------------------------------------------------------
def _output_grid(parts: list[Part], run_dir: Path, name: str) -> Grid:
    grids = [raster_grid(Path(run_dir) / "parts" / p.key / name) for p in parts]
    crs = grids[0].crs
    res = min(min(g.res) for g in grids)
    from rasterio.warp import transform_bounds

    bounds = np.array([transform_bounds(g.crs, crs, *g.bounds) if g.crs != crs else g.bounds for g in grids])
    left, bottom = bounds[:, 0].min(), bounds[:, 1].min()
    right, top = bounds[:, 2].max(), bounds[:, 3].max()
    if all(g.crs == crs and g.res == grids[0].res for g in grids):
        # same grid family (tiles of one scene): keep the exact pixel alignment
        res = grids[0].res[0]
    return Grid.from_bounds(crs, (left, bottom, right, top), res)


def _order(parts: list[Part], run_dir: Path) -> list[Part]:
    """Mosaic priority: explicit priority, primary sensor first, then least cloud, then config order."""

    def cloud_fraction(p: Part) -> float:
        masks = Path(run_dir) / "parts" / p.key / "masks.tif"
        if not masks.exists():
            return 0.0
        with open_raster(masks) as ds:
            cloud = read_window(ds, None, 1, as_float=False)
        return float(np.mean(cloud == 1))

    return sorted(
        parts, key=lambda p: (p.priority[0], p.priority[1], cloud_fraction(p), p.priority[2], p.key)
    )


def mosaic_parts(
    parts: list[Part], run_dir: str | Path, names: tuple[str, ...], *, block_px: int = 1024
) -> list[Path]:
    """Mosaic the parts' rasters ``names`` (e.g. "classes.tif") into ``RUN/<name>``, window by window.

    Validity comes from each part's ``classes.tif`` when it exists (255 = nodata), else from the raster's
    own nodata. Nearest-neighbour resampling keeps classes and band values unmixed.
    """
    run_dir = Path(run_dir)
    if not parts:
        raise InputError("no scene or tile to mosaic", run_dir)
    ordered = _order(parts, run_dir)
    written = []
    for name in names:
        present = [p for p in ordered if (run_dir / "parts" / p.key / name).exists()]
        if not present:
            continue
        grid = _output_grid(present, run_dir, name)
        with open_raster(run_dir / "parts" / present[0].key / name) as ds0:
            count, dtype, nodata = ds0.count, ds0.dtypes[0], ds0.nodata
            descriptions = list(ds0.descriptions) if all(ds0.descriptions) else None
        fill = nodata if nodata is not None else (np.nan if np.dtype(dtype).kind == "f" else 0)
        with RasterWriter(run_dir / name, grid, count, dtype, nodata, descriptions) as writer:
            for _, win in iter_windows(grid, block=block_px):
                writer.write(_mosaic_window(present, run_dir, name, grid, win, count, dtype, fill), win)
        written.append(run_dir / name)
    return written


def _mosaic_window(parts, run_dir, name, grid, win, count, dtype, fill) -> np.ndarray:
    wgrid = grid.window_grid(win)
    out = np.full((count, wgrid.height, wgrid.width), fill, dtype=dtype)
    filled = np.zeros(wgrid.shape, bool)
    for cloud_pass in (True, False):  # first cloud-free pixels, then whatever is left
        for p in parts:
            folder = run_dir / "parts" / p.key
            valid = _part_valid(folder, name, wgrid, p)
            if valid is None:
                continue
            if cloud_pass and (folder / "masks.tif").exists():
                cloud = read_on_grid(
                    folder / "masks.tif", wgrid, bands=1, resampling=Resampling.nearest, require_overlap=False
                )
                valid &= ~(cloud == 1)
            take = valid & ~filled
            if not take.any():
                continue
            values = read_on_grid(folder / name, wgrid, resampling=Resampling.nearest, require_overlap=False)
            out[:, take] = np.nan_to_num(values[:, take], nan=fill if not np.isnan(fill) else np.nan).astype(
                dtype
            )
            filled |= take
    return out


def _part_valid(folder: Path, name: str, wgrid: Grid, part: Part) -> np.ndarray | None:
    """Pixels of the window this part may supply: inside its core (tiles) and valid."""
    src = folder / name
    if not src.exists():
        return None
    g = raster_grid(src)
    from rasterio.warp import transform_bounds

    b = transform_bounds(g.crs, wgrid.crs, *g.bounds) if g.crs != wgrid.crs else g.bounds
    wb = wgrid.bounds
    if b[0] >= wb[2] or b[2] <= wb[0] or b[1] >= wb[3] or b[3] <= wb[1]:
        return None
    ref = folder / "classes.tif" if (folder / "classes.tif").exists() else src
    vals = read_on_grid(ref, wgrid, resampling=Resampling.nearest, require_overlap=False)
    if ref.name == "classes.tif":
        valid = ~np.isnan(vals[0]) & (vals[0] != NODATA)
    else:
        valid = ~np.all(np.isnan(vals), axis=0)
    if part.core_bounds is not None:
        xs, ys = wgrid.xy(*np.indices(wgrid.shape))
        left, bottom, right, top = part.core_bounds
        if part.crs is not None and CRS.from_user_input(part.crs) != wgrid.crs:
            left, bottom, right, top = transform_bounds(part.crs, wgrid.crs, left, bottom, right, top)
        valid &= (xs >= left) & (xs < right) & (ys > bottom) & (ys <= top)
    return valid
