"""The feature stack: every input co-registered onto the primary grid, window by window.

``stack.tif`` holds the configured channels (float32, band descriptions = channel names, NaN nodata):

- ``blue, green, red, nir``: pan-sharpened multispectral reflectance (:mod:`.pansharpen`), gap-filled from
  Sentinel-2 (B2, B3, B4, B8) where the primary image is missing or cloudy and Sentinel-2 is clear;
- ``lst``: Landsat land-surface temperature in K (:mod:`.thermal`), from DNs resampled bilinearly onto the
  window (DN fill 0 excluded);
- ``slope``: degrees, from the DEM on its own metric grid (:func:`glacierinv.dem.terrain.slope_on_grid`);
- optional: ``pan``, ``swir`` (S2 B11), ``ndsi`` (green/SWIR), ``ndwi`` (green/NIR), ``ndvi``, ``elevation`` (m).

``source.tif`` (uint8): 1 primary image, 2 Sentinel-2 fill, 0 none. ``masks.tif`` (uint8 bands ``cloud``,
``shadow``) flags the primary image: clouds are bright and spectrally flat in VNIR (NIR/red ≈ 1, unlike
snow ≈ 0.9 and ice ≈ 0.7)
(the Sentinel-2 scene is another acquisition, so its SWIR cannot test the primary image's clouds);
terrain shadow is dark (VIS mean < 0.12) on slopes facing away from the sun (hillshade < 0.35).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from rasterio.enums import Resampling

from glacierinv.config import RunConfig
from glacierinv.dem.terrain import hillshade, slope_on_grid
from glacierinv.errors import ConfigError, InputError
from glacierinv.io.grid import Grid
from glacierinv.io.raster import (
    RasterWriter,
    band_index,
    iter_windows,
    open_raster,
    raster_grid,
    read_on_grid,
    read_window,
)
from glacierinv.preprocess.indices import ndsi, ndvi, ndwi
from glacierinv.preprocess.landsat import read_mtl
from glacierinv.preprocess.pansharpen import PanSharpener
from glacierinv.preprocess.thermal import lst_from_dn

__all__ = ["KNOWN_CHANNELS", "StackResult", "build_feature_stack"]

log = logging.getLogger(__name__)

OPTICAL = ("blue", "green", "red", "nir")
S2_BANDS = {"blue": "B2", "green": "B3", "red": "B4", "nir": "B8", "swir": "B11"}
KNOWN_CHANNELS = (*OPTICAL, "pan", "swir", "lst", "slope", "elevation", "ndsi", "ndwi", "ndvi")
# cloud / shadow thresholds (reflectance, ratios, illumination)
CLOUD_VIS_MIN = 0.55
CLOUD_FLATNESS = 0.06  # |NIR/red − 1| below this is spectrally flat
SHADOW_VIS_MAX = 0.12
SHADOW_HILLSHADE_MAX = 0.35
SUN_DEFAULT = (135.0, 45.0)  # azimuth, elevation (deg) when no Landsat MTL gives the scene geometry


@dataclass
class StackResult:
    """Paths and figures of a built stack."""

    stack: str
    source: str
    masks: str
    channels: list[str]
    shape: tuple[int, int]
    pixel_m: float
    cloud_fraction: float
    shadow_fraction: float
    s2_fill_fraction: float

    def summary(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k not in ("stack", "source", "masks")}


def _require(cfg: RunConfig, key: str, channel: str) -> Path:
    p = cfg.input_path(key, required=False)
    if p is None:
        raise ConfigError(
            f"config: channel '{channel}' needs [inputs] {key}. Add `{key} = \"PATH\"` or drop the channel."
        )
    return p


def build_feature_stack(
    cfg: RunConfig,
    out_dir: str | Path,
    *,
    block_px: int | None = None,
    progress: Callable[[float], None] | None = None,
) -> StackResult:
    """Build ``stack.tif``, ``source.tif`` and ``masks.tif`` in ``out_dir`` on the primary grid."""
    channels = list(cfg.stack.channels)
    unknown = [c for c in channels if c not in KNOWN_CHANNELS]
    if unknown:
        raise ConfigError(
            f"config: unknown channel(s) {', '.join(unknown)} in [stack] channels; known: {', '.join(KNOWN_CHANNELS)}"
        )
    out = Path(out_dir)
    pan = cfg.input_path("pan", required=False)
    ms = cfg.input_path("ms", required=False)
    s2 = cfg.input_path("s2", required=False)
    s2_cloud = cfg.input_path("s2_cloud_mask", required=False)
    dem = cfg.input_path("dem")
    primary = pan or ms or s2
    if primary is None:
        raise ConfigError("config: [inputs] needs pan, ms or s2 to define the primary grid")
    grid = raster_grid(primary)
    if not grid.is_metric:
        raise InputError(
            "primary image is not in a projected (metric) CRS", primary, "Reproject it to UTM first"
        )
    if cfg.stack.resolution_m:
        grid = Grid.from_bounds(grid.crs, grid.bounds, cfg.stack.resolution_m)
    sharpener = PanSharpener(cfg.stack.pansharpen).fit(ms, pan) if (ms and pan) else None
    mtl = read_mtl(_require(cfg, "landsat_mtl", "lst")) if "lst" in channels else None
    landsat = None
    if mtl is not None:
        red_b, nir_b = mtl.red_nir_bands
        landsat = {
            "thermal": mtl.band_path(mtl.thermal_band),
            "red": mtl.band_path(red_b),
            "nir": mtl.band_path(nir_b),
        }
    s2_index = _s2_bands(s2) if s2 else {}
    sun = (mtl.sun_azimuth_deg, mtl.sun_elevation_deg) if mtl is not None else SUN_DEFAULT
    block = block_px or cfg.runtime.block_px
    counts = np.zeros(4)  # valid, cloud, shadow, s2 filled
    windows = list(iter_windows(grid, block=block))
    with (
        RasterWriter(out / "stack.tif", grid, len(channels), "float32", descriptions=channels) as w_stack,
        RasterWriter(out / "source.tif", grid, 1, "uint8", 255, descriptions=["source"]) as w_source,
        RasterWriter(out / "masks.tif", grid, 2, "uint8", 255, descriptions=["cloud", "shadow"]) as w_masks,
    ):
        for i, (_, win) in enumerate(windows):
            layers, source, cloud, shadow = _window(
                grid, win, channels, pan=pan, ms=ms, s2=s2, s2_cloud=s2_cloud, s2_index=s2_index, dem=dem,
                sharpener=sharpener, mtl=mtl, landsat=landsat, sun=sun,
            )  # fmt: skip
            w_stack.write(np.stack([layers[c] for c in channels]).astype("float32"), win)
            w_source.write(source, win)
            w_masks.write(np.stack([cloud, shadow]).astype("uint8"), win)
            valid = source > 0
            counts += [valid.sum(), (cloud == 1).sum(), (shadow == 1).sum(), (source == 2).sum()]
            if progress:
                progress((i + 1) / len(windows))
    n = max(counts[0], 1)
    return StackResult(
        str(out / "stack.tif"), str(out / "source.tif"), str(out / "masks.tif"), channels, grid.shape,
        float(grid.res[0]), float(counts[1] / n), float(counts[2] / n), float(counts[3] / n),
    )  # fmt: skip


def _s2_bands(path: Path) -> dict[str, int]:
    with open_raster(path) as ds:
        return {role: band_index(ds, name) for role, name in S2_BANDS.items()}


def _window(grid, win, channels, *, pan, ms, s2, s2_cloud, s2_index, dem, sharpener, mtl, landsat, sun):
    wgrid = grid.window_grid(win)
    shape = wgrid.shape
    layers: dict[str, np.ndarray] = {}
    optical = None
    pan_arr = None
    if pan is not None:
        pan_arr = (
            read_on_grid(pan, grid, window=win, bands=1)
            if raster_grid(pan) != grid
            else read_window(pan, win, 1)
        )
    if ms is not None:
        with open_raster(ms) as ds:
            idx = [band_index(ds, b) for b in OPTICAL]
        ms_up = read_on_grid(ms, grid, window=win, bands=idx)
        optical = (
            sharpener.apply(ms_up, pan_arr) if (sharpener is not None and pan_arr is not None) else ms_up
        )
    s2_arr = s2_clear = None
    if s2 is not None:
        s2_arr = read_on_grid(s2, grid, window=win, bands=[s2_index[r] for r in (*OPTICAL, "swir")])
        s2_clear = np.all(np.isfinite(s2_arr), axis=0)
        if s2_cloud is not None:
            cm = read_on_grid(s2_cloud, grid, window=win, bands=1, resampling=Resampling.nearest)
            s2_clear &= cm == 0
        if optical is None:
            optical = s2_arr[:4].copy()
    if optical is None:
        raise ConfigError("config: no optical input (ms or s2) for the optical channels")
    source = np.where(np.all(np.isfinite(optical), axis=0), 1, 0).astype("uint8")
    cloud = _cloud_mask(optical)
    if s2_arr is not None:
        fill = ((source == 0) | cloud) & s2_clear
        optical[:, fill] = s2_arr[:4, fill]
        source[fill] = 2
    for b, name in enumerate(OPTICAL):
        layers[name] = optical[b]
    elevation = read_on_grid(dem, grid, window=win, bands=1)  # also needed for the shadow mask
    shade = hillshade(elevation, wgrid.res[0], *sun)
    vis = optical[:3].mean(axis=0)
    shadow = (vis < SHADOW_VIS_MAX) & (shade < SHADOW_HILLSHADE_MAX)
    if "slope" in channels:
        layers["slope"] = slope_on_grid(dem, grid, win)
    layers["elevation"] = elevation
    if "pan" in channels:
        if pan_arr is None:
            raise ConfigError("config: channel 'pan' needs [inputs] pan")
        layers["pan"] = pan_arr
    if any(c in channels for c in ("swir", "ndsi")):
        if s2_arr is None:
            raise ConfigError("config: channels 'swir'/'ndsi' need [inputs] s2 (Sentinel-2 B11)")
        layers["swir"] = s2_arr[4]
        layers["ndsi"] = ndsi(optical[1], s2_arr[4])
    layers["ndwi"] = ndwi(optical[1], optical[3])
    layers["ndvi"] = ndvi(optical[2], optical[3])
    if mtl is not None:
        dn = {k: read_on_grid(p, grid, window=win, bands=1, src_nodata=0) for k, p in landsat.items()}
        dn = {k: np.where(np.isfinite(v), v, 0) for k, v in dn.items()}
        lst, _ = lst_from_dn(mtl, dn["thermal"], dn["red"], dn["nir"])
        layers["lst"] = lst.astype("float32")
    invalid = np.zeros(shape, bool)
    for c in channels:
        invalid |= ~np.isfinite(layers[c])
    source[invalid] = 0
    for c in channels:
        layers[c] = np.where(invalid, np.nan, layers[c])
    nodata = source == 0
    cloud_u8 = np.where(nodata, 255, cloud).astype("uint8")
    shadow_u8 = np.where(nodata, 255, shadow).astype("uint8")
    return layers, source, cloud_u8, shadow_u8


def _cloud_mask(optical: np.ndarray) -> np.ndarray:
    """Bright and spectrally flat in VNIR (clouds); snow and ice are darker in NIR than in red."""
    vis = optical[:3].mean(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        flat = np.abs(optical[3] / optical[2] - 1.0) < CLOUD_FLATNESS
    return (vis > CLOUD_VIS_MIN) & flat
