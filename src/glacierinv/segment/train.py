"""Training of the U-Net+CBAM (seed section 3.3.1): tiles, 8:1:1 spatial split, Adam, plateau LR, early stop.

``train(config, out_dir)`` writes into ``out_dir``:

- ``best.pt``: the checkpoint with the best validation mIoU (see :mod:`glacierinv.segment.checkpoint`);
- ``last.pt``: weights + optimiser + scheduler + history after the last finished epoch (resume point);
- ``metrics.csv``: one row per epoch (losses, validation OA / mIoU / per-class F1, learning rate, time);
- ``curves.png``: training curves; ``test_metrics.json``: the best model on the test split;
- ``report.md``: the held-out (test split) scores per class and glacier (ice + debris) vs not;
- ``labels/scene_K.tif``: the rasterised labels on each stack's grid.

Training from an existing inventory (RGI outlines on the user's own imagery): ``ignore_edge_px`` drops the
pixels near the reference outlines from the loss, ``test_region`` holds out a whole area (a split by
region), and ``init`` fine-tunes an existing checkpoint (its channels, architecture and normalisation).

Every random choice (split, shuffling, augmentation, dropout, initialisation) derives from ``seed`` and
the epoch number, so a run is reproducible and a resumed run continues the same sequence.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from glacierinv.classes import CLASS_NAMES
from glacierinv.confusion import confusion_matrix, scores
from glacierinv.errors import CheckpointError, ConfigError, InputError, OutputExists
from glacierinv.io.atomic import atomic_path
from glacierinv.io.raster import open_raster
from glacierinv.segment.checkpoint import ModelMeta, save_checkpoint
from glacierinv.segment.data import (
    OPTICAL_CHANNELS,
    TileDataset,
    channel_stats,
    deal_validation,
    label_raster,
    make_tiles,
)
from glacierinv.segment.infer import resolve_device, resolve_precision
from glacierinv.segment.losses import make_loss
from glacierinv.segment.model import UNetCBAM, UNetSpec

__all__ = [
    "TrainConfig",
    "TrainScene",
    "evaluate",
    "glacier_scores",
    "load_train_config",
    "train",
    "training_report",
    "with_overrides",
]

log = logging.getLogger(__name__)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TrainScene(_Section):
    """One (stack, labels) pair; labels from a class raster or glacier (+ debris) polygons."""

    stack: Path
    labels: Path | None = None  # class raster: 0 background, 1 clean ice, 2 debris, 255 nodata
    glaciers: Path | None = None  # glacier outline polygons (→ class 1)
    debris: Path | None = None  # debris-cover polygons (→ class 2, on top of glaciers)

    @model_validator(mode="after")
    def _one_label_source(self) -> TrainScene:
        if (self.labels is None) == (self.glaciers is None):
            raise ValueError(
                "give exactly one of `labels` (class raster) or `glaciers` (+ `debris`) polygons"
            )
        return self


class TrainConfig(_Section):
    """Training settings (TOML ``[[scenes]]`` + ``[train]``); defaults follow the seed."""

    scenes: list[TrainScene]
    channels: list[str] | None = None  # default: all bands of the first stack
    tile_px: int = 512
    stride_px: int | None = None  # default tile_px // 2 (overlapping tiles within a block)
    split_block_px: int | None = None  # default 2 × tile_px
    split: tuple[float, float, float] = (0.8, 0.1, 0.1)
    drop_empty: bool = True  # drop tiles without glacier pixels
    loss: Literal["dice", "focal", "dice_ce"] = "dice"  # seed: Dice (Eq. 3)
    base_width: int = 32
    depth: int = 4
    dropout: float = 0.5
    cbam: bool = True
    lr: float = 1e-4
    lr_factor: float = 0.5
    lr_patience: int = 5
    batch_size: int = 4
    max_epochs: int = 200
    patience: int = 20  # early stopping on validation mIoU
    max_train_tiles: int = 0  # >0: tiles per epoch drawn from the training split (time budget)
    augment: bool = True
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # auto: bf16 autocast where the device computes bf16 natively (CUDA Ampere+, CPUs with AVX512-BF16/AMX)
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    # auto: channels_last on CPU (oneDNN's fast convolution layout), contiguous on CUDA
    memory_format: Literal["auto", "channels_last", "contiguous"] = "auto"
    threads: int = 0  # >0: torch CPU threads (0: torch's default, one per core)
    cache_mb: float = Field(4096.0, ge=0)  # tiles held in memory up to this size; 0: read at each use
    max_minutes: float = Field(0.0, ge=0)  # >0: stop after the epoch that reaches this wall time (resumable)
    ignore_edge_px: float = Field(0.0, ge=0)  # polygon labels: pixels this close to an outline → ignored
    test_region: Path | None = None  # polygons: tiles inside form the test split (a split by region)
    init: Path | None = None  # checkpoint to fine-tune (its channels, architecture and normalisation)
    base_dir: Path = Field(default=Path("."), exclude=True)

    @model_validator(mode="after")
    def _check(self) -> TrainConfig:
        if not self.scenes:
            raise ValueError("at least one [[scenes]] entry is needed")
        if self.tile_px % 2**self.depth:
            raise ValueError(f"tile_px must be a multiple of 2**depth = {2**self.depth}")
        if abs(sum(self.split) - 1.0) > 1e-6 or min(self.split) < 0:
            raise ValueError("split fractions must be >= 0 and sum to 1")
        return self

    def path(self, p: Path | None) -> Path | None:
        if p is None:
            return None
        p = Path(p).expanduser()
        return p if p.is_absolute() else (self.base_dir / p).resolve()


def load_train_config(path: str | Path) -> TrainConfig:
    """Read a training TOML: top-level ``[[scenes]]`` tables and an optional ``[train]`` table."""
    import tomllib

    p = Path(path)
    if not p.is_file():
        raise InputError("training config not found", p, "Give a TOML file (see docs/segment.md)")
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: not valid TOML ({exc}). Fix the syntax.") from None
    merged = {**data.get("train", {}), "scenes": data.get("scenes", [])}
    unknown = set(data) - {"train", "scenes"}
    if unknown:
        raise ConfigError(f"{p}: unknown table(s) {', '.join(sorted(unknown))}; use [[scenes]] and [train]")
    try:
        cfg = TrainConfig.model_validate(merged)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err["loc"])
        raise ConfigError(f"{p}: invalid setting '{where}': {err['msg']}") from None
    return cfg.model_copy(update={"base_dir": p.parent.resolve()})


def with_overrides(cfg: TrainConfig, **changes: Any) -> TrainConfig:
    """A copy of ``cfg`` with ``changes`` applied and validated again (CLI overrides, API use).

    Raises :class:`ConfigError` (one line) when a changed setting is invalid.
    """
    data = {k: getattr(cfg, k) for k in TrainConfig.model_fields if k != "base_dir" and hasattr(cfg, k)}
    try:
        new = TrainConfig.model_validate({**data, **changes})
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err["loc"]) or "train"
        raise ConfigError(f"invalid training setting '{where}': {err['msg']}") from None
    return new.model_copy(update={"base_dir": cfg.base_dir})


def _stack_bands(path: Path) -> list[str]:
    with open_raster(path) as ds:
        return [(d or "").lower() for d in ds.descriptions]


def _resolve_channels(
    cfg: TrainConfig, stacks: list[Path], init_channels: list[str] | None = None
) -> tuple[list[str], list[list[int]]]:
    if init_channels is not None:  # fine-tuning: the checkpoint's channels, in its order
        channels = [c.lower() for c in init_channels]
        given = [c.lower() for c in cfg.channels] if cfg.channels else _stack_bands(stacks[0])
        lacking = [c for c in channels if any(c not in _stack_bands(s) for s in stacks)]
        if lacking or (cfg.channels and set(given) != set(channels)):
            raise CheckpointError(
                f"{cfg.path(cfg.init)}: the model to fine-tune takes channels {', '.join(channels)}; the "
                f"training data gives {', '.join(given)}. Use stacks with the model's channels, or train "
                "from scratch (no --init)"
            )
    else:
        channels = [c.lower() for c in (cfg.channels or _stack_bands(stacks[0]))]
    if not channels or "" in channels:
        raise InputError(
            "stack bands need descriptions (channel names)", stacks[0], "Build it with glacierinv stack"
        )
    idx = []
    for s in stacks:
        names = _stack_bands(s)
        missing = [c for c in channels if c not in names]
        if missing:
            raise InputError(
                f"channel(s) {', '.join(missing)} missing; bands are {', '.join(names)}",
                s,
                "Use stacks with the same channels or set [train] channels",
            )
        idx.append([names.index(c) for c in channels])
    return channels, idx


def _precision(cfg: TrainConfig, dev: torch.device) -> bool:
    """True for bf16 autocast: asked for, or ``auto`` on a device with native bf16 (else fp32)."""
    return resolve_precision(cfg.precision, dev) == "bf16"


def _memory_format(cfg: TrainConfig, dev: torch.device) -> torch.memory_format:
    """``channels_last`` on CPU by default: oneDNN's convolutions run faster in that layout."""
    if cfg.memory_format == "auto":
        return torch.channels_last if dev.type == "cpu" else torch.contiguous_format
    return torch.channels_last if cfg.memory_format == "channels_last" else torch.contiguous_format


def _warn_if_oversubscribed(dev: torch.device) -> None:
    """Warn when the CPU is already busy: torch's threads then wait on each other and a step slows many-fold."""
    if dev.type != "cpu" or not hasattr(os, "getloadavg"):
        return
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    load = os.getloadavg()[0]
    if load > cores and torch.get_num_threads() > 1:  # one thread cannot wait on another
        log.warning(
            "load average %.1f on %d cores: the training step will run far below the CPU's speed with %d torch "
            "threads; set [train] threads (--threads) to the cores left free, e.g. 1",
            load,
            cores,
            torch.get_num_threads(),
        )


def _to_device(x: np.ndarray, dev: torch.device, fmt: torch.memory_format) -> torch.Tensor:
    return torch.from_numpy(x).to(dev).contiguous(memory_format=fmt)


@torch.inference_mode()
def evaluate(
    model: torch.nn.Module,
    data: TileDataset,
    indices: list[int],
    loss_fn: torch.nn.Module,
    dev: torch.device,
    batch_size: int = 4,
    bf16: bool = False,
    memory_format: torch.memory_format = torch.contiguous_format,
) -> dict[str, Any]:
    """Loss and accuracy (assess.metrics: OA, per-class F1/IoU, mIoU over the 3 classes) on tiles."""
    model.eval()
    cm = np.zeros((3, 3), "int64")
    total, n = 0.0, 0
    for b0 in range(0, len(indices), batch_size):
        xb, yb = data.batch(indices[b0 : b0 + batch_size])
        x, y = _to_device(xb, dev, memory_format), torch.from_numpy(yb).to(dev)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16):
            logits = model(x)
        total += float(loss_fn(logits.float(), y)) * len(yb)
        n += len(yb)
        cm += confusion_matrix(logits.argmax(1).cpu().numpy().astype("uint8"), yb.astype("uint8"), 3, 255)
    out = scores(cm, list(CLASS_NAMES))
    out["loss"] = total / max(n, 1)
    out["glacier"] = {**(out.get("glacier") or {}), **glacier_scores(cm)}
    return out


EPOCH_PHASES = ("data_s", "forward_s", "backward_s", "optim_s", "val_s", "save_s")
"""Wall-time columns of metrics.csv: the parts of an epoch (seconds); ``seconds`` is their sum."""


def _row(epoch: int, epoch_out: _EpochResult, val: dict, lr: float, val_s: float) -> dict[str, Any]:
    f1 = {k: v["f1"] for k, v in val["per_class"].items()}
    phases = {**epoch_out.seconds, "val_s": val_s, "save_s": 0.0}
    return {
        "epoch": epoch,
        "train_loss": round(epoch_out.loss, 6),
        "val_loss": round(val["loss"], 6),
        "val_oa": val["oa"],
        "val_miou": val["miou"],
        **{f"val_f1_{k}": f1[k] for k in CLASS_NAMES},
        "lr": lr,
        "tiles": epoch_out.tiles,
        **{k: round(phases[k], 3) for k in EPOCH_PHASES},
        "seconds": round(sum(phases.values()), 2),
    }


def _write_metrics(out: Path, history: list[dict]) -> None:
    with atomic_path(out / "metrics.csv") as tmp, open(tmp, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(history[0]))
        w.writeheader()
        w.writerows(history)
    from matplotlib.figure import Figure

    ep = [h["epoch"] for h in history]
    fig = Figure(figsize=(9, 3.5))  # pyplot-free: no global backend change
    a1, a2 = fig.subplots(1, 2)
    a1.plot(ep, [h["train_loss"] for h in history], label="train")
    a1.plot(ep, [h["val_loss"] for h in history], label="validation")
    a1.set_xlabel("epoch"), a1.set_ylabel("loss"), a1.legend()
    a2.plot(ep, [h["val_miou"] or 0 for h in history], label="mIoU")
    for k in CLASS_NAMES:
        a2.plot(ep, [h[f"val_f1_{k}"] or 0 for h in history], label=f"F1 {k}", lw=0.8)
    a2.set_xlabel("epoch"), a2.set_ylabel("validation score"), a2.set_ylim(0, 1), a2.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(out / "curves.png") as tmp:
        fig.savefig(tmp, format="png", dpi=90)


def train(
    cfg: TrainConfig,
    out_dir: str | Path,
    *,
    resume: bool = False,
    force: bool = False,
    progress: Callable[[int, dict], None] | None = None,
) -> dict[str, Any]:
    """Train a U-Net+CBAM on the configured scenes; returns the summary (best epoch, val/test metrics).

    Raises :class:`OutputExists` when ``out_dir`` already holds a training run and neither ``resume`` nor
    ``force`` is given.

    Steps: labels rasterised per scene, tiles split into train/val/test, normalisation statistics, model
    (new or fine-tuned), epochs with early stopping on the validation mIoU (``best.pt``, ``last.pt`` to
    resume, ``metrics.csv``), temperature calibration and the held-out test scores (``test_metrics.json``,
    ``report.md``).
    """
    out = Path(out_dir)
    _prepare_out(out, resume, force)
    dev, bf16, fmt = _torch_setup(cfg)
    started = time.perf_counter()
    _warn_if_oversubscribed(dev)
    stacks = _stacks(cfg)
    init_model, init_meta = _initial_model(cfg)
    channels, band_idx = _resolve_channels(cfg, stacks, init_meta.channels if init_meta else None)
    labels = _labels(cfg, stacks, out, resume)
    split, stride = _split_tiles(cfg, stacks, labels, band_idx, channels)
    mean, std = _norm_stats(init_meta, stacks, band_idx, split["train"])
    train_ds, val_ds, test_ds = _datasets(cfg, stacks, labels, band_idx, split, mean, std, channels)
    _log_setup(train_ds, val_ds, bf16, fmt)
    spec = _model_spec(cfg, channels, init_meta)
    model = _build_model(cfg, spec, init_model, channels, dev, fmt)
    opt, sched = _optimiser(cfg, model)
    loss_fn = make_loss(cfg.loss)
    meta_train = _meta_train(cfg, len(stacks), split, stride)
    state = _start_state(out / "last.pt" if resume else None, model, opt, sched, channels, cfg.tile_px)
    meta = ModelMeta(
        spec, channels, mean.tolist(), std.tolist(), list(CLASS_NAMES), cfg.tile_px, train=meta_train
    )
    for epoch in range(state.start, cfg.max_epochs + 1):
        if _should_stop(cfg, state, epoch, started):
            break
        epoch_out = _train_epoch(model, train_ds, cfg, epoch, opt, loss_fn, dev, bf16, fmt)
        val, val_s, miou = _validate(model, val_ds, loss_fn, dev, cfg.batch_size, bf16, fmt)
        sched.step(miou)
        row = _row(epoch, epoch_out, val, opt.param_groups[0]["lr"], val_s)
        state.history.append(row)
        saved = (model, opt, sched, meta, meta_train, channels, cfg.tile_px)
        row["save_s"] = _save_epoch(out, saved, state, epoch, miou, val)  # written with the next epoch's row
        row["seconds"] = round(sum(row[k] for k in EPOCH_PHASES), 2)
        _log_epoch(epoch, row, miou, state)
        if progress is not None:
            progress(epoch, row)
    _write_metrics(out, state.history)
    train_ds.close()
    test = _calibrate_and_test(out / "best.pt", val_ds, test_ds, loss_fn, dev, cfg.batch_size, bf16, state)
    summary = _summary(cfg, state, meta_train, channels, test, out, dev, bf16, fmt)
    _write_summary(out, summary, meta_train)
    return summary


def _optimiser(cfg: TrainConfig, model):
    """Adam at ``cfg.lr`` and a ReduceLROnPlateau on the validation mIoU (mode max)."""
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, mode="max", factor=cfg.lr_factor, patience=cfg.lr_patience
    )
    return opt, sched


def _validate(model, val_ds, loss_fn, dev, batch_size: int, bf16: bool, fmt) -> tuple[dict, float, float]:
    """Validation scores over every validation tile, the seconds (wall) it took, and its mIoU (None → 0)."""
    t0 = time.perf_counter()
    val = evaluate(model, val_ds, list(range(len(val_ds))), loss_fn, dev, batch_size, bf16, fmt)
    val_s = time.perf_counter() - t0
    return val, val_s, val["miou"] if val["miou"] is not None else 0.0


def _save_epoch(out: Path, saved: tuple, state: _RunState, epoch: int, miou: float, val: dict) -> float:
    """Save ``best.pt`` (on a val mIoU gain), ``last.pt`` and ``metrics.csv``; return the seconds taken (3 dp).

    ``saved`` is ``(model, opt, sched, meta, meta_train, channels, tile_px)``; ``state`` gets the new best.
    """
    model, opt, sched, meta, meta_train, channels, tile_px = saved
    t0 = time.perf_counter()
    if miou > state.best:
        state.best, state.best_epoch = miou, epoch
        meta.train = {**meta_train, "best_epoch": epoch, "val": _brief(val)}
        save_checkpoint(out / "best.pt", model, meta)
    _save_last(out / "last.pt", model, opt, sched, state, epoch, channels, tile_px)
    _write_metrics(out, state.history)
    return round(time.perf_counter() - t0, 3)


def _write_summary(out: Path, summary: dict, meta_train: dict) -> None:
    """Write ``test_metrics.json`` (the summary) and ``report.md`` atomically."""
    with atomic_path(out / "test_metrics.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2))
    with atomic_path(out / "report.md") as tmp:
        tmp.write_text(training_report(summary, meta_train))


def _start_state(last: Path | None, model, opt, sched, channels, tile_px: int) -> _RunState:
    """A fresh run state, or the one resumed from ``last`` (``last.pt``) when given and present."""
    if last is not None and last.exists():
        return _resume(last, model, opt, sched, channels, tile_px)
    return _RunState()


def _prepare_out(out: Path, resume: bool, force: bool) -> None:
    """Refuse a non-empty ``out`` without ``resume``/``force`` (OutputExists); create ``out/labels``."""
    if out.exists() and any(out.iterdir()) and not (resume or force):
        raise OutputExists(
            f"{out}: folder is not empty. Pass --resume to continue the run or --force to restart it."
        )
    (out / "labels").mkdir(parents=True, exist_ok=True)


def _torch_setup(cfg: TrainConfig) -> tuple[torch.device, bool, torch.memory_format]:
    """Torch threads (``cfg.threads`` > 0 sets them), then the device, bf16 autocast flag and memory format."""
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    dev = resolve_device(cfg.device)
    return dev, _precision(cfg, dev), _memory_format(cfg, dev)


def _norm_stats(init_meta, stacks: list[Path], band_idx, train_tiles) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel normalisation mean and std (band units): the fine-tuned model's, else the training tiles'.

    Fine-tuning keeps the model's normalisation (its first layer expects it).
    """
    if init_meta is not None:
        return np.asarray(init_meta.norm_mean), np.asarray(init_meta.norm_std)
    return channel_stats(stacks, band_idx, train_tiles)


def _datasets(cfg: TrainConfig, stacks, labels, band_idx, split, mean, std, channels):
    """Train (augmented when ``cfg.augment``, seeded by ``cfg.seed``), validation and test tile datasets (logged).

    Train and validation tiles are cached in memory (``cfg.cache_mb``, grouped by the split block); the
    test tiles are read once, at the end: no cache.
    """
    log.info("tiles: %s; channels %s", {k: len(v) for k, v in split.items()}, channels)
    optical = np.array([c in OPTICAL_CHANNELS for c in channels])
    block = cfg.split_block_px or 2 * cfg.tile_px
    cache = {"cache_mb": cfg.cache_mb, "group_px": block}
    train_ds = TileDataset(
        stacks,
        labels,
        band_idx,
        split["train"],
        mean,
        std,
        optical,
        cfg.seed if cfg.augment else None,
        **cache,
    )
    val_ds = TileDataset(stacks, labels, band_idx, split["val"], mean, std, optical, **cache)
    test_ds = TileDataset(stacks, labels, band_idx, split["test"], mean, std, optical)
    return train_ds, val_ds, test_ds


def _log_setup(train_ds, val_ds, bf16: bool, fmt: torch.memory_format) -> None:
    """Log the tile cache (MiB), precision, memory format and torch threads."""
    log.info(
        "tiles %s in memory (%.0f MiB); %s, %s, %d torch threads",
        "held" if train_ds.cached else "not held",
        (train_ds.cache_bytes() + val_ds.cache_bytes()) / 2**20,
        "bf16 autocast" if bf16 else "fp32",
        "channels_last" if fmt == torch.channels_last else "contiguous",
        torch.get_num_threads(),
    )


def _build_model(cfg: TrainConfig, spec: UNetSpec, init_model, channels, dev, fmt) -> UNetCBAM:
    """The U-Net+CBAM, initialised from ``torch.manual_seed(cfg.seed)`` (or the fine-tuned weights), on ``dev``."""
    torch.manual_seed(cfg.seed)
    model = UNetCBAM(spec)
    if init_model is not None:
        model.load_state_dict(init_model.state_dict())
        log.info("fine-tuning %s (channels %s)", cfg.path(cfg.init), channels)
    return model.to(dev, memory_format=fmt)


def _meta_train(cfg: TrainConfig, n_scenes: int, split: dict, stride: int) -> dict[str, Any]:
    """The ``train`` entry of the checkpoint metadata: loss, seed, tile counts, stride (px), test split."""
    return {
        "loss": cfg.loss,
        "seed": cfg.seed,
        "n_scenes": n_scenes,
        "tiles": {k: len(v) for k, v in split.items()},
        "stride_px": stride,
        "ignore_edge_px": cfg.ignore_edge_px,
        "test_split": "region" if cfg.test_region is not None else "blocks",
        "init": str(cfg.path(cfg.init)) if cfg.init is not None else None,
    }


def _should_stop(cfg: TrainConfig, state: _RunState, epoch: int, started: float) -> bool:
    """True (and logged) before ``epoch`` when the patience is spent or the time budget is reached."""
    if _patience_spent(cfg, state, epoch):
        log.info("early stop: no val mIoU gain for %d epochs", cfg.patience)
        return True
    if _out_of_time(cfg, started, state.history):
        log.info("time budget of %g min reached after epoch %d: resume with --resume", cfg.max_minutes,
                 epoch - 1)  # fmt: skip
        return True
    return False


def _log_epoch(epoch: int, row: dict, miou: float, state: _RunState) -> None:
    """Log one epoch: losses, val mIoU, the best so far, tiles, seconds and the training step's share."""
    log.info(
        "epoch %d: train loss %.4f, val mIoU %.3f (best %.3f @ %d); %d tiles in %.1f s (%.0f %% in the "
        "training step)",
        epoch,
        row["train_loss"],
        miou,
        state.best,
        state.best_epoch,
        row["tiles"],
        row["seconds"],
        100 * step_share(row),
    )


def _summary(cfg, state: _RunState, meta_train, channels, test, out: Path, dev, bf16: bool, fmt) -> dict:
    """The run's summary (``test_metrics.json``): best epoch and val mIoU, test scores, device settings."""
    return {
        "best_epoch": state.best_epoch,
        "best_val_miou": state.best,
        "epochs_run": len(state.history),
        "tiles": meta_train["tiles"],
        "channels": channels,
        "test": _brief(test) if test else None,
        "checkpoint": str(out / "best.pt"),
        "device": str(dev),
        "bf16": bf16,
        "memory_format": "channels_last" if fmt == torch.channels_last else "contiguous",
        "threads": torch.get_num_threads(),
        "finished": _finished(cfg, state),
    }


@dataclass
class _RunState:
    """Epoch history and the best validation mIoU so far (what ``last.pt`` keeps to resume)."""

    history: list[dict] = field(default_factory=list)
    best: float = -1.0
    best_epoch: int = 0
    start: int = 1


def _stacks(cfg: TrainConfig) -> list[Path]:
    stacks = [cfg.path(s.stack) for s in cfg.scenes]
    for s in stacks:
        if not s.is_file():
            raise InputError("training stack not found", s, "Fix [[scenes]] stack in the config")
    return stacks


def _initial_model(cfg: TrainConfig):
    """(model, meta) of the checkpoint to fine-tune (``[train] init``), or (None, None)."""
    if cfg.init is None:
        return None, None
    from glacierinv.segment.checkpoint import load_checkpoint

    init_model, init_meta = load_checkpoint(cfg.path(cfg.init), "cpu")
    if cfg.tile_px % 2**init_meta.spec.depth:
        raise ConfigError(
            f"tile_px {cfg.tile_px} must be a multiple of 2**depth = {2**init_meta.spec.depth} of the model "
            f"to fine-tune ({cfg.path(cfg.init)})"
        )
    return init_model, init_meta


def _labels(cfg: TrainConfig, stacks: list[Path], out: Path, resume: bool) -> list[Path]:
    """The label raster of each scene on its stack's grid (``out/labels/scene_<k>.tif``)."""
    labels = []
    for k, s in enumerate(cfg.scenes):
        lab = out / "labels" / f"scene_{k}.tif"
        if not (resume and lab.exists()):  # a restart may change the labels (ignore_edge_px, sources)
            label_raster(
                stacks[k],
                lab,
                classes=cfg.path(s.labels),
                glaciers=cfg.path(s.glaciers),
                debris=cfg.path(s.debris),
                ignore_edge_px=cfg.ignore_edge_px,
            )
        labels.append(lab)
    return labels


def _split_tiles(cfg: TrainConfig, stacks, labels, band_idx, channels) -> tuple[dict[str, list], int]:
    """Tiles of every scene dealt into train / val / test (spatial blocks or a test region); the stride."""
    shapes, transforms = [], []
    for s in stacks:
        with open_raster(s) as ds:
            shapes.append((ds.height, ds.width))
            transforms.append((ds.transform, ds.crs))
    stride = cfg.stride_px or cfg.tile_px // 2
    block = cfg.split_block_px or 2 * cfg.tile_px
    tiles = make_tiles(
        shapes,
        tile_px=cfg.tile_px,
        stride_px=stride,
        split_block_px=block,
        fractions=cfg.split if cfg.test_region is None else (1.0, 0.0, 0.0),
        seed=cfg.seed,
    )
    if cfg.test_region is not None:  # the region is the test split; val blocks are dealt outside it
        tiles = _region_split(cfg, tiles, transforms)
        tiles = deal_validation(tiles, block, cfg.split[1] / (cfg.split[0] + cfg.split[1]), cfg.seed)
    optical = np.array([c in OPTICAL_CHANNELS for c in channels])
    probe = TileDataset(
        stacks, labels, band_idx, tiles, np.zeros(len(channels)), np.ones(len(channels)), optical
    )
    if cfg.drop_empty:
        tiles = [t for i, t in enumerate(tiles) if probe.has_glacier(i)]
    probe.close()
    split = {name: [t for t in tiles if t.split == name] for name in ("train", "val", "test")}
    if not split["train"] or not split["val"]:
        raise InputError(
            f"too few tiles for a train/val split ({len(split['train'])} train, {len(split['val'])} val)",
            stacks[0],
            "Add scenes, or lower tile_px / split_block_px",
        )
    return split, stride


def _model_spec(cfg: TrainConfig, channels: list[str], init_meta) -> UNetSpec:
    """The configured architecture, or the fine-tuned model's (with the configured dropout)."""
    spec = UNetSpec(
        in_channels=len(channels),
        n_classes=3,
        base_width=cfg.base_width,
        depth=cfg.depth,
        dropout=cfg.dropout,
        cbam=cfg.cbam,
    )
    if init_meta is not None:
        spec = init_meta.spec
        if cfg.dropout != spec.dropout:
            spec = UNetSpec(**{**spec.to_dict(), "dropout": cfg.dropout})
    return spec


def _resume(last: Path, model, opt, sched, channels: list[str], tile_px: int) -> _RunState:
    """Load model, optimiser, scheduler and history from ``last.pt``; the state to continue from."""
    state = torch.load(last, map_location="cpu", weights_only=True)
    if state.get("channels") != channels or state.get("tile_px") != tile_px:
        raise CheckpointError(f"{last}: was trained with other channels or tile size; use --force to restart")
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    sched.load_state_dict(state["scheduler"])
    run = _RunState(
        [dict(h) for h in state["history"]], state["best"], state["best_epoch"], state["epoch"] + 1
    )
    log.info(
        "resuming after epoch %d (best val mIoU %.3f at epoch %d)", run.start - 1, run.best, run.best_epoch
    )
    return run


@dataclass
class _EpochResult:
    """Mean training loss, tiles seen and wall time per part of one epoch (:data:`EPOCH_PHASES`)."""

    loss: float
    tiles: int
    seconds: dict[str, float]


def _train_epoch(model, train_ds, cfg: TrainConfig, epoch: int, opt, loss_fn, dev, bf16: bool,
                 fmt: torch.memory_format = torch.contiguous_format) -> _EpochResult:  # fmt: skip
    """One epoch over the (shuffled, seeded) training tiles, timed part by part.

    ``data_s``: tiles read (memory or file), augmented, normalised and batched; ``forward_s``: the network
    and the loss; ``backward_s``: gradients; ``optim_s``: the Adam step. On CPU every part is synchronous,
    so the wall clock between them is the part's cost (on CUDA the forward/backward split is approximate).
    """
    torch.manual_seed(cfg.seed * 100_003 + epoch)
    order = np.random.default_rng([cfg.seed, epoch]).permutation(len(train_ds))
    if cfg.max_train_tiles > 0:
        order = order[: cfg.max_train_tiles]
    model.train()
    total, n = 0.0, 0
    sec = dict.fromkeys(("data_s", "forward_s", "backward_s", "optim_s"), 0.0)
    for b0 in range(0, len(order), cfg.batch_size):
        idx = order[b0 : b0 + cfg.batch_size]
        if len(idx) < 2 and n > 0:  # BatchNorm needs > 1 sample
            continue
        t0 = time.perf_counter()
        xb, yb = train_ds.batch(idx, epoch)
        x, y = _to_device(xb, dev, fmt), torch.from_numpy(yb).to(dev)
        t1 = time.perf_counter()
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16):
            logits = model(x)
        loss = loss_fn(logits.float(), y)
        t2 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        t3 = time.perf_counter()
        opt.step()
        total += float(loss.detach()) * len(idx)
        n += len(idx)
        t4 = time.perf_counter()
        for k, dt in zip(sec, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
            sec[k] += dt
    return _EpochResult(total / max(n, 1), n, sec)


def step_share(row: dict) -> float:
    """Share of an epoch's wall time spent in the training step (forward + backward + optimiser)."""
    step = row["forward_s"] + row["backward_s"] + row["optim_s"]
    total = sum(row[k] for k in EPOCH_PHASES)
    return step / total if total > 0 else 0.0


def _out_of_time(cfg: TrainConfig, started: float, history: list[dict]) -> bool:
    """True when another epoch (as long as the last one) would pass ``max_minutes`` of this call."""
    if cfg.max_minutes <= 0 or not history:
        return False
    return time.perf_counter() - started + float(history[-1]["seconds"]) > 60 * cfg.max_minutes


def _patience_spent(cfg: TrainConfig, state: _RunState, epoch: int) -> bool:
    """True when ``epoch`` would come more than ``patience`` epochs after the best one (early stop)."""
    return state.best_epoch > 0 and epoch - state.best_epoch > cfg.patience


def _finished(cfg: TrainConfig, state: _RunState) -> bool:
    """True when training ended (max_epochs or early stop), False when a time budget cut it short."""
    last = state.history[-1]["epoch"] if state.history else 0
    return last >= cfg.max_epochs or _patience_spent(cfg, state, last + 1)


def _save_last(path: Path, model, opt, sched, state: _RunState, epoch: int, channels, tile_px: int) -> None:
    with atomic_path(path) as tmp:
        torch.save(
            {
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(),
                "history": state.history,
                "best": state.best,
                "best_epoch": state.best_epoch,
                "epoch": epoch,
                "channels": channels,
                "tile_px": tile_px,
            },
            tmp,
        )


def _calibrate_and_test(best_pt: Path, val_ds, test_ds, loss_fn, dev, batch_size: int, bf16: bool,
                        state: _RunState) -> dict | None:  # fmt: skip
    """Fit the temperature of ``best.pt`` on the validation tiles, score it on the test tiles, save it."""
    from glacierinv.segment.checkpoint import load_checkpoint

    best_model, best_meta = load_checkpoint(best_pt, dev)
    # temperature scaling on the validation tiles (glacierinv.segment.calibration): calibrated proba.tif
    # and uncertainty.tif; classes are unchanged
    from glacierinv.segment.calibration import fit_temperature, logits_of_tiles

    best_meta.temperature = fit_temperature(
        *logits_of_tiles(best_model, (val_ds.item(i) for i in range(len(val_ds))), dev)
    )
    val_ds.close()
    test = (
        evaluate(best_model, test_ds, list(range(len(test_ds))), loss_fn, dev, batch_size, bf16)
        if len(test_ds)
        else None
    )
    test_ds.close()
    best_meta.train = {
        **best_meta.train,
        "test": _brief(test) if test else None,
        "epochs_run": len(state.history),
        "temperature": best_meta.temperature,
    }
    save_checkpoint(best_pt, best_model, best_meta)
    return test


def _region_split(cfg: TrainConfig, tiles: list, transforms: list) -> list:
    from glacierinv.io.vector import read_vector
    from glacierinv.segment.data import assign_test_region

    path = cfg.path(cfg.test_region)
    if not path.exists():
        raise InputError(
            "test region not found", path, "Give polygons of the held-out area ([train] test_region)"
        )
    import shapely

    gdf = read_vector(path, polygons=True)
    affine = [tr for tr, _ in transforms]
    out = []
    for k, (_, crs) in enumerate(transforms):
        region = shapely.union_all(gdf.to_crs(crs).geometry.to_numpy())
        out += assign_test_region([t for t in tiles if t.scene == k], affine, region)
    if not any(t.split == "test" for t in out):
        raise InputError(
            "no training tile lies wholly inside the test region", path, "Enlarge the region or lower tile_px"
        )
    return out


def glacier_scores(cm: np.ndarray) -> dict[str, float | None]:
    """Glacier (clean ice + debris) vs not-glacier precision, recall and F1 from a 3×3 confusion matrix.

    ``cm[i, j]`` counts pixels of reference class ``i`` predicted as ``j`` (0 background, 1 clean ice,
    2 debris) — the convention of :func:`glacierinv.assess.metrics.confusion_matrix`.
    """
    tp = float(cm[1:, 1:].sum())
    fp = float(cm[0, 1:].sum())
    fn = float(cm[1:, 0].sum())
    prec = tp / (tp + fp) if tp + fp else None
    rec = tp / (tp + fn) if tp + fn else None
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None
    return {"precision": prec, "recall": rec, "f1": f1}


def training_report(summary: dict, meta_train: dict) -> str:
    """Markdown report of a training run: data, split, and the held-out (test) scores."""
    test = summary.get("test")
    lines = [
        "# Training report",
        "",
        f"- channels: {', '.join(summary['channels'])}",
        f"- tiles: {summary['tiles']} (test split by {meta_train.get('test_split', 'blocks')})",
        f"- ignored edge: {meta_train.get('ignore_edge_px', 0):g} px around reference outlines",
        f"- initial weights: {meta_train.get('init') or 'random (trained from scratch)'}",
        f"- epochs run: {summary['epochs_run']}; best epoch {summary['best_epoch']} "
        f"(validation mIoU {summary['best_val_miou']:.3f})",
        "",
        "## Held-out scores (test split)",
        "",
    ]
    if not test:
        return "\n".join([*lines, "No test tiles: no held-out scores.", ""])

    def f(v):
        return "–" if v is None else f"{v:.3f}"

    g = test.get("glacier", {})
    lines += [
        f"Overall accuracy {f(test['oa'])}, mIoU {f(test['miou'])} over {test['n_pixels']} labelled pixels.",
        "",
        "| class | F1 | IoU |",
        "|---|---|---|",
        *[f"| {k} | {f(test['f1'][k])} | {f(test['iou'][k])} |" for k in test["f1"]],
        "",
        f"Glacier (clean ice + debris) vs not: precision {f(g.get('precision'))}, recall {f(g.get('recall'))}, "
        f"F1 {f(g.get('f1'))}.",
        "",
    ]
    return "\n".join(lines)


def _brief(s: dict | None) -> dict | None:
    if s is None:
        return None
    return {
        "oa": s["oa"],
        "miou": s["miou"],
        "f1": {k: v["f1"] for k, v in s["per_class"].items()},
        "iou": {k: v["iou"] for k, v in s["per_class"].items()},
        "n_pixels": s["n_pixels"],
        "glacier": s.get("glacier"),
    }
