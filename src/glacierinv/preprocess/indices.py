"""Normalised-difference indices: NDVI, NDSI (Dozier 1989), NDWI (McFeeters 1996)."""

from __future__ import annotations

import numpy as np

__all__ = ["NDSI_SNOW", "ndsi", "ndvi", "ndwi", "normalized_difference"]

#: NDSI above which a pixel is snow or ice (Dozier 1989); used by the emissivity model, the cloud test and the
#: band-ratio baseline.
NDSI_SNOW = 0.4


def normalized_difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(a − b)/(a + b); NaN where the sum is 0 or an input is NaN."""
    a = np.asarray(a, "float64")
    b = np.asarray(b, "float64")
    total = a + b
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total != 0, (a - b) / total, np.nan).astype("float32")


def ndvi(red: np.ndarray, nir: np.ndarray) -> np.ndarray:
    """NDVI = (NIR − red)/(NIR + red)."""
    return normalized_difference(nir, red)


def ndsi(green: np.ndarray, swir: np.ndarray) -> np.ndarray:
    """NDSI = (green − SWIR)/(green + SWIR); snow and ice > ~0.4."""
    return normalized_difference(green, swir)


def ndwi(green: np.ndarray, nir: np.ndarray) -> np.ndarray:
    """NDWI = (green − NIR)/(green + NIR) (McFeeters 1996); open water > ~0.2."""
    return normalized_difference(green, nir)
