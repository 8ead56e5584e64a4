"""The types every sensor module shares: input keys, band references, products, and calibrated reads.

A sensor module declares, in one place, its ``[inputs]`` keys (:class:`Key`), the channels it provides,
their native pixel sizes, and an ``open`` function that turns the file or folder the provider ships into
a :class:`Product`: where each channel's digital numbers live and the *linear* calibration that turns them
into physical values (``value = scale · DN + offset``; reflectance 0-1, temperature K). Linear calibration
commutes with bilinear resampling, so a product is read window by window straight onto the primary grid
(:func:`read_bands`) without writing any intermediate file.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
from rasterio.enums import Resampling
from rasterio.errors import NotGeoreferencedWarning
from rasterio.windows import Window

from glacierinv.errors import InputError
from glacierinv.io.grid import Grid
from glacierinv.io.raster import open_raster, read_on_grid

__all__ = [
    "CHANNEL_WAVELENGTH_UM",
    "BandRef",
    "FillSource",
    "Key",
    "Product",
    "Sensor",
    "ThermalSource",
    "read_bands",
]

# nominal central wavelengths (µm) of the channel names the stack uses (per-sensor values in each module)
CHANNEL_WAVELENGTH_UM = {
    "blue": 0.48,
    "green": 0.56,
    "red": 0.655,
    "nir": 0.865,
    "swir1": 1.61,
    "swir2": 2.20,
    "tir": 10.9,
    "pan": 0.64,
}


#: Central wavelengths (µm) of Landsat 8 OLI/TIRS bands, also the nominal centres of the generic sensor's
#: described bands (USGS Landsat 8 Data Users Handbook, Table 1-1).
OLI_CENTRAL_UM: dict[str, float] = {
    "blue": 0.48, "green": 0.56, "red": 0.655, "nir": 0.865, "swir1": 1.61, "swir2": 2.2, "lst": 10.9,
    "tir": 10.9,
}  # fmt: skip


@dataclass(frozen=True)
class Key:
    """One ``[inputs]`` key: its name, what the user gives, and its role.

    ``role``: ``"primary"`` (an optical product that defines the primary grid), ``"fill"`` (gap-filling
    imagery, primary only when nothing else is given), ``"thermal"`` (LST only), ``"mask"`` (a cloud
    mask raster), ``"dem"``, ``"reference"`` (assessment inputs) or ``"aux"``. ``scene``: may appear in a
    ``[[scenes]]`` entry (scene keys are not inherited from ``[inputs]``, except ``dem``).
    """

    name: str
    help: str
    role: str
    scene: bool = True
    example: str | None = None  # the value shown in `glacierinv config template`
    active: bool = False  # uncommented in the template (the seed's setup: pan + ms + s2 + landsat_mtl)


@dataclass(frozen=True)
class BandRef:
    """One band of one file and its linear calibration to physical units.

    ``value = scale · DN + offset``; ``nodata`` (e.g. 0, the Landsat / Sentinel-2 / GF fill DN) becomes NaN.
    ``rpc``: the file is not orthorectified and is read through its RPC model and the DEM.
    """

    path: Path
    band: int = 1
    scale: float = 1.0
    offset: float = 0.0
    nodata: float | None = None
    rpc: bool = False


@dataclass
class Product:
    """An opened sensor product: calibrated channels, pan band, quality mask, sun position.

    ``bands``: channel name → :class:`BandRef` (reflectance 0-1; ``tir`` brightness temperature K);
    ``grid``: the grid of the finest optical band (the pan band when there is one) in a metric CRS;
    ``quality``: ``(grid, window) → bool array`` (True = cloud, cloud shadow or invalid) or None;
    ``lst``: ``(grid, window) → LST (K)`` or None; ``tir``: ``(grid, window) → at-sensor brightness
    temperature (K) of the thermal band`` or None (non-linear in DN, so a reader rather than a
    :class:`BandRef`); ``info``: what was read and how it was calibrated
    (recorded in the stack summary / run.json).
    """

    sensor: str
    key: str
    source: Path
    bands: dict[str, BandRef]
    grid: Grid
    pan: BandRef | None = None
    sun: tuple[float, float] | None = None  # (azimuth, elevation) in degrees
    quality: Callable[[Grid, Window | None], np.ndarray] | None = None
    lst: Callable[[Grid, Window | None], np.ndarray] | None = None
    tir: Callable[[Grid, Window | None], np.ndarray] | None = None
    dem: Path | None = None  # needed by RPC reads
    info: dict = field(default_factory=dict)
    pan_relative: bool = False  # pan in relative units (uncalibrated): for pan-sharpening, not a channel

    @property
    def channels(self) -> tuple[str, ...]:
        """Channels this product provides (``pan`` when calibrated, ``lst`` and ``tir`` when present)."""
        extra = (("pan",) if self.pan is not None and not self.pan_relative else ()) + (
            ("lst",) if self.lst is not None else ()
        )
        return tuple(self.bands) + extra + (("tir",) if self.tir is not None else ())

    def has(self, channel: str) -> bool:
        return channel in self.bands

    def read(
        self,
        channels: list[str],
        grid: Grid,
        window: Window | None = None,
        resampling: Resampling = Resampling.bilinear,
    ) -> np.ndarray:
        """Calibrated channels resampled bilinearly onto ``grid`` (window): (channels, rows, cols) float32."""
        missing = [c for c in channels if c not in self.bands]
        if missing:
            raise InputError(
                f"{self.sensor} product lacks channel(s) {', '.join(missing)}; it has {', '.join(self.bands)}",
                self.source,
            )
        return read_bands(
            [self.bands[c] for c in channels], grid, window, dem=self.dem, resampling=resampling
        )

    def read_pan(
        self, grid: Grid, window: Window | None = None, resampling: Resampling = Resampling.bilinear
    ) -> np.ndarray:
        return read_bands([self.pan], grid, window, dem=self.dem, resampling=resampling)[0]

    def files(self) -> list[Path]:
        """Every raster file the product reads (for the integrity checks of the preflight)."""
        refs = [*self.bands.values(), *([self.pan] if self.pan is not None else [])]
        return sorted({r.path for r in refs} | set(self.info.get("extra_files", [])))


@dataclass(frozen=True)
class ThermalSource:
    """What a ``"thermal"`` key gives beside another primary image: temperature readers on any grid.

    ``lst(grid, window)`` → land-surface temperature (K); ``tir(grid, window)`` → the thermal band's
    at-sensor brightness temperature (K), or None; ``sun``: (azimuth, elevation) in degrees of the
    acquisition, or None; ``files``: every raster file read (integrity checks, hashing).
    """

    lst: Callable
    tir: Callable | None
    sun: tuple[float, float] | None
    files: tuple[Path, ...]


@runtime_checkable
class FillSource(Protocol):
    """What a ``"fill"`` key opens: reflectance that fills the primary image's gaps and clouds.

    Band *roles* are ``blue, green, red, nir, swir, swir2`` (and ``scl``, a scene-classification cloud layer
    read when no cloud mask key is given). :class:`glacierinv.preprocess.sentinel2.Sentinel2` is the one
    implementation today.
    """

    source: Path
    bands: dict[str, tuple[Path, int]]  # role → (file, band index)
    level: str
    sun: tuple[float, float] | None

    def has(self, role: str) -> bool: ...

    def channels(self) -> set[str]: ...  # the stack channels it provides (``swir1`` for role ``swir``)

    def reflectances(self, roles: list[str], grid: Grid, window=None, *, require_overlap: bool = True): ...


@dataclass(frozen=True)
class Sensor:
    """A product family: its ``[inputs]`` keys, channels, native pixel sizes and its readers.

    ``open(paths, dem, calibration)`` → :class:`Product` for the family's ``"primary"`` keys, or for a
    ``"fill"`` key when nothing else is given (raises :class:`InputError` with one clear line on a malformed
    product). ``fill(path)`` → :class:`FillSource` for the family's ``"fill"`` keys. ``thermal(path)`` →
    :class:`ThermalSource` for its ``"thermal"`` keys. ``options(cfg)`` → extra keyword arguments of
    ``open`` taken from the run configuration (e.g. Landsat's ``[stack] landsat_pan``).

    A sensor with a new role is one module declaring its keys with that role and the matching reader, plus
    one line in :data:`glacierinv.preprocess.sensors.SENSORS`; :func:`~glacierinv.preprocess.sensors.open_scene`
    finds readers by the role of the keys a scene gives.
    """

    name: str
    title: str
    keys: tuple[Key, ...]
    channels: dict[str, float]  # channel → central wavelength (µm), the union over the family
    native_res_m: dict[str, float]  # channel → native pixel size (m), the finest variant of the family
    open: Callable[..., Product] | None = None
    thermal: Callable[[Path], ThermalSource] | None = None
    fill: Callable[[Path], FillSource] | None = None
    doc: str = ""
    options: Callable[..., dict] | None = None


def read_bands(
    refs: list[BandRef],
    grid: Grid,
    window: Window | None = None,
    *,
    dem: Path | None = None,
    resampling: Resampling = Resampling.bilinear,
) -> np.ndarray:
    """Read and calibrate ``refs`` onto ``grid`` (window) → (len(refs), rows, cols) float32, NaN = nodata.

    Bands of one file are warped in one pass (bilinear). Files flagged ``rpc`` are orthorectified on the
    fly through GDAL's RPC transformer with ``dem`` (:func:`read_rpc_on_grid`).
    """
    shape = grid.window_grid(window).shape if window is not None else grid.shape
    out = np.empty((len(refs), *shape), "float32")
    groups: dict[tuple, list[int]] = {}
    for i, r in enumerate(refs):
        groups.setdefault((r.path, r.nodata, r.rpc), []).append(i)
    for (path, nodata, rpc), idxs in groups.items():
        bands = [refs[i].band for i in idxs]
        if rpc:
            arr = read_rpc_on_grid(
                path, grid, window, bands, dem=dem, src_nodata=nodata, resampling=resampling
            )
        else:
            arr = read_on_grid(
                path,
                grid,
                window,
                bands=bands,
                resampling=resampling,
                require_overlap=False,
                src_nodata=nodata,
            )
        for j, i in enumerate(idxs):
            out[i] = arr[j] * np.float32(refs[i].scale) + np.float32(refs[i].offset)
    return out


def rpc_dem_options(dem: Path) -> dict[str, str]:
    """GDAL RPC transformer options for heights from ``dem``: ``RPC_DEM`` and, for a DEM not in metres,
    ``RPC_HEIGHT_SCALE`` (GDAL: height = offset + DEM value × scale)."""
    from glacierinv.dem.terrain import dem_z_factor

    z_m = dem_z_factor(dem)
    return {"RPC_DEM": str(dem), **({"RPC_HEIGHT_SCALE": repr(z_m)} if z_m != 1.0 else {})}


def read_rpc_on_grid(
    path: Path,
    grid: Grid,
    window: Window | None,
    bands: list[int],
    *,
    dem: Path | None,
    src_nodata: float | None = None,
    resampling: Resampling = Resampling.bilinear,
) -> np.ndarray:
    """Orthorectify bands of a raw (RPC) image onto ``grid`` (window) with GDAL's RPC transformer.

    Heights come from ``dem`` (``RPC_DEM``, bilinear, converted to metres with ``RPC_HEIGHT_SCALE`` when
    the DEM is in another unit, :func:`glacierinv.dem.terrain.dem_z_factor`); without a DEM the RPC height
    offset is used (a flat Earth at the scene's mean height — only for flat scenes). Returns float32 with
    NaN outside the image.
    """
    import rasterio
    from rasterio.warp import reproject

    wgrid = grid.window_grid(window) if window is not None else grid
    out = np.full((len(bands), *wgrid.shape), np.nan, "float32")
    opts = {"RPC_DEMINTERPOLATION": "bilinear"}
    if dem is not None:
        opts.update(rpc_dem_options(dem))
    with warnings.catch_warnings():  # a raw Level-1A image has no geotransform, by design
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        src = open_raster(path, need_crs=False)
    with src:
        if src.rpcs is None:
            raise InputError("image has no RPC model (tags, .RPB or _rpc.txt)", path)
        for j, b in enumerate(bands):
            reproject(
                source=rasterio.band(src, b),
                destination=out[j],
                rpcs=src.rpcs,
                src_nodata=src_nodata,
                dst_transform=wgrid.transform,
                dst_crs=wgrid.crs,
                dst_nodata=np.nan,
                resampling=resampling,
                **opts,
            )
    return out
