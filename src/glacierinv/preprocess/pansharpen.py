"""Pan-sharpening of multispectral bands onto the panchromatic grid, window by window.

All methods share one small interface, :class:`PanSharpener`: ``fit`` scene-wide statistics once on a
decimated read (bounded memory), then ``apply`` to windows of MS already resampled (bilinear) onto the pan
grid. Statistics are never per window, so tiles show no seams; :attr:`PanSharpener.margin_px` says how
many pan pixels of context a window needs (the high-pass filter).

Methods (``MS_b`` upsampled MS band, ``P`` pan, ``I = Σ w_b·MS_b + w_0`` the intensity fitted by least
squares of the pan degraded to the MS resolution on the MS bands, so I matches the pan's spectral
response):

- ``brovey`` (Gillespie et al. 1987): ``MS_b · P / I`` — ratio method, preserves band ratios (spectral
  angle) exactly, changes radiometry where P and I differ;
- ``gram_schmidt`` (component substitution, Laben & Brower 2000, GS-A variant of Aiazzi et al. 2007):
  ``MS_b + g_b · (P' − I)`` with ``g_b = cov(MS_b, I) / var(I)`` and P' the pan histogram-matched
  (mean/std) to I;
- ``hpf`` (high-pass filter injection, Chavez et al. 1991; Gangkofner et al. 2008):
  ``MS_b + g_b · (P − G_σ * P)``, a Gaussian low-pass with σ = ratio/2 pan pixels, gains
  ``g_b = cov(MS_b, P_low) / var(P_low)`` at MS resolution;
- ``none``: bilinear upsampling only.

Quality by Wald's protocol (:func:`wald_protocol`): MS and pan are degraded by the resolution ratio, the
degraded MS is sharpened with the degraded pan, and the result is compared with the original MS by
:func:`ergas` (Wald 2000; 0 is perfect) and :func:`sam_deg` (mean spectral angle; 0 is perfect).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from affine import Affine
from rasterio.enums import Resampling
from rasterio.warp import reproject
from scipy import ndimage

from glacierinv.errors import ConfigError, InputError
from glacierinv.io.grid import Grid
from glacierinv.io.raster import (
    RasterWriter,
    check_overlap,
    core_slice,
    iter_windows,
    open_raster,
    read_on_grid,
    read_window,
)

__all__ = ["METHODS", "PanSharpener", "ergas", "pansharpen_file", "sam_deg", "wald_protocol"]

log = logging.getLogger(__name__)

METHODS = ("brovey", "gram_schmidt", "hpf", "none")


@dataclass
class PanSharpener:
    """Scene-wide pan-sharpening model; ``fit`` (or ``fit_arrays``) once, ``apply`` per window.

    Parameters
    ----------
    method : {"brovey", "gram_schmidt", "hpf", "none"}
    """

    method: str = "brovey"
    weights: np.ndarray | None = None  # intensity weights per MS band, then the intercept
    gains: np.ndarray | None = None  # injection gains per band (gram_schmidt, hpf)
    pan_match: tuple[float, float] = (1.0, 0.0)  # P' = a·P + b (gram_schmidt)
    ratio: float = 1.0  # MS pixel size / pan pixel size
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(
                f"unknown pan-sharpening method '{self.method}'; methods are: {', '.join(METHODS)}"
            )

    @property
    def sigma_px(self) -> float:
        """σ of the HPF Gaussian low-pass in pan pixels."""
        return max(self.ratio / 2.0, 0.5)

    @property
    def margin_px(self) -> int:
        """Pan pixels of context a window needs on each side (0 for pixel-wise methods)."""
        return int(math.ceil(4 * self.sigma_px)) + 1 if self.method == "hpf" else 0

    def fit(
        self,
        ms_path: str | Path,
        pan_path: str | Path,
        sample_px: int = 512,
        *,
        bands: list[int] | None = None,
    ) -> PanSharpener:
        """Fit on a decimated sample of the whole scene (≤ ``sample_px`` per side; bounded memory).

        ``bands``: the 1-based MS bands to sharpen (default all), in the order :meth:`apply` receives them.
        """
        with open_raster(pan_path) as pan_ds:
            pan_grid = Grid(pan_ds.crs, pan_ds.transform, (pan_ds.height, pan_ds.width))
        with open_raster(ms_path) as ms_ds:
            ratio = abs(ms_ds.transform.a) / abs(pan_grid.transform.a)
        n = max(pan_grid.width, pan_grid.height) / ratio
        res = pan_grid.res[0] * ratio * max(1.0, n / sample_px)  # the MS resolution, or coarser
        sample = Grid.from_bounds(pan_grid.crs, pan_grid.bounds, res)
        ms = read_on_grid(ms_path, sample, bands=bands, resampling=Resampling.average)
        pan = read_on_grid(pan_path, sample, bands=1, resampling=Resampling.average)
        return self.fit_arrays(ms, pan, ratio, source=str(pan_path))

    def fit_arrays(
        self, ms_low: np.ndarray, pan_low: np.ndarray, ratio: float, source: str = "pan"
    ) -> PanSharpener:
        """Fit on co-located MS (bands, rows, cols) and pan (rows, cols) at the MS resolution."""
        self.ratio = float(ratio)
        if self.method == "none":
            return self
        ms = ms_low.reshape(ms_low.shape[0], -1).astype("float64")
        pan = pan_low.ravel().astype("float64")
        ok = np.isfinite(pan) & np.all(np.isfinite(ms), axis=0)
        if ok.sum() < 10:
            raise InputError(
                "pan and MS share too few valid pixels to fit pan-sharpening",
                source,
                "Check that pan and MS cover the same area",
            )
        ms, pan = ms[:, ok], pan[ok]
        design = np.vstack([ms, np.ones_like(pan)]).T
        w, *_ = np.linalg.lstsq(design, pan, rcond=None)
        if self.method == "brovey":
            wb = np.clip(w[:-1], 0, None)
            if wb.sum() <= 0:
                wb = np.full(ms.shape[0], 1.0 / ms.shape[0])
            # refit the scale of the non-negative weights (no intercept: Brovey is a ratio)
            i0 = wb @ ms
            wb *= float(pan @ i0) / max(float(i0 @ i0), 1e-12)
            self.weights = np.append(wb, 0.0)
        elif self.method == "gram_schmidt":
            self.weights = w
            intensity = w[:-1] @ ms + w[-1]
            var_i = max(float(intensity.var()), 1e-12)
            self.gains = np.array([np.cov(b, intensity)[0, 1] / var_i for b in ms])
            a = intensity.std() / max(float(pan.std()), 1e-12)
            self.pan_match = (float(a), float(intensity.mean() - a * pan.mean()))
        elif self.method == "hpf":
            var_p = max(float(pan.var()), 1e-12)
            self.gains = np.array([np.cov(b, pan)[0, 1] / var_p for b in ms])
        return self

    def apply(self, ms_up: np.ndarray, pan: np.ndarray) -> np.ndarray:
        """Sharpen MS resampled onto a pan window: (bands, rows, cols) → same shape, float32.

        For ``hpf`` the window should carry :attr:`margin_px` pixels of context (cut off afterwards).
        """
        if self.method == "none":
            return ms_up.astype("float32")
        if self.weights is None and self.gains is None:
            raise RuntimeError("PanSharpener.apply called before fit")
        if self.method == "brovey":
            intensity = np.tensordot(self.weights[:-1], ms_up, axes=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                scale = np.where(intensity > 1e-6, pan / intensity, 1.0)
            return (ms_up * scale).astype("float32")
        if self.method == "gram_schmidt":
            intensity = np.tensordot(self.weights[:-1], ms_up, axes=1) + self.weights[-1]
            detail = self.pan_match[0] * pan + self.pan_match[1] - intensity
        else:
            detail = pan - _nan_gaussian(pan, self.sigma_px)
        fused = ms_up + self.gains[:, None, None] * detail[None]
        # injected detail can push dark pixels below zero; reflectance is non-negative (NaN stays NaN)
        return np.where(fused < 0, 0.0, fused).astype("float32")


def _nan_gaussian(a: np.ndarray, sigma: float) -> np.ndarray:
    """NaN-aware Gaussian low-pass (normalised convolution)."""
    valid = np.isfinite(a)
    num = ndimage.gaussian_filter(np.where(valid, a, 0.0).astype("float64"), sigma, mode="nearest")
    den = ndimage.gaussian_filter(valid.astype("float64"), sigma, mode="nearest")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(valid, num / den, np.nan)


def pansharpen_file(
    ms_path: str | Path,
    pan_path: str | Path,
    out_path: str | Path,
    method: str = "brovey",
    *,
    block_px: int = 1024,
    band_names: list[str] | None = None,
) -> Path:
    """Pan-sharpen a multispectral raster onto the pan grid, window by window; write a float32 GeoTIFF.

    Bands keep their descriptions (or ``band_names``); NaN is nodata. Written atomically.
    """
    with open_raster(pan_path) as ds:
        grid = Grid(ds.crs, ds.transform, (ds.height, ds.width))
        if ds.count != 1:
            raise InputError(f"pan has {ds.count} bands, expected 1", pan_path, "Give the panchromatic band")
    with open_raster(ms_path) as ds:
        check_overlap(ds, grid, ms_path)
        count = ds.count
        names = band_names or [d or f"band{i + 1}" for i, d in enumerate(ds.descriptions)]
    if len(names) != count:
        raise InputError(f"{count} MS bands but {len(names)} band names", ms_path)
    sharpener = PanSharpener(method).fit(ms_path, pan_path)
    margin = sharpener.margin_px
    with RasterWriter(out_path, grid, count, "float32", descriptions=names) as writer:
        for read, core in iter_windows(grid, block=block_px, overlap=margin):
            ms_up = read_on_grid(ms_path, grid, read, require_overlap=False)
            pan = read_window(pan_path, read, 1)
            fused = sharpener.apply(ms_up, pan)
            rs, cs = core_slice(read, core)
            writer.write(fused[:, rs, cs], core)
    return Path(out_path)


def ergas(reference: np.ndarray, fused: np.ndarray, ratio: float) -> float:
    """ERGAS (Wald 2000): ``100 / ratio · √(mean_b (RMSE_b / μ_b)²)``; 0 is perfect.

    ``ratio`` = MS pixel size / pan pixel size (e.g. 2 for Landsat 30 m / 15 m).
    """
    ok = np.all(np.isfinite(reference), axis=0) & np.all(np.isfinite(fused), axis=0)
    terms = [
        np.mean((reference[b][ok] - fused[b][ok]) ** 2) / np.mean(reference[b][ok]) ** 2
        for b in range(reference.shape[0])
    ]
    return float(100.0 / ratio * np.sqrt(np.mean(terms)))


def sam_deg(reference: np.ndarray, fused: np.ndarray) -> float:
    """Mean spectral angle (degrees) between reference and fused pixel spectra; 0 is perfect."""
    ok = np.all(np.isfinite(reference), axis=0) & np.all(np.isfinite(fused), axis=0)
    r, f = reference[:, ok].astype("float64"), fused[:, ok].astype("float64")
    cos = (r * f).sum(0) / np.maximum(np.linalg.norm(r, axis=0) * np.linalg.norm(f, axis=0), 1e-12)
    return float(np.degrees(np.arccos(np.clip(cos, -1, 1))).mean())


def _resample(arr: np.ndarray, src: Grid, dst: Grid, how: Resampling) -> np.ndarray:
    out = np.full((arr.shape[0], *dst.shape), np.nan, "float32")
    reproject(
        arr.astype("float32"), out, src_transform=src.transform, src_crs=src.crs, src_nodata=np.nan,
        dst_transform=dst.transform, dst_crs=dst.crs, dst_nodata=np.nan, resampling=how,
    )  # fmt: skip
    return out


def wald_protocol(
    ms: np.ndarray, ms_grid: Grid, pan: np.ndarray, pan_grid: Grid, method: str
) -> dict[str, float]:
    """ERGAS and SAM of ``method`` by Wald's protocol on in-memory arrays (small scenes only).

    MS (bands, rows, cols) and pan are degraded by the ratio r = MS/pan pixel size (pixel averaging):
    MS to r × its pixel size, pan to the MS pixel size. The degraded MS is sharpened with the degraded pan
    (a fit on the degraded pair), and compared with the original MS. Also returns the figures of plain
    bilinear upsampling as the no-sharpening reference. Refuses inputs over 16 Mpx.
    """
    if ms.shape[-1] * ms.shape[-2] > 16_000_000:
        raise InputError("scene too large for the in-memory Wald protocol", None, "Use a crop")
    ratio = ms_grid.res[0] / pan_grid.res[0]
    r = int(math.ceil(ratio))
    h, w = int(ms.shape[1] // ratio * ratio), int(ms.shape[2] // ratio * ratio)
    ms = ms[:, :h, :w]
    ms_grid = Grid(ms_grid.crs, ms_grid.transform, (h, w))
    low_grid = Grid(ms_grid.crs, ms_grid.transform @ Affine.scale(ratio), (int(h // ratio), int(w // ratio)))
    ms_low = _resample(ms, ms_grid, low_grid, Resampling.average)
    pan_ms = _resample(pan[None], pan_grid, ms_grid, Resampling.average)[0]
    pan_low = _resample(pan[None], pan_grid, low_grid, Resampling.average)[0]
    ms_up = _resample(ms_low, low_grid, ms_grid, Resampling.bilinear)
    sharpener = PanSharpener(method).fit_arrays(ms_low, pan_low, ratio)
    m = sharpener.margin_px
    fused = sharpener.apply(ms_up, pan_ms)
    inner = (slice(None), slice(r + m, h - r - m), slice(r + m, w - r - m))  # skip resampling edges
    return {
        "method": method,
        "ratio": ratio,
        "ergas": ergas(ms[inner], fused[inner], ratio),
        "sam_deg": sam_deg(ms[inner], fused[inner]),
        "ergas_bilinear": ergas(ms[inner], ms_up[inner], ratio),
        "sam_deg_bilinear": sam_deg(ms[inner], ms_up[inner]),
    }
