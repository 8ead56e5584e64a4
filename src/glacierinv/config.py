"""Run configuration: one pydantic model, loaded from TOML, with the seed's choices as defaults.

Relative paths in ``[inputs]`` are resolved against the folder of the TOML file. Each section's model holds
the only copy of its defaults, with a description per setting; ``glacierinv config template`` is generated
from them (:func:`config_template`; the ``[inputs]`` product keys come from the sensor registry,
:func:`glacierinv.preprocess.sensors.config_template`), and the stage commands of the CLI take their
defaults from them too (:mod:`glacierinv.cli.options`).
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
    "config_template",
    "load_config",
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

    dem: Path = Field(description="the fine DEM (metres unless [dem] z_unit says otherwise)")
    other_dates: list[Path] = Field(
        default_factory=list,
        description="classes rasters of other dates (0/1/2, 255 nodata): ice persists, snow does not "
        "(seasonal-snow evidence)",
    )
    img_source: str = Field("primary", description="img_source attribute written per glacier")
    dem_source: str | None = Field(
        None,
        description="dem_source attribute written per glacier; default: the DEM's file name",
        examples=["copdem30"],
    )
    src_date: str | None = Field(
        None, description="src_date attribute (date of the imagery) per glacier", examples=["2021-08-20"]
    )
    calibration: dict[str, dict[str, float]] = Field(
        default_factory=dict,
        description="overrides of a sensor's calibration table, e.g. {gain = {pan = 0.17}, esun = {blue = 1940.0}}",
    )

    @model_validator(mode="after")
    def _paths(self) -> InputsConfig:
        return _paths_in_extra(self, "[inputs]")


class StackConfig(_Section):
    """The ``stack`` stage: imagery and DEM → ``stack.tif`` (the U-Net's input channels)."""

    channels: list[str] = Field(
        default_factory=lambda: ["blue", "green", "red", "nir", "lst", "slope"],
        description="feature channels of stack.tif, in order (the model's channels)",
    )
    pansharpen: Literal["brovey", "gram_schmidt", "hpf", "none"] = Field(
        "gram_schmidt", description="pan-sharpening of the MS bands: gram_schmidt | brovey | hpf | none"
    )
    resolution_m: float | None = Field(
        None, description="output grid (m); default: the pan (or MS) grid", examples=[2.0]
    )
    landsat_pan: bool = Field(
        False,
        description="Landsat 7/8/9 Level-1: read the 15 m pan band (B8); the stack grid becomes 15 m, "
        "blue..nir pan-sharpened",
    )
    coregister: bool = Field(
        False,
        description="estimate and apply sub-pixel shifts of MS and S2 onto the primary image (phase "
        "correlation, reported in run.json)",
    )


class SegmentConfig(_Section):
    """The ``segment`` stage: ``stack.tif`` → ``classes.tif``, ``proba.tif``, ``uncertainty.tif``."""

    method: Literal["baseline", "unet"] = Field(
        "unet",
        description="unet (the paper's U-Net+CBAM; the shipped model unless checkpoint is set) | baseline (band-ratio rules)",
    )
    checkpoint: Path | None = Field(
        None, description="U-Net checkpoint (.pt); default: the shipped model", examples=["model/best.pt"]
    )
    tile_px: int | None = Field(
        None,
        description="U-Net tile size (px); default: the tile size the checkpoint was trained on (its CBAM "
        "attention pools over the whole tile, so the model is accurate at that size: docs/segment.md)",
        examples=[128],
    )
    overlap_px: int | None = Field(
        None, description="U-Net tile overlap (px); default: tile_px / 4", examples=[32]
    )
    write_proba: bool = Field(True, description="write proba.tif (class probabilities)")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto | cpu | cuda")
    batch_size: int = Field(4, ge=1, description="U-Net tiles per forward pass")
    strip_px: int = Field(
        4096,
        ge=16,
        description="column strip of U-Net inference (px): memory grows with the strip, not the scene "
        "width; extra work ≈ tile_px / strip_px",
    )
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto",
        description="auto: bf16 autocast where the device has native bf16 (CUDA with bf16, CPU with "
        "AVX512-BF16/AMX), else fp32 | fp32 | bf16",
    )
    confidence: Literal["softmax", "tta", "mc", "none"] = Field(
        "softmax",
        description="uncertainty.tif from calibrated probabilities: softmax (one pass, free) | tta (4 "
        "passes) | mc (mc_samples passes with dropout) | none (no uncertainty.tif)",
    )
    mc_samples: int = Field(8, ge=2, description="passes of confidence = mc")


class OutlinesConfig(_Section):
    """The ``outlines`` stage: ``classes.tif`` → ``outlines.gpkg``."""

    min_area_km2: float = Field(0.005, description="patches smaller than this are dropped (km²; seed: 0.005)")
    fill_holes_below_km2: float = Field(
        0.001, description="interior holes smaller than this are filled (km²)"
    )
    simplify_px: float = Field(0.5, description="Douglas-Peucker tolerance (px; 0 = none)")


class UnitsConfig(_Section):
    """The ``units`` stage: glacier complexes → glacier units along drainage divides."""

    enabled: bool = Field(True, description="split complexes into units (false: the outlines are the units)")
    min_unit_area_km2: float = Field(
        0.1,
        description="sliver threshold (km²): smaller basins join the neighbour with the longest shared divide",
    )
    divides: Path | None = Field(
        None,
        description="user-corrected divide lines overriding the automatic ones",
        examples=["divides.gpkg"],
    )
    reach_m: float = Field(
        300.0, ge=0, description="how far (m) a basin's outflow is followed off the ice (Kienholz 2013)"
    )
    smooth_m: float = Field(200.0, ge=0, description="ice-surface smoothing sigma (m) before flow routing")


class AttributesConfig(_Section):
    """The ``attributes`` stage: glacier units + DEM → the inventory (RGI 7 attributes)."""

    hypsometry_band_m: float = Field(50.0, description="hypsometry band height (m; RGI: 50)")
    min_dem_coverage: float = Field(
        0.2, description="share of a glacier with valid DEM below which its elevation statistics stay null"
    )
    rgi_regions: list[Path] = Field(
        default_factory=list,
        description="RGI 7 region/subregion polygons → o1region, o2region, ids by region",
    )
    id_prefix: str = Field("glacierinv", description="rgi_id-style ids <prefix>-G-<o1region>-<nnnnn>")
    crs: str | None = Field(
        None,
        description='CRS of inventory.gpkg (e.g. "EPSG:4326" like RGI); default: the scene\'s',
        examples=["EPSG:4326"],
    )


class AssessConfig(_Section):
    """The ``assess`` stage: accuracy against truth, buffer uncertainty."""

    buffer_px: float = Field(
        2.0, description="buffer uncertainty: ± this many pixels of the classes grid (seed: 2)"
    )
    n_boot: int = Field(200, ge=0, description="block-bootstrap replicates of the accuracy CIs (0 = none)")
    boot_block_px: int = Field(128, gt=0, description="side of the spatial bootstrap blocks (px)")
    regions: Path | None = Field(
        None,
        description="polygons naming accuracy regions (e.g. west/central/east)",
        examples=["regions.gpkg"],
    )
    region_column: str = Field("name", description="column of regions holding the region names")
    miou_exclude_background: bool = Field(
        False, description="mIoU over the glacier classes only (false: over all classes incl. background)"
    )


class AnalysisConfig(_Section):
    """The inventory analyses of the ``analyse`` stage (see :mod:`glacierinv.analysis`)."""

    enabled: bool = Field(True, description="run the analyses")
    band_m: float = Field(200.0, gt=0, description="hypsometry band of the analyses (m; seed: 200)")
    min_type_area_km2: float = Field(
        5.0, ge=0, description="AAR glacier types for glaciers at least this large (km²)"
    )
    aar_thresholds: tuple[float, float] = Field(
        (0.3, 0.6), description="AAR type thresholds t1, t2: Turkestan <= t1 < Mustagh <= t2 < Alpine"
    )
    snow: Path | None = Field(
        None,
        description="snow / snow-fraction / albedo raster for the snowline (AAR types)",
        examples=["snow.tif"],
    )
    snow_threshold: float = Field(0.5, description="value of snow counted as snow")
    ela_column: str | None = Field(
        None, description="or: an inventory column with an ELA per glacier (m)", examples=["ela_m"]
    )
    albedo_snow_min: float = Field(
        0.5,
        gt=0,
        lt=1,
        description="without snow or ela_column: broadband albedo from the stack's green + NIR (Knap et al. "
        "1999), snow where >= this",
    )
    surge_list: Path | None = Field(
        None, description="surge-type glacier ids (text or CSV)", examples=["surge_ids.csv"]
    )
    window_m: float = Field(90.0, gt=0, description="roughness / relief window (m)")
    n_boot: int = Field(2000, ge=0, description="bootstrap resamples of the DEM-resolution CIs")
    lapse_rate_k_per_km: float = Field(6.5, gt=0, description="temperature lapse rate (K/km)")
    warming_k: tuple[float, ...] = Field(
        (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0), description="warming scenarios (K)"
    )


class RuntimeConfig(_Section):
    """How the run is executed (blocks, memory, Dask); not part of any stage's result."""

    block_px: int = Field(1024, description="raster work window (px)")
    gdal_cache_mb: int = Field(
        256, ge=16, description="GDAL block cache per process (MiB; GDAL's own default: 5 % of RAM)"
    )
    heap_mmap_threshold_mb: float = Field(
        0.0,
        ge=0,
        description=">0: arrays above this many MiB get their own mmap (returned on free), no heap "
        "fragmentation; measured on a 4096² U-Net segment stage: 1 MiB → 15 % lower peak RSS, 25 % "
        "slower. 0 = glibc's default",
    )
    workers: int = Field(0, description="0 = in-process; N = a local Dask cluster with N workers")
    threads_per_worker: int | None = Field(
        None,
        ge=1,
        description="native (torch/OpenMP/GDAL) threads per Dask worker; default: CPUs ÷ workers",
        examples=[2],
    )
    scheduler: str | None = Field(
        None, description="address of an existing Dask scheduler", examples=["tcp://127.0.0.1:8786"]
    )
    batches_per_worker: int = Field(
        6,
        ge=1,
        description="per-glacier and per-window work (outlines, units, attributes, analyse) is cut into this "
        "many tasks per Dask worker: more balance unequal glacier complexes, fewer cost less overhead",
    )
    seed: int = Field(0, description="random seed")
    tile_px: int = Field(
        0, description=">0: split each scene into tiles of this many px (tasks for Dask); 0 = whole scenes"
    )
    tile_overlap_px: int = Field(
        128, description="margin processed around each tile and discarded when mosaicking (px)"
    )
    continue_on_error: bool = Field(
        False, description="keep going when one tile/scene fails (it is logged in run.json)"
    )


class SceneConfig(_Section):
    """One scene of a multi-scene run: its own imagery (sensor keys, as in ``[inputs]``) and optionally DEM;
    imagery it does not name is not inherited from ``[inputs]`` (the DEM is)."""

    model_config = ConfigDict(extra="allow")

    name: str = Field(description="the scene's name (part keys, run.json)", examples=["west"])
    priority: int | None = Field(
        None,
        description="lower wins in the mosaic; default: primary sensor first, then least cloud",
        examples=[1],
    )
    img_source: str | None = Field(None, description="img_source of its glaciers", examples=["landsat"])
    dem: Path | None = Field(
        None, description="its own DEM (default: [inputs] dem)", examples=["dem_west.tif"]
    )

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

    z_unit: str | None = Field(
        None,
        description="vertical unit of the DEMs: m, ft, us-ft (default: from the file, else metres)",
        examples=["ft"],
    )

    @field_validator("z_unit")
    @classmethod
    def _z_unit_ok(cls, v: str | None) -> str | None:
        if v is not None and v.strip().lower() not in Z_UNITS:
            raise ValueError(f"unknown vertical unit '{v}'; give one of m, ft, us-ft, cm, dm")
        return v


class RunConfig(_Section):
    """The whole run configuration (one TOML file)."""

    name: str = Field("glacierinv-run", description="name of the run (run.json, report)")
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


def config_template(inputs_block: str) -> str:
    """The commented default configuration (``glacierinv config template``), generated from the models.

    Every setting of every section appears with its default value (a setting without a default as a
    commented line with an example) and its :class:`~pydantic.Field` description as the comment above it,
    so the template cannot drift from the models. ``inputs_block`` is the ``[inputs]`` section's product
    keys, written by the sensor registry (:func:`glacierinv.preprocess.sensors.config_template`).
    """
    lines = [
        "# glacierinv run configuration, generated from the configuration models (glacierinv.config): every",
        "# setting with its default. Paths are relative to this file. Check it with `glacierinv config check`.",
        *_field_lines(RunConfig, only=("name",)),
        "",
        inputs_block.rstrip("\n"),
        *_field_lines(InputsConfig, skip=("dem", "other_dates")),
    ]
    for name, field in RunConfig.model_fields.items():
        model = field.annotation
        if name in ("inputs", "scenes") or not (isinstance(model, type) and issubclass(model, _Section)):
            continue
        lines += ["", f"[{name}]", *_comment(model.__doc__ or "", width=110), *_field_lines(model)]
    lines += ["", *_comment(SceneConfig.__doc__ or "", width=110), "# [[scenes]]"]
    lines += [f"# {ln}" if ln and not ln.startswith("#") else ln for ln in _field_lines(SceneConfig)]
    return "\n".join(lines) + "\n"


def _comment(text: str, width: int = 100) -> list[str]:
    import re
    import textwrap

    text = re.sub(r":\w+:`([^`]+)`", r"\1", " ".join(text.split())).replace("``", "`")
    return [f"# {ln}" for ln in textwrap.wrap(text, width - 2, break_on_hyphens=False)] if text else []


def _field_lines(model: type[BaseModel], only: tuple[str, ...] = (), skip: tuple[str, ...] = ()) -> list[str]:
    lines = []
    for key, field in model.model_fields.items():
        if (only and key not in only) or key in skip or field.exclude:
            continue
        lines += _comment(field.description or "")
        default = field.get_default(call_default_factory=True)
        if default is None or (field.is_required() and not only):
            example = field.examples[0] if field.examples else "VALUE"
            lines.append(f"# {key} = {_toml(example)}")
        else:
            lines.append(f"{key} = {_toml(default)}")
    return lines


def _toml(value) -> str:
    """A TOML value (the types of the configuration models)."""
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, Path):
        return json.dumps(str(value))
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no TOML form for {value!r}")
