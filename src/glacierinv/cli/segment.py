"""CLI commands of the `segment` group: ``segment``, ``train`` and ``ablate`` (thin over the library)."""

from __future__ import annotations

from pathlib import Path

import typer

from glacierinv.cli import options
from glacierinv.cli._common import console
from glacierinv.cli.options import section_option
from glacierinv.config import SegmentConfig

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the ``segment``, ``train`` and ``ablate`` commands."""
    app.command("segment")(segment_cmd)
    app.command("train")(train_cmd)
    app.command("ablate")(ablate_cmd)


def segment_cmd(
    stack: Path = typer.Argument(..., help="Feature stack GeoTIFF (band descriptions = channel names)."),
    out: Path = options.out("Output folder for classes.tif, proba.tif (and U-Net uncertainty.tif)."),
    run: Path = typer.Option(
        None, "--run", help="A run folder whose [segment] settings are used where none is given here."
    ),
    method: str = section_option(SegmentConfig, "method", "--method"),
    checkpoint: Path = section_option(SegmentConfig, "checkpoint", "--checkpoint"),
    tile_px: int = section_option(SegmentConfig, "tile_px", "--tile-px"),
    overlap_px: int = section_option(SegmentConfig, "overlap_px", "--overlap-px"),
    strip_px: int = section_option(SegmentConfig, "strip_px", "--strip-px"),
    batch_size: int = section_option(SegmentConfig, "batch_size", "--batch-size"),
    device: str = section_option(SegmentConfig, "device", "--device"),
    no_proba: bool = typer.Option(
        False, "--no-proba", help="Do not write proba.tif ([segment] write_proba = false)."
    ),
    precision: str = section_option(SegmentConfig, "precision", "--precision"),
    confidence: str = section_option(SegmentConfig, "confidence", "--confidence"),
    mc_samples: int = section_option(SegmentConfig, "mc_samples", "--mc-samples"),
    force: bool = options.force("Overwrite existing outputs."),
) -> None:
    """Classify a feature stack into background / clean ice / debris-covered ice.

    The segment stage's computation (same defaults, same tiling) on any stack.

    $ glacierinv segment run/stack.tif --out seg
    """
    from glacierinv.cli.options import given, stage_config
    from glacierinv.errors import InputError
    from glacierinv.io.atomic import check_writable, refuse_overwrite
    from glacierinv.pipeline.runfolder import RunFolder
    from glacierinv.segment.runner import segment_stack, writes_uncertainty

    values = given(method=method, checkpoint=checkpoint, tile_px=tile_px, overlap_px=overlap_px,
                   strip_px=strip_px, batch_size=batch_size, device=device, precision=precision,
                   confidence=confidence, mc_samples=mc_samples)  # fmt: skip
    if no_proba:
        values["write_proba"] = False
    cfg = stage_config(run=run, need_dem=False, segment=values)
    if cfg.segment.method == "baseline" and checkpoint is not None:
        raise InputError("--checkpoint is only used with --method unet")
    if not stack.exists():
        raise InputError("file not found", stack, "Check the path of the feature stack")
    classes = out / RunFolder.CLASSES
    proba = out / RunFolder.PROBA if cfg.segment.write_proba else None
    unc = out / RunFolder.UNCERTAINTY if writes_uncertainty(cfg) else None
    for p in (classes, proba, unc):
        if p is not None:
            refuse_overwrite(p, force)
    check_writable(out)
    summary = segment_stack(cfg, stack, classes, proba, unc)
    total = sum(summary[f"pixels_{k}"] for k in ("background", "clean_ice", "debris")) or 1
    console.print(
        f"{cfg.segment.method}: clean ice {summary['pixels_clean_ice'] / total:.1%}, debris "
        f"{summary['pixels_debris'] / total:.1%} of valid pixels → {classes}"
    )


def train_cmd(
    config: Path = typer.Argument(
        None, help="Training TOML ([[scenes]] stack + labels, [train] settings); or use --run."
    ),
    out: Path = options.out("Training folder (best.pt, metrics.csv, curves.png, report.md)."),
    run: Path = typer.Option(
        None, "--run", help="Run folder whose stack.tif is the imagery (instead of CONFIG)."
    ),
    glaciers: Path = typer.Option(
        None, "--glaciers", help="With --run: reference glacier outlines (e.g. RGI 7) → labels."
    ),
    debris: Path = typer.Option(None, "--debris", help="With --run: optional debris-cover polygons."),
    init: Path = typer.Option(
        None,
        "--init",
        help="Checkpoint to fine-tune, or 'shipped' (the shipped model); channels must match.",
    ),
    ignore_edge_px: float = typer.Option(
        None, "--ignore-edge-px", help="Ignore pixels within N px of a reference outline in the loss."
    ),
    test_region: Path = typer.Option(
        None, "--test-region", help="Polygons of the held-out area (test split by region)."
    ),
    tile_px: int = typer.Option(None, "--tile-px", help="Override [train] tile_px."),
    loss: str = typer.Option(None, "--loss", help="Override [train] loss (dice, focal, dice_ce)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its last epoch."),
    force: bool = options.force("Restart in a non-empty --out."),
    max_epochs: int = typer.Option(None, "--max-epochs", help="Override [train] max_epochs."),
    device: str = typer.Option(None, "--device", help="Override [train] device (auto, cpu, cuda)."),
    precision: str = typer.Option(
        None, "--precision", help="Override [train] precision (auto = bf16 where native, fp32, bf16)."
    ),
    threads: int = typer.Option(None, "--threads", help="Override [train] threads (torch CPU threads)."),
    max_minutes: float = typer.Option(
        None, "--max-minutes", help="Stop after the epoch that reaches N minutes; continue with --resume."
    ),
) -> None:
    """Train (or fine-tune) the U-Net+CBAM on (stack, labels) scenes; the best checkpoint is OUT/best.pt.

    $ glacierinv train train.toml --out model

    $ glacierinv train --run run --glaciers rgi7.gpkg --init shipped --ignore-edge-px 2 \\
        --test-region heldout.gpkg --out model
    """
    from glacierinv.segment.train import train, with_overrides

    cfg = _train_config(config, run, glaciers, debris, tile_px)
    overrides = {"max_epochs": max_epochs, "device": device, "init": init, "ignore_edge_px": ignore_edge_px,
                 "test_region": test_region, "tile_px": tile_px, "loss": loss, "precision": precision,
                 "threads": threads, "max_minutes": max_minutes}  # fmt: skip
    cfg = with_overrides(cfg, **_train_overrides(**overrides))
    summary = train(cfg, out, resume=resume, force=force)
    _print_train_summary(summary, out)


def _train_config(config: Path | None, run: Path | None, glaciers: Path | None, debris: Path | None,
                  tile_px: int | None):  # fmt: skip
    """The training config: from the CONFIG TOML, or one scene from ``run``'s stack with ``glaciers`` labels.

    With ``--run`` the tile is ``tile_px`` (default 128 px). Raises ConfigError when neither or both of
    CONFIG and ``--run`` are given or ``--glaciers`` is misplaced; InputError for a missing file.
    """
    from glacierinv.errors import ConfigError, InputError
    from glacierinv.pipeline.runfolder import RunFolder
    from glacierinv.segment.train import TrainConfig, load_train_config, with_overrides

    if (config is None) == (run is None):
        raise ConfigError("give either a training CONFIG or --run RUN_FOLDER (with --glaciers)")
    if run is None:
        if glaciers is not None or debris is not None:
            raise ConfigError("--glaciers/--debris go with --run; in a CONFIG use [[scenes]] glaciers")
        return load_train_config(config)
    stack = run / RunFolder.STACK
    if not stack.is_file():
        raise InputError("run folder has no stack.tif", run, "Run `glacierinv run` (stack stage) first")
    if glaciers is None:
        raise ConfigError("--run needs --glaciers (reference outlines, e.g. RGI 7)")
    for p in (glaciers, debris):
        if p is not None and not p.exists():
            raise InputError("file not found", p, "Check the path of the reference outlines")
    scene = {"stack": stack.resolve(), "glaciers": glaciers.resolve()}
    if debris is not None:
        scene["debris"] = debris.resolve()
    return with_overrides(
        TrainConfig.model_construct(scenes=[], base_dir=Path.cwd()),
        scenes=[scene],
        tile_px=tile_px or 128,
    )


def _train_overrides(*, device, init, ignore_edge_px, test_region, **plain) -> dict:
    """The ``[train]`` settings given on the command line (None = not given), checked and resolved.

    ``device`` must be auto/cpu/cuda; ``init`` 'shipped' is the shipped model; ``ignore_edge_px`` (px)
    must be >= 0; paths are made absolute. ``plain`` values are taken as given.
    """
    from glacierinv.errors import ConfigError

    update = {}
    if plain["max_epochs"] is not None:
        update["max_epochs"] = plain["max_epochs"]
    if device is not None:
        if device not in ("auto", "cpu", "cuda"):
            raise ConfigError(f"--device must be auto, cpu or cuda, not '{device}'")
        update["device"] = device
    if init is not None:
        if str(init) == "shipped":
            from glacierinv.segment.checkpoint import SHIPPED_MODEL

            init = SHIPPED_MODEL
        update["init"] = init.resolve()
    if ignore_edge_px is not None:
        if ignore_edge_px < 0:
            raise ConfigError(f"--ignore-edge-px must be >= 0, not {ignore_edge_px}")
        update["ignore_edge_px"] = ignore_edge_px
    if test_region is not None:
        update["test_region"] = test_region.resolve()
    for key in ("tile_px", "loss", "precision", "threads", "max_minutes"):
        if plain[key] is not None:
            update[key] = plain[key]
    return update


def _print_train_summary(summary: dict, out: Path) -> None:
    """Print the best epoch, val/test mIoU and test glacier F1, and the checkpoint and report paths."""
    test = summary["test"] or {}
    glacier = (test.get("glacier") or {}).get("f1")
    console.print(
        f"best epoch {summary['best_epoch']}: val mIoU {summary['best_val_miou']:.3f}"
        + (f", test mIoU {test['miou']:.3f}" if test.get("miou") is not None else "")
        + (f", test glacier F1 {glacier:.3f}" if glacier is not None else "")
        + f" → {summary['checkpoint']} (report: {out / 'report.md'})"
    )
    if not summary["finished"]:
        console.print(f"stopped by --max-minutes after epoch {summary['epochs_run']}: continue with --resume")


def ablate_cmd(
    config: Path = typer.Argument(..., help="Training TOML as for `glacierinv train`."),
    out: Path = options.out("Folder for one run per variant + ablation.csv/.md."),
    max_epochs: int = typer.Option(None, "--max-epochs", help="Override [train] max_epochs."),
    force: bool = options.force("Restart variants already in --out."),
) -> None:
    """Feature (MS / +slope / +LST / +LST+slope) and loss (Dice vs Focal) ablations, seed Table S1.

    $ glacierinv ablate train.toml --out ablation
    """
    from glacierinv.segment.ablation import run_ablation
    from glacierinv.segment.train import load_train_config

    cfg = load_train_config(config)
    if max_epochs is not None:
        cfg = cfg.model_copy(update={"max_epochs": max_epochs})
    table = run_ablation(cfg, out, force=force)
    console.print(table["markdown"])
