"""Pan-sharpening of multispectral bands onto the panchromatic grid (window by window).

Methods share one interface (:class:`PanSharpener`: ``fit`` scene-wide statistics once, then ``apply`` to
windows), so a config can switch them and tiles never get per-window statistics (no seams):

- ``brovey``: ``MS_b · PAN / I`` with the intensity ``I = Σ w_b·MS_b``, weights fitted by least squares of
  the (degraded) pan on the MS bands (so I matches the pan's spectral response);
- ``hpf`` (high-pass filter injection, Chavez et al. 1991): ``MS_b + g_b · (PAN − lowpass(PAN))`` with
  ``g_b = σ(MS_b)/σ(PAN)``;
- ``none``: bilinear upsampling only.

Quality by the Wald protocol: :func:`ergas` and :func:`sam_deg`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rasterio.enums import Resampling
from scipy import ndimage

from glacierinv.errors import ConfigError
from glacierinv.io.grid import Grid
from glacierinv.io.raster import open_raster, read_on_grid

__all__ = ["METHODS", "PanSharpener", "ergas", "sam_deg"]

METHODS = ("brovey", "hpf", "none")


@dataclass
class PanSharpener:
    """Scene-wide pan-sharpening model; ``fit`` once, ``apply`` per window."""

    method: str = "brovey"
    weights: np.ndarray | None = None  # intensity weights per MS band (brovey)
    gains: np.ndarray | None = None  # injection gains per band (hpf)
    ratio: float = 1.0  # MS pixel size / pan pixel size
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(
                f"unknown pan-sharpening method '{self.method}'; methods are: {', '.join(METHODS)}"
            )

    def fit(self, ms_path: str | Path, pan_path: str | Path, sample_px: int = 512) -> PanSharpener:
        """Fit the scene-wide weights/gains on a decimated sample of the whole scene (bounded memory)."""
        with open_raster(pan_path) as pan_ds:
            pan_grid = Grid(pan_ds.crs, pan_ds.transform, (pan_ds.height, pan_ds.width))
        with open_raster(ms_path) as ms_ds:
            self.ratio = abs(ms_ds.transform.a) / abs(pan_grid.transform.a)
            n = min(sample_px, ms_ds.height, ms_ds.width)
        # a coarse common grid over the pan extent at the MS resolution or coarser
        res = max(pan_grid.res[0] * self.ratio, (pan_grid.bounds[2] - pan_grid.bounds[0]) / n)
        sample = Grid.from_bounds(pan_grid.crs, pan_grid.bounds, res)
        ms = read_on_grid(ms_path, sample, resampling=Resampling.average).reshape(
            -1, sample.height * sample.width
        )
        pan = read_on_grid(pan_path, sample, bands=1, resampling=Resampling.average).ravel()
        ok = np.isfinite(pan) & np.all(np.isfinite(ms), axis=0)
        if ok.sum() < 10:
            raise ConfigError(f"{pan_path}: pan and MS share too few valid pixels to fit pan-sharpening")
        if self.method == "brovey":
            w, *_ = np.linalg.lstsq(ms[:, ok].T, pan[ok], rcond=None)
            self.weights = np.clip(w, 0, None)
            if self.weights.sum() <= 0:
                self.weights = np.full(ms.shape[0], 1.0 / ms.shape[0])
        elif self.method == "hpf":
            self.gains = ms[:, ok].std(axis=1) / max(pan[ok].std(), 1e-6)
        return self

    def apply(self, ms_up: np.ndarray, pan: np.ndarray) -> np.ndarray:
        """Sharpen MS already resampled (bilinear) onto the pan window: (bands, rows, cols) → same shape."""
        if self.method == "none":
            return ms_up
        if self.method == "brovey":
            intensity = np.tensordot(self.weights, ms_up, axes=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                scale = np.where(intensity > 1e-4, pan / intensity, 1.0)
            return (ms_up * scale).astype("float32")
        sigma = max(self.ratio / 2.0, 0.5)
        low = _nan_gaussian(pan, sigma)
        detail = pan - low
        return (ms_up + self.gains[:, None, None] * detail).astype("float32")


def _nan_gaussian(a: np.ndarray, sigma: float) -> np.ndarray:
    valid = np.isfinite(a)
    num = ndimage.gaussian_filter(np.where(valid, a, 0.0), sigma)
    den = ndimage.gaussian_filter(valid.astype("float64"), sigma)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(valid, num / den, np.nan)


def ergas(reference: np.ndarray, fused: np.ndarray, ratio: float) -> float:
    """ERGAS (Wald 2000): 100/ratio · √(mean_b (RMSE_b/μ_b)²); 0 is perfect. ``ratio`` = MS/pan pixel sizes."""
    ok = np.all(np.isfinite(reference), axis=0) & np.all(np.isfinite(fused), axis=0)
    terms = [
        np.mean((reference[b][ok] - fused[b][ok]) ** 2) / np.mean(reference[b][ok]) ** 2
        for b in range(reference.shape[0])
    ]
    return float(100.0 / ratio * np.sqrt(np.mean(terms)))


def sam_deg(reference: np.ndarray, fused: np.ndarray) -> float:
    """Mean spectral angle (degrees) between reference and fused pixel spectra; 0 is perfect."""
    ok = np.all(np.isfinite(reference), axis=0) & np.all(np.isfinite(fused), axis=0)
    r, f = reference[:, ok], fused[:, ok]
    cos = (r * f).sum(0) / np.maximum(np.linalg.norm(r, axis=0) * np.linalg.norm(f, axis=0), 1e-12)
    return float(np.degrees(np.arccos(np.clip(cos, -1, 1))).mean())
