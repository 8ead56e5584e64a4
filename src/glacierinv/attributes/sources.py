"""Per-glacier image source from the stack's per-pixel source layer (``source.tif``)."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np

__all__ = ["SOURCE_CODES", "image_source_per_glacier"]

SOURCE_CODES = {1: "primary", 2: "sentinel2"}  # values of source.tif (0 = no data)


def image_source_per_glacier(
    glaciers: gpd.GeoDataFrame, source_path: str | Path, primary_name: str
) -> list[str | None]:
    """The majority source of each glacier's pixels (exactextract, coverage-weighted): ``primary_name``
    for code 1, ``"sentinel2"`` for 2, None where no pixel has a source."""
    from exactextract import exact_extract

    from glacierinv.io.raster import raster_grid

    crs = raster_grid(source_path).crs
    frame = exact_extract(str(source_path), glaciers.to_crs(crs), ["majority"], output="pandas")
    names = {1: primary_name, 2: SOURCE_CODES[2]}
    out: list[str | None] = []
    for v in frame["majority"].to_numpy():
        out.append(names.get(int(v)) if v is not None and np.isfinite(v) else None)
    return out
