"""Per-glacier image source from the stack's per-pixel source layer (``source.tif``)."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import geopandas as gpd
import numpy as np

from glacierinv.geometry import box_areas
from glacierinv.taskmap import map_batched

__all__ = ["SOURCE_CODES", "fill_sensor_of", "image_source_per_glacier"]

SOURCE_CODES = {1: "primary", 2: "fill"}  # values of source.tif (0 = no data)
FILL_BEFORE_TAG = "sentinel2"  # the fill of a source.tif written without the tag (the only fill sensor then)


def fill_sensor_of(source_path: str | Path) -> str:
    """The sensor of the gap-fill pixels (code 2) of a stack's ``source.tif``, from its tag."""
    from glacierinv.io.raster import open_raster
    from glacierinv.preprocess.stack import FILL_SENSOR_TAG

    with open_raster(source_path) as ds:
        return ds.tags().get(FILL_SENSOR_TAG) or FILL_BEFORE_TAG


def image_source_per_glacier(
    glaciers: gpd.GeoDataFrame, source_path: str | Path, primary_name: str
) -> list[str | None]:
    """The majority source of each glacier's pixels (exactextract, coverage-weighted): ``primary_name``
    for code 1, the fill product's sensor (:func:`fill_sensor_of`, e.g. ``"sentinel2"``) for 2, None where
    no pixel has a source. Computed as tasks over batches of glaciers (:mod:`glacierinv.taskmap`)."""
    from glacierinv.io.raster import raster_grid

    crs = raster_grid(source_path).crs
    geoms = glaciers.to_crs(crs).geometry.to_numpy()
    codes = map_batched(partial(_majority_batch, str(source_path), crs), list(geoms), box_areas(geoms),
                        name="image_source")  # fmt: skip
    names = {1: primary_name, 2: fill_sensor_of(source_path)}
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
