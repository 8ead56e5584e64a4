"""The feature stack: every input co-registered onto the primary grid, window by window.

``stack.tif`` holds the configured channels (float32, band descriptions = channel names, NaN nodata):

- ``blue, green, red, nir``: pan-sharpened multispectral reflectance (:mod:`.pansharpen`), gap-filled from
  Sentinel-2 (B2, B3, B4, B8) where the primary image is missing or cloudy and Sentinel-2 is clear;
- ``lst``: Landsat land-surface temperature in K (:mod:`.thermal`), from DNs resampled bilinearly onto the
  window (DN fill 0 excluded); ``tir``: the same thermal band's at-sensor brightness temperature (K);
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
from rasterio.enums import Resampling
from rasterio.windows import Window
from scipy import ndimage

from glacierinv.config import RunConfig
from glacierinv.dem.terrain import cast_shadow_to_grid, check_dem_units, hillshade, slope_on_grid
from glacierinv.errors import ConfigError, InputError
from glacierinv.io.grid import Grid
from glacierinv.io.raster import (
    RasterWriter,
    check_overlap,
    core_slice,
    iter_windows,
    open_raster,
    read_on_grid,
)
from glacierinv.preprocess.indices import NDSI_SNOW, ndsi, ndvi, ndwi
from glacierinv.preprocess.pansharpen import PanSharpener
from glacierinv.preprocess.sensors import (
    KNOWN_CHANNELS,
    Product,
    Scene,
    available_channels,
    channel_hint,
    open_scene,
)
from glacierinv.preprocess.sentinel2 import Sentinel2, cloud_mask_on_grid, mask_kind

__all__ = ["KNOWN_CHANNELS", "StackResult", "build_feature_stack", "check_channels"]

log = logging.getLogger(__name__)

OPTICAL = ("blue", "green", "red", "nir")
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
    sensors: dict = field(default_factory=dict)  # what was read from which product, and how calibrated

    def summary(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k not in ("stack", "source", "masks")}


def check_channels(cfg: RunConfig, scene: Scene | None = None) -> list[str]:
    """Validate ``[stack] channels`` against the known names and what the configured products provide.

    Raises :class:`ConfigError` listing the known channels for an unknown name, or naming the ``[inputs]``
    keys that could provide a channel the configured products lack. Returns the channel list.
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
    scene = scene or open_scene(cfg)
    available = available_channels(scene)
    for c in channels:
        if c not in available:
            have = ", ".join(c for c in KNOWN_CHANNELS if c in available) or "none"
            raise ConfigError(
                f"config: channel '{c}' is not provided by the configured inputs (they provide: {have}); it "
                f"needs [inputs] {channel_hint(c)}. Add such a product or drop '{c}' from [stack] channels."
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
        Inputs (``[inputs]``: the products, see :mod:`glacierinv.preprocess.sensors`) and channels
        (``[stack] channels``, ``pansharpen``, ``resolution_m``).
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
        Paths and figures (cloud, shadow and Sentinel-2 fill fractions of the valid pixels) and what was
        read from which product (``sensors``).
    """
    scene = open_scene(cfg)
    channels = check_channels(cfg, scene)
    # GDAL's block cache is configured once by the caller (pipeline stage / CLI: [runtime] gdal_cache_mb)
    return _build(cfg, scene, channels, Path(out_dir), block_px, progress, window)


def _ms_pan_ratio(product: Product) -> float:
    """MS pixel size / pan pixel size of a product (from the files' transforms, or their widths)."""
    ms_ref = product.bands["red"]
    with (
        open_raster(product.pan.path, need_crs=False) as p_ds,
        open_raster(ms_ref.path, need_crs=False) as m_ds,
    ):
        if not product.pan.rpc and not ms_ref.rpc:
            return abs(m_ds.transform.a) / abs(p_ds.transform.a)
        return p_ds.width / m_ds.width


def _fit_sharpener(method: str, product: Product, sample_px: int = 512) -> PanSharpener:
    """Fit pan-sharpening on calibrated MS and pan of a product, decimated (bounded memory)."""
    sharpener = PanSharpener(method)
    if product.sensor == "generic" and len({product.bands[c].path for c in OPTICAL}) == 1:
        ms_path = product.bands["red"].path
        return sharpener.fit(
            ms_path, product.pan.path, sample_px, bands=[product.bands[c].band for c in OPTICAL]
        )
    ratio = _ms_pan_ratio(product)
    grid = product.grid
    n = max(grid.width, grid.height) / ratio
    res = grid.res[0] * ratio * max(1.0, n / sample_px)
    sample = Grid.from_bounds(grid.crs, grid.bounds, res)
    ms = product.read(list(OPTICAL), sample, resampling=Resampling.average)
    pan = product.read_pan(sample, resampling=Resampling.average)
    return sharpener.fit_arrays(ms, pan, ratio, source=str(product.source))


def _build(cfg, scene: Scene, channels: list[str], out: Path, block_px, progress, window=None) -> StackResult:
    primary = scene.primary
    dem = cfg.input_path("dem")
    s2 = scene.fill
    grid = primary.grid
    if not grid.is_metric:
        raise InputError(
            "primary image is not in a projected (metric) CRS", primary.source, "Reproject it to UTM first"
        )
    if cfg.stack.resolution_m:
        grid = Grid.from_bounds(grid.crs, grid.bounds, cfg.stack.resolution_m)
    if window is not None:
        win = window if isinstance(window, Window) else Window(*window)
        win = win.intersection(Window(0, 0, grid.width, grid.height))
        grid = grid.window_grid(win)
    z_m = check_dem_units(dem)  # metres per DEM unit ([dem] z_unit, band unit); implausible ranges refused
    for note in primary.info.get("calibration_notes", []):  # substituted coefficients (GF/ZY tables)
        log.warning("%s", note)
    refs = [*primary.bands.values(), *([primary.pan] if primary.pan is not None else [])]
    rpc_files = {r.path for r in refs if r.rpc}
    s2_files = [path for path, _ in s2.bands.values()] if s2 else []
    others = [dem, scene.s2_cloud, scene.primary_cloud, *s2_files]
    if scene.thermal is not None and {"lst", "tir"} & set(channels):
        others += list(scene.thermal[2])
    for p in {*primary.files(), *(q for q in others if q is not None)}:
        if p not in rpc_files:
            with open_raster(p) as ds:
                check_overlap(ds, grid, p)
    vnir = all(primary.has(c) for c in OPTICAL)
    extra = [c for c in ("swir1", "swir2") if primary.has(c)]
    ms_grid = s2_grid = grid
    shifts: dict[str, dict] = {}
    if cfg.stack.coregister and not rpc_files:
        from glacierinv.preprocess.align import estimate_shift, shifted_grid

        red = primary.bands.get("red")
        ms_one_file = vnir and len({primary.bands[c].path for c in OPTICAL}) == 1
        if primary.pan is not None and ms_one_file:
            sh = estimate_shift(
                primary.pan.path, red.path, grid, moving_bands=[primary.bands[c].band for c in OPTICAL]
            )
            shifts["ms"] = _shift_record(sh, "ms")
            if shifts["ms"]["applied"]:
                ms_grid = shifted_grid(grid, sh.dx_m, sh.dy_m)
        if s2 is not None:
            ref = primary.pan or red
            s2_red, s2_red_idx = s2.require("red")
            sh = estimate_shift(ref.path, s2_red, grid, reference_bands=ref.band, moving_bands=s2_red_idx)
            shifts["s2"] = _shift_record(sh, "s2")
            if shifts["s2"]["applied"]:
                s2_grid = shifted_grid(grid, sh.dx_m, sh.dy_m)
    sharpener = _fit_sharpener(cfg.stack.pansharpen, primary) if (vnir and primary.pan is not None) else None
    sun = scene.sun or SUN_DEFAULT
    ctx = _Context(
        grid=grid, ms_grid=ms_grid, s2_grid=s2_grid, channels=channels, primary=primary, vnir=vnir, extra=extra,
        pan_is_primary=primary.pan is not None and cfg.stack.resolution_m is None,
        s2=s2, s2_cloud=scene.s2_cloud, s2_cloud_kind=mask_kind(scene.s2_cloud) if scene.s2_cloud else None,
        cloud_grow_px=int(np.ceil(CLOUD_GROW_M / min(grid.res))), primary_cloud=scene.primary_cloud, dem=dem,
        sharpener=sharpener, lst=primary.lst or (scene.thermal[0] if scene.thermal is not None else None),
        sun=sun, z_m=z_m, tir=primary.tir or (scene.thermal[3] if scene.thermal is not None else None),
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
        "stack: %s on %dx%d px from %s, cloud %.1f %%, S2 fill %.1f %%",
        ",".join(channels), grid.width, grid.height, primary.sensor, 100 * counts[1] / n, 100 * counts[3] / n,
    )  # fmt: skip
    sensors = {"primary": _json_info(primary), "sun_azimuth_elevation_deg": list(sun)}
    if s2 is not None:
        sensors["fill"] = {"sensor": "sentinel2", "source": str(s2.source), "level": s2.level}
    return StackResult(
        str(out / "stack.tif"), str(out / "source.tif"), str(out / "masks.tif"), channels, grid.shape,
        float(grid.res[0]), float(counts[1] / n), float(counts[2] / n), float(counts[3] / n), shifts, sensors,
    )  # fmt: skip


def _json_info(product: Product) -> dict:
    info = {k: v for k, v in product.info.items() if k != "extra_files"}
    return {"sensor": product.sensor, "key": product.key, "source": str(product.source), **info}


MAX_COREG_ERROR = 0.9  # phase-correlation error above which a shift estimate is unreliable (not applied)


def _shift_record(shift, name: str) -> dict:
    applied = shift.error <= MAX_COREG_ERROR
    if not applied:
        log.warning(
            "co-registration of %s unreliable (error %.2f): shift %.2f, %.2f m not applied",
            name, shift.error, shift.dx_m, shift.dy_m,
        )  # fmt: skip
    return {**shift.as_dict(), "applied": applied}


@dataclass
class _Context:
    grid: Grid
    ms_grid: Grid  # the primary grid, shifted by the MS co-registration offset (if any)
    s2_grid: Grid  # the same for Sentinel-2
    channels: list[str]
    primary: Product
    vnir: bool  # the primary product has blue, green, red, nir
    extra: list[str]  # SWIR channels of the primary product
    pan_is_primary: bool
    s2: Sentinel2 | None
    s2_cloud: Path | None
    s2_cloud_kind: str | None
    cloud_grow_px: int
    primary_cloud: Path | None
    dem: Path
    sharpener: PanSharpener | None
    lst: Callable | None
    sun: tuple[float, float]
    z_m: float = 1.0  # metres per DEM unit
    tir: Callable | None = None


def _window(ctx: _Context, win):
    grid, channels, primary = ctx.grid, ctx.channels, ctx.primary
    wgrid = grid.window_grid(win)
    shape = wgrid.shape
    layers: dict[str, np.ndarray] = {}
    optical = None
    pan_arr = primary.read_pan(grid, win) if primary.pan is not None else None
    swir: dict[str, np.ndarray] = {}  # swir1 / swir2 of the primary acquisition
    if ctx.vnir:
        ms_up = primary.read([*OPTICAL, *ctx.extra], ctx.ms_grid, win)
        optical = ctx.sharpener.apply(ms_up[:4], pan_arr) if ctx.sharpener is not None else ms_up[:4]
        swir = dict(zip(ctx.extra, ms_up[4:], strict=True))
    s2_arr = s2_clear = None
    s2_roles: list[str] = []
    if ctx.s2 is not None:
        s2_roles = [*OPTICAL] + [r for r in ("swir", "swir2") if ctx.s2.has(r)]
        s2_arr = ctx.s2.reflectances(s2_roles, ctx.s2_grid, win, require_overlap=False)
        s2_clear = np.all(np.isfinite(s2_arr[:4]), axis=0)
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
        raise ConfigError(
            "config: no optical input (a product with blue, green, red, nir) for the optical channels"
        )
    source = np.where(np.all(np.isfinite(optical), axis=0), 1, 0).astype("uint8")
    # a SWIR band of the same acquisition tells snow from cloud
    cloud = _cloud_mask(optical, swir.get("swir1"), ctx.cloud_grow_px)
    if primary.quality is not None and ctx.vnir:
        cloud |= primary.quality(grid, win) & (source == 1)
    if ctx.primary_cloud is not None:
        cloud |= cloud_mask_on_grid(ctx.primary_cloud, grid, win, kind="binary", require_overlap=False)
    s2_swir = {}
    if s2_arr is not None:
        s2_swir = {("swir1" if r == "swir" else r): s2_arr[i] for i, r in enumerate(s2_roles) if i >= 4}
    if s2_arr is not None and ctx.vnir:
        fill = ((source == 0) | cloud) & s2_clear
        optical[:, fill] = s2_arr[:4, fill]
        for c in list(swir):
            if c in s2_swir:
                swir[c] = np.where(fill, s2_swir[c], swir[c])
        source[fill] = 2
    for c, arr in s2_swir.items():
        swir.setdefault(c, arr)  # Sentinel-2 brings the SWIR the primary image lacks
    for b, name in enumerate(OPTICAL):
        layers[name] = optical[b]
    elevation = read_on_grid(ctx.dem, grid, window=win, bands=1, require_overlap=False) * np.float32(ctx.z_m)
    shade = hillshade(elevation, wgrid.res, *ctx.sun)
    vis = optical[:3].mean(axis=0)
    cast = cast_shadow_to_grid(ctx.dem, grid, win, *ctx.sun, max_distance_m=SHADOW_MAX_DISTANCE_M)
    shadow = (vis < SHADOW_VIS_MAX) & ((shade < SHADOW_HILLSHADE_MAX) | cast)
    if "slope" in channels:
        layers["slope"] = slope_on_grid(ctx.dem, grid, win)
    layers["elevation"] = layers["dem"] = elevation
    if pan_arr is not None:
        layers["pan"] = pan_arr
    for c, arr in swir.items():
        layers[c] = arr
    if "swir1" in swir:
        layers["swir"] = swir["swir1"]
        # NDSI from one sensor and date (green and SWIR of the same image where filled), Dozier (1989)
        layers["ndsi"] = ndsi(optical[1], swir["swir1"])
    layers["ndwi"] = ndwi(optical[1], optical[3])
    layers["ndvi"] = ndvi(optical[2], optical[3])
    if "lst" in channels:
        layers["lst"] = ctx.lst(grid, win)
    if "tir" in channels:
        layers["tir"] = ctx.tir(grid, win)
    missing = [c for c in channels if c not in layers]
    if missing:  # check_channels guards this; a product that lost a band between check and build
        raise ConfigError(f"config: channel(s) {', '.join(missing)} not available from the inputs")
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
