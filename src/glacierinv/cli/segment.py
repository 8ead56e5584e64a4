"""CLI commands of the `segment` group: ``segment``, ``train`` and ``ablate`` (thin over the library)."""

from __future__ import annotations

from pathlib import Path

import typer

from glacierinv.cli._common import console

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the ``segment``, ``train`` and ``ablate`` commands."""

    @app.command("segment")
    def segment_cmd(
        stack: Path = typer.Argument(..., help="Feature stack GeoTIFF (band descriptions = channel names)."),
        out: Path = typer.Option(
            ..., "--out", "-o", help="Output folder for classes.tif, proba.tif (and U-Net uncertainty.tif)."
        ),
        method: str = typer.Option(
            "unet", "--method", help="unet (U-Net+CBAM, the shipped model; as run/demo) or baseline (rules)."
        ),
        checkpoint: Path = typer.Option(None, "--checkpoint", help="U-Net .pt; default: the shipped model."),
        tile_px: int = typer.Option(512, "--tile-px", help="U-Net tile size in pixels."),
        overlap_px: int = typer.Option(128, "--overlap-px", help="U-Net tile overlap in pixels."),
        device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
        no_proba: bool = typer.Option(False, "--no-proba", help="Do not write proba.tif."),
        precision: str = typer.Option(
            "auto", "--precision", help="U-Net: auto (bf16 where native), fp32, bf16."
        ),
        confidence: str = typer.Option(
            "softmax", "--confidence", help="U-Net uncertainty.tif: softmax, tta, mc or none."
        ),
        force: bool = typer.Option(False, "--force", help="Overwrite existing outputs."),
    ) -> None:
        """Classify a feature stack into background / clean ice / debris-covered ice.

        $ glacierinv segment run/stack.tif --out seg
        """
        from glacierinv.errors import InputError
        from glacierinv.io.atomic import check_writable, refuse_overwrite

        if method not in ("baseline", "unet"):
            raise InputError(f"--method must be baseline or unet, not '{method}'")
        if method == "baseline" and checkpoint is not None:
            raise InputError("--checkpoint is only used with --method unet")
        if not stack.exists():
            raise InputError("file not found", stack, "Check the path of the feature stack")
        classes, proba = out / "classes.tif", None if no_proba else out / "proba.tif"
        unc = out / "uncertainty.tif" if method == "unet" and confidence != "none" else None
        for p in (classes, proba, unc):
            if p is not None:
                refuse_overwrite(p, force)
        check_writable(out)
        if method == "baseline":
            from glacierinv.segment.baseline import classify_stack

            summary = classify_stack(stack, classes, proba)
        else:
            from glacierinv.segment.infer import predict_stack

            summary = predict_stack(
                stack, checkpoint, classes, proba, uncertainty_path=unc, tile_px=tile_px,
                overlap_px=overlap_px, device=device, precision=precision, confidence=confidence,
            )  # fmt: skip
        total = sum(summary[f"pixels_{k}"] for k in ("background", "clean_ice", "debris")) or 1
        console.print(
            f"{method}: clean ice {summary['pixels_clean_ice'] / total:.1%}, debris "
            f"{summary['pixels_debris'] / total:.1%} of valid pixels → {classes}"
        )

    @app.command("train")
    def train_cmd(
        config: Path = typer.Argument(
            ..., help="Training TOML ([[scenes]] stack + labels, [train] settings)."
        ),
        out: Path = typer.Option(
            ..., "--out", "-o", help="Training folder (best.pt, metrics.csv, curves.png)."
        ),
        resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its last epoch."),
        force: bool = typer.Option(False, "--force", help="Restart in a non-empty --out."),
        max_epochs: int = typer.Option(None, "--max-epochs", help="Override [train] max_epochs."),
        device: str = typer.Option(None, "--device", help="Override [train] device (auto, cpu, cuda)."),
    ) -> None:
        """Train the U-Net+CBAM on (stack, labels) scenes; the best checkpoint is OUT/best.pt.

        $ glacierinv train train.toml --out model
        """
        from glacierinv.errors import ConfigError
        from glacierinv.segment.train import load_train_config, train

        cfg = load_train_config(config)
        update = {}
        if max_epochs is not None:
            update["max_epochs"] = max_epochs
        if device is not None:
            if device not in ("auto", "cpu", "cuda"):
                raise ConfigError(f"--device must be auto, cpu or cuda, not '{device}'")
            update["device"] = device
        cfg = cfg.model_copy(update=update)
        summary = train(cfg, out, resume=resume, force=force)
        test = summary["test"] or {}
        console.print(
            f"best epoch {summary['best_epoch']}: val mIoU {summary['best_val_miou']:.3f}"
            + (f", test mIoU {test['miou']:.3f}" if test.get("miou") is not None else "")
            + f" → {summary['checkpoint']}"
        )

    @app.command("ablate")
    def ablate_cmd(
        config: Path = typer.Argument(..., help="Training TOML as for `glacierinv train`."),
        out: Path = typer.Option(
            ..., "--out", "-o", help="Folder for one run per variant + ablation.csv/.md."
        ),
        max_epochs: int = typer.Option(None, "--max-epochs", help="Override [train] max_epochs."),
        force: bool = typer.Option(False, "--force", help="Restart variants already in --out."),
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
