"""The feature stack: every input co-registered onto the primary grid, window by window.

``stack.tif`` holds the configured channels (float32, band descriptions = channel names, NaN nodata):

- ``blue, green, red, nir``: pan-sharpened multispectral reflectance (:mod:`.pansharpen`), gap-filled from
  Sentinel-2 (B2, B3, B4, B8) where the primary image is missing or cloudy and Sentinel-2 is clear;
- ``lst``: Landsat land-surface temperature in K (:mod:`.thermal`), from DNs resampled bilinearly onto the
  window (DN fill 0 excluded);
- ``slope``: degrees, from the DEM on its own metric grid (:func:`glacierinv.dem.terrain.slope_on_grid`);
- optional: ``pan``, ``swir`` (S2 B11), ``ndsi`` (S2 green/SWIR, Dozier 1989), ``ndwi`` (green/NIR,
  McFeeters 1996), ``ndvi``, ``elevation``/``dem`` (m).

Windows are processed with an overlap margin (the HPF pan-sharpening kernel, the hillshade's 3×3 kernel)
and only their cores are written, so a tiled stack equals an untiled one.

``source.tif`` (uint8): 1 primary image, 2 Sentinel-2 fill, 0 none. ``masks.tif`` (uint8 bands ``cloud``,
``shadow``) flags the primary image: clouds are bright and spectrally flat in VNIR (NIR/red ≈ 1, unlike
snow ≈ 0.9 and ice ≈ 0.7)
(the Sentinel-2 scene is another acquisition, so its SWIR cannot test the primary image's clouds);
terrain shadow is dark (VIS mean < 0.12) on slopes facing away from the sun (hillshade < 0.35).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import rasterio
from rasterio.windows import Window
from scipy import ndimage

from glacierinv.config import RunConfig
from glacierinv.dem.terrain import cast_shadow_to_grid, check_dem_units, hillshade, slope_on_grid
from glacierinv.errors import ConfigError, InputError
from glacierinv.io.grid import Grid
from glacierinv.io.raster import (
    RasterWriter,
    band_index,
    check_overlap,
    core_slice,
    iter_windows,
    open_raster,
    raster_grid,
    read_on_grid,
)
from glacierinv.preprocess.indices import NDSI_SNOW, ndsi, ndvi, ndwi
from glacierinv.preprocess.landsat import read_mtl
from glacierinv.preprocess.pansharpen import PanSharpener
from glacierinv.preprocess.sentinel2 import Sentinel2, cloud_mask_on_grid, mask_kind, open_sentinel2
from glacierinv.preprocess.thermal import lst_from_dn

__all__ = ["CHANNEL_INPUTS", "KNOWN_CHANNELS", "StackResult", "build_feature_stack", "check_channels"]

log = logging.getLogger(__name__)

OPTICAL = ("blue", "green", "red", "nir")
GDAL_CACHE_MB = 256
KNOWN_CHANNELS = (*OPTICAL, "pan", "swir", "lst", "slope", "elevation", "dem", "ndsi", "ndwi", "ndvi")
# cloud / shadow thresholds (reflectance, ratios, illumination)
CLOUD_VIS_MIN = 0.55
CLOUD_FLATNESS = 0.06  # |NIR/red − 1| below this is spectrally flat
CLOUD_EDGE_VIS_MIN = 0.35  # thin cloud edges grown from the cores: moderately bright …
CLOUD_EDGE_FLATNESS = 0.08  # … and still flat in VNIR
CLOUD_GROW_M = 40.0  # how far cores grow into their edges, metres
CLOUD_SNOW_NDSI = NDSI_SNOW  # NDSI above this is snow/ice (Dozier 1989), never cloud
SHADOW_VIS_MAX = 0.12
SHADOW_HILLSHADE_MAX = 0.35
SHADOW_MAX_DISTANCE_M = 1500.0  # how far cast shadows are traced towards the sun
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
    shifts_m: dict = field(default_factory=dict)  # co-registration shifts applied (east, north metres)

    def summary(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k not in ("stack", "source", "masks")}


# channel → the [inputs] keys it needs (any one of them)
CHANNEL_INPUTS: dict[str, tuple[str, ...]] = {
    **{c: ("ms", "s2") for c in OPTICAL},
    "pan": ("pan",),
    "swir": ("s2",),
    "ndsi": ("s2",),
    "ndwi": ("ms", "s2"),
    "ndvi": ("ms", "s2"),
    "lst": ("landsat_mtl",),
    "slope": ("dem",),
    "elevation": ("dem",),
    "dem": ("dem",),
}


def check_channels(cfg: RunConfig) -> list[str]:
    """Validate ``[stack] channels`` against the known names and the configured inputs.

    Raises :class:`ConfigError` listing the known channels for an unknown name, or naming the ``[inputs]``
    key to add when a channel's input is missing. Returns the channel list.
    """
    channels = list(cfg.stack.channels)
    if not channels:
        raise ConfigError(f"config: [stack] channels is empty; known: {', '.join(KNOWN_CHANNELS)}")
    unknown = [c for c in channels if c not in KNOWN_CHANNELS]
    if unknown:
        raise ConfigError(
            f"config: unknown channel(s) {', '.join(unknown)} in [stack] channels; "
            f"known: {', '.join(KNOWN_CHANNELS)}"
        )
    if len(set(channels)) != len(channels):
        raise ConfigError("config: [stack] channels lists a channel twice")
    for c in channels:
        keys = CHANNEL_INPUTS[c]
        if all(getattr(cfg.inputs, k, None) is None for k in keys):
            raise ConfigError(
                f"config: channel '{c}' needs [inputs] {' or '.join(keys)}. "
                f'Add `{keys[0]} = "PATH"` under [inputs] or drop the channel from [stack] channels.'
            )
    return channels


def build_feature_stack(
    cfg: RunConfig,
    out_dir: str | Path,
    *,
    block_px: int | None = None,
    progress: Callable[[float], None] | None = None,
    window: Window | tuple[int, int, int, int] | None = None,
) -> StackResult:
    """Build ``stack.tif``, ``source.tif`` and ``masks.tif`` in ``out_dir`` on the primary grid.

    Parameters
    ----------
    cfg : RunConfig
        Inputs (``[inputs]``) and channels (``[stack] channels``, ``pansharpen``, ``resolution_m``).
    out_dir : path
        Folder to write into; each file appears atomically (never half-written).
    block_px : int, optional
        Window size in pixels (default ``[runtime] block_px``); memory is bounded by it.
    progress : callable, optional
        Called with the finished fraction (0–1) after each window.
    window : rasterio Window or (col_off, row_off, width, height), optional
        Build only this window of the primary grid (a tile). Scene-wide statistics (pan-sharpening fit)
        still come from the whole input files, so tiles of one scene match an untiled build exactly.

    Returns
    -------
    StackResult
        Paths and figures (cloud, shadow and Sentinel-2 fill fractions of the valid pixels).
    """
    channels = check_channels(cfg)
    # bound GDAL's block cache so memory does not grow with the scene (default: 5 % of RAM)
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB):
        return _build(cfg, channels, Path(out_dir), block_px, progress, window)


def _build(cfg: RunConfig, channels: list[str], out: Path, block_px, progress, window=None) -> StackResult:
    pan = cfg.input_path("pan", required=False)
    ms = cfg.input_path("ms", required=False)
    s2_path = cfg.input_path("s2", required=False)
    s2_cloud = cfg.input_path("s2_cloud_mask", required=False)
    primary_cloud = cfg.input_path("primary_cloud_mask", required=False)
    dem = cfg.input_path("dem")
    primary = pan or ms or s2_path
    if primary is None:
        raise ConfigError("config: [inputs] needs pan, ms or s2 to define the primary grid")
    s2 = open_sentinel2(s2_path) if s2_path else None
    grid = raster_grid(primary) if primary != s2_path else _s2_grid(s2)
    if not grid.is_metric:
        raise InputError(
            "primary image is not in a projected (metric) CRS", primary, "Reproject it to UTM first"
        )
    if cfg.stack.resolution_m:
        grid = Grid.from_bounds(grid.crs, grid.bounds, cfg.stack.resolution_m)
    if window is not None:
        win = window if isinstance(window, Window) else Window(*window)
        win = win.intersection(Window(0, 0, grid.width, grid.height))
        grid = grid.window_grid(win)
    check_dem_units(dem)  # a decimated read: feet or decimetres are refused before any work
    s2_files = [path for path, _ in s2.bands.values()] if s2 else []
    for p in (ms, dem, s2_cloud, primary_cloud, *s2_files):
        if p is not None and p != primary:
            with open_raster(p) as ds:
                check_overlap(ds, grid, p)
    ms_idx = None
    ms_swir_idx = None
    if ms is not None:
        with open_raster(ms) as ds:
            ms_idx = [band_index(ds, b) for b in OPTICAL]
            names = [(d or "").lower() for d in ds.descriptions]
            ms_swir_idx = names.index("swir") + 1 if "swir" in names else None
    ms_grid = s2_grid = grid
    shifts: dict[str, dict] = {}
    if cfg.stack.coregister:
        from glacierinv.preprocess.align import estimate_shift, shifted_grid

        if ms is not None and pan is not None and pan != ms:
            sh = estimate_shift(pan, ms, grid, moving_bands=ms_idx)
            shifts["ms"] = _shift_record(sh, "ms")
            if shifts["ms"]["applied"]:
                ms_grid = shifted_grid(grid, sh.dx_m, sh.dy_m)
        if s2 is not None and primary != s2_path:
            ref_bands = 1 if pan is not None else ms_idx[2]
            s2_red, s2_red_idx = s2.require("red")
            sh = estimate_shift(pan or ms, s2_red, grid, reference_bands=ref_bands, moving_bands=s2_red_idx)
            shifts["s2"] = _shift_record(sh, "s2")
            if shifts["s2"]["applied"]:
                s2_grid = shifted_grid(grid, sh.dx_m, sh.dy_m)
    sharpener = PanSharpener(cfg.stack.pansharpen).fit(ms, pan) if (ms and pan and pan != ms) else None
    mtl_path = cfg.input_path("landsat_mtl", required=False)
    mtl = read_mtl(mtl_path) if mtl_path is not None else None  # also gives the sun position (shadows)
    landsat = None
    if mtl is not None and "lst" in channels:
        landsat = mtl.lst_band_paths()
        for p in landsat.values():
            with open_raster(p) as ds:
                check_overlap(ds, grid, p)
    sun = (mtl.sun_azimuth_deg, mtl.sun_elevation_deg) if mtl is not None else SUN_DEFAULT
    ctx = _Context(
        grid=grid, ms_grid=ms_grid, s2_grid=s2_grid, channels=channels, pan=pan, pan_is_primary=pan == primary and cfg.stack.resolution_m is None,
        ms=ms, ms_idx=ms_idx, ms_swir_idx=ms_swir_idx, s2=s2, s2_cloud=s2_cloud,
        s2_cloud_kind=mask_kind(s2_cloud) if s2_cloud else None, cloud_grow_px=int(np.ceil(CLOUD_GROW_M / min(grid.res))),
        primary_cloud=primary_cloud, dem=dem, sharpener=sharpener, mtl=mtl, landsat=landsat, sun=sun,
    )  # fmt: skip
    block = block_px or cfg.runtime.block_px
    cloud_grow_px = int(np.ceil(CLOUD_GROW_M / min(grid.res)))
    margin = max(2, cloud_grow_px, sharpener.margin_px if sharpener is not None else 0)
    counts = np.zeros(4)  # valid, cloud, shadow, s2 filled
    windows = list(iter_windows(grid, block=block, overlap=margin))
    out.mkdir(parents=True, exist_ok=True)
    with (
        RasterWriter(out / "stack.tif", grid, len(channels), "float32", descriptions=channels) as w_stack,
        RasterWriter(out / "source.tif", grid, 1, "uint8", 255, descriptions=["source"]) as w_source,
        RasterWriter(out / "masks.tif", grid, 2, "uint8", 255, descriptions=["cloud", "shadow"]) as w_masks,
    ):
        for i, (read, core) in enumerate(windows):
            layers, source, cloud, shadow = _window(ctx, read)
            rs, cs = core_slice(read, core)
            source, cloud, shadow = source[rs, cs], cloud[rs, cs], shadow[rs, cs]
            w_stack.write(np.stack([layers[c][rs, cs] for c in channels]).astype("float32"), core)
            w_source.write(source, core)
            w_masks.write(np.stack([cloud, shadow]).astype("uint8"), core)
            valid = source > 0
            counts += [valid.sum(), (cloud == 1).sum(), (shadow == 1).sum(), (source == 2).sum()]
            if progress:
                progress((i + 1) / len(windows))
    n = max(counts[0], 1)
    log.info(
        "stack: %s on %dx%d px, cloud %.1f %%, S2 fill %.1f %%",
        ",".join(channels), grid.width, grid.height, 100 * counts[1] / n, 100 * counts[3] / n,
    )  # fmt: skip
    return StackResult(
        str(out / "stack.tif"), str(out / "source.tif"), str(out / "masks.tif"), channels, grid.shape,
        float(grid.res[0]), float(counts[1] / n), float(counts[2] / n), float(counts[3] / n), shifts,
    )  # fmt: skip


MAX_COREG_ERROR = 0.9  # phase-correlation error above which a shift estimate is unreliable (not applied)


def _shift_record(shift, name: str) -> dict:
    applied = shift.error <= MAX_COREG_ERROR
    if not applied:
        log.warning(
            "co-registration of %s unreliable (error %.2f): shift %.2f, %.2f m not applied",
            name, shift.error, shift.dx_m, shift.dy_m,
        )  # fmt: skip
    return {**shift.as_dict(), "applied": applied}


def _s2_grid(s2: Sentinel2) -> Grid:
    """The 10 m grid of a Sentinel-2 input (its blue band)."""
    return raster_grid(s2.require("blue")[0])


@dataclass
class _Context:
    grid: Grid
    ms_grid: Grid  # the primary grid, shifted by the MS co-registration offset (if any)
    s2_grid: Grid  # the same for Sentinel-2
    channels: list[str]
    pan: Path | None
    pan_is_primary: bool
    ms: Path | None
    ms_idx: list[int] | None
    ms_swir_idx: int | None
    s2: Sentinel2 | None
    s2_cloud: Path | None
    s2_cloud_kind: str | None
    cloud_grow_px: int
    primary_cloud: Path | None
    dem: Path
    sharpener: PanSharpener | None
    mtl: object
    landsat: dict | None
    sun: tuple[float, float]


def _window(ctx: _Context, win):
    grid, channels = ctx.grid, ctx.channels
    wgrid = grid.window_grid(win)
    shape = wgrid.shape
    layers: dict[str, np.ndarray] = {}
    optical = None
    pan_arr = None
    if ctx.pan is not None:
        pan_arr = read_on_grid(ctx.pan, grid, window=win, bands=1)
    if ctx.ms is not None:
        ms_up = read_on_grid(ctx.ms, ctx.ms_grid, window=win, bands=ctx.ms_idx, require_overlap=False)
        optical = ctx.sharpener.apply(ms_up, pan_arr) if ctx.sharpener is not None else ms_up
    s2_arr = s2_clear = None
    if ctx.s2 is not None:
        roles = [*OPTICAL, "swir"] if ctx.s2.has("swir") else list(OPTICAL)
        s2_arr = ctx.s2.reflectances(roles, ctx.s2_grid, win, require_overlap=False)
        s2_clear = np.all(np.isfinite(s2_arr), axis=0)
        if ctx.s2_cloud is not None:
            s2_clear &= ~cloud_mask_on_grid(
                ctx.s2_cloud, ctx.s2_grid, win, kind=ctx.s2_cloud_kind, require_overlap=False
            )
        elif ctx.s2.has("scl"):
            scl_path, _ = ctx.s2.bands["scl"]
            s2_clear &= ~cloud_mask_on_grid(scl_path, ctx.s2_grid, win, kind="scl", require_overlap=False)
        if optical is None:
            optical = s2_arr[:4].copy()
    if optical is None:
        raise ConfigError("config: no optical input (ms or s2) for the optical channels")
    source = np.where(np.all(np.isfinite(optical), axis=0), 1, 0).astype("uint8")
    primary_swir = None
    if ctx.ms is not None and ctx.ms_swir_idx is not None:
        primary_swir = read_on_grid(
            ctx.ms, ctx.ms_grid, window=win, bands=ctx.ms_swir_idx, require_overlap=False
        )
    elif ctx.ms is None and s2_arr is not None and s2_arr.shape[0] > 4:
        primary_swir = s2_arr[4]  # Sentinel-2 is the primary image: its SWIR is the same acquisition
    cloud = _cloud_mask(optical, primary_swir, ctx.cloud_grow_px)
    if ctx.primary_cloud is not None:
        cloud |= cloud_mask_on_grid(ctx.primary_cloud, grid, win, kind="binary", require_overlap=False)
    if s2_arr is not None and ctx.ms is not None:
        fill = ((source == 0) | cloud) & s2_clear
        optical[:, fill] = s2_arr[:4, fill]
        source[fill] = 2
    for b, name in enumerate(OPTICAL):
        layers[name] = optical[b]
    elevation = read_on_grid(ctx.dem, grid, window=win, bands=1, require_overlap=False)
    shade = hillshade(elevation, wgrid.res, *ctx.sun)
    vis = optical[:3].mean(axis=0)
    cast = cast_shadow_to_grid(ctx.dem, grid, win, *ctx.sun, max_distance_m=SHADOW_MAX_DISTANCE_M)
    shadow = (vis < SHADOW_VIS_MAX) & ((shade < SHADOW_HILLSHADE_MAX) | cast)
    if "slope" in channels:
        layers["slope"] = slope_on_grid(ctx.dem, grid, win)
    layers["elevation"] = layers["dem"] = elevation
    if pan_arr is not None:
        layers["pan"] = pan_arr
    if s2_arr is not None and s2_arr.shape[0] > 4:
        layers["swir"] = s2_arr[4]
        # NDSI from one sensor and date (Sentinel-2 green and SWIR), not a mix of acquisitions
        layers["ndsi"] = ndsi(s2_arr[1], s2_arr[4])
    elif any(c in channels for c in ("swir", "ndsi")):
        raise ConfigError("config: channels 'swir'/'ndsi' need Sentinel-2 band B11 in [inputs] s2")
    layers["ndwi"] = ndwi(optical[1], optical[3])
    layers["ndvi"] = ndvi(optical[2], optical[3])
    if ctx.landsat is not None:
        dn = {
            k: read_on_grid(p, grid, window=win, bands=1, src_nodata=0, require_overlap=False)
            for k, p in ctx.landsat.items()
        }
        dn = {k: np.where(np.isfinite(v), v, 0) for k, v in dn.items()}
        lst, _ = lst_from_dn(ctx.mtl, dn["thermal"], dn["red"], dn["nir"], dn.get("green"), dn.get("swir"))
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


def _cloud_mask(optical: np.ndarray, swir: np.ndarray | None = None, grow_px: int = 0) -> np.ndarray:
    """Clouds in the primary image, a brightness/whiteness test with region growing.

    Cores: bright (VIS mean > 0.55) and spectrally flat in VNIR (|NIR/red − 1| < 0.06; snow ≈ 0.9 and ice
    ≈ 0.7 are darker in NIR than in red). Cores grow by up to ``grow_px`` pixels into candidate pixels
    that are moderately bright and flat (VIS > 0.35, |NIR/red − 1| < 0.08): the semi-transparent cloud
    edges (a bounded geodesic dilation, so the result depends only on a ``grow_px`` neighbourhood and
    windows with that margin agree). With a SWIR band *of the same acquisition* (an MS band described
    ``swir``, or Sentinel-2 as the primary image), pixels with NDSI > 0.4 are snow/ice, never cloud.
    """
    vis = optical[:3].mean(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        flatness = np.abs(optical[3] / optical[2] - 1.0)
    core = (vis > CLOUD_VIS_MIN) & (flatness < CLOUD_FLATNESS)
    not_snow = np.ones(vis.shape, bool)
    if swir is not None:
        not_snow = ~(ndsi(optical[1], swir) > CLOUD_SNOW_NDSI)
    core &= not_snow
    if grow_px > 0 and core.any():
        candidate = (vis > CLOUD_EDGE_VIS_MIN) & (flatness < CLOUD_EDGE_FLATNESS) & not_snow
        core = ndimage.binary_dilation(core, iterations=grow_px, mask=candidate | core)
    return core
