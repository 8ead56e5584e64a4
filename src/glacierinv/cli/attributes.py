"""``glacierinv attributes``: RGI 7-style attributes and hypsometry for any outline file."""

from __future__ import annotations

from pathlib import Path

import typer

from glacierinv.cli._common import Z_UNIT_HELP


def register(app: typer.Typer) -> None:
    """Add the ``attributes`` command."""

    @app.command("attributes")
    def attributes_cmd(
        outlines: Path = typer.Option(..., "--outlines", help="Glacier polygons, any vector format."),
        dem: Path = typer.Option(
            ..., "--dem", help="DEM in metres, any CRS (geographic DEMs are warped per glacier)."
        ),
        out: Path = typer.Option(
            ..., "--out", "-o", help="Output GeoPackage (layers glaciers, hypsometry, centerlines)."
        ),
        layer: str = typer.Option(None, "--layer", help="Layer of --outlines (default: the first)."),
        debris: Path = typer.Option(None, "--debris", help="Debris polygons for debris_km2 / debris_frac."),
        id_column: str = typer.Option(
            None,
            "--id-column",
            help="Id column (default: the first of glac_id, rgi_id, RGIId, outline_id, GLIMSId, glims_id, "
            "FCGI_ID, id present; else glac_id G00001… is created).",
        ),
        allow_overlaps: bool = typer.Option(
            False, "--allow-overlaps", help="Compute overlapping (duplicate) outlines anyway, with a warning."
        ),
        dem_source: str = typer.Option(None, "--dem-source", help="Value of the dem_source column."),
        band_m: float = typer.Option(50.0, "--band-m", help="Hypsometry band height (m); RGI: 50."),
        z_unit: str = typer.Option(None, "--z-unit", help=Z_UNIT_HELP),
        force: bool = typer.Option(False, "--force", help="Overwrite --out."),
    ) -> None:
        """Compute area, location, elevation, slope, aspect, debris, hypsometry and flowline length.

        Input columns are kept unchanged: an input column named like a computed attribute (RGI 7 zmin_m,
        lmax_m …) is kept as zmin_m_input …; term_type, surge_type, src_date keep the input's values.

        $ glacierinv attributes --outlines rgi.shp --dem srtm.tif --id-column RGIId --out attrs.gpkg
        """
        from glacierinv.attributes import compute_attributes
        from glacierinv.cli._common import read_outlines_dem_debris
        from glacierinv.io.atomic import refuse_overwrite
        from glacierinv.io.vector import write_layers

        refuse_overwrite(out, force)
        glaciers, dem, deb = read_outlines_dem_debris(outlines, layer, dem, debris, z_unit)
        table, hyps, lines = compute_attributes(
            glaciers,
            dem,
            debris=deb,
            id_column=id_column,
            dem_source=dem_source,
            band_m=band_m,
            return_centerlines=True,
            allow_overlaps=allow_overlaps,
        )
        write_layers(out, {"glaciers": table, "hypsometry": hyps, "centerlines": lines})
        typer.echo(f"{len(table)} glaciers, {table['area_km2'].sum():.3f} km² → {out}")
