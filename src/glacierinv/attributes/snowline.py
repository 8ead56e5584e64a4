"""Snowline altitude, accumulation-area ratio (AAR) and the seed's AAR glacier types, per glacier.

Used by the attributes stage (the inventory's ``aar`` and ``glac_type``) and by the analyses
(:mod:`glacierinv.analysis.types`), so both give the same numbers.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from glacierinv.pipeline.runfolder import RunFolder

__all__ = ["albedo_of_run", "classify_aar", "snowline_altitude", "snowlines_from_raster"]


def snowline_altitude(z_m: np.ndarray, snow: np.ndarray) -> float:
    """Altitude (m) best separating snow-free cells below from snow cells above (fewest misclassified).

    Parameters
    ----------
    z_m : 1-D array
        Elevations of the glacier cells with a snow observation (m).
    snow : 1-D bool array
        Snow (True) or not, per cell.

    Returns
    -------
    The snowline altitude; ``min(z)`` when all cells are snow, ``max(z)`` when none; NaN without cells.
    """
    z = np.asarray(z_m, dtype="float64")
    s = np.asarray(snow, dtype=bool)
    if z.size == 0:
        return float("nan")
    order = np.argsort(z, kind="stable")
    z, s = z[order], s[order]
    snow_below = np.concatenate([[0], np.cumsum(s)])  # snow cells among the k lowest
    bare_below = np.concatenate([[0], np.cumsum(~s)])
    cost = snow_below + (bare_below[-1] - bare_below)  # line between cell k-1 and k
    k = int(np.argmin(cost))
    if k == 0:
        return float(z[0])
    if k == z.size:
        return float(z[-1])
    return float(0.5 * (z[k - 1] + z[k]))


def snowlines_from_raster(
    glaciers: gpd.GeoDataFrame, dem_path: str | Path, snow_path: str | Path, *, snow_threshold: float = 0.5
) -> pd.DataFrame:
    """Snowline altitude and AAR per glacier from a snow / snow-fraction / albedo raster.

    Returns columns ``glac_id, snowline_m, aar, snow_cov`` (share of the glacier's DEM cells with a snow
    observation). Glaciers without observations get NaN.
    """
    from glacierinv.dem.windows import complex_groups, map_glacier_windows
    from glacierinv.io.raster import open_raster

    open_raster(snow_path).close()
    func = partial(_snowline_in_window, snow_path=str(snow_path), snow_threshold=snow_threshold)
    rows = map_glacier_windows(func, glaciers.geometry, dem_path, groups=complex_groups(glaciers))
    rows = [{"glac_id": gid, **r} for gid, r in zip(glaciers["glac_id"], rows, strict=True)]
    return pd.DataFrame(rows, columns=["glac_id", "snowline_m", "aar", "snow_cov"])


def _snowline_in_window(dw, g, crs, _extra, *, snow_path: str, snow_threshold: float) -> dict:
    """Snowline, AAR and snow coverage of one glacier (a task of :func:`snowlines_from_raster`)."""
    from rasterio.enums import Resampling

    from glacierinv.io.raster import read_on_grid

    win = dw.window(g, crs)
    valid = win.mask & np.isfinite(win.dem_m)
    snow = read_on_grid(snow_path, win.grid, bands=1, resampling=Resampling.nearest, require_overlap=False)
    snow = np.asarray(snow, dtype="float64").reshape(win.dem_m.shape)
    obs = valid & np.isfinite(snow)
    z = win.dem_m[obs]
    line = snowline_altitude(z, snow[obs] >= snow_threshold)
    zv = win.dem_m[valid]
    aar = float(np.mean(zv >= line)) if zv.size and np.isfinite(line) else float("nan")
    return {"snowline_m": line, "aar": aar, "snow_cov": obs.sum() / max(valid.sum(), 1)}


def classify_aar(aar: np.ndarray, thresholds: tuple[float, float] = (0.3, 0.6)) -> np.ndarray:
    """Turkestan (AAR ≤ t1), Mustagh (t1 < AAR ≤ t2), Alpine (AAR > t2); None where AAR is NaN."""
    t1, t2 = thresholds
    if not 0 <= t1 < t2 <= 1:
        raise ValueError(f"AAR thresholds must satisfy 0 ≤ t1 < t2 ≤ 1, got {thresholds}")
    a = np.asarray(aar, dtype="float64")
    out = np.full(a.shape, None, dtype=object)
    out[a <= t1] = "Turkestan"
    out[(a > t1) & (a <= t2)] = "Mustagh"
    out[a > t2] = "Alpine"
    return out


#: Stack bands the broadband albedo needs (Knap et al. 1999, :mod:`glacierinv.preprocess.albedo`).
ALBEDO_BANDS = ("green", "nir")


def snow_source(cfg, run_dir) -> tuple[Path | None, float]:
    """The snow evidence of the AAR glacier types and its threshold, the same for the attributes and the
    analyse stage: ``[analysis] snow`` (or None when an ELA column is used), else the run's ``stack.tif``
    when it has green and NIR bands (its broadband albedo ≥ ``albedo_snow_min`` is snow), else None."""
    a = cfg.analysis
    if not a.enabled:
        return None, a.snow_threshold
    if a.snow is not None or a.ela_column is not None:
        return cfg.resolve(a.snow), a.snow_threshold
    stack = run_dir / RunFolder.STACK  # a path or a RunFolder
    if stack.exists():
        from glacierinv.io.raster import open_raster

        with open_raster(stack) as ds:
            names = {(d or "").lower() for d in ds.descriptions}
        if set(ALBEDO_BANDS) <= names:
            return stack, a.albedo_snow_min
    return None, a.snow_threshold


#: GeoTIFF tag of ``albedo.tif``: the digest of the stack it was computed from
ALBEDO_STACK_TAG = "GLACIERINV_STACK_SHA256"


def albedo_of_run(run_dir, block_px: int) -> Path:
    """``RUN/albedo.tif``, the broadband albedo of ``RUN/stack.tif``, computed once per stack.

    The attributes stage (``glac_type``, ``aar``) and the analyse stage (AAR types) use the same albedo:
    the first that needs it writes it, tagged with the stack's digest, and the other reuses it while the
    stack is unchanged (a stack rewritten since, or a file without the tag, is computed again).
    """
    from glacierinv.io.raster import open_raster
    from glacierinv.pipeline.runfolder import file_digest
    from glacierinv.preprocess.albedo import write_albedo

    stack, albedo = Path(run_dir) / RunFolder.STACK, Path(run_dir) / "albedo.tif"
    digest = file_digest(stack)
    if albedo.exists():
        with open_raster(albedo) as ds:
            if ds.tags().get(ALBEDO_STACK_TAG) == digest:
                return albedo
    return write_albedo(stack, albedo, block=block_px, tags={ALBEDO_STACK_TAG: digest})
