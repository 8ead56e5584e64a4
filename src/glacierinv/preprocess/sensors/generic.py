"""The generic sensor: a multispectral GeoTIFF with described bands and an optional panchromatic band.

For imagery that is already calibrated and orthorectified (any sensor): ``ms`` is a float GeoTIFF of
reflectance 0-1 whose band descriptions name the channels — ``blue, green, red, nir`` required, ``swir1``
(or ``swir``) and ``swir2`` optional — and ``pan`` a single-band reflectance GeoTIFF on a finer grid
(pan-sharpened onto the pan grid by :mod:`glacierinv.preprocess.pansharpen`). Bands are found by name,
never by position. ``primary_cloud_mask`` (0 clear, 1 cloud) flags clouds of this imagery.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from glacierinv.errors import InputError
from glacierinv.io.raster import open_raster, raster_grid
from glacierinv.preprocess.sensors._base import OLI_CENTRAL_UM, BandRef, Key, Product, Sensor

__all__ = ["ALIASES", "MS_CHANNELS", "SENSOR", "open_generic"]

MS_CHANNELS = ("blue", "green", "red", "nir", "swir1", "swir2")
REQUIRED = ("blue", "green", "red", "nir")
ALIASES = {"swir": "swir1"}  # band descriptions accepted for a channel

KEYS = (
    Key(
        "pan",
        "panchromatic reflectance GeoTIFF (float 0-1): the primary (finest) grid",
        "primary",
        example="pan.tif",
        active=True,
    ),
    Key(
        "ms",
        "multispectral reflectance GeoTIFF (float 0-1), bands described blue, green, red, nir [, swir1, swir2]",
        "primary",
        example="ms.tif",
        active=True,
    ),
    Key("primary_cloud_mask", "0/1 cloud mask of the primary image (1 = cloud)", "mask", example="cloud.tif"),
)


def _ms_bands(path: Path) -> dict[str, BandRef]:
    with open_raster(path) as ds:
        names = [ALIASES.get((d or "").strip().lower(), (d or "").strip().lower()) for d in ds.descriptions]
        integer = np.dtype(ds.dtypes[0]).kind in "iu"
        count = ds.count
        descriptions = list(ds.descriptions)
    if integer:
        raise InputError(
            "input 'ms' holds integer digital numbers, expected surface/TOA reflectance 0-1 (float)",
            path,
            "Name the provider's product instead (landsat, sentinel2, gf, zy3 keys), or convert to float reflectance",
        )
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        have = ", ".join(d or "?" for d in descriptions)
        raise InputError(
            f"input 'ms' lacks band(s) {', '.join(missing)} (bands are: {have}; {count} band(s))",
            path,
            f"Describe the bands as {', '.join(MS_CHANNELS)} (e.g. rasterio set_band_description), "
            "or name the provider's product instead (landsat, sentinel2, gf, zy3 keys)",
        )
    return {c: BandRef(Path(path), names.index(c) + 1) for c in MS_CHANNELS if c in names}


def open_generic(
    paths: dict[str, Path], *, dem: Path | None = None, calibration: dict | None = None
) -> Product:
    """Open ``ms`` (described reflectance bands) and/or ``pan``; the grid is the pan grid when given."""
    ms, pan = paths.get("ms"), paths.get("pan")
    bands = _ms_bands(ms) if ms is not None else {}
    pan_ref = None
    if pan is not None:
        with open_raster(pan) as ds:
            if np.dtype(ds.dtypes[0]).kind in "iu":
                raise InputError(
                    f"input 'pan' holds integer digital numbers ({ds.dtypes[0]}), expected reflectance 0-1 (float)",
                    pan,
                    "Name the provider's product instead (gf, zy3 keys), or convert to float reflectance",
                )
        pan_ref = BandRef(Path(pan), 1)
    grid = raster_grid(pan if pan is not None else ms)
    return Product(
        "generic", "pan" if pan is not None else "ms", Path(pan or ms), bands, grid, pan=pan_ref,
        info={"files": [str(p) for p in (ms, pan) if p is not None]},
    )  # fmt: skip


SENSOR = Sensor(
    name="generic",
    title="Described GeoTIFF (any calibrated, orthorectified imagery)",
    keys=KEYS,
    channels={**{c: w for c, w in OLI_CENTRAL_UM.items() if c not in ("lst", "tir")}, "pan": 0.64},
    native_res_m={},
    open=open_generic,
)
