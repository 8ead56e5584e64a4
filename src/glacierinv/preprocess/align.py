"""Sub-pixel co-registration between images by phase correlation (bounded memory).

Both images are resampled onto the same window of the primary grid (a central block of at most
``sample_px`` pixels per side), normalised, and their translation is estimated by upsampled phase
correlation (Guizar-Sicairos et al. 2008, as implemented in :func:`skimage.registration.phase_cross_correlation`).
The shift is reported in metres (east, north) and applied by reading the moving image onto the primary grid
translated by the shift (:func:`shifted_grid`), so nothing is rewritten.

Sign convention: a shift ``(dx_m, dy_m)`` means the moving image shows a feature ``dx_m`` metres east and
``dy_m`` metres north of where the reference shows it; reading the moving image on ``shifted_grid(grid,
dx_m, dy_m)`` puts it back in place.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from affine import Affine
from rasterio.windows import Window

from glacierinv.errors import InputError
from glacierinv.io.grid import Grid
from glacierinv.io.raster import read_on_grid

__all__ = ["Shift", "estimate_shift", "estimate_shift_arrays", "shifted_grid"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Shift:
    """Translation of a moving image relative to the reference, in metres (east, north) and pixels."""

    dx_m: float
    dy_m: float
    dx_px: float
    dy_px: float
    error: float  # normalised RMS error of the phase correlation (0 = perfect match)

    def as_dict(self) -> dict[str, float]:
        return {"dx_m": self.dx_m, "dy_m": self.dy_m, "error": self.error}


def estimate_shift_arrays(
    reference: np.ndarray, moving: np.ndarray, upsample: int = 20
) -> tuple[float, float, float]:
    """(d_col, d_row, error) of ``moving`` relative to ``reference`` (2-D arrays on the same grid), px.

    NaNs are replaced by the image mean; images are standardised and tapered (Hann window) first.
    """
    from skimage.registration import phase_cross_correlation

    def prep(a: np.ndarray) -> np.ndarray:
        a = np.asarray(a, "float64")
        ok = np.isfinite(a)
        if ok.sum() < 0.5 * a.size:
            raise InputError(
                "less than half of the co-registration window is valid", None, "Use a larger overlap"
            )
        a = np.where(ok, a, a[ok].mean())
        a = (a - a.mean()) / max(a.std(), 1e-12)
        return a * np.outer(np.hanning(a.shape[0]), np.hanning(a.shape[1]))

    shift, error, _ = phase_cross_correlation(
        prep(reference), prep(moving), upsample_factor=upsample, normalization=None
    )
    # skimage returns the shift that registers moving onto reference: moving content sits at −shift
    return float(-shift[1]), float(-shift[0]), float(error)


def _sample_window(grid: Grid, sample_px: int) -> Window:
    h, w = min(grid.height, sample_px), min(grid.width, sample_px)
    return Window((grid.width - w) // 2, (grid.height - h) // 2, w, h)


def estimate_shift(
    reference: str | Path,
    moving: str | Path,
    grid: Grid,
    *,
    reference_bands: Sequence[int] | int = 1,
    moving_bands: Sequence[int] | int = 1,
    sample_px: int = 1024,
) -> Shift:
    """Estimate the translation of ``moving`` relative to ``reference`` on a central block of ``grid``.

    Multi-band selections are averaged into one intensity image. Only a ``sample_px`` block is read.
    """
    win = _sample_window(grid, sample_px)

    def intensity(path, bands) -> np.ndarray:
        arr = read_on_grid(path, grid, win, bands=bands)
        return arr if arr.ndim == 2 else np.nanmean(arr, axis=0)

    dcol, drow, error = estimate_shift_arrays(
        intensity(reference, reference_bands), intensity(moving, moving_bands)
    )
    t = grid.transform
    dx_m, dy_m = dcol * t.a + drow * t.b, dcol * t.d + drow * t.e
    result = Shift(float(dx_m), float(dy_m), dcol, drow, error)
    log.info(
        "co-registration %s → %s: dx %.2f m, dy %.2f m (error %.3f)",
        Path(moving).name,
        Path(reference).name,
        dx_m,
        dy_m,
        error,
    )
    return result


def shifted_grid(grid: Grid, dx_m: float, dy_m: float) -> Grid:
    """``grid`` translated by (dx_m, dy_m): reading a shifted image on it puts the image back in place."""
    return Grid(grid.crs, Affine.translation(dx_m, dy_m) @ grid.transform, grid.shape)
