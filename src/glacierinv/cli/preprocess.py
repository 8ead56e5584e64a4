"""``glacierinv pansharpen``, ``glacierinv lst`` and ``glacierinv stack``: preprocessing, thin over the library."""

from __future__ import annotations

from pathlib import Path

import typer

from glacierinv.cli import options
from glacierinv.cli.options import param_option

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the preprocessing commands to the main app."""

    app.command("pansharpen")(pansharpen)
    app.command("lst")(lst)
    app.command("stack")(stack)


def pansharpen(
    ms: Path = typer.Argument(..., help="Multispectral GeoTIFF (any grid)."),
    pan: Path = typer.Argument(..., help="Panchromatic GeoTIFF: defines the output grid."),
    out: Path = options.out("Output GeoTIFF on the pan grid."),
    method: str = param_option(
        "glacierinv.preprocess.pansharpen:pansharpen_file",
        "method",
        "--method",
        help="brovey | gram_schmidt | hpf | none",
    ),
    quality: bool = typer.Option(
        False, "--quality", help="Also report ERGAS and SAM by Wald's protocol (scenes ≤ 16 Mpx)."
    ),
    block_px: int = param_option(
        "glacierinv.preprocess.pansharpen:pansharpen_file",
        "block_px",
        "--block-px",
        help="Window size in pixels (bounds memory).",
    ),
    force: bool = options.force("Overwrite OUT if it exists."),
) -> None:
    """Pan-sharpen MS bands onto the pan grid, window by window.

    $ glacierinv pansharpen ms.tif pan.tif --out sharp.tif --method gram_schmidt --quality
    """
    from glacierinv.io.atomic import refuse_overwrite
    from glacierinv.preprocess.pansharpen import PanSharpener, pansharpen_file

    refuse_overwrite(out, force)
    from glacierinv.cli.options import given, library_default

    method = method or library_default("glacierinv.preprocess.pansharpen:pansharpen_file", "method")
    PanSharpener(method)  # validates the method name before any work
    pansharpen_file(ms, pan, out, method, **given(block_px=block_px))
    typer.echo(f"wrote {out} ({method})")
    if quality:
        from glacierinv.io.raster import read_raster
        from glacierinv.preprocess.pansharpen import wald_protocol

        ms_arr, ms_grid = read_raster(ms, max_pixels=16_000_000)
        pan_arr, pan_grid = read_raster(pan, 1, max_pixels=64_000_000)
        q = wald_protocol(ms_arr, ms_grid, pan_arr, pan_grid, method)
        typer.echo(
            f"Wald protocol (ratio {q['ratio']:.2f}): ERGAS {q['ergas']:.3f} (bilinear "
            f"{q['ergas_bilinear']:.3f}), SAM {q['sam_deg']:.3f}° (bilinear {q['sam_deg_bilinear']:.3f}°)"
        )


def lst(
    mtl: Path = typer.Option(..., "--mtl", help="Landsat Level-1 MTL.txt (band files beside it)."),
    out: Path = options.out("Output LST GeoTIFF (K)."),
    bt_out: Path | None = typer.Option(None, "--bt-out", help="Also write brightness temperatures (K)."),
    tau: float = param_option(
        "glacierinv.preprocess.thermal:land_surface_temperature",
        "tau",
        "--tau",
        help="Atmospheric transmissivity (1 = no atmospheric correction).",
    ),
    l_up: float = param_option(
        "glacierinv.preprocess.thermal:land_surface_temperature",
        "l_up",
        "--l-up",
        help="Upwelling radiance, W m-2 sr-1 um-1.",
    ),
    l_down: float = param_option(
        "glacierinv.preprocess.thermal:land_surface_temperature",
        "l_down",
        "--l-down",
        help="Downwelling radiance, W m-2 sr-1 um-1.",
    ),
    block_px: int = param_option(
        "glacierinv.preprocess.thermal:land_surface_temperature",
        "block_px",
        "--block-px",
        help="Window size in pixels.",
    ),
    force: bool = options.force("Overwrite outputs that exist."),
) -> None:
    """Land-surface temperature from Landsat 4-9 Level-1 (NDVI emissivity, inverse Planck).

    $ glacierinv lst --mtl LC08_..._MTL.txt --out lst.tif --bt-out bt.tif
    """
    from glacierinv.io.atomic import refuse_overwrite
    from glacierinv.preprocess.thermal import land_surface_temperature

    refuse_overwrite(out, force)
    if bt_out is not None:
        refuse_overwrite(bt_out, force)
    from glacierinv.cli.options import given

    stats = land_surface_temperature(
        mtl, out, bt_out=bt_out, **given(block_px=block_px, tau=tau, l_up=l_up, l_down=l_down)
    )
    typer.echo(
        f"wrote {out}: LST {stats['lst_min_k']:.2f}..{stats['lst_max_k']:.2f} K "
        f"over {int(stats['valid_px'])} px" + (f"; BT in {bt_out}" if bt_out else "")
    )


def stack(
    config: Path = typer.Argument(..., help="TOML run configuration ([inputs], [stack])."),
    out: Path = options.out("Folder for stack.tif, source.tif, masks.tif."),
    block_px: int | None = typer.Option(None, help="Window size (default: [runtime] block_px)."),
    force: bool = options.force("Overwrite an existing stack in OUT."),
) -> None:
    """Assemble the named feature stack on the primary grid (plus source and cloud/shadow masks).

    $ glacierinv stack scene/config.toml --out stack-run
    """
    from glacierinv.config import load_config
    from glacierinv.io.atomic import refuse_overwrite
    from glacierinv.preprocess.runner import STACK_FILES, check_scenes
    from glacierinv.preprocess.stack import build_feature_stack, check_channels

    cfg = load_config(config)
    check_channels(cfg)
    for name in STACK_FILES:
        refuse_overwrite(out / name, force)
    check_scenes(cfg)  # the stack stage's preflight: the products, read by their sensor modules
    result = build_feature_stack(cfg, out, block_px=block_px)
    s = result.summary()
    typer.echo(
        f"wrote {result.stack}: {', '.join(result.channels)} on {s['shape'][1]}x{s['shape'][0]} px at "
        f"{s['pixel_m']:g} m; cloud {100 * s['cloud_fraction']:.1f} %, "
        f"Sentinel-2 fill {100 * s['s2_fill_fraction']:.1f} %"
    )
