"""``glacierinv attributes``: RGI 7-style attributes and hypsometry for any outline file."""

from __future__ import annotations

from pathlib import Path

import typer

from glacierinv.cli import options
from glacierinv.cli._common import Z_UNIT_HELP, ListOptionCommand


def register(app: typer.Typer) -> None:
    """Add the ``attributes`` command."""

    @app.command("attributes", cls=ListOptionCommand)
    def attributes_cmd(
        outlines: Path = typer.Option(..., "--outlines", help="Glacier polygons, any vector format."),
        dem: Path = typer.Option(
            ..., "--dem", help="DEM in metres, any CRS (geographic DEMs are warped per glacier)."
        ),
        out: Path = options.out("Output GeoPackage (layers glaciers, hypsometry, centerlines)."),
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
        rgi_regions: list[Path] = typer.Option(
            None,
            "--rgi-regions",
            help="RGI 7 region/subregion polygons: o1region, o2region and ids by region.",
        ),
        crs: str = typer.Option(None, "--crs", help="Write the layers in this CRS, e.g. EPSG:4326 like RGI."),
        z_unit: str = typer.Option(None, "--z-unit", help=Z_UNIT_HELP),
        force: bool = options.force("Overwrite --out."),
    ) -> None:
        """Compute area, location, elevation, slope, aspect, debris, hypsometry and flowline length.

        Input columns are kept unchanged: where an input column is named like a computed attribute (RGI 7
        area_km2, zmin_m …) ours is written as calc_area_km2, calc_zmin_m …; an input area_km2 more than
        1 % off the outline's area is warned about; term_type, surge_type, src_date keep the input's values.

        $ glacierinv attributes --outlines rgi.shp --dem srtm.tif --id-column RGIId --out attrs.gpkg
        """
        from glacierinv.attributes import compute_attributes
        from glacierinv.attributes.export import add_rgi7_ids, to_export_crs
        from glacierinv.cli._common import read_outlines_dem_debris
        from glacierinv.io.atomic import refuse_overwrite
        from glacierinv.io.vector import read_vector, write_layers

        refuse_overwrite(out, force)
        glaciers, dem, deb = read_outlines_dem_debris(outlines, layer, dem, debris, z_unit)
        regions = [read_vector(p, polygons=True) for p in rgi_regions or []]
        if crs:
            to_export_crs({}, crs)  # an unknown CRS fails here, before any work
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
        layers = {"glaciers": add_rgi7_ids(table, regions), "hypsometry": hyps, "centerlines": lines}
        write_layers(out, to_export_crs(layers, crs) if crs else layers)
        typer.echo(f"{len(table)} glaciers, {table['area_km2'].sum():.3f} km² → {out}")
