"""``glacierinv synth``: generate the synthetic scene, or render it over a real DEM and outlines."""

from __future__ import annotations

import functools
from pathlib import Path

import typer

from glacierinv.cli import options
from glacierinv.cli._common import console
from glacierinv.cli.options import param_option

__all__ = ["register"]


def _check_out(out: Path, force: bool) -> None:
    """Refuse a non-empty output folder unless --force."""
    from glacierinv.errors import OutputExists
    from glacierinv.io.atomic import check_writable

    if out.exists() and not out.is_dir():
        raise OutputExists(f"{out}: exists and is not a folder. Choose another --out.")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise OutputExists(
            f"{out}: folder is not empty. Choose another --out or pass --force to write into it."
        )
    check_writable(out.parent)  # the scene folder itself appears only when complete


def _summary(info) -> None:
    from rich.table import Table

    table = Table(title=f"synthetic scene (seed {info.seed})", show_edge=False)
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_row("primary grid", f"{info.size_px} px at {info.pixel_m:g} m")
    table.add_row("ELA (m)", f"{info.ela_m:.0f}")
    table.add_row("glacier units", f"{info.n_glaciers} ({info.n_tiny_glaciers} below 0.005 km²)")
    table.add_row("glacier area (km²)", f"{info.glacier_area_km2:.4f}")
    table.add_row("debris area (km²)", f"{info.debris_area_km2:.4f}")
    table.add_row("difficulty", info.difficulty)
    console.print(table)
    console.print(
        f"scene in [bold]{info.out_dir}[/]; run it with: glacierinv run {info.config_path} --out RUN"
    )


def register(app: typer.Typer) -> None:
    """Add the ``synth`` command."""

    app.command("synth")(synth_cmd)


def synth_cmd(
    out: Path = options.out("Output folder for the scene (must be empty)."),
    seed: int = param_option(
        "glacierinv.synthetic.scene:generate_scene",
        "seed",
        "--seed",
        help="Random seed (same seed, same scene).",
    ),
    size: int = param_option(
        "glacierinv.synthetic.scene:generate_scene",
        "size_px",
        "--size",
        help="Primary grid size in pixels (square).",
    ),
    pixel_m: float = param_option(
        "glacierinv.synthetic.scene:generate_scene",
        "pixel_m",
        "--pixel-m",
        help="Primary pixel size in metres.",
    ),
    dem: Path = typer.Option(None, "--dem", help="Render over this real DEM (any CRS) instead."),
    outlines: Path = typer.Option(None, "--outlines", help="Glacier outlines (truth) for --dem."),
    debris: Path = typer.Option(None, "--debris", help="Debris-cover polygons for --dem."),
    res: float = typer.Option(None, "--res", help="Render resolution (m) for --dem; default: the DEM's."),
    difficulty: str = param_option(
        "glacierinv.synthetic.scene:generate_scene",
        "difficulty",
        "--difficulty",
        help="easy: the embedded default scene; hard: randomised sun, seasonal snow, clouds, haze, "
        "dirty/dead ice, vegetation, turbid/frozen lakes (training and stress tests).",
    ),
    channels: str = typer.Option(
        None,
        "--channels",
        help="Bands of ms.tif, comma-separated: blue,green,red,nir (default) plus swir1 and (hard) swir2.",
    ),
    force: bool = options.force("Write into a non-empty --out."),
) -> None:
    """Generate a synthetic glacier scene with sensors and truth (or render one over a real DEM).

    $ glacierinv synth --out scene --seed 1 --size 1024

    $ glacierinv synth --out hard --seed 7 --size 512 --difficulty hard --channels blue,green,red,nir,swir1,swir2

    $ glacierinv synth --dem dem.tif --outlines glaciers.shp --res 20 --out scene
    """
    from glacierinv.cli.options import given, library_default
    from glacierinv.synthetic.scene import check_channels

    difficulty = difficulty or library_default("glacierinv.synthetic.scene:generate_scene", "difficulty")
    ms_channels = check_channels(channels.split(",") if channels else None, difficulty)
    _check_over_inputs(dem, outlines, debris, res, difficulty, channels)
    _check_out(out, force)
    render = functools.partial(
        _render, dem=dem, outlines=outlines, debris=debris, res_m=res, difficulty=difficulty,
        channels=ms_channels, seed_kw=given(seed=seed), grid_kw=given(size_px=size, pixel_m=pixel_m),
    )  # fmt: skip
    _summary(_render_into(out, render))


def _check_over_inputs(dem, outlines, debris, res, difficulty: str, channels: str | None) -> None:
    """Refuse options that do not go together: --difficulty/--channels with --dem, --outlines/--debris/--res
    without --dem, --dem without --outlines; and missing --dem/--outlines/--debris files (InputError)."""
    from glacierinv.errors import InputError

    if dem is not None and (difficulty != "easy" or channels):
        raise InputError(
            "--difficulty and --channels are not available with --dem (render-over keeps the easy look)"
        )
    if dem is None and (outlines is not None or debris is not None or res is not None):
        raise InputError("--outlines, --debris and --res need --dem", fix="Add --dem DEM.tif")
    if dem is not None and outlines is None:
        raise InputError("--dem needs --outlines (the glacier outlines used as truth)")
    if dem is not None:
        for p in (dem, outlines, debris):
            if p is not None and not p.exists():
                raise InputError("file not found", p, "Check the path")


def _render(
    folder: Path, *, dem, outlines, debris, res_m, difficulty: str, channels, seed_kw: dict, grid_kw: dict
):
    """Render the scene into ``folder``: over ``dem`` (pixel size ``res_m``, m) or a generated one.

    ``seed_kw``/``grid_kw`` hold the seed and the grid size (px) / pixel size (m) given on the command line.
    """
    if dem is not None:
        from glacierinv.synthetic import render_scene_over

        return render_scene_over(folder, dem, outlines, debris, res_m=res_m, **seed_kw)
    from glacierinv.synthetic import generate_scene

    return generate_scene(folder, difficulty=difficulty, channels=channels, **seed_kw, **grid_kw)


def _render_into(out: Path, render):
    """Run ``render(folder)`` for ``out``: a fresh folder appears whole or not at all (atomic).

    With --force into a non-empty folder, the scene is rendered in place (each file replaced atomically).
    """
    if out.is_dir() and any(out.iterdir()):
        return render(out)
    from glacierinv.io.atomic import atomic_path

    with atomic_path(out) as tmp:
        info = render(tmp)
    info.out_dir = str(out)
    return info
