"""Check every input of a run before anything is written, so bad input never leaves partial output.

Each check raises a :class:`~glacierinv.errors.GlacierInvError` with one line: what is wrong, in which
file, and what to do. Checks are cheap: headers, the last block (catches truncated files) and a
decimated read (catches all-NaN / all-nodata rasters), never a whole-scene read.
"""

from __future__ import annotations

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.errors import RasterioIOError
from rasterio.windows import Window

from glacierinv.config import RunConfig
from glacierinv.errors import InputError
from glacierinv.io.grid import Grid
from glacierinv.io.raster import check_overlap, open_raster

__all__ = ["check_inputs"]

_RASTERS = ("pan", "ms", "s2_cloud_mask", "dem", "dem_coarse", "primary_cloud_mask", "truth_classes")
_REFLECTANCE = ("pan", "ms")
_OPTICAL_BANDS = {"ms": ("blue", "green", "red", "nir")}
_SAMPLE = 128  # px of the decimated read


def check_inputs(cfg: RunConfig) -> None:
    """Validate all configured inputs (existence, format, CRS, integrity, content, overlap)."""
    paths = {key: cfg.input_path(key, required=(key == "dem")) for key in _RASTERS}
    s2 = cfg.input_path("s2", required=False)
    if s2 is not None:  # a SAFE folder, band files or a described GeoTIFF; DN scaling handled by the reader
        from glacierinv.preprocess.sentinel2 import open_sentinel2

        open_sentinel2(s2)
    primary = next((paths[k] for k in ("pan", "ms") if paths[k] is not None), None)
    primary_grid = None
    for key, path in paths.items():
        if path is None:
            continue
        with open_raster(path) as ds:
            _check_integrity(ds, key)
            if key in _REFLECTANCE:
                _check_reflectance(ds, key)
            if key in _OPTICAL_BANDS:
                _check_bands(ds, key, _OPTICAL_BANDS[key])
            if primary is not None and path == primary:
                primary_grid = Grid(ds.crs, ds.transform, (ds.height, ds.width))
    if primary_grid is not None:
        for path in paths.values():
            if path is not None and path != primary:
                with open_raster(path) as ds:
                    check_overlap(ds, primary_grid, path)
    for scene in cfg.scenes:
        for key in ("pan", "ms", "s2", "dem"):
            p = cfg.resolve(getattr(scene, key))
            if p is not None:
                if not p.exists():
                    raise InputError(
                        f"scene '{scene.name}': input '{key}' not found", p, "Fix the path in [[scenes]]"
                    )
                with open_raster(p) as ds:
                    _check_integrity(ds, key)
    truth = cfg.input_path("truth_glaciers", required=False)
    if truth is not None:
        from glacierinv.io.vector import read_vector

        read_vector(truth, layer="glaciers" if truth.suffix == ".gpkg" else None, polygons=True)
    _check_analysis_inputs(cfg)


def _check_analysis_inputs(cfg: RunConfig) -> None:
    """The optional inputs of the ``analyse`` stage: fail before the run starts, not after segmentation."""
    snow = cfg.resolve(cfg.analysis.snow)
    if snow is not None:
        with open_raster(snow) as ds:
            _check_integrity(ds, "analysis.snow")
    surge = cfg.resolve(cfg.analysis.surge_list)
    if surge is not None:
        from glacierinv.analysis.types import read_surge_list

        read_surge_list(surge)


def _check_integrity(ds: rasterio.DatasetReader, key: str) -> None:
    """Read the last block (truncation) and a decimated overview (all-NaN / all-nodata)."""
    h, w = ds.height, ds.width
    try:
        ds.read(1, window=Window(max(0, w - 1), max(0, h - 1), 1, 1))
        sample = ds.read(
            1,
            out_shape=(min(h, _SAMPLE), min(w, _SAMPLE)),
            resampling=Resampling.nearest,
            masked=True,
        )
    except RasterioIOError as exc:
        raise InputError(
            f"raster is corrupt or truncated ({str(exc).splitlines()[0]})",
            ds.name,
            "Re-export or re-download it",
        ) from None
    values = np.ma.masked_invalid(sample.astype("float64"))
    if values.count() == 0:
        raise InputError(
            f"input '{key}' holds no valid data (all nodata/NaN in band 1)",
            ds.name,
            "Check the file and its nodata value",
        )


def _check_reflectance(ds: rasterio.DatasetReader, key: str) -> None:
    if np.dtype(ds.dtypes[0]).kind in "iu":
        raise InputError(
            f"input '{key}' holds integer digital numbers ({ds.dtypes[0]}), expected surface/TOA reflectance 0-1 (float)",
            ds.name,
            "Convert with the product's scale factor (e.g. DN/10000 for Sentinel-2 L2A) to float32 reflectance",
        )


def _check_bands(ds: rasterio.DatasetReader, key: str, needed: tuple[str, ...]) -> None:
    names = [(d or "").lower() for d in ds.descriptions]
    missing = [b for b in needed if b not in names]
    if missing:
        have = ", ".join(d or "?" for d in ds.descriptions)
        raise InputError(
            f"input '{key}' lacks band(s) {', '.join(missing)} (bands are: {have}; {ds.count} band(s))",
            ds.name,
            f"Describe the bands as {', '.join(needed)} (e.g. `gdal_edit.py -colorinterp_X` or rasterio set_band_description)",
        )
