"""The segmentation classes: codes, names and the nodata value of every class raster.

``classes.tif``, training labels and reference rasters all use these codes (DESIGN.md, "Classes and
channels"). Import them from here; never write the numbers as literals.
"""

from __future__ import annotations

__all__ = ["BACKGROUND", "CLASS_NAMES", "CLEAN_ICE", "DEBRIS", "GLACIER_CLASSES", "NODATA", "N_CLASSES"]

BACKGROUND = 0
CLEAN_ICE = 1
DEBRIS = 2  # debris-covered ice
NODATA = 255  # no valid input (outside the image, all bands NaN)

#: Class names in code order (also the logit order of every U-Net checkpoint and the band order of proba.tif).
CLASS_NAMES: tuple[str, ...] = ("background", "clean_ice", "debris")
N_CLASSES = len(CLASS_NAMES)
#: The codes that are glacier (clean or debris-covered ice).
GLACIER_CLASSES: tuple[int, ...] = (CLEAN_ICE, DEBRIS)
