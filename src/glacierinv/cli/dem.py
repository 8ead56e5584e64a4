"""``glacierinv dem``: DSM from RPC stereo, mosaicking, co-registration, validation against ICESat-2."""

from __future__ import annotations

from pathlib import Path

import typer

from glacierinv.cli import options
from glacierinv.cli._common import ListOptionCommand, console
from glacierinv.cli.options import param_option

__all__ = ["register"]

dem_app = typer.Typer(
    help="DEMs: stereo DSM, mosaic, co-registration, altimetry validation.", no_args_is_help=True
)


def _parse_roi(roi: str | None) -> tuple[int, int, int, int] | None:
    from glacierinv.errors import InputError

    if roi is None:
        return None
    try:
        vals = tuple(int(v) for v in roi.split(","))
    except ValueError:
        vals = ()
    if len(vals) != 4:
        raise InputError(
            f"--roi {roi!r} is not x,y,w,h", None, "Give four integers, e.g. --roi 150,150,700,700"
        )
    return vals  # type: ignore[return-value]


@dem_app.command("stereo")
def stereo_cmd(
    images: list[Path] = typer.Argument(
        ..., help="2 or 3 images with RPC models (the first is the reference)."
    ),
    out: Path = options.out("Output DSM GeoTIFF (band 1 dsm_m, band 2 quality)."),
    res: float = typer.Option(..., "--res", help="Output cell size in metres."),
    roi: str = typer.Option(None, "--roi", help="Region x,y,w,h in pixels of the first image."),
    crs: str = typer.Option(None, "--crs", help="Output CRS (e.g. 32740); default: UTM zone of the ROI."),
    force: bool = options.force("Overwrite --out."),
) -> None:
    """DSM from a stereo pair or triplet with RPCs (heights above the WGS84 ellipsoid).

    $ glacierinv dem stereo img_01.tif img_02.tif --roi 150,150,700,700 --res 0.5 --out dsm.tif
    """
    from glacierinv.dem.stereo import stereo_to_file
    from glacierinv.io.atomic import refuse_overwrite

    refuse_overwrite(out, force)
    crs_in = int(crs) if crs is not None and crs.isdigit() else crs
    info = stereo_to_file(list(images), out, res, roi=_parse_roi(roi), crs=crs_in)
    console.print(
        f"DSM {out}: {info['width']}×{info['height']} cells at {res:g} m, {info['matched_frac']:.1%} matched, "
        f"{info['filled_frac']:.1%} filled, {info['n_points']} points, {info['runtime_s']:.1f} s"
    )


@dem_app.command("mosaic")
def mosaic_cmd(
    dsms: list[Path] = typer.Argument(..., help="DSMs in one CRS."),
    out: Path = options.out("Output mosaic GeoTIFF."),
    res: float = typer.Option(None, "--res", help="Cell size (m); default the finest input's."),
    feather: float = param_option(
        "glacierinv.dem.gridding:mosaic_dsms", "feather_m", "--feather-m", help="Feathering width in metres."
    ),
    force: bool = options.force("Overwrite --out."),
) -> None:
    """Mosaic DSMs with feathered overlaps.

    $ glacierinv dem mosaic a.tif b.tif --out mosaic.tif
    """
    from glacierinv.dem.gridding import mosaic_dsms
    from glacierinv.errors import InputError
    from glacierinv.io.atomic import refuse_overwrite

    refuse_overwrite(out, force)
    for p in dsms:
        if not p.exists():
            raise InputError("DSM not found", p, "Check the path")
    from glacierinv.cli.options import given

    mosaic_dsms(dsms, out, res_m=res, **given(feather_m=feather))
    console.print(f"mosaic {out} from {len(dsms)} DSMs")


@dem_app.command("coreg")
def coreg_cmd(
    dem: Path = typer.Argument(..., help="DEM to align."),
    ref: Path = typer.Option(..., "--ref", help="Reference DEM (metric CRS, same vertical datum)."),
    out: Path = options.out("Aligned DEM on the reference grid."),
    stable_mask: Path = typer.Option(None, "--stable-mask", help="Glacier outlines to exclude from the fit."),
    force: bool = options.force("Overwrite --out."),
) -> None:
    """Nuth & Kääb co-registration on stable terrain (xdem); prints dx, dy, dz and NMAD before/after.

    $ glacierinv dem coreg dsm.tif --ref copdem_utm.tif --stable-mask glaciers.gpkg --out dsm_coreg.tif
    """
    from glacierinv.dem.coreg import coregister_dem
    from glacierinv.errors import InputError
    from glacierinv.io.atomic import refuse_overwrite

    refuse_overwrite(out, force)
    for p in (dem, ref, stable_mask):
        if p is not None and not p.exists():
            raise InputError("file not found", p, "Check the path")
    r = coregister_dem(dem, ref, out, stable_mask=stable_mask)
    console.print(
        f"shifts applied: dx {r.dx_m:.2f} m, dy {r.dy_m:.2f} m, dz {r.dz_m:.2f} m; stable-terrain NMAD "
        f"{r.nmad_before_m:.2f} → {r.nmad_after_m:.2f} m ({r.n_stable} cells); wrote {out}"
    )


@dem_app.command("validate", cls=ListOptionCommand)
def validate_cmd(
    dem: Path = typer.Argument(..., help="DEM to validate (metric CRS)."),
    altimetry: list[Path] = typer.Option(
        ...,
        "--altimetry",
        "--atl06",
        help="ICESat-2 ATL06 file(s): --altimetry ATL06_*.h5 (several after one flag).",
    ),
    out: Path = options.out("Output folder (CSV, JSON, PNG)."),
    dem_datum: str = param_option(
        "glacierinv.dem.validate:validate_dem",
        "dem_datum",
        "--dem-datum",
        help="DEM heights: ellipsoid or egm2008.",
    ),
    geoid: Path = typer.Option(None, "--geoid", help="EGM2008 undulation raster when ATL06 lacks geoid_h."),
    slopes: str = param_option(
        "glacierinv.dem.validate:validate_dem",
        "slope_thresholds_deg",
        "--slope-classes",
        help="Slope thresholds (°) of the 4 classes, comma-separated.",
    ),
    force: bool = options.force("Replace --out."),
) -> None:
    """Validate a DEM against ICESat-2 ATL06, stratified by terrain class (flat/hilly/mountainous/alpine).

    $ glacierinv dem validate dsm.tif --altimetry ATL06_*.h5 --out validation
    """
    from glacierinv.dem.validate import validate_dem
    from glacierinv.errors import InputError
    from glacierinv.io.atomic import refuse_overwrite

    refuse_overwrite(out, force)
    for p in (dem, *altimetry):
        if not p.exists():
            raise InputError("file not found", p, "Check the path")
    try:
        thresholds = [float(v) for v in slopes.split(",")] if slopes is not None else None
    except ValueError:
        raise InputError(
            f"--slope-classes {slopes!r} is not three numbers", None, "Use e.g. 5,15,30"
        ) from None
    from glacierinv.cli.options import given

    table = validate_dem(
        dem, altimetry, out, geoid_path=geoid, **given(dem_datum=dem_datum, slope_thresholds_deg=thresholds)
    )
    for row in table.itertuples():
        console.print(
            f"{row.terrain_class:12s} n={row.n:6d}  mean {row.mean_m:7.2f}  median {row.median_m:7.2f}  "
            f"NMAD {row.nmad_m:6.2f}  RMSE {row.rmse_m:6.2f} m"
        )
    console.print(f"wrote {out}")


@dem_app.command("fallback")
def fallback_cmd(
    primary: Path = typer.Argument(..., help="Primary DEM (e.g. the stereo DSM), metric CRS."),
    fallback: Path = typer.Option(..., "--fallback", help="DEM that fills the primary's gaps."),
    out: Path = options.out("Output: band 1 dem_m, band 2 dem_source_code."),
    primary_name: str = param_option(
        "glacierinv.dem.sources:merge_with_fallback",
        "primary_name",
        "--primary-name",
        help="dem_source name of the primary.",
    ),
    fallback_name: str = param_option(
        "glacierinv.dem.sources:merge_with_fallback",
        "fallback_name",
        "--fallback-name",
        help="dem_source name of the fallback.",
    ),
    force: bool = options.force("Overwrite --out."),
) -> None:
    """Fill the primary DEM's gaps from a fallback DEM and record the source of each cell.

    $ glacierinv dem fallback dsm.tif --fallback copdem30.tif --primary-name zy3 --fallback-name copdem30 --out dem.tif
    """
    from glacierinv.dem.sources import merge_with_fallback
    from glacierinv.errors import InputError
    from glacierinv.io.atomic import refuse_overwrite

    refuse_overwrite(out, force)
    for p in (primary, fallback):
        if not p.exists():
            raise InputError("file not found", p, "Check the path")
    from glacierinv.cli.options import library_default

    where = "glacierinv.dem.sources:merge_with_fallback"
    primary_name = primary_name or library_default(where, "primary_name")
    fallback_name = fallback_name or library_default(where, "fallback_name")
    shares = merge_with_fallback(
        primary, fallback, out, primary_name=primary_name, fallback_name=fallback_name
    )
    console.print(
        f"{out}: {shares['primary_frac']:.1%} {primary_name}, {shares['fallback_frac']:.1%} {fallback_name}, "
        f"{shares['nodata_frac']:.1%} no data"
    )


def register(app: typer.Typer) -> None:
    """Add the ``dem`` group."""
    app.add_typer(dem_app, name="dem")
