"""Per-glacier image source from the stack's per-pixel source layer (``source.tif``)."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import geopandas as gpd
import numpy as np

from glacierinv.geometry import box_areas
from glacierinv.taskmap import map_batched

__all__ = ["SOURCE_CODES", "image_source_per_glacier"]

SOURCE_CODES = {1: "primary", 2: "sentinel2"}  # values of source.tif (0 = no data)


def image_source_per_glacier(
    glaciers: gpd.GeoDataFrame, source_path: str | Path, primary_name: str
) -> list[str | None]:
    """The majority source of each glacier's pixels (exactextract, coverage-weighted): ``primary_name``
    for code 1, ``"sentinel2"`` for 2, None where no pixel has a source."""
    from glacierinv.io.raster import raster_grid

    crs = raster_grid(source_path).crs
    geoms = glaciers.to_crs(crs).geometry.to_numpy()
    codes = map_batched(partial(_majority_batch, str(source_path), crs), list(geoms), box_areas(geoms),
                        name="image_source")  # fmt: skip
    names = {1: primary_name, 2: SOURCE_CODES[2]}
    out: list[str | None] = []
    for v in codes:
        out.append(names.get(int(v)) if v is not None and np.isfinite(v) else None)
    return out


def _majority_batch(source_path: str, crs, geoms: list) -> list:
    """The coverage-weighted majority of ``source.tif`` under each glacier of a batch (a task)."""
    from exactextract import exact_extract

    frame = exact_extract(
        source_path, gpd.GeoDataFrame(geometry=geoms, crs=crs), ["majority"], output="pandas"
    )
    return list(frame["majority"].to_numpy())
