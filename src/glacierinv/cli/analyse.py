"""``glacierinv analyse``: the inventory analyses (tidy CSV + PNG figure each), thin over the library."""

from __future__ import annotations

from pathlib import Path

import typer

from glacierinv.cli import options
from glacierinv.cli._common import Z_UNIT_HELP
from glacierinv.cli.options import section_option
from glacierinv.config import AnalysisConfig


def _floats(text: str | None, what: str) -> tuple[float, ...] | None:
    from glacierinv.errors import InputError

    if text is None:
        return None
    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise InputError(f"{what}: expected comma-separated numbers, got '{text}'") from None


def register(app: typer.Typer) -> None:
    """Add the ``analyse`` command."""
    app.command("analyse")(analyse_cmd)


def analyse_cmd(
    inventory: Path = typer.Argument(..., help="Inventory: our inventory.gpkg or any RGI 5/6/7 file."),
    out: Path = options.out("Output folder (CSV + PNG per analysis)."),
    dem: Path = typer.Option(None, "--dem", help="DEM in metres (hypsometry, slope, types, profiles…)."),
    dem_coarse: Path = typer.Option(None, "--dem-coarse", help="Coarse DEM (e.g. 30 m) for DEM-resolution effects."),
    debris: Path = typer.Option(None, "--debris", help="Debris polygons (default: the inventory's debris layer)."),
    snow: Path = section_option(AnalysisConfig, "snow", "--snow"),
    snow_threshold: float = section_option(AnalysisConfig, "snow_threshold", "--snow-threshold"),
    ela_column: str = section_option(AnalysisConfig, "ela_column", "--ela-column"),
    surge_list: Path = section_option(AnalysisConfig, "surge_list", "--surge-list"),
    layer: str = typer.Option(None, "--layer", help="Glacier layer (default: glaciers, else the first)."),
    only: str = typer.Option(None, "--only", help="Comma-separated analyses (default: all that the inputs allow)."),
    band_m: float = section_option(AnalysisConfig, "band_m", "--band-m"),
    min_type_area_km2: float = section_option(AnalysisConfig, "min_type_area_km2", "--min-type-area-km2"),
    aar_thresholds: str = section_option(AnalysisConfig, "aar_thresholds", "--aar-thresholds",
                                         help="AAR type thresholds t1,t2: Turkestan ≤ t1 < Mustagh ≤ t2 < Alpine"),
    cell_km: float = typer.Option(None, "--cell-km", help="Grid cell of the spatial distribution (km)."),
    window_m: float = section_option(AnalysisConfig, "window_m", "--window-m"),
    n_boot: int = section_option(AnalysisConfig, "n_boot", "--n-boot"),
    lapse_rate: float = section_option(AnalysisConfig, "lapse_rate_k_per_km", "--lapse-rate"),
    warming: str = section_option(AnalysisConfig, "warming_k", "--warming", help="warming scenarios ΔT (K), comma-separated"),
    freezing_levels: str = typer.Option(None, "--freezing-levels", help="Baseline freezing levels (m); default: debris quartiles."),
    z_unit: str = typer.Option(None, "--z-unit", help=Z_UNIT_HELP + " Applies to --dem and --dem-coarse."),
    force: bool = options.force("Replace an existing output folder."),
) -> None:  # fmt: skip
    """Size classes, spatial grid, hypsometry, slope, aspect, AAR types, profiles, DEM-resolution, freezing level.

    $ glacierinv analyse run/inventory.gpkg --dem dem.tif --dem-coarse dem30.tif --ela-column ela_m --out an
    """
    from glacierinv.analysis import AnalysisOptions, run_analyses
    from glacierinv.cli.options import given, stage_config

    thresholds = _aar_thresholds(aar_thresholds)
    section = given(band_m=band_m, min_type_area_km2=min_type_area_km2, aar_thresholds=thresholds,
                    snow=snow, snow_threshold=snow_threshold, ela_column=ela_column, surge_list=surge_list,
                    window_m=window_m, n_boot=n_boot, lapse_rate_k_per_km=lapse_rate,
                    warming_k=_floats(warming, "--warming") or None)  # fmt: skip
    a = stage_config(need_dem=False, analysis=section).analysis  # validated; the stage's defaults
    opt = AnalysisOptions.from_config(
        a, cell_km=cell_km, freezing_levels_m=_floats(freezing_levels, "--freezing-levels")
    )
    from glacierinv.io.dem import dem_path

    dem = dem_path(dem, z_unit) if dem is not None else None
    dem_coarse = dem_path(dem_coarse, z_unit) if dem_coarse is not None else None
    summary = run_analyses(
        inventory, out, dem=dem, dem_coarse=dem_coarse, debris=debris, snow=a.snow, ela_column=a.ela_column,
        surge_list=a.surge_list, layer=layer, only=[s.strip() for s in only.split(",")] if only else None,
        options=opt, force=force,
    )  # fmt: skip
    _echo_summary(summary, out)


def _aar_thresholds(text: str | None) -> tuple[float, float] | None:
    """``--aar-thresholds t1,t2`` (AAR fractions) as two floats; ``None`` when not given (InputError unless
    exactly two numbers)."""
    from glacierinv.errors import InputError

    thresholds = _floats(text, "--aar-thresholds")
    if thresholds is not None and len(thresholds) != 2:
        raise InputError("--aar-thresholds: give two numbers, e.g. 0.3,0.6")
    return thresholds


def _echo_summary(summary: dict, out: Path) -> None:
    """One line per analysis of ``run_analyses``' summary: name, status, and its reason or written files."""
    for name, rec in summary["analyses"].items():
        typer.echo(f"{name:15s} {rec['status']:8s} {rec.get('reason') or ', '.join(rec.get('files', []))}")
    typer.echo(f"→ {out}")
