"""``glacierinv units``: split glacier complexes into units along drainage divides — the units stage's
library function (:func:`glacierinv.units.runner.split_into_units`) with the stage's ``[units]`` section."""

from __future__ import annotations

from pathlib import Path

import typer

from glacierinv.cli import options
from glacierinv.cli._common import Z_UNIT_HELP
from glacierinv.cli.options import section_option
from glacierinv.config import UnitsConfig


def register(app: typer.Typer) -> None:
    """Add the ``units`` command."""

    @app.command("units")
    def units_cmd(
        outlines: Path = typer.Option(
            ..., "--outlines", help="Glacier (complex) polygons, any vector format."
        ),
        dem: Path = typer.Option(None, "--dem", help="DEM in metres, any CRS; with --run: the run's."),
        out: Path = options.out("Output GeoPackage (layers glaciers, debris, divides)."),
        run: Path = typer.Option(
            None, "--run", help="A run folder whose configuration gives every setting not given here."
        ),
        layer: str = typer.Option(None, "--layer", help="Layer of --outlines (default: the first)."),
        debris: Path = typer.Option(None, "--debris", help="Debris polygons to split with their units."),
        divides: Path = section_option(UnitsConfig, "divides", "--divides"),
        min_unit_area_km2: float = section_option(UnitsConfig, "min_unit_area_km2", "--min-unit-km2"),
        reach_m: float = section_option(UnitsConfig, "reach_m", "--reach-m"),
        smooth_m: float = section_option(UnitsConfig, "smooth_m", "--smooth-m"),
        id_column: str = typer.Option(
            None,
            "--id-column",
            help="Complex id column (units are ID-01, ID-02 …; default: the first of glac_id, rgi_id, RGIId, "
            "outline_id, GLIMSId, glims_id, FCGI_ID, id present).",
        ),
        z_unit: str = typer.Option(None, "--z-unit", help=Z_UNIT_HELP),
        force: bool = options.force("Overwrite --out."),
    ) -> None:
        """Split each complex into glacier units that follow ice flow to their termini.

        $ glacierinv units --outlines complexes.gpkg --dem dem.tif --out units.gpkg
        """
        from glacierinv.cli._common import read_outlines_dem_debris
        from glacierinv.cli.options import given, stage_config
        from glacierinv.io.atomic import refuse_overwrite
        from glacierinv.io.vector import guess_id_column, write_layers
        from glacierinv.units.runner import split_into_units

        refuse_overwrite(out, force)
        values = given(
            divides=divides, min_unit_area_km2=min_unit_area_km2, reach_m=reach_m, smooth_m=smooth_m
        )
        cfg = stage_config(run=run, dem=dem, z_unit=z_unit, units={"enabled": True, **values})
        glaciers, _, deb = read_outlines_dem_debris(
            outlines, layer, cfg.input_path("dem"), debris, cfg.dem.z_unit
        )
        if cfg.units.divides is not None and not cfg.resolve(cfg.units.divides).exists():
            from glacierinv.errors import InputError

            raise InputError("divide lines not found", cfg.resolve(cfg.units.divides), "Check --divides")
        units, debris_units, divide_lines = split_into_units(
            cfg, glaciers, deb, complex_id_column=guess_id_column(glaciers.columns, id_column)
        )  # no id column: C00001, C00002 …
        write_layers(out, {"glaciers": units, "debris": debris_units, "divides": divide_lines})
        typer.echo(
            f"{len(glaciers)} complexes → {len(units)} glacier units, {len(divide_lines)} divides → {out}"
        )
