"""Broadband surface albedo of glaciers from green and near-infrared reflectance (Knap et al. 1999).

The seed approximates each glacier's snowline with an albedo product (its section 4.4). Without one, the
broadband albedo is estimated from the image itself with the narrow-to-broadband conversion that Knap,
Reijmer & Oerlemans (1999, *Int. J. Remote Sens.* 20, 2091-2110) fitted on Morteratschgletscher for the
Landsat TM green (band 2, 0.52-0.60 µm) and NIR (band 4, 0.76-0.90 µm) channels::

    α = 0.726 ρg − 0.322 ρg² − 0.015 ρn + 0.581 ρn²

with ρg, ρn the surface (or top-of-atmosphere, at a cost of a few hundredths) reflectances 0-1. Typical
results: fresh snow ≈ 0.8, old snow / firn 0.5-0.7, bare ice 0.3-0.45, debris 0.1-0.2 — so ≈ 0.5
separates the snow-covered accumulation area from bare ice. The fit holds for snow and ice surfaces; off
ice the value is only indicative. Assumes the sensor's green/NIR bands are close to TM's (true for ZY-3,
Pléiades, Landsat 8/9 OLI, Sentinel-2 B3/B8 to within a few hundredths of albedo).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from glacierinv.io.grid import Grid
from glacierinv.io.raster import (
    DEFAULT_BLOCK,
    RasterWriter,
    band_index,
    iter_windows,
    open_raster,
    read_window,
)

__all__ = ["broadband_albedo", "write_albedo"]


def broadband_albedo(green: np.ndarray, nir: np.ndarray) -> np.ndarray:
    """Broadband albedo (0-1) from green and NIR reflectance (0-1), Knap et al. (1999); NaN stays NaN."""
    g = np.asarray(green, "float64")
    n = np.asarray(nir, "float64")
    albedo = 0.726 * g - 0.322 * g**2 - 0.015 * n + 0.581 * n**2
    return np.clip(albedo, 0.0, 1.0).astype("float32")


def write_albedo(
    stack_path: str | Path,
    out_path: str | Path,
    block: int = DEFAULT_BLOCK,
    tags: dict[str, str] | None = None,
) -> Path:
    """Write the broadband albedo of a feature stack (bands named ``green`` and ``nir``) window by window
    (``tags``: GeoTIFF metadata written with it)."""
    with open_raster(stack_path) as ds:
        green, nir = band_index(ds, "green"), band_index(ds, "nir")
        grid = Grid(ds.crs, ds.transform, (ds.height, ds.width))
        with RasterWriter(out_path, grid, descriptions=["albedo"], tags=tags) as writer:
            for _, core in iter_windows(grid, block):
                g, n = read_window(ds, core, [green, nir])
                writer.write(broadband_albedo(g, n), core)
    return Path(out_path)
