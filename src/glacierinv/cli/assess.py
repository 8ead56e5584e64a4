"""``glacierinv assess accuracy|uncertainty|mmd`` and ``glacierinv compare`` (thin over glacierinv.assess)."""

from __future__ import annotations

from pathlib import Path

import typer

from glacierinv.cli import options
from glacierinv.cli._common import ListOptionCommand, refuse_nonempty_folder
from glacierinv.cli.options import param_option, section_option
from glacierinv.config import AssessConfig, RuntimeConfig

__all__ = ["register"]

assess_app = typer.Typer(
    no_args_is_help=True,
    help="Accuracy against a reference, outline uncertainty, multi-digitisation round robin.\n\n"
    "$ glacierinv assess accuracy --pred run/classes.tif --ref truth/classes.tif --out acc",
)


@assess_app.command("accuracy")
def accuracy(
    pred: Path = typer.Option(..., "--pred", help="Predicted class GeoTIFF (0/1/2, 255 nodata)."),
    ref: Path = typer.Option(
        ..., "--ref", help="Reference: class raster (any grid) or polygons (layers glaciers [+ debris])."
    ),
    out: Path = options.out("Output folder (accuracy.json, confusion.csv, regions.csv)."),
    regions: Path | None = typer.Option(None, "--regions", help="Region polygons, e.g. west/central/east."),
    region_column: str = section_option(AssessConfig, "region_column", "--region-column"),
    n_boot: int = section_option(AssessConfig, "n_boot", "--n-boot"),
    boot_block_px: int = section_option(AssessConfig, "boot_block_px", "--boot-block-px"),
    ci: float = param_option(
        "glacierinv.assess.metrics:accuracy_from_rasters", "ci", "--ci", help="Confidence level."
    ),
    seed: int = section_option(RuntimeConfig, "seed", "--seed", help="random seed of the bootstrap"),
    block_px: int = section_option(
        RuntimeConfig, "block_px", "--block-px", help="read window (px; bounds memory)"
    ),
    exclude_background: bool = typer.Option(
        False, "--miou-exclude-background", help="Average the mIoU over the glacier classes only."
    ),
    force: bool = options.force("Overwrite outputs that exist."),
) -> None:
    """Confusion matrix, OA, per-class F1/IoU and mIoU (seed Eqs. 4-6), overall and per region, with CIs.

    $ glacierinv assess accuracy --pred run/classes.tif --ref truth.gpkg --regions regions.gpkg --out acc
    """
    from glacierinv.assess.metrics import accuracy_from_rasters
    from glacierinv.assess.outputs import write_accuracy
    from glacierinv.cli.options import given, stage_config
    from glacierinv.errors import InputError

    refuse_nonempty_folder(out, force)
    cfg = stage_config(need_dem=False, assess=given(region_column=region_column, n_boot=n_boot,
                       boot_block_px=boot_block_px), runtime=given(seed=seed, block_px=block_px))  # fmt: skip
    if cfg.runtime.block_px <= 0:
        raise InputError(f"--block-px must be > 0, got {block_px}")
    if ci is not None and not 0 < ci < 1:
        raise InputError(f"--ci must be between 0 and 1, got {ci}")
    a = cfg.assess
    result = accuracy_from_rasters(
        pred, ref, regions=regions, region_column=a.region_column, block_px=cfg.runtime.block_px,
        boot_block_px=a.boot_block_px, n_boot=a.n_boot, seed=cfg.runtime.seed,
        miou_exclude=["background"] if exclude_background else (), **given(ci=ci),
    )  # fmt: skip
    write_accuracy(result, out, force)
    o = result["overall"]
    ci_txt = f" [{o['ci']['oa'][0]:.3f}, {o['ci']['oa'][1]:.3f}]" if o.get("ci") else ""
    deb = o["per_class"].get("debris", {}).get("f1")
    typer.echo(
        f"OA {o['oa']:.3f}{ci_txt}, mIoU {o['miou']:.3f}"
        + (f", F1 debris {deb:.3f}" if deb is not None else "")
        + f" over {o['n_pixels']} px; "
        + "".join(f"{k}: OA {v['oa']:.3f}; " for k, v in result["regions"].items() if v.get("oa") is not None)
        + f"wrote {out}"
    )


@assess_app.command("uncertainty")
def uncertainty(
    outlines: Path = typer.Option(..., "--outlines", help="Glacier polygons (e.g. inventory.gpkg)."),
    out: Path = options.out("Output GeoPackage (a copy with the new columns)."),
    pixel_m: float = typer.Option(..., "--pixel-m", help="Pixel size of the source imagery, metres."),
    buffer_px: float = section_option(AssessConfig, "buffer_px", "--buffer-px"),
    layer: str | None = typer.Option(None, "--layer", help="Glacier layer (default: glaciers or the first)."),
    debris: Path | None = typer.Option(
        None, "--debris", help="Debris polygons (default: the 'debris' layer of --outlines if any)."
    ),
    debris_layer: str | None = typer.Option(None, "--debris-layer", help="Layer of --debris."),
    id_column: str = typer.Option(
        None, "--id-column", help="Glacier id column (default: the first known id column present)."
    ),
    force: bool = options.force("Overwrite OUT if it exists."),
) -> None:
    """Buffer-method area uncertainty per glacier (area_unc_km2, debris_unc_km2) and in total.

    $ glacierinv assess uncertainty --outlines run/inventory.gpkg --pixel-m 2 --buffer-px 2 --out unc.gpkg
    """
    import pandas as pd

    from glacierinv.attributes.uncertainty import buffer_uncertainty
    from glacierinv.cli.options import given, stage_config

    buffer_px = stage_config(need_dem=False, assess=given(buffer_px=buffer_px)).assess.buffer_px
    from glacierinv.io.atomic import refuse_overwrite
    from glacierinv.io.vector import guess_id_column, list_layers, read_vector, write_layers

    refuse_overwrite(out, force)
    layers = list_layers(outlines) if outlines.exists() else []
    if layer is None and "glaciers" in layers:
        layer = "glaciers"
    glaciers = read_vector(outlines, layer, polygons=True)
    deb = None
    if debris is not None:
        deb = read_vector(debris, debris_layer, polygons=True, allow_empty=True)
    elif "debris" in layers and layer != "debris":
        deb = read_vector(outlines, "debris", polygons=True, allow_empty=True)
    result, totals = buffer_uncertainty(
        glaciers,
        deb,
        pixel_size_m=pixel_m,
        buffer_px=buffer_px,
        id_column=guess_id_column(glaciers.columns, id_column) or "glac_id",
    )
    to_write = {"glaciers": result}
    if deb is not None and len(deb):
        to_write["debris"] = deb
    to_write["uncertainty_totals"] = pd.DataFrame([{k: v for k, v in totals.items() if v is not None}])
    write_layers(out, to_write)
    msg = (
        f"glacier area {totals['glacier_area_km2']:.3f} ± {totals['glacier_unc_km2']:.3f} km² "
        f"(± {totals['glacier_unc_pct'] or 0:.2f} %)"
    )
    if totals.get("debris_area_km2") is not None:
        msg += (
            f", debris {totals['debris_area_km2']:.3f} ± {totals['debris_unc_km2']:.3f} km² "
            f"(± {totals['debris_unc_pct'] or 0:.2f} %)"
        )
    typer.echo(f"{msg} at ±{buffer_px:g} px of {pixel_m:g} m; wrote {out}")


@assess_app.command("mmd", cls=ListOptionCommand)
def mmd(
    auto: Path = typer.Option(..., "--auto", help="Automated outlines."),
    digitisations: list[Path] = typer.Option(
        ..., "--digitisations", help="Manual digitisations: --digitisations D1 D2 D3 (two or more)."
    ),
    out: Path = options.out("Output folder (mmd.json, mmd_glaciers.csv, mmd_distances.csv)."),
    id_column: str | None = typer.Option(
        None, "--id-column", help="Match by this id column (default: overlap)."
    ),
    step_m: float = param_option(
        "glacierinv.assess.mmd:round_robin",
        "step_m",
        "--step-m",
        help="Boundary sampling step for distances, metres.",
    ),
    min_analysts: int = param_option(
        "glacierinv.assess.mmd:round_robin",
        "min_analysts",
        "--min-analysts",
        help="Glaciers digitised by fewer are skipped.",
    ),
    force: bool = options.force("Overwrite outputs that exist."),
) -> None:
    """Round-robin uncertainty (Paul et al. 2013): automated area vs the mean of several digitisations.

    $ glacierinv assess mmd --auto inventory.gpkg --digitisations d1.gpkg d2.gpkg d3.gpkg --out mmd
    """
    from glacierinv.assess.mmd import round_robin
    from glacierinv.assess.outputs import write_mmd
    from glacierinv.cli.options import given
    from glacierinv.errors import InputError
    from glacierinv.io.vector import list_layers, read_vector

    refuse_nonempty_folder(out, force)
    if step_m is not None and step_m <= 0:
        raise InputError(f"--step-m must be positive, got {step_m}")
    paths = list(digitisations)

    def _read(p: Path):
        layers = list_layers(p) if p.exists() else []
        return read_vector(p, "glaciers" if "glaciers" in layers else None, polygons=True)

    names = [p.stem for p in paths]
    if len(set(names)) != len(names):
        names = [f"D{k + 1}" for k in range(len(paths))]
    per_glacier, pairs, summary = round_robin(
        _read(auto),
        [_read(p) for p in paths],
        id_column=id_column,
        names=names,
        **given(step_m=step_m, min_analysts=min_analysts),
    )
    write_mmd(per_glacier, pairs, summary, out, force)
    typer.echo(
        f"{summary['n_glaciers']} glaciers, {len(paths)} digitisations: automated vs mean area "
        f"±{summary['overall_unc_pct']:.2f} % (net {summary['net_diff_pct']:+.2f} %), analyst CV "
        f"{summary['mean_cv_pct']:.2f} %, mean boundary distance {summary['analyst_mean_dist_m']:.2f} m "
        f"between analysts, {summary['auto_mean_dist_m']:.2f} m automated-analyst; wrote {out}"
    )


def compare(
    ours: Path = typer.Option(..., "--ours", help="Our inventory (polygons)."),
    ref: Path = typer.Option(..., "--ref", help="Reference inventory (e.g. RGI), any CRS."),
    out: Path = options.out("Output folder (CSVs, comparison.gpkg, PNG figures)."),
    ours_layer: str | None = typer.Option(None, "--ours-layer", help="Layer of --ours (default: glaciers)."),
    ref_layer: str | None = typer.Option(None, "--ref-layer", help="Layer of --ref (default: glaciers)."),
    ours_id: str | None = typer.Option(None, "--ours-id", help="Id column of --ours (default: guessed)."),
    ref_id: str | None = typer.Option(None, "--ref-id", help="Id column of --ref (default: guessed)."),
    cell_km: float | None = typer.Option(None, "--cell", help="Grid-cell comparison with cells of KM km."),
    above_m: float | None = typer.Option(
        None, "--above-elevation", help="Compare only the parts above Z metres (needs --dem)."
    ),
    dem: Path | None = typer.Option(None, "--dem", help="DEM for --above-elevation."),
    ours_debris: Path | None = typer.Option(None, "--ours-debris", help="Debris polygons of --ours."),
    ref_debris: Path | None = typer.Option(None, "--ref-debris", help="Debris polygons of --ref."),
    ours_unc: float | None = typer.Option(
        None, "--ours-unc", help="Relative area uncertainty of --ours (0.05 = 5 %)."
    ),
    ref_unc: float | None = typer.Option(None, "--ref-unc", help="Relative area uncertainty of --ref."),
    ours_pixel_m: float | None = typer.Option(
        None, "--ours-pixel-m", help="Buffer-method uncertainty at this pixel size."
    ),
    ref_pixel_m: float | None = typer.Option(
        None, "--ref-pixel-m", help="Buffer-method uncertainty at this pixel size."
    ),
    buffer_px: float = param_option(
        "glacierinv.assess.compare:CompareOptions",
        "buffer_px",
        "--buffer-px",
        help="Buffer ± px for the *-pixel-m options.",
    ),
    min_overlap: float = param_option(
        "glacierinv.assess.compare:CompareOptions",
        "min_overlap_frac",
        "--min-overlap",
        help="Overlap fraction (of either glacier) that makes a match.",
    ),
    figures: bool = typer.Option(True, "--figures/--no-figures", help="Write PNG figures."),
    force: bool = options.force("Overwrite outputs that exist."),
) -> None:
    """Compare two inventories: matches (1:1, 1:n, n:1), omissions, commissions, size classes, cells.

    $ glacierinv compare --ours run/inventory.gpkg --ref rgi7.shp --cell 10 --out cmp
    """
    from glacierinv.assess.compare import CompareOptions, InventorySide, compare_inventories
    from glacierinv.assess.outputs import write_comparison
    from glacierinv.cli.options import given

    _check_compare_args(out, force, above_m, dem, ours_unc, ref_unc)
    g_ours, g_ref, d_ours, d_ref = _read_sides(
        (ours, ours_layer, ours_debris), (ref, ref_layer, ref_debris), above_m, dem
    )
    ours_side = InventorySide(ours_id, d_ours, ours_unc, ours_pixel_m, name="ours", source=ours)
    ref_side = InventorySide(ref_id, d_ref, ref_unc, ref_pixel_m, name="ref", source=ref)
    given_options = given(min_overlap_frac=min_overlap, buffer_px=buffer_px)
    compare_options = CompareOptions(**given_options, cell_km=cell_km, ours=ours_side, ref=ref_side)
    comp = compare_inventories(g_ours, g_ref, compare_options)
    comp.summary |= {"above_elevation_m": above_m, "dem": str(dem)} if above_m is not None else {}
    write_comparison(comp, out, force, figures)
    _echo_comparison(comp.summary, out)


def _check_compare_args(out: Path, force: bool, above_m, dem, ours_unc, ref_unc) -> None:
    """Refuse a non-empty ``out`` without ``force``; InputError for --above-elevation without --dem or an
    uncertainty outside [0, 1) (a fraction)."""
    from glacierinv.errors import InputError

    refuse_nonempty_folder(out, force)
    if above_m is not None and dem is None:
        raise InputError("--above-elevation needs --dem", fix="Pass the DEM to clip both inventories with")
    for opt, v in (("--ours-unc", ours_unc), ("--ref-unc", ref_unc)):
        if v is not None and not 0 <= v < 1:
            raise InputError(f"{opt} is a fraction between 0 and 1 (0.05 = 5 %), got {v}")


def _read_sides(ours: tuple, ref: tuple, above_m: float | None, dem: Path | None):
    """Glaciers and debris of both inventories: ``(g_ours, g_ref, d_ours, d_ref)`` (debris None if not given).

    ``ours``/``ref`` are ``(path, layer, debris_path)``; the layer defaults to ``glaciers`` where the file
    has one, and our debris to the ``debris`` layer of a GeoPackage. With ``above_m`` every layer is clipped
    to the parts above that elevation (m) of ``dem``.
    """
    from glacierinv.assess.compare import clip_above_elevation
    from glacierinv.io.vector import list_layers, read_vector

    def _read(p: Path, layer: str | None, allow_empty: bool = False):
        if layer is None and p.exists() and "glaciers" in list_layers(p):
            layer = "glaciers"
        return read_vector(p, layer, polygons=True, allow_empty=allow_empty)

    (ours, ours_layer, ours_debris), (ref, ref_layer, ref_debris) = ours, ref
    g_ours, g_ref = _read(ours, ours_layer), _read(ref, ref_layer)
    d_ours = _read(ours_debris, None, True) if ours_debris else None
    d_ref = _read(ref_debris, None, True) if ref_debris else None
    if d_ours is None and ours.suffix.lower() == ".gpkg" and "debris" in list_layers(ours):
        d_ours = read_vector(ours, "debris", polygons=True, allow_empty=True)
    if above_m is None:
        return g_ours, g_ref, d_ours, d_ref
    g_ours = clip_above_elevation(g_ours, dem, above_m)
    g_ref = clip_above_elevation(g_ref, dem, above_m)
    d_ours = clip_above_elevation(d_ours, dem, above_m) if d_ours is not None else None
    d_ref = clip_above_elevation(d_ref, dem, above_m) if d_ref is not None else None
    return g_ours, g_ref, d_ours, d_ref


def _echo_comparison(s: dict, out: Path) -> None:
    """Print the comparison summary: counts and areas (km²), match groups, omissions, commissions, cells."""
    typer.echo(
        f"ours {s['n_ours']} glaciers {s['ours_area_km2']:.3f} km², ref {s['n_ref']} {s['ref_area_km2']:.3f} km² "
        f"(diff {s['area_diff_km2']:+.3f} km²); {s['n_match_groups']} match groups {s['match_types']}, "
        f"{s['n_omissions']} omissions ({s['omitted_km2']:.3f} km²), {s['n_commissions']} commissions "
        f"({s['commission_km2']:.3f} km²)"
        + (
            f"; {s['n_credible_cells']}/{s['n_cells']} cells with credible differences"
            if "n_cells" in s
            else ""
        )
        + f"; wrote {out}"
    )


def register(app: typer.Typer) -> None:
    """Add the ``assess`` group and the top-level ``compare`` command to the main app."""
    app.add_typer(assess_app, name="assess")
    app.command("compare")(compare)
