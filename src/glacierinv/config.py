"""Run configuration: one pydantic model, loaded from TOML, with the seed's choices as defaults.

Relative paths in ``[inputs]`` are resolved against the folder of the TOML file. ``glacierinv config
template`` prints the commented default (see :data:`TEMPLATE`).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

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


class InputsConfig(_Section):
    """Input files. Only ``dem`` and one optical source (``ms`` or ``s2``) are required."""

    pan: Path | None = None  # panchromatic band, defines the primary (finest) grid
    ms: Path | None = None  # multispectral GeoTIFF, bands described blue/green/red/nir
    s2: Path | None = None  # Sentinel-2-like GeoTIFF (bands B2,B3,B4,B8,B11 by description) or SAFE folder
    s2_cloud_mask: Path | None = None  # 1 = cloud/cirrus, 0 = clear (or an SCL raster)
    landsat_mtl: Path | None = None  # Landsat MTL.txt; band files found beside it
    dem: Path  # the fine DEM (metres)
    dem_coarse: Path | None = None  # e.g. a 30 m DEM for comparison analyses
    primary_cloud_mask: Path | None = None
    truth_classes: Path | None = None  # reference classes (0/1/2, 255 nodata) for assessment
    truth_glaciers: Path | None = None  # reference glacier polygons
    prior_outlines: Path | None = None  # RGI / older inventory: seasonal-snow evidence, never copied
    other_dates: list[Path] = Field(default_factory=list)  # classes rasters of other dates (0/1/2, 255)
    img_source: str = "primary"  # img_source attribute written per glacier
    dem_source: str = "dem"  # dem_source attribute written per glacier
    src_date: str | None = None


class StackConfig(_Section):
    channels: list[str] = Field(default_factory=lambda: ["blue", "green", "red", "nir", "lst", "slope"])
    pansharpen: Literal["brovey", "gram_schmidt", "hpf", "none"] = "gram_schmidt"
    resolution_m: float | None = None  # output grid; default = pan (or ms) grid
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
    precision: Literal["fp32", "bf16"] = "fp32"  # bf16 autocast: faster on some CPUs/GPUs, not on all


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


class AttributesConfig(_Section):
    hypsometry_band_m: float = 50.0
    min_dem_coverage: float = 0.2  # refuse z statistics when less of the glacier has valid DEM


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
    scheduler: str | None = None  # address of an existing dask scheduler
    seed: int = 0
    tile_px: int = 0  # >0: split each scene into tiles of this many px (tasks for Dask); 0 = whole scenes
    tile_overlap_px: int = 128  # margin processed around each tile and discarded when mosaicking
    continue_on_error: bool = False  # keep going when one tile/scene fails (it is logged in run.json)


class SceneConfig(_Section):
    """One scene of a multi-scene run: its own imagery (and optionally DEM); the rest comes from [inputs]."""

    name: str
    priority: int | None = None  # lower wins in the mosaic; default: primary sensor first, then least cloud
    pan: Path | None = None
    ms: Path | None = None
    s2: Path | None = None
    s2_cloud_mask: Path | None = None
    landsat_mtl: Path | None = None
    dem: Path | None = None
    primary_cloud_mask: Path | None = None
    img_source: str | None = None


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
        p = self.resolve(getattr(self.inputs, key))
        if p is None and required:
            raise ConfigError(
                f'config: [inputs] {key} is required for this stage. Add `{key} = "PATH"` under [inputs].'
            )
        if p is not None and not p.exists():
            raise InputError(f"input '{key}' not found", p, "Fix the path in [inputs] of the config")
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


TEMPLATE = """\
# glacierinv run configuration. Paths are relative to this file.
name = "my-inventory"

[inputs]
pan = "pan.tif"              # panchromatic band: the primary (finest) grid
ms = "ms.tif"                # multispectral, band descriptions blue, green, red, nir
s2 = "s2.tif"                # Sentinel-2 bands (B2, B3, B4, B8, B11) for gap fill
s2_cloud_mask = "s2_cloud.tif"
landsat_mtl = "landsat/MTL.txt"  # Landsat Level-1 metadata; bands found beside it (LST)
dem = "dem.tif"              # fine DEM in metres
dem_coarse = "dem30.tif"     # optional 30 m DEM
# truth_classes = "truth/classes.tif"   # optional reference for accuracy
# prior_outlines = "rgi7.gpkg"          # optional RGI / older inventory: seasonal-snow evidence, never copied
# other_dates = ["../run_2019/classes.tif"]   # optional classes of other dates: ice persists, snow does not
img_source = "zy3"
dem_source = "zy3"

[stack]
channels = ["blue", "green", "red", "nir", "lst", "slope"]
pansharpen = "gram_schmidt"  # gram_schmidt | brovey | hpf | none
# coregister = true          # phase-correlation shifts of MS/S2 onto the primary image (reported in run.json)

[segment]
method = "unet"              # unet (U-Net+CBAM; shipped model unless checkpoint = "PATH") | baseline
tile_px = 512
overlap_px = 128
batch_size = 4               # tiles per forward pass
precision = "fp32"           # or "bf16" (autocast; measure before switching)

[outlines]
min_area_km2 = 0.005         # seed: patches below 0.005 km2 are dropped
fill_holes_below_km2 = 0.001

[units]
enabled = true
min_unit_area_km2 = 0.1

[attributes]
hypsometry_band_m = 50

[assess]
buffer_px = 2                # +-2 px buffer uncertainty

[analysis]
band_m = 200                 # hypsometry band (m)
min_type_area_km2 = 5        # AAR glacier types for glaciers >= 5 km2
# snow = "snow.tif"          # snow / albedo raster for snowlines and AAR (or ela_column = "ela_m")

[runtime]
block_px = 1024
workers = 0                  # >0: local Dask cluster with N workers
"""
