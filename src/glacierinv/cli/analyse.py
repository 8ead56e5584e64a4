"""``glacierinv analyse``: the inventory analyses (tidy CSV + PNG figure each), thin over the library."""

from __future__ import annotations

from pathlib import Path

import typer

from glacierinv.cli._common import Z_UNIT_HELP


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

    @app.command("analyse")
    def analyse_cmd(
        inventory: Path = typer.Argument(..., help="Inventory: our inventory.gpkg or any RGI 5/6/7 file."),
        out: Path = typer.Option(..., "--out", "-o", help="Output folder (CSV + PNG per analysis)."),
        dem: Path = typer.Option(None, "--dem", help="DEM in metres (hypsometry, slope, types, profiles…)."),
        dem_coarse: Path = typer.Option(None, "--dem-coarse", help="Coarse DEM (e.g. 30 m) for DEM-resolution effects."),
        debris: Path = typer.Option(None, "--debris", help="Debris polygons (default: the inventory's debris layer)."),
        snow: Path = typer.Option(None, "--snow", help="Snow / snow-fraction / albedo raster for the snowline."),
        snow_threshold: float = typer.Option(0.5, "--snow-threshold", help="Raster value counted as snow."),
        ela_column: str = typer.Option(None, "--ela-column", help="Column with an ELA per glacier (m)."),
        surge_list: Path = typer.Option(None, "--surge-list", help="Surge-type glacier ids (text or CSV)."),
        layer: str = typer.Option(None, "--layer", help="Glacier layer (default: glaciers, else the first)."),
        only: str = typer.Option(None, "--only", help="Comma-separated analyses (default: all that the inputs allow)."),
        band_m: float = typer.Option(200.0, "--band-m", help="Hypsometry band (m)."),
        min_type_area_km2: float = typer.Option(5.0, "--min-type-area-km2", help="Glacier types for glaciers ≥ this."),
        aar_thresholds: str = typer.Option("0.3,0.6", "--aar-thresholds", help="Turkestan ≤ t1 < Mustagh ≤ t2 < Alpine."),
        cell_km: float = typer.Option(None, "--cell-km", help="Grid cell of the spatial distribution (km)."),
        window_m: float = typer.Option(90.0, "--window-m", help="Roughness / relief window (m)."),
        n_boot: int = typer.Option(2000, "--n-boot", help="Bootstrap resamples of the CIs."),
        lapse_rate: float = typer.Option(6.5, "--lapse-rate", help="Lapse rate (K/km) for freezing-level shifts."),
        warming: str = typer.Option("0,0.5,1,1.5,2,3,4", "--warming", help="Warming scenarios ΔT (K)."),
        freezing_levels: str = typer.Option(None, "--freezing-levels", help="Baseline freezing levels (m); default: debris quartiles."),
        z_unit: str = typer.Option(None, "--z-unit", help=Z_UNIT_HELP + " Applies to --dem and --dem-coarse."),
        force: bool = typer.Option(False, "--force", help="Replace an existing output folder."),
    ) -> None:  # fmt: skip
        """Size classes, spatial grid, hypsometry, slope, aspect, AAR types, profiles, DEM-resolution, freezing level.

        $ glacierinv analyse run/inventory.gpkg --dem dem.tif --dem-coarse dem30.tif --ela-column ela_m --out an
        """
        from glacierinv.analysis import AnalysisOptions, run_analyses
        from glacierinv.errors import InputError

        thresholds = _floats(aar_thresholds, "--aar-thresholds")
        if thresholds is None or len(thresholds) != 2:
            raise InputError("--aar-thresholds: give two numbers, e.g. 0.3,0.6")
        opt = AnalysisOptions(
            band_m=band_m, min_type_area_km2=min_type_area_km2, aar_thresholds=thresholds,
            snow_threshold=snow_threshold, cell_km=cell_km, window_m=window_m, n_boot=n_boot,
            lapse_rate_k_per_km=lapse_rate, warming_k=_floats(warming, "--warming") or (0.0,),
            freezing_levels_m=_floats(freezing_levels, "--freezing-levels"),
        )  # fmt: skip
        from glacierinv.io.dem import dem_path

        dem = dem_path(dem, z_unit) if dem is not None else None
        dem_coarse = dem_path(dem_coarse, z_unit) if dem_coarse is not None else None
        summary = run_analyses(
            inventory, out, dem=dem, dem_coarse=dem_coarse, debris=debris, snow=snow, ela_column=ela_column,
            surge_list=surge_list, layer=layer, only=[s.strip() for s in only.split(",")] if only else None,
            options=opt, force=force,
        )  # fmt: skip
        for name, rec in summary["analyses"].items():
            typer.echo(
                f"{name:15s} {rec['status']:8s} {rec.get('reason') or ', '.join(rec.get('files', []))}"
            )
        typer.echo(f"→ {out}")
