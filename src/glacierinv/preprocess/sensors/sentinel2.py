"""Sentinel-2 MSI Level-1C (TOA) and Level-2A (surface) products.

Give the ``.SAFE`` folder as downloaded (JPEG 2000 bands in ``GRANULE/*/IMG_DATA``: flat ``*_B02.jp2`` in
L1C, ``R10m/*_B02_10m.jp2``, ``R20m/*_B11_20m.jp2`` in L2A), a folder of band files, or one GeoTIFF whose
band descriptions are ``B2, B3, B4, B8[, B11, B12]``. Reading and calibration live in
:mod:`glacierinv.preprocess.sentinel2`: ``ρ = (DN + offset) / Q`` with the per-band ``RADIO_ADD_OFFSET``
(L1C) / ``BOA_ADD_OFFSET`` (L2A) and ``QUANTIFICATION_VALUE`` of the product metadata (baseline >= 04.00),
20 m bands resampled bilinearly onto the 10 m grid, SCL (L2A) or ``MSK_CLASSI_B00`` (L1C) or
``s2_cloud_mask`` as quality mask. Given beside another primary product, Sentinel-2 fills its gaps and
clouds; alone, it is the primary image.
"""

from __future__ import annotations

from pathlib import Path

from glacierinv.errors import ConfigError
from glacierinv.preprocess.sensors._base import Key, Product, Sensor

__all__ = ["SENSOR", "open_fill", "open_s2"]

KEYS = (
    Key(
        "s2",
        "Sentinel-2 L1C/L2A .SAFE folder, band-file folder or described GeoTIFF (gap fill, or the primary image alone)",
        "fill",
        example="s2.tif",
        active=True,
    ),
    Key(
        "sentinel2",
        "the same as s2 (give one of them)",
        "fill",
        example="S2A_MSIL2A_20220820T055641_N0400_R091_T43SDV_20220820T082040.SAFE",
    ),
    Key(
        "s2_cloud_mask",
        "cloud mask of the Sentinel-2 image: SCL, QA60 or 0/1 (default: the product's own)",
        "mask",
        example="s2_cloud.tif",
        active=True,
    ),
)


def s2_path(paths: dict[str, Path]) -> Path | None:
    """The Sentinel-2 input of a scene (``s2`` or its synonym ``sentinel2``)."""
    if paths.get("s2") is not None and paths.get("sentinel2") is not None:
        raise ConfigError("config: give Sentinel-2 as either s2 or sentinel2, not both")
    return paths.get("s2") or paths.get("sentinel2")


def open_s2(paths: dict[str, Path], *, dem: Path | None = None, calibration: dict | None = None) -> Product:
    from glacierinv.preprocess.sentinel2 import open_sentinel2, s2_product

    p = s2_path(paths)
    return s2_product(open_sentinel2(p), "sentinel2" if paths.get("sentinel2") else "s2")


def open_fill(path: Path):
    """The Sentinel-2 product of a ``"fill"`` key: gap and cloud fill beside another primary image."""
    from glacierinv.preprocess.sentinel2 import open_sentinel2

    return open_sentinel2(path)


SENSOR = Sensor(
    name="sentinel2",
    title="Sentinel-2 MSI (L1C, L2A)",
    keys=KEYS,
    channels={"blue": 0.49, "green": 0.56, "red": 0.665, "nir": 0.842, "swir1": 1.61, "swir2": 2.19},
    native_res_m={"blue": 10.0, "green": 10.0, "red": 10.0, "nir": 10.0, "swir1": 20.0, "swir2": 20.0},
    open=open_s2,
    fill=open_fill,
)
