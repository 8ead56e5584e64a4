"""``glacierinv attributes``: RGI 7-style attributes and hypsometry for any outline file — the attributes
stage's own library function (:func:`glacierinv.attributes.runner.attributes_with_uncertainty`) with the
stage's configuration sections, so the command and ``glacierinv run`` give the same inventory."""

from __future__ import annotations

from pathlib import Path

import typer

from glacierinv.cli import options
from glacierinv.cli._common import Z_UNIT_HELP, ListOptionCommand
from glacierinv.cli.options import section_option
from glacierinv.config import AssessConfig, AttributesConfig, InputsConfig

_DEM_HELP = "DEM in metres, any CRS (geographic DEMs are warped per glacier); with --run: the run's."
_RUN_HELP = (
    "A run folder: its configuration gives every setting not given here, and its rasters what the stage "
    "takes from them (pixel size for area_unc_km2, term_type, img_source per glacier, area_p25/p75_km2, "
    "glac_type/aar)."
)
_PIXEL_HELP = (
    "Pixel size (m) of the classes the outlines come from, for the buffer uncertainty area_unc_km2 "
    "(with --run: classes.tif's; else none is computed)."
)
_ID_HELP = (
    "Id column (default: the first of glac_id, rgi_id, RGIId, outline_id, GLIMSId, glims_id, FCGI_ID, id "
    "present; else glac_id G00001… is created)."
)
_OVERLAPS_HELP = "Compute overlapping (duplicate) outlines anyway, with a warning."


def register(app: typer.Typer) -> None:
    """Add the ``attributes`` command."""
    app.command("attributes", cls=ListOptionCommand)(attributes_cmd)


def attributes_cmd(
    outlines: Path = typer.Option(..., "--outlines", help="Glacier polygons, any vector format."),
    dem: Path = typer.Option(None, "--dem", help=_DEM_HELP),
    out: Path = options.out("Output GeoPackage (layers glaciers, [debris], hypsometry, centerlines)."),
    run: Path = typer.Option(None, "--run", help=_RUN_HELP),
    pixel_m: float = typer.Option(None, "--pixel-m", help=_PIXEL_HELP),
    layer: str = typer.Option(None, "--layer", help="Layer of --outlines (default: the first)."),
    debris: Path = typer.Option(None, "--debris", help="Debris polygons for debris_km2 / debris_frac."),
    id_column: str = typer.Option(None, "--id-column", help=_ID_HELP),
    allow_overlaps: bool = typer.Option(False, "--allow-overlaps", help=_OVERLAPS_HELP),
    dem_source: str = section_option(InputsConfig, "dem_source", "--dem-source"),
    img_source: str = section_option(InputsConfig, "img_source", "--img-source"),
    src_date: str = section_option(InputsConfig, "src_date", "--src-date"),
    band_m: float = section_option(AttributesConfig, "hypsometry_band_m", "--band-m"),
    min_dem_coverage: float = section_option(AttributesConfig, "min_dem_coverage", "--min-dem-coverage"),
    rgi_regions: list[Path] = section_option(AttributesConfig, "rgi_regions", "--rgi-regions"),
    id_prefix: str = section_option(AttributesConfig, "id_prefix", "--id-prefix"),
    crs: str = section_option(AttributesConfig, "crs", "--crs"),
    buffer_px: float = section_option(AssessConfig, "buffer_px", "--buffer-px"),
    z_unit: str = typer.Option(None, "--z-unit", help=Z_UNIT_HELP),
    force: bool = options.force("Overwrite --out."),
) -> None:
    """Compute area, location, elevation, slope, aspect, debris, hypsometry and flowline length.

    The attributes stage's computation: with --run RUN the same inventory columns as `glacierinv run`
    gives for these outlines (term_type, glac_type/aar, area range and uncertainty from the run's rasters).

    Input columns are kept unchanged: where an input column is named like a computed attribute (RGI 7
    area_km2, zmin_m …) ours is written as calc_area_km2, calc_zmin_m …; an input area_km2 more than
    1 % off the outline's area is warned about; term_type, surge_type, src_date keep the input's values.

    $ glacierinv attributes --outlines rgi.shp --dem srtm.tif --id-column RGIId --out attrs.gpkg
    """
    from glacierinv.attributes.runner import attributes_with_uncertainty
    from glacierinv.cli._common import read_outlines_dem_debris
    from glacierinv.cli.options import given, stage_config
    from glacierinv.io.atomic import refuse_overwrite

    refuse_overwrite(out, force)
    cfg = stage_config(
        run=run, dem=dem, z_unit=z_unit,
        inputs=given(dem_source=dem_source, img_source=img_source, src_date=src_date),
        attributes=given(hypsometry_band_m=band_m, min_dem_coverage=min_dem_coverage,
                         rgi_regions=rgi_regions, id_prefix=id_prefix, crs=crs),
        assess=given(buffer_px=buffer_px),
    )  # fmt: skip
    glaciers, _, deb = read_outlines_dem_debris(
        outlines, layer, cfg.input_path("dem"), debris, cfg.dem.z_unit
    )
    _check_export_crs(cfg.attributes.crs)
    table, hyps, lines, _ = attributes_with_uncertainty(
        cfg, glaciers, deb, pixel_size_m=_classes_pixel_m(pixel_m, run), id_column=id_column, run_dir=run,
        allow_overlaps=allow_overlaps,
    )  # fmt: skip
    _write_inventory(out, cfg, table, hyps, lines, deb)


def _check_export_crs(crs: str | None) -> None:
    """Fail on an unknown export CRS (``--crs`` / ``attributes.crs``) before any computation (no-op if none)."""
    if crs:
        from glacierinv.attributes.export import to_export_crs

        to_export_crs({}, crs)


def _classes_pixel_m(pixel_m: float | None, run: Path | None) -> float | None:
    """Pixel size (m) for the buffer uncertainty: ``--pixel-m`` if given, else the x pixel size of the run's
    classes raster with ``--run``, else ``None`` (no area_unc_km2)."""
    if pixel_m is None and run is not None:
        from glacierinv.io.raster import raster_grid
        from glacierinv.pipeline.runfolder import RunFolder

        return raster_grid(run / RunFolder.CLASSES).res[0]
    return pixel_m


def _write_inventory(out: Path, cfg, table, hyps, lines, deb) -> None:
    """Write the inventory layers (glaciers, [debris], hypsometry, centerlines) to the GeoPackage ``out`` and
    echo the glacier count and total area (km², the computed area column)."""
    from glacierinv.attributes.compute import computed_column
    from glacierinv.attributes.runner import inventory_layers
    from glacierinv.io.vector import write_layers

    layers = inventory_layers(cfg, table, hyps, lines, debris=deb)
    write_layers(out, layers)
    area = layers["glaciers"][computed_column(layers["glaciers"], "area_km2")].sum()
    typer.echo(f"{len(table)} glaciers, {area:.3f} km² → {out}")
