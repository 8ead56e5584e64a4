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

``source.tif`` (uint8): 1 primary image, 2 gap fill (Sentinel-2; its sensor in the tag ``fill_sensor``), 0 none. ``masks.tif`` (uint8 bands ``cloud``,
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
    FAST_ZLEVEL,
    RasterWriter,
    check_overlap,
    core_slice,
    iter_windows,
    open_raster,
    read_on_grid,
)
from glacierinv.pipeline.runfolder import RunFolder
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

__all__ = [
    "KNOWN_CHANNELS",
    "StackResult",
    "WindowInputs",
    "build_feature_stack",
    "check_channels",
    "stack_window",
]

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
    grid = _stack_grid(cfg, primary, window)
    z_m = check_dem_units(dem)  # metres per DEM unit ([dem] z_unit, band unit); implausible ranges refused
    for note in primary.info.get("calibration_notes", []):  # substituted coefficients (GF/ZY tables)
        log.warning("%s", note)
    rpc_files = _check_inputs_overlap(scene, dem, channels, grid)
    vnir = all(primary.has(c) for c in OPTICAL)
    extra = [c for c in ("swir1", "swir2") if primary.has(c)]
    ms_grid, s2_grid, shifts = _coregistered_grids(cfg, primary, s2, grid, vnir, rpc_files)
    sharpener = _fit_sharpener(cfg.stack.pansharpen, primary) if (vnir and primary.pan is not None) else None
    sun = scene.sun or SUN_DEFAULT
    ctx = _Context(
        grid=grid, ms_grid=ms_grid, s2_grid=s2_grid, fill_sensor=scene.fill_sensor, channels=channels, primary=primary, vnir=vnir, extra=extra,
        pan_is_primary=primary.pan is not None and cfg.stack.resolution_m is None,
        s2=s2, s2_cloud=scene.fill_cloud, s2_cloud_kind=mask_kind(scene.fill_cloud) if scene.fill_cloud else None,
        cloud_grow_px=int(np.ceil(CLOUD_GROW_M / min(grid.res))), primary_cloud=scene.primary_cloud, dem=dem,
        sharpener=sharpener, lst=primary.lst or (scene.thermal.lst if scene.thermal is not None else None),
        sun=sun, z_m=z_m, tir=primary.tir or (scene.thermal.tir if scene.thermal is not None else None),
    )  # fmt: skip
    block = block_px or cfg.runtime.block_px
    margin = max(2, ctx.cloud_grow_px, sharpener.margin_px if sharpener is not None else 0)
    windows = list(iter_windows(grid, block=block, overlap=margin))
    counts = _write_windows(ctx, out, windows, progress)
    n = max(counts[0], 1)
    log.info(
        "stack: %s on %dx%d px from %s, cloud %.1f %%, S2 fill %.1f %%",
        ",".join(channels), grid.width, grid.height, primary.sensor, 100 * counts[1] / n, 100 * counts[3] / n,
    )  # fmt: skip
    sensors = {"primary": _json_info(primary), "sun_azimuth_elevation_deg": list(sun)}
    if s2 is not None:
        sensors["fill"] = {"sensor": scene.fill_sensor, "source": str(s2.source), "level": s2.level}
    return StackResult(
        str(out / RunFolder.STACK), str(out / RunFolder.SOURCE), str(out / RunFolder.MASKS), channels, grid.shape,
        float(grid.res[0]), float(counts[1] / n), float(counts[2] / n), float(counts[3] / n), shifts, sensors,
    )  # fmt: skip


def _stack_grid(cfg, primary: Product, window) -> Grid:
    """The stack's grid: the primary image's (metric) grid at ``[stack] resolution_m``, cut to ``window``."""
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
    return grid


def _check_inputs_overlap(scene: Scene, dem: Path, channels: list[str], grid: Grid) -> set:
    """Refuse an input file that misses the stack grid (RPC images excepted); returns the RPC files."""
    primary, s2 = scene.primary, scene.fill
    refs = [*primary.bands.values(), *([primary.pan] if primary.pan is not None else [])]
    rpc_files = {r.path for r in refs if r.rpc}
    s2_files = [path for path, _ in s2.bands.values()] if s2 else []
    others = [dem, scene.fill_cloud, scene.primary_cloud, *s2_files]
    if scene.thermal is not None and {"lst", "tir"} & set(channels):
        others += list(scene.thermal.files)
    for p in {*primary.files(), *(q for q in others if q is not None)}:
        if p not in rpc_files:
            with open_raster(p) as ds:
                check_overlap(ds, grid, p)
    return rpc_files


def _coregistered_grids(cfg, primary: Product, s2, grid: Grid, vnir: bool, rpc_files: set):
    """(MS grid, Sentinel-2 grid, shift records): ``grid`` shifted by the estimated co-registration offsets."""
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
    return ms_grid, s2_grid, shifts


FILL_SENSOR_TAG = "fill_sensor"  # source.tif tag: the sensor of the pixels coded 2


def source_tags(fill_sensor: str) -> dict[str, str]:
    """Tags of ``source.tif``: which sensor filled the gaps (none without a fill product)."""
    return {FILL_SENSOR_TAG: fill_sensor} if fill_sensor else {}


def _write_windows(ctx: _Context, out: Path, windows: list, progress) -> np.ndarray:
    """Stack each (read, core) window and write its core; returns pixel counts (valid, cloud, shadow, S2 fill)."""
    grid, channels = ctx.grid, ctx.channels
    counts = np.zeros(4)  # valid, cloud, shadow, s2 filled
    out.mkdir(parents=True, exist_ok=True)
    with (
        RasterWriter(
            out / RunFolder.STACK, grid, len(channels), "float32", descriptions=channels, zlevel=FAST_ZLEVEL
        ) as w_stack,
        RasterWriter(
            out / RunFolder.SOURCE,
            grid,
            1,
            "uint8",
            255,
            descriptions=["source"],
            tags=source_tags(ctx.fill_sensor),
            zlevel=FAST_ZLEVEL,
        ) as w_source,
        RasterWriter(
            out / RunFolder.MASKS, grid, 2, "uint8", 255, descriptions=["cloud", "shadow"], zlevel=FAST_ZLEVEL
        ) as w_masks,
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
    return counts


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
    fill_sensor: str  # name of the gap-fill product's sensor ("" without one)
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
    """Read the inputs of window ``win`` of the stack grid and stack them (:func:`stack_window`)."""
    inputs = _read_window(ctx, win)
    return stack_window(
        inputs, ctx.channels, res_m=ctx.grid.window_grid(win).res, sun=ctx.sun,
        cloud_grow_px=ctx.cloud_grow_px, sharpener=ctx.sharpener,
    )  # fmt: skip


@dataclass
class WindowInputs:
    """The inputs of one stack window, read onto the window's grid (one shape ``(rows, cols)``).

    Reflectances are float arrays (0-1, NaN = no data); masks are bool (True = flagged).

    Attributes
    ----------
    elevation_m : (rows, cols) float
        DEM elevation, metres.
    cast_shadow : (rows, cols) bool
        Terrain cast shadow towards the sun (traced on the DEM beyond the window).
    ms : (4 + len(extra), rows, cols) float, optional
        The primary product's multispectral bands on the (co-registered) window grid: blue, green, red, nir,
        then the ``extra`` channels (``swir1``/``swir2`` of the same acquisition); not yet pan-sharpened.
    extra : tuple of str
        Names of the bands of ``ms`` after the first four.
    pan : (rows, cols) float, optional
        Panchromatic reflectance of the primary product.
    s2 : (len(s2_roles), rows, cols) float, optional
        Sentinel-2 reflectance (the gap-fill product), roles ``s2_roles`` (blue, green, red, nir, then
        ``swir``/``swir2`` where present).
    s2_roles : tuple of str
    s2_cloud : (rows, cols) bool, optional
        Cloud in the Sentinel-2 scene (its cloud mask or SCL); None = no mask.
    quality_cloud : (rows, cols) bool, optional
        Cloud flagged by the primary product's quality band.
    primary_cloud : (rows, cols) bool, optional
        Cloud flagged by a user-given mask of the primary image.
    slope_deg : (rows, cols) float, optional
        Slope in degrees (computed on the DEM's own metric grid); needed for the ``slope`` channel.
    thermal_k : dict of str to (rows, cols) float
        Temperature channels read from the thermal product, K (``lst``: land-surface temperature, ``tir``:
        at-sensor brightness temperature).
    """

    elevation_m: np.ndarray
    cast_shadow: np.ndarray
    ms: np.ndarray | None = None
    extra: tuple[str, ...] = ()
    pan: np.ndarray | None = None
    s2: np.ndarray | None = None
    s2_roles: tuple[str, ...] = ()
    s2_cloud: np.ndarray | None = None
    quality_cloud: np.ndarray | None = None
    primary_cloud: np.ndarray | None = None
    slope_deg: np.ndarray | None = None
    thermal_k: dict[str, np.ndarray] = field(default_factory=dict)


def _read_window(ctx: _Context, win) -> WindowInputs:
    """Every input of window ``win`` of the stack grid, read (and resampled) onto the window's grid."""
    grid, channels, primary = ctx.grid, ctx.channels, ctx.primary
    inputs = WindowInputs(
        elevation_m=read_on_grid(ctx.dem, grid, window=win, bands=1, require_overlap=False)
        * np.float32(ctx.z_m),
        cast_shadow=cast_shadow_to_grid(ctx.dem, grid, win, *ctx.sun, max_distance_m=SHADOW_MAX_DISTANCE_M),
        pan=primary.read_pan(grid, win) if primary.pan is not None else None,
        extra=tuple(ctx.extra),
    )
    if ctx.vnir:
        inputs.ms = primary.read([*OPTICAL, *ctx.extra], ctx.ms_grid, win)
        if primary.quality is not None:
            inputs.quality_cloud = primary.quality(grid, win)
    if ctx.s2 is not None:
        inputs.s2_roles = (*OPTICAL, *(r for r in ("swir", "swir2") if ctx.s2.has(r)))
        inputs.s2 = ctx.s2.reflectances(list(inputs.s2_roles), ctx.s2_grid, win, require_overlap=False)
        if ctx.s2_cloud is not None:
            inputs.s2_cloud = cloud_mask_on_grid(
                ctx.s2_cloud, ctx.s2_grid, win, kind=ctx.s2_cloud_kind, require_overlap=False
            )
        elif ctx.s2.has("scl"):
            scl_path, _ = ctx.s2.bands["scl"]
            inputs.s2_cloud = cloud_mask_on_grid(
                scl_path, ctx.s2_grid, win, kind="scl", require_overlap=False
            )
    if ctx.primary_cloud is not None:
        inputs.primary_cloud = cloud_mask_on_grid(
            ctx.primary_cloud, grid, win, kind="binary", require_overlap=False
        )
    if "slope" in channels:
        inputs.slope_deg = slope_on_grid(ctx.dem, grid, win)
    if "lst" in channels:
        inputs.thermal_k["lst"] = ctx.lst(grid, win)
    if "tir" in channels:
        inputs.thermal_k["tir"] = ctx.tir(grid, win)
    return inputs


def stack_window(
    inputs: WindowInputs,
    channels: list[str],
    *,
    res_m: float | tuple[float, float],
    sun: tuple[float, float] = SUN_DEFAULT,
    cloud_grow_px: int = 0,
    sharpener: PanSharpener | None = None,
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray]:
    """The feature layers, source and masks of one window, from its inputs (pure: arrays in, arrays out).

    Parameters
    ----------
    inputs : WindowInputs
        The window's inputs on one grid.
    channels : list of str
        The stack's channels (every one must be computable from ``inputs``).
    res_m : float or (x, y) float
        Pixel size of the window's grid, metres (for the hillshade).
    sun : (azimuth_deg, elevation_deg)
        Sun position (azimuth clockwise from north).
    cloud_grow_px : int
        How far cloud cores grow into their thin edges, pixels (:func:`_cloud_mask`).
    sharpener : PanSharpener, optional
        A fitted pan-sharpener applied to ``inputs.ms`` with ``inputs.pan``; None = no sharpening.

    Returns
    -------
    layers, source, cloud, shadow
        ``layers``: channel name → float array (NaN where any channel is invalid; also holds the layers
        not asked for, e.g. ``ndwi``); ``source`` uint8 (1 primary, 2 Sentinel-2 fill, 0 none);
        ``cloud``/``shadow`` uint8 (1 flagged, 0 not, 255 nodata).
    """
    optical, swir = _primary_optical(inputs, sharpener)
    if optical is None and inputs.s2 is not None:
        optical = inputs.s2[:4].copy()
    if optical is None:
        raise ConfigError(
            "config: no optical input (a product with blue, green, red, nir) for the optical channels"
        )
    source = np.where(np.all(np.isfinite(optical), axis=0), 1, 0).astype("uint8")
    cloud = _primary_cloud(inputs, optical, swir, source, cloud_grow_px)
    _fill_from_s2(inputs, optical, swir, source, cloud)
    shade = hillshade(inputs.elevation_m, res_m, *sun)
    vis = optical[:3].mean(axis=0)
    shadow = (vis < SHADOW_VIS_MAX) & ((shade < SHADOW_HILLSHADE_MAX) | inputs.cast_shadow)
    layers = _layers(inputs, optical, swir, channels)
    return _blank_invalid(layers, channels, source, cloud, shadow)


def _primary_optical(inputs: WindowInputs, sharpener: PanSharpener | None):
    """(blue, green, red, nir) of the primary product, pan-sharpened, and its SWIR bands (or None, {})."""
    if inputs.ms is None:
        return None, {}
    ms_up = inputs.ms
    optical = sharpener.apply(ms_up[:4], inputs.pan) if sharpener is not None else ms_up[:4]
    return optical, dict(zip(inputs.extra, ms_up[4:], strict=True))


def _primary_cloud(inputs: WindowInputs, optical, swir: dict, source: np.ndarray, grow_px: int) -> np.ndarray:
    """Cloud in the primary image: the brightness test, the product's quality flags and a given mask."""
    # a SWIR band of the same acquisition tells snow from cloud
    cloud = _cloud_mask(optical, swir.get("swir1"), grow_px)
    if inputs.quality_cloud is not None and inputs.ms is not None:
        cloud |= inputs.quality_cloud & (source == 1)
    if inputs.primary_cloud is not None:
        cloud |= inputs.primary_cloud
    return cloud


def _fill_from_s2(inputs: WindowInputs, optical, swir: dict, source: np.ndarray, cloud: np.ndarray) -> None:
    """Fill missing or cloudy primary pixels from clear Sentinel-2 pixels (in place; ``source`` = 2 there).

    Sentinel-2 also brings the SWIR bands the primary image lacks.
    """
    s2_arr = inputs.s2
    if s2_arr is None:
        return
    s2_clear = np.all(np.isfinite(s2_arr[:4]), axis=0)
    if inputs.s2_cloud is not None:
        s2_clear &= ~inputs.s2_cloud
    s2_swir = {("swir1" if r == "swir" else r): s2_arr[i] for i, r in enumerate(inputs.s2_roles) if i >= 4}
    if inputs.ms is not None:
        fill = ((source == 0) | cloud) & s2_clear
        optical[:, fill] = s2_arr[:4, fill]
        for c in list(swir):
            if c in s2_swir:
                swir[c] = np.where(fill, s2_swir[c], swir[c])
        source[fill] = 2
    for c, arr in s2_swir.items():
        swir.setdefault(c, arr)  # Sentinel-2 brings the SWIR the primary image lacks


def _layers(inputs: WindowInputs, optical, swir: dict, channels: list[str]) -> dict[str, np.ndarray]:
    """Every layer the window can give: bands, terrain, indices (channel name → array)."""
    layers: dict[str, np.ndarray] = dict(zip(OPTICAL, optical, strict=True))
    if "slope" in channels and inputs.slope_deg is not None:
        layers["slope"] = inputs.slope_deg
    layers["elevation"] = layers["dem"] = inputs.elevation_m
    if inputs.pan is not None:
        layers["pan"] = inputs.pan
    for c, arr in swir.items():
        layers[c] = arr
    if "swir1" in swir:
        layers["swir"] = swir["swir1"]
        # NDSI from one sensor and date (green and SWIR of the same image where filled), Dozier (1989)
        layers["ndsi"] = ndsi(optical[1], swir["swir1"])
    layers["ndwi"] = ndwi(optical[1], optical[3])
    layers["ndvi"] = ndvi(optical[2], optical[3])
    layers.update(inputs.thermal_k)
    missing = [c for c in channels if c not in layers]
    if missing:  # check_channels guards this; a product that lost a band between check and build
        raise ConfigError(f"config: channel(s) {', '.join(missing)} not available from the inputs")
    return layers


def _blank_invalid(layers: dict, channels: list[str], source, cloud, shadow):
    """NaN in every channel (and source 0, masks 255) where any channel is invalid."""
    invalid = np.zeros(source.shape, bool)
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
