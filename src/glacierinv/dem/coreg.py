"""DEM co-registration on stable terrain: Nuth & Kääb (2011) horizontal + vertical shift, via xdem.

The DEM to align is resampled onto the reference grid; stable terrain is every cell valid in both DEMs
and *outside* the glacier outlines (``stable_mask`` polygons are excluded — ice surfaces change between
acquisitions). :class:`xdem.coreg.NuthKaab` fits the horizontal shift from the aspect dependence of the
elevation differences, then a :class:`xdem.coreg.VerticalShift` (median) removes the remaining bias.

Memory: xdem works on whole arrays, so both DEMs are loaded whole on the reference grid
(``max_pixels`` guards against rasters that would not fit).

References
----------
Nuth, C., Kääb, A. (2011). Co-registration and bias corrections of satellite elevation data sets for
quantifying glacier thickness change. The Cryosphere 5, 271–290.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from glacierinv.dem.stats import nmad
from glacierinv.errors import InputError, NoOverlap
from glacierinv.io.grid import Grid

__all__ = ["CoregResult", "coregister_arrays", "coregister_dem"]

log = logging.getLogger(__name__)

MAX_COREG_PIXELS = 100_000_000
MIN_STABLE_CELLS = 100


@dataclass
class CoregResult:
    """Shifts applied to the DEM (metres; x east, y north, z up) and stable-terrain NMAD before/after."""

    dx_m: float
    dy_m: float
    dz_m: float
    nmad_before_m: float
    nmad_after_m: float
    median_before_m: float
    median_after_m: float
    n_stable: int

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def coregister_arrays(
    ref_m: np.ndarray, dem_m: np.ndarray, grid: Grid, stable: np.ndarray | None = None
) -> tuple[np.ndarray, CoregResult]:
    """Co-register ``dem_m`` onto ``ref_m`` (same metric grid). Returns the aligned DEM and the shifts.

    Parameters
    ----------
    ref_m, dem_m : 2-D arrays
        Elevations in metres (NaN = no data), same grid and same vertical datum.
    grid : Grid
        Their common grid (metric CRS).
    stable : bool array, optional
        True on stable terrain (e.g. outside glaciers); default everywhere.
    """
    inlier = _stable_overlap(ref_m, dem_m, grid, stable)
    before = (dem_m - ref_m)[inlier]
    out, (dx, dy, dz) = _nuth_kaab_vertical(ref_m, dem_m, grid, inlier)
    after = (out - ref_m)[inlier & np.isfinite(out)]
    result = CoregResult(
        dx,
        dy,
        dz,
        nmad(before),
        nmad(after),
        float(np.median(before)),
        float(np.median(after)),
        int(inlier.sum()),
    )
    log.debug(
        "co-registration: dx %.2f m, dy %.2f m, dz %.2f m; NMAD %.2f → %.2f m",
        dx,
        dy,
        dz,
        result.nmad_before_m,
        result.nmad_after_m,
    )
    return out, result


def _stable_overlap(
    ref_m: np.ndarray, dem_m: np.ndarray, grid: Grid, stable: np.ndarray | None
) -> np.ndarray:
    """The cells the fit uses: both DEMs finite and ``stable`` (bool mask). Refuses mismatched shapes
    (ValueError), a non-metric grid (InputError) and fewer than :data:`MIN_STABLE_CELLS` cells (NoOverlap)."""
    if ref_m.shape != dem_m.shape or ref_m.shape != grid.shape:
        raise ValueError("ref_m, dem_m and grid must have the same shape")
    if not grid.is_metric:
        raise InputError(f"grid CRS {grid.crs} is not metric", None, "Reproject the reference DEM to UTM")
    valid = np.isfinite(ref_m) & np.isfinite(dem_m)
    inlier = valid if stable is None else valid & stable
    if inlier.sum() < MIN_STABLE_CELLS:
        raise NoOverlap(
            f"only {int(inlier.sum())} stable cells where both DEMs have data",
            None,
            "Check that the DEMs overlap and that the glacier mask leaves stable ground",
        )
    return inlier


def _nuth_kaab_vertical(
    ref_m: np.ndarray, dem_m: np.ndarray, grid: Grid, inlier: np.ndarray
) -> tuple[np.ndarray, tuple[float, float, float]]:
    """Fit xdem's Nuth & Kääb horizontal shift plus a vertical shift of ``dem_m`` to ``ref_m`` on the
    ``inlier`` cells (random_state 42) → the aligned DEM (float32, NaN = no data) and the shifts dx, dy, dz (m)."""
    import xdem

    ref_r = xdem.DEM.from_array(
        np.where(np.isfinite(ref_m), ref_m, -9999).astype("float32"), grid.transform, grid.crs, nodata=-9999
    )
    dem_r = xdem.DEM.from_array(
        np.where(np.isfinite(dem_m), dem_m, -9999).astype("float32"), grid.transform, grid.crs, nodata=-9999
    )
    pipeline = xdem.coreg.NuthKaab() + xdem.coreg.VerticalShift()
    pipeline.fit(ref_r, dem_r, inlier_mask=inlier, random_state=42)
    aligned = pipeline.apply(dem_r)
    out = np.asarray(aligned.data.filled(np.nan), dtype="float32")
    matrix = pipeline.to_matrix()
    return out, (float(matrix[0, 3]), float(matrix[1, 3]), float(matrix[2, 3]))


def coregister_dem(
    dem_path: str | Path,
    ref_path: str | Path,
    out_path: str | Path,
    *,
    stable_mask: str | Path | None = None,
    max_pixels: int = MAX_COREG_PIXELS,
) -> CoregResult:
    """Co-register a DEM file onto a reference DEM file on stable terrain; write the aligned DEM.

    The aligned DEM is written on the reference grid (loads both whole; refuses more than
    ``max_pixels`` cells). ``stable_mask``: a vector file of glacier outlines to *exclude*.
    """
    import rasterio
    from rasterio.enums import Resampling

    from glacierinv.io.raster import read_on_grid, read_raster, write_raster

    with rasterio.open(ref_path) as ds:
        if ds.crs is None or not ds.crs.is_projected:
            raise InputError(
                "reference DEM is not in a metric (projected) CRS", ref_path, "Reproject it to UTM first"
            )
        if ds.width * ds.height > max_pixels:
            raise InputError(
                f"reference DEM of {ds.width}×{ds.height} px is too large to co-register whole",
                ref_path,
                "Crop both DEMs to the area of interest",
            )
    ref, grid = read_raster(ref_path, bands=1, max_pixels=max_pixels)
    dem = read_on_grid(dem_path, grid, bands=1, resampling=Resampling.bilinear)
    stable = None
    if stable_mask is not None:
        stable = ~_glacier_mask(stable_mask, grid)
    aligned, result = coregister_arrays(ref, dem, grid, stable)
    write_raster(
        out_path,
        aligned,
        grid,
        nodata=float("nan"),
        descriptions=["dem_m"],
        tags={"coreg": "NuthKaab+VerticalShift", **{k: f"{v:.4f}" for k, v in result.as_dict().items()}},
    )
    return result


def _glacier_mask(path: str | Path, grid: Grid) -> np.ndarray:
    """True inside the polygons of ``path`` (rasterised on ``grid``, all-touched)."""
    from rasterio.features import geometry_mask

    from glacierinv.io.vector import read_vector

    gdf = read_vector(path)
    if gdf.crs is None:
        raise InputError("outlines have no CRS", path, "Assign the CRS of the outlines")
    gdf = gdf.to_crs(grid.crs)
    geoms = [g for g in gdf.geometry if g is not None and not g.is_empty]
    if not geoms:
        return np.zeros(grid.shape, bool)
    return geometry_mask(geoms, out_shape=grid.shape, transform=grid.transform, invert=True, all_touched=True)
