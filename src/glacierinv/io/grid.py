"""The :class:`Grid`: the georeferencing that travels with every array (CRS, affine transform, shape)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from affine import Affine
from rasterio.crs import CRS
from rasterio.windows import Window
from rasterio.windows import transform as window_transform

__all__ = ["Grid"]


@dataclass(frozen=True)
class Grid:
    """A raster grid: CRS, affine transform (pixel corner → map coordinates) and shape (rows, cols).

    Pixel sizes are in CRS units (metres for projected CRSs). ``res`` is (xres, yres), both positive.
    """

    crs: CRS
    transform: Affine
    shape: tuple[int, int]

    @property
    def height(self) -> int:
        return int(self.shape[0])

    @property
    def width(self) -> int:
        return int(self.shape[1])

    @property
    def res(self) -> tuple[float, float]:
        return (abs(self.transform.a), abs(self.transform.e))

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(left, bottom, right, top) in CRS units."""
        left, top = self.transform @ (0, 0)
        right, bottom = self.transform @ (self.width, self.height)
        return (min(left, right), min(bottom, top), max(left, right), max(bottom, top))

    @property
    def is_metric(self) -> bool:
        return bool(self.crs is not None and self.crs.is_projected)

    @property
    def pixel_area_m2(self) -> float:
        """Area of one pixel in m² (only meaningful for a projected, metric CRS)."""
        return self.res[0] * self.res[1]

    def window_grid(self, window: Window) -> Grid:
        """The grid of a window of this grid."""
        return Grid(
            self.crs, window_transform(window, self.transform), (int(window.height), int(window.width))
        )

    def xy(self, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Map coordinates of pixel centres."""
        t = self.transform
        c = np.asarray(cols, dtype="float64") + 0.5
        r = np.asarray(rows, dtype="float64") + 0.5
        return t.a * c + t.b * r + t.c, t.d * c + t.e * r + t.f

    @classmethod
    def from_bounds(cls, crs: CRS | str | int, bounds: tuple[float, float, float, float], res: float) -> Grid:
        """A north-up grid covering ``bounds`` (left, bottom, right, top) at ``res`` CRS units per pixel."""
        left, bottom, right, top = bounds
        width = int(round((right - left) / res))
        height = int(round((top - bottom) / res))
        return cls(CRS.from_user_input(crs), Affine(res, 0, left, 0, -res, top), (height, width))
