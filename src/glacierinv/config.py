"""Run configuration: one pydantic model, loaded from TOML, with the seed's choices as defaults.

Relative paths in ``[inputs]`` are resolved against the folder of the TOML file. ``glacierinv config
template`` prints the commented default (:data:`TEMPLATE`, whose ``[inputs]`` section the sensor registry
writes: :func:`glacierinv.preprocess.sensors.config_template`).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from glacierinv.errors import ConfigError, InputError

__all__ = [
    "AssessConfig",
    "AttributesConfig",
    "InputsConfig",
    "OutlinesConfig",
    "RunConfig",
    "RuntimeConfig",
    "SceneConfig",
    "SegmentConfig",
    "StackConfig",
    "UnitsConfig",
    "load_config",
    "TEMPLATE",
]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _paths_in_extra(model: BaseModel, where: str) -> BaseModel:
    """Turn the extra (sensor) keys of a section into paths; the sensor registry checks their names."""
    extra = model.__pydantic_extra__ or {}
    for key, value in extra.items():
        if value is None or isinstance(value, Path):
            continue
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{where} {key} must be a path (a string), got {value!r}")
        extra[key] = Path(value)
    return model


class InputsConfig(_Section):
    """Input files: ``dem`` plus the products, named by the sensor keys.

    The product keys (``pan``, ``ms``, ``landsat``, ``sentinel2``/``s2``, ``gf``, ``zy3``, masks, reference
    data …) are declared by the sensor registry (:mod:`glacierinv.preprocess.sensors`), which sits above the
    configuration layer; this section accepts them as paths and the registry rejects unknown names in the
    preflight of ``glacierinv config check`` / ``run`` (listing the known keys).
    """

    model_config = ConfigDict(extra="allow")

    dem: Path  # the fine DEM (metres)
    # classes rasters of other dates (0/1/2, 255 nodata): ice persists, snow does not (seasonal-snow evidence)
    other_dates: list[Path] = Field(default_factory=list)
    img_source: str = "primary"  # img_source attribute written per glacier
    dem_source: str = "dem"  # dem_source attribute written per glacier
    src_date: str | None = None
    # overrides of a sensor's calibration table, e.g. {gain = {pan = 0.17}, esun = {blue = 1940.0}}
    calibration: dict[str, dict[str, float]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _paths(self) -> InputsConfig:
        return _paths_in_extra(self, "[inputs]")


class StackConfig(_Section):
    channels: list[str] = Field(default_factory=lambda: ["blue", "green", "red", "nir", "lst", "slope"])
    pansharpen: Literal["brovey", "gram_schmidt", "hpf", "none"] = "gram_schmidt"
    resolution_m: float | None = None  # output grid; default = pan (or ms) grid
    # Landsat 7/8/9 Level-1: read the 15 m pan band (B8); the stack grid becomes 15 m, blue..nir pan-sharpened
    landsat_pan: bool = False
    coregister: bool = (
        False  # estimate + apply sub-pixel shifts of MS and S2 vs the primary (phase correlation)
    )


class SegmentConfig(_Section):
    method: Literal["baseline", "unet"] = (
        "unet"  # the paper's U-Net+CBAM (shipped synthetic model unless checkpoint is set)
    )
    checkpoint: Path | None = None  # U-Net checkpoint (.pt); default = the shipped model
    tile_px: int = 512
    overlap_px: int = 128
    write_proba: bool = True
    device: Literal["auto", "cpu", "cuda"] = "auto"
    batch_size: int = Field(4, ge=1)  # U-Net tiles per forward pass
    # column strip of U-Net inference: memory ∝ strip, not scene width; extra work ≈ tile_px / strip_px
    strip_px: int = Field(4096, ge=16)
    # auto: bf16 autocast where the device has native bf16 (CUDA with bf16, CPU with AVX512-BF16/AMX)
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    # uncertainty.tif from calibrated probabilities: softmax (one pass, free) | tta (4 passes) |
    # mc (mc_samples passes with dropout) | none (no uncertainty.tif)
    confidence: Literal["softmax", "tta", "mc", "none"] = "softmax"
    mc_samples: int = Field(8, ge=2)


class OutlinesConfig(_Section):
    min_area_km2: float = 0.005  # seed: patches < 0.005 km² dropped
    fill_holes_below_km2: float = 0.001  # interior holes smaller than this are filled
    simplify_px: float = 0.5  # Douglas-Peucker tolerance in pixels (0 = none)


class UnitsConfig(_Section):
    enabled: bool = True
    min_unit_area_km2: float = (
        0.1  # basins below this are merged into the neighbour with the longest shared divide
    )
    divides: Path | None = None  # user-corrected divide lines overriding the automatic ones
    reach_m: float = Field(300.0, ge=0)  # how far a basin's outflow is followed off the ice (Kienholz 2013)
    smooth_m: float = Field(200.0, ge=0)  # ice-surface smoothing sigma before flow routing


class AttributesConfig(_Section):
    hypsometry_band_m: float = 50.0
    min_dem_coverage: float = 0.2  # refuse z statistics when less of the glacier has valid DEM
    rgi_regions: list[Path] = Field(default_factory=list)  # RGI 7 region/subregion polygons → o1/o2region
    id_prefix: str = "glacierinv"  # rgi_id-style ids <prefix>-G-<o1region>-<nnnnn>
    crs: str | None = None  # inventory.gpkg in this CRS (e.g. "EPSG:4326" like RGI); default: the scene's


class AssessConfig(_Section):
    buffer_px: float = 2.0  # seed: ±2 px (±4 m at 2 m)
    n_boot: int = Field(200, ge=0)  # block-bootstrap replicates of the accuracy CIs (0 = none)
    boot_block_px: int = Field(128, gt=0)  # side of the spatial bootstrap blocks, px
    regions: Path | None = None  # polygons naming accuracy regions (e.g. west/central/east)
    region_column: str = "name"
    miou_exclude_background: bool = False  # False: mIoU over all classes incl. background


class AnalysisConfig(_Section):
    """The inventory analyses of the ``analyse`` stage (see :mod:`glacierinv.analysis`)."""

    enabled: bool = True
    band_m: float = Field(200.0, gt=0)  # hypsometry band (m), seed: 200 m
    min_type_area_km2: float = Field(5.0, ge=0)  # AAR glacier types for glaciers at least this large
    aar_thresholds: tuple[float, float] = (0.3, 0.6)  # Turkestan <= t1 < Mustagh <= t2 < Alpine
    snow: Path | None = None  # snow / snow-fraction / albedo raster for the snowline (AAR types)
    snow_threshold: float = 0.5  # value of `snow` counted as snow
    ela_column: str | None = None  # or a column of the inventory with an ELA per glacier (m)
    # neither given: broadband albedo from the stack's green + NIR (Knap et al. 1999), snow where >= this
    albedo_snow_min: float = Field(0.5, gt=0, lt=1)
    surge_list: Path | None = None  # surge-type glacier ids (text or CSV)
    window_m: float = Field(90.0, gt=0)  # roughness / relief window (m)
    n_boot: int = Field(2000, ge=0)  # bootstrap resamples of the DEM-resolution CIs
    lapse_rate_k_per_km: float = Field(6.5, gt=0)
    warming_k: tuple[float, ...] = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0)


class RuntimeConfig(_Section):
    block_px: int = 1024
    gdal_cache_mb: int = Field(256, ge=16)  # GDAL block cache per process (GDAL's default: 5 % of RAM)
    # >0: arrays above this many MiB get their own mmap (returned on free), no heap fragmentation; measured on
    # a 4096² U-Net segment stage: 1 MiB → 15 % lower peak RSS, 25 % slower. 0 = glibc's default
    heap_mmap_threshold_mb: float = Field(0.0, ge=0)
    workers: int = 0  # 0 = in-process; N = LocalCluster with N workers
    # native (torch/OpenMP/GDAL) threads per LocalCluster worker; None = CPUs ÷ workers (no oversubscription)
    threads_per_worker: int | None = Field(None, ge=1)
    scheduler: str | None = None  # address of an existing dask scheduler
    seed: int = 0
    tile_px: int = 0  # >0: split each scene into tiles of this many px (tasks for Dask); 0 = whole scenes
    tile_overlap_px: int = 128  # margin processed around each tile and discarded when mosaicking
    continue_on_error: bool = False  # keep going when one tile/scene fails (it is logged in run.json)


class SceneConfig(_Section):
    """One scene of a multi-scene run: its own imagery (sensor keys, as in ``[inputs]``) and optionally DEM;
    imagery it does not name is not inherited from ``[inputs]`` (the DEM is)."""

    model_config = ConfigDict(extra="allow")

    name: str
    priority: int | None = None  # lower wins in the mosaic; default: primary sensor first, then least cloud
    img_source: str | None = None
    dem: Path | None = None

    @model_validator(mode="after")
    def _paths(self) -> SceneConfig:
        return _paths_in_extra(self, f"[[scenes]] '{self.name}'")


#: Metres per unit for ``--z-unit`` / ``[dem] z_unit`` (and band units found in files).
Z_UNITS = {
    "m": 1.0, "metre": 1.0, "meter": 1.0, "metres": 1.0, "meters": 1.0,
    "ft": 0.3048, "foot": 0.3048, "feet": 0.3048, "international foot": 0.3048,
    "us-ft": 1200.0 / 3937.0, "us survey foot": 1200.0 / 3937.0, "ftus": 1200.0 / 3937.0,
    "cm": 0.01, "dm": 0.1,
}  # fmt: skip


class DemPath(type(Path())):
    """A DEM path that carries the DEM's vertical unit (``z_unit``, a key of :data:`Z_UNITS`).

    It is a :class:`pathlib.Path`, so it travels through every function that takes a DEM path; the DEM
    readers (:class:`~glacierinv.dem.windows.DemWindows`) convert its values to metres.
    """

    z_unit: str | None = None


def dem_path(path: str | Path, z_unit: str | None = None) -> Path:
    """``path`` as a :class:`DemPath` with ``z_unit`` (checked), or unchanged when ``z_unit`` is None."""
    if z_unit is None:
        return Path(path)
    unit = z_unit.strip().lower()
    if unit not in Z_UNITS:
        raise InputError(f"unknown vertical unit '{z_unit}'; give one of m, ft, us-ft, cm, dm")
    p = DemPath(path)
    p.z_unit = unit
    return p


class DemConfig(_Section):
    """How to read the DEMs (``inputs.dem``, ``inputs.dem_coarse``)."""

    z_unit: str | None = None  # vertical unit: m, ft, us-ft (default: from the file, else metres)

    @field_validator("z_unit")
    @classmethod
    def _z_unit_ok(cls, v: str | None) -> str | None:
        if v is not None and v.strip().lower() not in Z_UNITS:
            raise ValueError(f"unknown vertical unit '{v}'; give one of m, ft, us-ft, cm, dm")
        return v


class RunConfig(_Section):
    """The whole run configuration (one TOML file)."""

    name: str = "glacierinv-run"
    inputs: InputsConfig
    stack: StackConfig = Field(default_factory=StackConfig)
    segment: SegmentConfig = Field(default_factory=SegmentConfig)
    outlines: OutlinesConfig = Field(default_factory=OutlinesConfig)
    units: UnitsConfig = Field(default_factory=UnitsConfig)
    attributes: AttributesConfig = Field(default_factory=AttributesConfig)
    assess: AssessConfig = Field(default_factory=AssessConfig)
    analysis: AnalysisConfig = Field(default_factory=AnalysisConfig)
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig)
    dem: DemConfig = Field(default_factory=DemConfig)
    scenes: list[SceneConfig] = Field(default_factory=list)  # several scenes → one seamless inventory
    base_dir: Path = Field(default=Path("."), exclude=True)

    @field_validator("name")
    @classmethod
    def _name_ok(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("name must not be empty")
        return v

    def resolve(self, path: Path | None) -> Path | None:
        """An input path resolved against the config file's folder."""
        if path is None:
            return None
        p = Path(path).expanduser()
        return p if p.is_absolute() else (self.base_dir / p).resolve()

    def input_path(self, key: str, required: bool = True) -> Path | None:
        """Resolved path of ``inputs.<key>``; raises a clear error if required and missing."""
        p = self.resolve(getattr(self.inputs, key, None))
        if p is None and required:
            raise ConfigError(
                f'config: [inputs] {key} is required for this stage. Add `{key} = "PATH"` under [inputs].'
            )
        if p is not None and not p.exists():
            raise InputError(f"input '{key}' not found", p, "Fix the path in [inputs] of the config")
        if p is not None and key in ("dem", "dem_coarse") and self.dem.z_unit is not None:
            return dem_path(p, self.dem.z_unit)  # a Path that carries the vertical unit to the DEM readers
        return p


def load_config(path: str | Path) -> RunConfig:
    """Load and validate a TOML run configuration."""
    p = Path(path)
    if not p.exists():
        raise InputError("config file not found", p, "Give a TOML file (see `glacierinv config template`)")
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: not valid TOML ({exc}). Fix the syntax.") from None
    return config_from_dict(data, base_dir=p.parent.resolve(), source=str(p))


def config_from_dict(data: dict, base_dir: Path, source: str = "config") -> RunConfig:
    """Validate a config dict (as read from TOML)."""
    try:
        cfg = RunConfig.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err["loc"])
        raise ConfigError(
            f"{source}: invalid setting '{where}': {err['msg']}. See `glacierinv config template`."
        ) from None
    return cfg.model_copy(update={"base_dir": Path(base_dir)})


# the commented default configuration; its [inputs] section is written by the sensor registry,
# see glacierinv.preprocess.sensors.config_template()
TEMPLATE = """\
# glacierinv run configuration. Paths are relative to this file.
name = "my-inventory"

{inputs}img_source = "zy3"
dem_source = "zy3"

[stack]
channels = ["blue", "green", "red", "nir", "lst", "slope"]
pansharpen = "gram_schmidt"  # gram_schmidt | brovey | hpf | none
# landsat_pan = true         # Landsat 7/8/9 Level-1: pan-sharpen onto the 15 m pan band (B8)
# coregister = true          # phase-correlation shifts of MS/S2 onto the primary image (reported in run.json)

[segment]
method = "unet"              # unet (U-Net+CBAM; shipped model unless checkpoint = "PATH") | baseline
tile_px = 512
overlap_px = 128
batch_size = 4               # tiles per forward pass
precision = "auto"           # bf16 autocast where native (AVX512-BF16/AMX CPU, CUDA), else fp32
confidence = "softmax"       # uncertainty.tif: softmax (free) | tta | mc (4-8x slower) | none

[outlines]
min_area_km2 = 0.005         # seed: patches below 0.005 km2 are dropped
fill_holes_below_km2 = 0.001

[units]
enabled = true
min_unit_area_km2 = 0.1
# reach_m = 300.0            # how far (m) a basin's outflow is followed off the ice before it counts as leaving
# smooth_m = 200.0           # ice-surface smoothing sigma (m) before flow routing

[attributes]
hypsometry_band_m = 50
# rgi_regions = ["RGI2000-v7.0-regions.shp", "RGI2000-v7.0-subregions.shp"]  # -> o1region, o2region
# crs = "EPSG:4326"          # write inventory.gpkg in lon/lat like RGI's distribution

[assess]
buffer_px = 2                # +-2 px buffer uncertainty

[analysis]
band_m = 200                 # hypsometry band (m)
min_type_area_km2 = 5        # AAR glacier types for glaciers >= 5 km2
# snow = "snow.tif"          # snow / albedo raster for snowlines and AAR (or ela_column = "ela_m")

# [dem]
# z_unit = "ft"              # vertical unit of the DEMs when the files do not say (default: metres)

[runtime]
block_px = 1024
workers = 0                  # >0: local Dask cluster with N workers
"""
