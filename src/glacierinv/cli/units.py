"""``glacierinv units``: split glacier complexes into units along drainage divides."""

from __future__ import annotations

from pathlib import Path

import typer

from glacierinv.cli._common import Z_UNIT_HELP


def register(app: typer.Typer) -> None:
    """Add the ``units`` command."""

    @app.command("units")
    def units_cmd(
        outlines: Path = typer.Option(
            ..., "--outlines", help="Glacier (complex) polygons, any vector format."
        ),
        dem: Path = typer.Option(..., "--dem", help="DEM in metres, any CRS."),
        out: Path = typer.Option(
            ..., "--out", "-o", help="Output GeoPackage (layers glaciers, debris, divides)."
        ),
        layer: str = typer.Option(None, "--layer", help="Layer of --outlines (default: the first)."),
        debris: Path = typer.Option(None, "--debris", help="Debris polygons to split with their units."),
        divides: Path = typer.Option(
            None, "--divides", help="Corrected divide lines overriding the automatic ones."
        ),
        min_unit_area_km2: float = typer.Option(
            0.1, "--min-unit-km2", help="Sliver threshold (km²): smaller units join a neighbour."
        ),
        reach_m: float = typer.Option(
            300.0, "--reach-m", help="How far (m) a basin's outflow is followed off the ice."
        ),
        smooth_m: float = typer.Option(
            200.0, "--smooth-m", help="Ice-surface smoothing sigma (m) before flow routing."
        ),
        id_column: str = typer.Option(
            None,
            "--id-column",
            help="Complex id column (units are ID-01, ID-02 …; default: the first of glac_id, rgi_id, RGIId, "
            "outline_id, GLIMSId, glims_id, FCGI_ID, id present).",
        ),
        z_unit: str = typer.Option(None, "--z-unit", help=Z_UNIT_HELP),
        force: bool = typer.Option(False, "--force", help="Overwrite --out."),
    ) -> None:
        """Split each complex into glacier units that follow ice flow to their termini.

        $ glacierinv units --outlines complexes.gpkg --dem dem.tif --out units.gpkg
        """
        from glacierinv.cli._common import read_outlines_dem_debris
        from glacierinv.io.atomic import refuse_overwrite
        from glacierinv.io.vector import guess_id_column, read_vector, write_layers
        from glacierinv.units import subdivide

        refuse_overwrite(out, force)
        glaciers, dem, deb = read_outlines_dem_debris(outlines, layer, dem, debris, z_unit)
        lines = read_vector(divides) if divides else None
        units, debris_units, divide_lines = subdivide(
            glaciers,
            dem,
            debris=deb,
            min_unit_area_km2=min_unit_area_km2,
            reach_m=reach_m,
            smooth_m=smooth_m,
            divides=lines,
            complex_id_column=guess_id_column(glaciers.columns, id_column),  # None: C00001, C00002 …
        )
        write_layers(out, {"glaciers": units, "debris": debris_units, "divides": divide_lines})
        typer.echo(
            f"{len(glaciers)} complexes → {len(units)} glacier units, {len(divide_lines)} divides → {out}"
        )
