"""The sensor registry: every product family the pipeline reads, and the ``[inputs]`` keys it answers to.

One module per product family (:mod:`.generic`, :mod:`.landsat`, :mod:`.sentinel2`, :mod:`.gfzy`) declares
in one place its config keys, its channels (with central wavelengths), native pixel sizes, how to find
its files, how to read and calibrate them and its quality mask. Everything else derives from
:data:`SENSORS`: the config's ``[inputs]`` and ``[[scenes]]`` fields, the preflight checks, ``glacierinv
config template``, the feature stack and docs/sensors.md. Adding a sensor = one module + its tests +
one line in :data:`SENSORS`.

Public functions for the rest of the code: :func:`input_keys`, :func:`scene_keys`, :func:`input_paths`
(every configured input path, for stage hashing), :func:`open_scene` (the opened products of one
scene) and :func:`available_channels`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from glacierinv.errors import ConfigError
from glacierinv.preprocess.sensors import generic, gfzy, landsat, sentinel2
from glacierinv.preprocess.sensors._base import (
    CHANNEL_WAVELENGTH_UM,
    BandRef,
    FillSource,
    Key,
    Product,
    Sensor,
    ThermalSource,
    read_bands,
)

if TYPE_CHECKING:
    from glacierinv.config import RunConfig

__all__ = [
    "ANCILLARY_KEYS",
    "CHANNEL_WAVELENGTH_UM",
    "KNOWN_CHANNELS",
    "SENSORS",
    "BandRef",
    "FillSource",
    "Key",
    "Product",
    "Scene",
    "Sensor",
    "ThermalSource",
    "all_keys",
    "available_channels",
    "check_keys",
    "config_template",
    "input_keys",
    "input_paths",
    "key_role",
    "open_scene",
    "product_files",
    "read_bands",
    "scene_configs",
    "scene_keys",
    "sensor_of_key",
]

SENSORS: tuple[Sensor, ...] = (generic.SENSOR, landsat.SENSOR, sentinel2.SENSOR, gfzy.SENSOR)

# inputs that are not imagery of a sensor (DEM, reference data)
ANCILLARY_KEYS: tuple[Key, ...] = (
    Key(
        "dem",
        "fine DEM in metres (slope, shadows, RPC orthorectification)",
        "dem",
        example="dem.tif",
        active=True,
    ),
    Key("dem_coarse", "optional coarse DEM (e.g. 30 m) for analyses", "aux", False, "dem30.tif", active=True),
    Key(
        "truth_classes",
        "reference classes (0/1/2, 255 nodata) for accuracy",
        "reference",
        False,
        "truth/classes.tif",
    ),
    Key(
        "truth_glaciers", "reference glacier polygons for accuracy", "reference", False, "truth/glaciers.gpkg"
    ),
    Key(
        "prior_outlines",
        "RGI / older inventory: seasonal-snow evidence and review flags, never copied",
        "reference",
        False,
        "rgi7.gpkg",
    ),
)

# every channel name [stack] channels accepts ("swir" = swir1, kept for old configs)
KNOWN_CHANNELS = (
    "blue", "green", "red", "nir", "pan", "swir1", "swir2", "swir", "lst", "tir", "slope", "elevation", "dem",
    "ndsi", "ndwi", "ndvi",
)  # fmt: skip
OPTICAL = ("blue", "green", "red", "nir")


def all_keys() -> tuple[Key, ...]:
    """Every ``[inputs]`` path key: the sensors' keys, then the ancillary ones."""
    return tuple(k for s in SENSORS for k in s.keys) + ANCILLARY_KEYS


def input_keys() -> tuple[str, ...]:
    """Names of every ``[inputs]`` path key."""
    return tuple(k.name for k in all_keys())


def scene_keys() -> tuple[str, ...]:
    """Names of the path keys a ``[[scenes]]`` entry may give (imagery, masks, its DEM)."""
    return tuple(k.name for k in all_keys() if k.scene)


def sensor_of_key(name: str) -> Sensor | None:
    return next((s for s in SENSORS if any(k.name == name for k in s.keys)), None)


def key_role(name: str) -> str:
    """The role of an ``[inputs]`` key (:class:`Key`): primary, fill, thermal, mask, dem, reference, aux."""
    return next(k.role for k in all_keys() if k.name == name)


def input_paths(cfg: RunConfig) -> dict[str, Path]:
    """Every configured input path, resolved: ``[inputs]`` keys by name, scene keys as ``scenes.<n>.<key>``.

    Stage hashing and the lead's per-stage runners use this one function; the keys come from the registry.
    """
    out = {}
    for key in input_keys():
        p = cfg.resolve(getattr(cfg.inputs, key, None))
        if p is not None:
            out[key] = p
    for scene in cfg.scenes:
        for key in scene_keys():
            p = cfg.resolve(getattr(scene, key, None))
            if p is not None:
                out[f"scenes.{scene.name}.{key}"] = p
    return out


def scene_configs(cfg: RunConfig) -> list[tuple[str, RunConfig, int | None]]:
    """(name, one-scene config, priority) per ``[[scenes]]`` entry, or the whole config as one scene.

    A scene brings its own imagery: sensor keys it does not name are not inherited from ``[inputs]`` (its
    DEM and img_source are, when the scene gives none).
    """
    if not cfg.scenes:
        return [(cfg.name, cfg, None)]
    out = []
    for scene in cfg.scenes:
        update = {k: getattr(scene, k, None) for k in scene_keys() if k != "dem"}
        if scene.dem is not None:
            update["dem"] = scene.dem
        if scene.img_source is not None:
            update["img_source"] = scene.img_source
        inputs = cfg.inputs.model_copy(update=update)
        out.append((scene.name, cfg.model_copy(update={"inputs": inputs, "scenes": []}), scene.priority))
    return out


def product_files(cfg: RunConfig) -> dict[str, Path]:
    """The files named *inside* configured metadata files (bands beside a Landsat MTL), for hashing.

    Folder inputs are left out (they are hashed whole); a product that cannot be opened contributes
    nothing here (the preflight reports it).
    """
    from glacierinv.errors import GlacierInvError

    out: dict[str, Path] = {}
    for name, scfg, _ in scene_configs(cfg):
        prefix = f"scenes.{name}" if cfg.scenes else "inputs"
        given = {p for p in input_paths(scfg).values()}
        if not any(p.is_file() and p.suffix.lower() == ".txt" for p in given):
            continue
        try:
            files = open_scene(scfg).files()
        except GlacierInvError:
            continue
        for f in files:
            if f not in given and not any(g.is_dir() and g in f.parents for g in given):
                out[f"{prefix}.files.{f.name}"] = f
    return out


@dataclass
class Scene:
    """The opened inputs of one scene: primary product, gap fill, thermal source, masks, DEM.

    ``fill`` / ``thermal``: what the scene's ``"fill"`` / ``"thermal"`` key opened through its sensor
    (:class:`FillSource`, :class:`ThermalSource`), given by ``fill_key`` / ``thermal_key`` and labelled
    ``"sensor (key)"``; ``fill_cloud``: the cloud mask given for the fill product (a ``"mask"`` key of the
    fill's sensor).
    """

    primary: Product | None
    fill: FillSource | None = None
    thermal: ThermalSource | None = None
    primary_cloud: Path | None = None
    fill_cloud: Path | None = None
    dem: Path | None = None
    keys: dict[str, Path] = field(default_factory=dict)
    fill_key: str | None = None
    thermal_key: str | None = None

    @property
    def fill_sensor(self) -> str:
        """Name of the sensor filling the gaps (``""`` without a fill product)."""
        return sensor_of_key(self.fill_key).name if self.fill is not None else ""

    @property
    def fill_from(self) -> str:
        return f"{self.fill_sensor} ({self.fill_key})" if self.fill is not None else ""

    @property
    def thermal_from(self) -> str:
        return (
            f"{sensor_of_key(self.thermal_key).name} ({self.thermal_key})" if self.thermal is not None else ""
        )

    @property
    def sun(self) -> tuple[float, float] | None:
        if self.primary is not None and self.primary.sun is not None:
            return self.primary.sun
        if self.thermal is not None and self.thermal.sun is not None:
            return self.thermal.sun
        if self.fill is not None and self.fill.sun is not None:
            return self.fill.sun
        return None

    def files(self) -> list[Path]:
        """Every raster file the scene reads (integrity checks)."""
        files = set(self.primary.files()) if self.primary is not None else set()
        if self.fill is not None:
            files |= {p for p, _ in self.fill.bands.values()}
        if self.thermal is not None:
            files |= set(self.thermal.files)
        return sorted(files)


def _keys_with_role(paths: dict[str, Path], role: str) -> list[str]:
    return [k for k in paths if key_role(k) == role]


def _check_thermal_keys(paths: dict[str, Path]) -> None:
    """A thermal-only key beside a primary product of its own sensor (which brings its own LST) is refused."""
    for key in _keys_with_role(paths, "thermal"):
        sensor = sensor_of_key(key)
        own = [k for k in _keys_with_role(paths, "primary") if sensor_of_key(k) is sensor]
        if own and paths[own[0]] != paths[key]:
            raise ConfigError(
                f"config: {key} (LST beside another image) and the {own[0]} product are both given; the "
                f"{own[0]} product brings its own LST — drop {key}"
            )


def _fill_key(paths: dict[str, Path]) -> str | None:
    keys = _keys_with_role(paths, "fill")
    if len(keys) > 1:
        raise ConfigError(
            f"config: give one gap-fill product per scene: {' or '.join(keys)}, not both (synonyms, or "
            "products competing for the same gaps)"
        )
    return keys[0] if keys else None


def open_scene(cfg: RunConfig) -> Scene:
    """Open the inputs of a one-scene config (``[inputs]``; see :mod:`glacierinv.pipeline.scenes` for several).

    Each key's *role* (:class:`Key`) says what it is: one ``"primary"`` product (or, alone, the ``"fill"``
    product as the primary image), an optional ``"fill"`` product filling gaps and clouds, an optional
    ``"thermal"`` source of LST; each is opened by the reader of the key's sensor (``open``, ``fill``,
    ``thermal``). Raises :class:`ConfigError` for mixed sensors (two primary products in one scene) and
    :class:`InputError` with one clear line for a malformed product (missing band, missing metadata key,
    unreadable file).
    """
    check_keys(cfg)
    paths = {k: cfg.input_path(k, required=False) for k in scene_keys()}
    paths = {k: p for k, p in paths.items() if p is not None}
    dem = paths.get("dem")
    calibration = dict(getattr(cfg.inputs, "calibration", None) or {})
    primaries = {key: sensor_of_key(key) for key in _keys_with_role(paths, "primary")}
    sensors = {s.name for s in primaries.values()}
    if len(sensors) > 1 or {"gf", "zy3"} <= set(primaries):
        raise ConfigError(
            f"config: mixed sensors in one scene ({', '.join(sorted(primaries))}); give each product its own "
            "[[scenes]] entry (Sentinel-2 may accompany any of them as gap fill)"
        )
    _check_thermal_keys(paths)
    fill_key = _fill_key(paths)

    def _open(sensor: Sensor) -> Product:
        sub = {k: p for k, p in paths.items() if sensor_of_key(k) is sensor}
        options = sensor.options(cfg) if sensor.options is not None else {}
        return sensor.open(sub, dem=dem, calibration=calibration, **options)

    primary = _open(next(iter(primaries.values()))) if primaries else None
    fill = fill_sensor = fill_cloud = None
    if fill_key is not None:
        fill_sensor = sensor_of_key(fill_key)
        if primary is None:  # the fill product alone is the primary image (beside a pan band only, it fills)
            primary = _open(fill_sensor)
        else:
            fill = fill_sensor.fill(paths[fill_key])
        masks = [k for k in _keys_with_role(paths, "mask") if sensor_of_key(k) is fill_sensor]
        fill_cloud = paths[masks[0]] if masks else None  # checked as an input even when the fill is primary
    if primary is None:
        raise ConfigError(
            "config: [inputs] names no imagery; name a product: "
            + ", ".join(k.name for k in all_keys() if k.role in ("primary", "fill"))
        )
    thermal = thermal_key = None
    for key in _keys_with_role(paths, "thermal"):
        sensor = sensor_of_key(key)
        if primary.sensor != sensor.name:  # a product of the same sensor brings its own thermal band
            thermal, thermal_key = sensor.thermal(paths[key]), key
    return Scene(
        primary, fill, thermal, paths.get("primary_cloud_mask"), fill_cloud, dem, paths,
        fill_key=fill_key, thermal_key=thermal_key,
    )  # fmt: skip


def available_channels(scene: Scene) -> dict[str, str]:
    """Channel → where it comes from, for every channel this scene's inputs can provide."""
    out: dict[str, str] = {}
    p, fill = scene.primary, scene.fill
    fill_channels = fill.channels() if fill is not None else set()
    for c in ("blue", "green", "red", "nir", "swir1", "swir2"):
        if p.has(c):
            out[c] = f"{p.sensor} ({p.key})"
        elif c in fill_channels:
            out[c] = scene.fill_from
    if "swir1" in out:
        out["swir"] = out["swir1"]
        out["ndsi"] = out["swir1"]
    if all(c in out for c in OPTICAL):
        out["ndwi"] = out["ndvi"] = out["nir"]
    if p.pan is not None and not p.pan_relative:
        out["pan"] = f"{p.sensor} ({p.key})"
    if p.lst is not None:
        out["lst"] = f"{p.sensor} ({p.key})"
    elif scene.thermal is not None:
        out["lst"] = scene.thermal_from
    if p.tir is not None:
        out["tir"] = f"{p.sensor} ({p.key})"
    elif scene.thermal is not None and scene.thermal.tir is not None:
        out["tir"] = scene.thermal_from
    if scene.dem is not None:
        out["slope"] = out["elevation"] = out["dem"] = "dem"
    return out


def config_template() -> str:
    """The commented default configuration (``glacierinv config template``) with the registry's inputs."""
    from glacierinv.config import config_template as from_models

    return from_models(template_inputs())


def check_keys(cfg: RunConfig) -> None:
    """Refuse ``[inputs]`` / ``[[scenes]]`` keys no sensor declares (a typo would silently drop an input)."""
    known = set(input_keys())
    scene_known = set(scene_keys())
    for key in cfg.inputs.__pydantic_extra__ or {}:
        if key not in known:
            raise ConfigError(
                f"config: unknown [inputs] key '{key}'; known: {', '.join(input_keys())}. "
                "See `glacierinv config template` and docs/sensors.md"
            )
    for scene in cfg.scenes:
        for key in scene.__pydantic_extra__ or {}:
            if key not in scene_known:
                raise ConfigError(
                    f"config: unknown key '{key}' in [[scenes]] '{scene.name}'; known: {', '.join(scene_keys())}"
                )


def template_inputs() -> str:
    """The ``[inputs]`` section of ``glacierinv config template``, one block per sensor, from the registry."""
    lines = [
        "[inputs]",
        "# Name your products (docs/sensors.md): one primary product per scene; Sentinel-2 may fill its gaps.",
    ]
    for title, keys in [(s.title, s.keys) for s in SENSORS] + [("DEM and reference data", ANCILLARY_KEYS)]:
        lines.append(f"# --- {title}")
        for k in keys:
            if k.example is None:
                continue
            entry = f'{k.name} = "{k.example}"'
            lines.append(f"{'' if k.active else '# '}{entry:<40} # {k.help}")
    entry = 'other_dates = ["../run_2019/classes.tif"]'
    lines.append(f"# {entry:<40} # classes of other dates: ice persists, snow does not")
    return "\n".join(lines) + "\n"


def channel_hint(channel: str) -> str:
    """Which ``[inputs]`` keys can provide ``channel`` (for error messages)."""
    if channel in ("slope", "elevation", "dem"):
        return "dem"
    if channel == "tir":
        return "landsat (a Level-1 product: Level-2 ships surface temperature, channel lst) or landsat_mtl"
    if channel == "lst":
        return "landsat (a Landsat product) or landsat_mtl"
    if channel == "pan":
        return (
            "pan, gf or zy3 (or landsat with [stack] landsat_pan = true) with a calibrated pan band "
            "(a GF/ZY pan band without tabulated gain and ESUN needs [inputs.calibration] gain/esun for pan)"
        )
    if channel in ("swir", "swir1", "swir2", "ndsi"):
        return "landsat, s2/sentinel2, or an ms band described swir1"
    keys = [
        k.name for s in SENSORS for k in s.keys if k.role in ("primary", "fill") and channel in s.channels
    ]
    return " or ".join(keys) or "an image"
