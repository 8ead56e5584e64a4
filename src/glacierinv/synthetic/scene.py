"""Generate the embedded default input: a synthetic glacierised scene with sensors and ground truth.

Layout written into the output folder (EPSG:32643, UTM 43N, ~35.8° N in the Karakoram)::

    pan.tif            panchromatic reflectance at pixel_m (2 m): the primary grid
    ms.tif             blue, green, red, nir reflectance at 2.5 × pixel_m (5 m)
    s2.tif, s2_cloud.tif   Sentinel-2-like B2, B3, B4, B8, B11 at 10 m + cloud mask (other clouds than pan/ms)
    landsat/SYN_B4.TIF, SYN_B5.TIF, SYN_B10.TIF, SYN_B11.TIF, SYN_MTL.txt   Landsat-8-like 30 m DNs + MTL
    dem.tif (2 × pixel_m, 4 m), dem30.tif (30 m)
    truth/classes.tif  0 background, 1 clean ice, 2 debris-covered ice, 255 nodata (primary grid)
    truth/glaciers.gpkg   layers glaciers (units: glac_id, area_km2, tiny), debris (glac_id), divides
    truth/surface.tif, truth/surface_temperature_k.tif, truth/cloud_primary.tif, truth/cloud_opacity_pct.tif
                       surface type (:data:`~glacierinv.synthetic.surface.SURFACE`), rendered surface
                       temperature (K), the primary image's cloud mask (1 = opacity > 30 %) and cloud
                       opacity (%), for validating stages
    config.toml, scene.json

The whole scene is generated in memory (about 0.17 kB per primary pixel): sizes are capped at
:data:`MAX_SIZE_PX`.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyflwdir
import rasterio.features
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.warp import reproject
from scipy import ndimage
from shapely.geometry import shape
from shapely.ops import linemerge, unary_union

from glacierinv.classes import CLEAN_ICE, DEBRIS, NODATA
from glacierinv.config import OutlinesConfig
from glacierinv.errors import InputError
from glacierinv.geometry import area_km2
from glacierinv.io.atomic import atomic_path
from glacierinv.io.grid import Grid
from glacierinv.io.raster import write_raster
from glacierinv.io.vector import write_layers
from glacierinv.synthetic import sensors, spectra
from glacierinv.synthetic.hard import DIFFICULTIES, Look, draw_look, harden_surface
from glacierinv.synthetic.landsat_mtl import mtl_text
from glacierinv.synthetic.surface import (
    BASE_SURFACES,
    CLEAN_ICE_SURFACES,
    DEBRIS_SURFACES,
    GLACIER_SURFACES,
    SURFACE,
    make_surface,
)
from glacierinv.synthetic.terrain import fractal_noise, make_terrain

__all__ = ["MS_CHANNELS", "OPTICAL_CHANNELS", "SceneInfo", "generate_scene", "write_scene"]

CRS_UTM43N = CRS.from_epsg(32643)
ORIGIN = (560000.0, 3965000.0)  # upper-left corner, UTM 43N (~35.8° N, 76.6° E)
SUN_AZIMUTH_DEG = 140.0
SUN_ELEVATION_DEG = 55.0
NOISE_STD = 0.01  # sensor noise, reflectance units
MAX_SIZE_PX = 4096  # the generator holds the scene in memory: ~0.17 kB per primary pixel (~3 GB at 4096²)
MS_CHANNELS = ("blue", "green", "red", "nir")  # the default multispectral image (ZY-3-like)
S2_BANDS = ["B2", "B3", "B4", "B8", "B11", "B12"]  # s2.tif of a hard scene (easy: without B12)
OPTICAL_CHANNELS = spectra.BANDS  # what ``channels`` may ask for (sensor-registry names)
EASY_BAND_INDEX = {"blue": 0, "green": 1, "red": 2, "nir": 3, "swir1": 4}  # sensors.BANDS of the easy scene
# seed: the inventory's minimum glacier area ([outlines] min_area_km2); smaller truth units are flagged tiny
MIN_GLACIER_KM2 = OutlinesConfig.model_fields["min_area_km2"].default


@dataclass
class SceneInfo:
    """What was generated: the folder and a truth summary (areas in km² on the ellipsoid, ELA in m)."""

    out_dir: str
    seed: int
    size_px: int
    pixel_m: float
    ela_m: float
    n_glaciers: int
    glacier_area_km2: float
    debris_area_km2: float
    n_tiny_glaciers: int = 0  # truth units below the 0.005 km² inventory minimum (flagged ``tiny``)
    difficulty: str = "easy"  # "hard": a randomised hard scene (glacierinv.synthetic.hard)

    @property
    def config_path(self) -> Path:
        """The scene's run configuration (``config.toml``)."""
        return Path(self.out_dir) / "config.toml"

    def path(self, name: str) -> Path:
        """Path of a file of the layout, e.g. ``info.path("truth/classes.tif")``."""
        return Path(self.out_dir) / name


def _resample(arr: np.ndarray, src: Grid, dst: Grid, how=Resampling.average) -> np.ndarray:
    """Aggregate (or resample) a float array from src to dst grid; NaN where nothing covers."""
    out = np.full((arr.shape[0], *dst.shape) if arr.ndim == 3 else dst.shape, np.nan, "float32")
    reproject(
        arr.astype("float32"), out, src_transform=src.transform, src_crs=src.crs, dst_transform=dst.transform,
        dst_crs=dst.crs, resampling=how, src_nodata=np.nan, dst_nodata=np.nan,
    )  # fmt: skip
    return out


def _clouds(shape, rng, n: int, pixel_m: float, avoid: np.ndarray | None = None) -> np.ndarray:
    """Cloud opacity 0-1: a few soft blobs; their centres avoid ``avoid`` (another sensor's clouds) when possible."""
    rows, cols = np.indices(shape, dtype="float32")
    alpha = np.zeros(shape, "float32")
    for _ in range(n):
        for _try in range(20):  # rejection sampling of the centre, deterministic through rng
            r0, c0 = rng.uniform(0, shape[0]), rng.uniform(0, shape[1])
            if avoid is None or not avoid[min(int(r0), shape[0] - 1), min(int(c0), shape[1] - 1)]:
                break
        rad = rng.uniform(0.05, 0.09) * shape[0]
        d2 = ((rows - r0) ** 2 + (cols - c0) ** 2) / (2 * rad**2)
        alpha = np.maximum(alpha, np.exp(-(d2**1.5)))
    alpha *= np.clip(1 + 0.3 * fractal_noise(shape, rng, (12, 4), (1.0, 0.5)), 0, None).astype("float32")
    return np.clip(alpha * 1.2 - 0.1, 0.0, 1.0)


def _units(z: np.ndarray, glacier: np.ndarray, grid: Grid, min_unit_km2: float = 0.02) -> np.ndarray:
    """Truth glacier units: ice complexes split by the drainage basins of their main outlets (pyflwdir).

    Outlets are ice cells whose D8 downstream cell is not ice (or leaves the scene); basins draining to an
    outlet with at least ``min_unit_km2`` of ice become units; remaining ice joins the nearest unit of its
    complex; a complex without a main outlet is one unit.
    """
    flw = pyflwdir.from_dem(z.astype("float32"), nodata=-9999.0, transform=grid.transform, latlon=False)
    ds = flw.idxs_ds
    ice = glacier.ravel()
    own = np.arange(ice.size)
    outlets = np.flatnonzero(ice & (~ice[ds] | (ds == own)))
    basins = flw.basins(idxs=outlets).ravel() * ice
    counts = np.bincount(basins, minlength=outlets.size + 1)
    major = np.flatnonzero(counts * grid.pixel_area_m2 / 1e6 >= min_unit_km2)
    major = major[major > 0]
    unit = np.where(np.isin(basins, major), basins, 0).reshape(glacier.shape)
    complexes, n = ndimage.label(glacier)
    next_id = int(unit.max()) + 1
    for k in range(1, n + 1):
        cmask = complexes == k
        if not (unit[cmask] > 0).any():
            unit[cmask] = next_id
            next_id += 1
            continue
        missing = cmask & (unit == 0)
        if missing.any():
            seeds = np.where(cmask, unit, 0)
            _, (ri, ci) = ndimage.distance_transform_edt(seeds == 0, return_indices=True)
            unit[missing] = seeds[ri[missing], ci[missing]]
    return unit


def _polygons(labels: np.ndarray, grid: Grid) -> dict[int, object]:
    polys: dict[int, list] = {}
    for geom, value in rasterio.features.shapes(
        labels.astype("int32"), mask=labels > 0, transform=grid.transform
    ):
        polys.setdefault(int(value), []).append(shape(geom))
    return {k: unary_union(v) for k, v in polys.items()}


def _truth_layers(
    unit: np.ndarray, classes: np.ndarray, grid: Grid
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    polys = _polygons(unit, grid)
    units = gpd.GeoDataFrame({"unit": list(polys)}, geometry=list(polys.values()), crs=grid.crs)
    units["area_km2"] = area_km2(units)
    units = units.sort_values("area_km2", ascending=False).reset_index(drop=True)
    units["glac_id"] = [f"SYN-{i + 1:04d}" for i in range(len(units))]
    id_of = dict(zip(units["unit"], units["glac_id"], strict=True))
    deb = _polygons(np.where(classes == 2, unit, 0), grid)
    debris = gpd.GeoDataFrame({"glac_id": [id_of[k] for k in deb]}, geometry=list(deb.values()), crs=grid.crs)
    debris["area_km2"] = area_km2(debris) if len(debris) else []
    divides = shared_divides(units)
    units["tiny"] = units["area_km2"] < MIN_GLACIER_KM2
    return units[["glac_id", "area_km2", "tiny", "geometry"]], debris, divides


def shared_divides(units: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Divide lines: the boundary shared by each pair of touching glacier units (columns glac_id_a, glac_id_b)."""
    lines = []
    geoms = list(units.geometry)
    ids = list(units["glac_id"])
    for i, j in units.sindex.query(units.geometry, predicate="intersects").T:
        if i >= j:
            continue
        shared = geoms[i].boundary.intersection(geoms[j].boundary)
        if not shared.is_empty and shared.length > 0:
            shared = linemerge(shared) if shared.geom_type == "MultiLineString" else shared
            lines.append({"glac_id_a": ids[i], "glac_id_b": ids[j], "geometry": shared})
    if not lines:
        return gpd.GeoDataFrame({"glac_id_a": [], "glac_id_b": []}, geometry=[], crs=units.crs)
    return gpd.GeoDataFrame(lines, geometry="geometry", crs=units.crs)


CONFIG_TEMPLATE = """\
# glacierinv run configuration for a synthetic scene (generated by `glacierinv synth`, seed {seed})
name = "synthetic-seed{seed}"

[inputs]
pan = "pan.tif"
ms = "ms.tif"
s2 = "s2.tif"
s2_cloud_mask = "s2_cloud.tif"
landsat_mtl = "landsat/SYN_MTL.txt"
dem = "dem.tif"
dem_coarse = "dem30.tif"
truth_classes = "truth/classes.tif"
truth_glaciers = "truth/glaciers.gpkg"
img_source = "synthetic"
dem_source = "{dem_source}"
src_date = "{date}"

[analysis]
min_type_area_km2 = 0.1      # the synthetic glaciers are small; the seed types glaciers above 5 km2
"""


def check_channels(channels, difficulty: str = "easy") -> tuple[str, ...]:
    """Validate the multispectral channels of a scene → the tuple; blue, green, red and nir are required."""
    if difficulty not in DIFFICULTIES:
        raise InputError(f"--difficulty must be one of {', '.join(DIFFICULTIES)}, not {difficulty!r}")
    ch = MS_CHANNELS if channels is None else tuple(c.strip().lower() for c in channels)
    allowed = OPTICAL_CHANNELS if difficulty == "hard" else tuple(EASY_BAND_INDEX)
    bad = [c for c in ch if c not in allowed]
    if bad:
        hint = " (swir2 needs --difficulty hard)" if bad == ["swir2"] else ""
        raise InputError(
            f"--channels: unknown channel(s) {', '.join(bad)}{hint}; known: {', '.join(allowed)}"
        )
    if len(set(ch)) != len(ch) or not set(MS_CHANNELS) <= set(ch):
        raise InputError(f"--channels must list blue, green, red and nir once each (and may add swir1, swir2), "
                         f"not {','.join(ch)}")  # fmt: skip
    return ch


def generate_scene(
    out_dir: str | Path,
    seed: int = 0,
    size_px: int = 1024,
    pixel_m: float = 2.0,
    *,
    difficulty: str = "easy",
    channels: tuple[str, ...] | list[str] | None = None,
) -> SceneInfo:
    """Generate a synthetic glacierised scene with its sensors and truth into ``out_dir``.

    Parameters
    ----------
    out_dir
        Output folder (created; files inside are replaced).
    seed
        Random seed: the same seed gives the same scene, byte for byte.
    size_px
        Size of the primary (panchromatic) grid in pixels (square), 64 to :data:`MAX_SIZE_PX` (whole scene in
        memory, ~0.17 kB per pixel).
    pixel_m
        Pixel size of the primary grid in metres (2 m as ZY-3 pan-sharpened imagery).
    difficulty
        ``"easy"``: the embedded default scene (fixed sun, little seasonal snow; unchanged so that recorded
        figures stay reproducible). ``"hard"``: randomised per seed — sun position, widespread seasonal
        snow following elevation and aspect, thin and thick clouds with shadows, haze, sensor noise,
        dirty ice, dead ice, vegetation, turbid and frozen lakes (:mod:`glacierinv.synthetic.hard`).
    channels
        Bands of ``ms.tif`` (named as the sensor registry names them): blue, green, red, nir (default) plus
        ``swir1`` (1.61 µm) and, for hard scenes, ``swir2`` (2.20 µm).

    Returns
    -------
    SceneInfo
        The folder, the regional ELA (m) and the truth summary (units, tiny units, km² on the ellipsoid).

    Raises
    ------
    InputError
        ``size_px`` outside 64…:data:`MAX_SIZE_PX`, ``pixel_m`` outside 0.5…30 m, an unknown difficulty
        or channel.

    Examples
    --------
    >>> info = generate_scene("scene", seed=1, size_px=400)  # doctest: +SKIP
    >>> info.config_path  # doctest: +SKIP
    PosixPath('scene/config.toml')
    """
    _check_grid_size(size_px, pixel_m)
    ms_channels = check_channels(channels, difficulty)
    rng = np.random.default_rng(seed)
    z, kind, ela_m, look = _draw_surface(size_px, pixel_m, difficulty, rng)
    h, w = z.shape
    x0, y0 = ORIGIN
    grid = Grid.from_bounds(CRS_UTM43N, (x0, y0 - h * pixel_m, x0 + w * pixel_m, y0), pixel_m)
    return write_scene(
        Path(out_dir), z, kind, ela_m, grid, rng, seed=seed, look=look, ms_channels=ms_channels
    )


def _check_grid_size(size_px: int, pixel_m: float) -> None:
    """Refuse a primary grid outside 64…:data:`MAX_SIZE_PX` px or a pixel size outside 0.5…30 m (InputError)."""
    if not 64 <= size_px <= MAX_SIZE_PX:
        raise InputError(f"--size must be between 64 and {MAX_SIZE_PX} px, not {size_px}")
    if not 0.5 <= pixel_m <= 30:
        raise InputError(f"--pixel-m must be between 0.5 and 30 m, not {pixel_m}")


def _draw_surface(
    size_px: int, pixel_m: float, difficulty: str, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, float, Look | None]:
    """Terrain and surface of a generated scene: DEM (m), surface types (:data:`SURFACE`), ELA (m) and, for a
    hard scene, its drawn :class:`Look` (None for easy), the hard confusers added to the surface."""
    z, valleys = make_terrain(size_px, pixel_m, rng)
    surface, z = make_surface(z, valleys, pixel_m, rng)
    kind = surface.kind
    look = None
    if difficulty == "hard":
        look = draw_look(rng)
        kind, z = harden_surface(z, kind, surface.ela_m, pixel_m, look, rng)
    return z, kind, surface.ela_m, look


def write_scene(
    out: Path,
    z: np.ndarray,
    kind: np.ndarray,
    ela_m: float,
    grid: Grid,
    rng: np.random.Generator,
    *,
    seed: int = 0,
    date: str = "2021-08-20",
    valid: np.ndarray | None = None,
    truth: tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame] | None = None,
    dem_source: str = "synthetic-4m",
    extra: dict | None = None,
    look: Look | None = None,
    ms_channels: tuple[str, ...] = MS_CHANNELS,
) -> SceneInfo:
    """Render sensors and truth for a DEM ``z`` (m) and surface types ``kind`` on the north-up metric ``grid``.

    ``truth`` (glaciers, debris, divides) replaces the drainage-basin units derived from the DEM (used when
    rendering over real outlines). ``extra`` is merged into scene.json. ``look`` (a hard scene's draw)
    renders the hard sensors; None the easy ones. ``ms_channels``: the bands of ms.tif.
    """
    out.mkdir(parents=True, exist_ok=True)
    (out / "truth").mkdir(exist_ok=True)
    (out / "landsat").mkdir(exist_ok=True)
    h, w = z.shape
    valid = np.ones(z.shape, bool) if valid is None else valid
    if look is None:
        temp_k = _render_easy(out, z, kind, grid, valid, rng, date, ms_channels)
    else:
        temp_k = _render_hard(out, z, kind, grid, valid, rng, date, ms_channels, look)
    _write_dems(out, z, valid, grid)
    classes = _truth_classes(kind, valid)
    _write_truth_rasters(out, classes, temp_k, kind, valid, grid, look)
    if truth is None:
        unit = _units(np.where(valid, z, np.nanmax(z[valid])), np.isin(kind, GLACIER_SURFACES) & valid, grid)
        truth = _truth_layers(unit, classes, grid)
    units, debris, divides = truth
    write_layers(out / "truth" / "glaciers.gpkg", {"glaciers": units, "debris": debris, "divides": divides})
    info = SceneInfo(
        str(out), seed, int(max(h, w)), float(grid.res[0]), round(ela_m, 1), int(len(units)),
        float(units["area_km2"].sum()), float(debris["area_km2"].sum()) if len(debris) else 0.0,
        int((units["area_km2"] < MIN_GLACIER_KM2).sum()), "easy" if look is None else "hard",
    )  # fmt: skip
    with atomic_path(out / "config.toml") as tmp:
        tmp.write_text(CONFIG_TEMPLATE.format(seed=seed, date=date, dem_source=dem_source))
    with atomic_path(out / "scene.json") as tmp:
        tmp.write_text(json.dumps(_scene_json(info, kind, classes, grid, look, ms_channels, extra), indent=2))
    return info


def _write_dems(out: Path, z: np.ndarray, valid: np.ndarray, fine: Grid) -> None:
    """The scene's DEMs (m, NaN outside ``valid``), averaged from the primary grid: dem.tif at 2 × the primary
    pixel size (as the 4 m ZY-3 DEM) and dem30.tif at 30 m."""
    zf = np.where(valid, z, np.nan).astype("float32")
    dem_grid = _grid_like(fine, 2 * float(fine.res[0]))
    write_raster(
        out / "dem.tif", _resample(zf[None], fine, dem_grid)[0], dem_grid, descriptions=["elevation_m"]
    )
    dem30 = _grid_like(fine, 30.0)
    write_raster(out / "dem30.tif", _resample(zf[None], fine, dem30)[0], dem30, descriptions=["elevation_m"])


def _truth_classes(kind: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Truth classes (uint8) from the surface types: 0 background, 1 clean ice, 2 debris, 255 outside ``valid``."""
    classes = np.zeros(kind.shape, "uint8")
    classes[np.isin(kind, CLEAN_ICE_SURFACES)] = CLEAN_ICE
    classes[np.isin(kind, DEBRIS_SURFACES)] = DEBRIS
    classes[~valid] = NODATA
    return classes


def _write_truth_rasters(
    out: Path, classes: np.ndarray, temp_k: np.ndarray, kind: np.ndarray, valid: np.ndarray, fine: Grid,
    look: Look | None,
) -> None:  # fmt: skip
    """truth/classes.tif, truth/surface_temperature_k.tif (K, NaN outside ``valid``) and truth/surface.tif (the
    surface type codes, tagged SURFACE_<NAME>; the hard ones only for a hard scene, 255 outside ``valid``)."""
    write_raster(out / "truth" / "classes.tif", classes, fine, nodata=NODATA)
    write_raster(out / "truth" / "surface_temperature_k.tif", np.where(valid, temp_k, np.nan).astype("float32"),
                 fine, descriptions=["surface_temperature_k"])  # fmt: skip
    write_raster(out / "truth" / "surface.tif", np.where(valid, kind, 255).astype("uint8"), fine, nodata=255,
                 tags={f"SURFACE_{k.upper()}": str(v) for k, v in SURFACE.items()
                       if v in BASE_SURFACES or look is not None})  # fmt: skip


def _scene_json(
    info: SceneInfo, kind: np.ndarray, classes: np.ndarray, grid: Grid, look: Look | None, ms_channels,
    extra: dict | None,
) -> dict:  # fmt: skip
    """scene.json's content: the truth summary of ``info``, grid shape (px) and CRS, area per surface type
    (km²), the hard scene's draw and non-default channels, and ``extra`` (e.g. render-over provenance)."""
    return (
        {k: v for k, v in asdict(info).items() if k not in ("out_dir", "difficulty")}
        | {"shape_px": list(kind.shape), "crs": str(grid.crs),
           "surface_km2": _surface_km2(kind, float(grid.res[0]), look)}
        | _hard_summary(look, ms_channels, kind, classes)
        | (extra or {})
    )  # fmt: skip


def _render_easy(
    out: Path, z: np.ndarray, kind: np.ndarray, fine: Grid, valid: np.ndarray, rng, date: str, ms_channels
) -> np.ndarray:
    """The embedded default scene's sensors (unchanged since the recorded demo figures) → surface temperature."""
    pixel_m = float(fine.res[0])
    cos_i, shadow, light = _lighting(
        z, pixel_m, SUN_AZIMUTH_DEG, SUN_ELEVATION_DEG, diffuse=0.2, max_light=1.5
    )
    # primary sensor (ZY-3-like) clouds, drawn first: the debris/moraine match is made where it sees the ground
    clouds_primary = _clouds(z.shape, rng, int(rng.integers(1, 3)), pixel_m) * (rng.uniform() < 0.9)
    surf = sensors.reflectance(kind, rng)  # (5, h, w): blue, green, red, nir, swir
    sensors.match_off_glacier_debris(surf, kind, light, clear=clouds_primary < 0.01)
    temp_k = sensors.surface_temperature_k(kind, z, cos_i, shadow, pixel_m, rng)
    observe = functools.partial(_observe_easy, surf, light, valid, rng)
    # primary sensor: 2 m pan, 5 m MS, its own clouds
    primary = observe(clouds_primary)
    _write_cloud_truth(out, clouds_primary, fine)
    ms_bands = [EASY_BAND_INDEX[c] for c in ms_channels]
    _write_pan_ms(out, primary, ms_bands, ms_channels, fine, valid, NOISE_STD, rng)
    # Sentinel-2-like 10 m scene with other clouds than the primary image's (gap filling from S2) and SWIR
    clouds_s2 = _clouds(z.shape, rng, int(rng.integers(1, 3)), pixel_m, avoid=_near_clouds(clouds_primary))
    _write_s2(out, observe(clouds_s2), clouds_s2, fine, S2_BANDS[:5])
    # Landsat-8-like 30 m: TOA reflectance DNs for red/NIR (cloud-free), thermal DNs from emitted radiance
    l8 = _grid_like(fine, 30.0)
    _write_landsat_reflective(out, observe(np.zeros(z.shape, "float32"))[2:4], fine, l8, SUN_ELEVATION_DEG)
    _write_thermal(out, temp_k, kind, valid, fine, l8)
    with atomic_path(out / "landsat" / "SYN_MTL.txt") as tmp:
        tmp.write_text(mtl_text(date, SUN_AZIMUTH_DEG, SUN_ELEVATION_DEG, l8))
    return temp_k


def _lighting(
    z: np.ndarray, pixel_m: float, sun_az: float, sun_el: float, diffuse: float, max_light: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Illumination of the DEM ``z`` (m) by the sun at azimuth/elevation ``sun_az``/``sun_el`` (degrees):
    cos(incidence), the cast-shadow mask (computed at ~8 m and repeated to the grid) and the light factor
    (float32): ``diffuse`` in shadow, else diffuse + (1 - diffuse) × cos_i / cos(zenith) clipped to
    ``diffuse``…``max_light``."""
    h, w = z.shape
    cos_i = sensors.illumination(z, pixel_m, sun_az, sun_el)
    coarse = max(1, int(round(8.0 / pixel_m)))
    shadow_c = sensors.cast_shadow(z[::coarse, ::coarse], pixel_m * coarse, sun_az, sun_el)
    shadow = np.repeat(np.repeat(shadow_c, coarse, 0), coarse, 1)[:h, :w]
    cos_z = math.cos(math.radians(90 - sun_el))
    d = diffuse
    light = np.where(shadow, d, np.clip(d + (1 - d) * cos_i / cos_z, d, max_light)).astype("float32")
    return cos_i, shadow, light


def _observe_easy(
    surf: np.ndarray, light: np.ndarray, valid: np.ndarray, rng, clouds: np.ndarray
) -> np.ndarray:
    """The easy surface reflectance ``surf`` (bands, h, w) as one sensor sees it: lit by ``light``, under its
    cloud opacity ``clouds`` (0-1), with noise of :data:`NOISE_STD`, clipped to 0-1, NaN outside ``valid``
    (band by band, float32)."""
    clouds = clouds.astype("float32", copy=False)
    img = np.empty(surf.shape, "float32")
    for b, cloud in enumerate(sensors.CLOUD):
        band = surf[b] * light
        band *= 1 - clouds
        band += clouds * np.float32(cloud)
        band += rng.standard_normal(band.shape, dtype="float32") * np.float32(NOISE_STD)
        np.clip(band, 0.0, 1.0, out=band)
        band[~valid] = np.nan
        img[b] = band
    return img


def _write_cloud_truth(out: Path, clouds: np.ndarray, fine: Grid, valid: np.ndarray | None = None) -> None:
    """Truth of the primary image's clouds: the mask (opacity > 0.3, as the S2 mask; 255 outside ``valid``
    when given) and the opacity in % (thin edges too)."""
    mask = clouds > 0.3
    mask = mask.astype("uint8") if valid is None else np.where(valid, mask, 255).astype("uint8")
    write_raster(out / "truth" / "cloud_primary.tif", mask, fine, nodata=255)
    write_raster(out / "truth" / "cloud_opacity_pct.tif", np.round(100 * clouds).astype("uint8"), fine,
                 nodata=255, descriptions=["cloud_opacity_pct"])  # fmt: skip


def _write_pan_ms(
    out: Path, primary: np.ndarray, ms_bands: list[int], ms_channels, fine: Grid, valid: np.ndarray,
    noise_std: float, rng,
) -> None:  # fmt: skip
    """The primary sensor's images from its observed bands ``primary`` (blue, green, red, nir first):
    ms.tif (bands ``ms_bands`` of ``primary``, named ``ms_channels``) at 2.5 × the primary pixel size, and
    pan.tif on the primary grid (weighted visible/NIR sum plus noise of ``noise_std`` / 2, clipped 0-1)."""
    ms_grid = _grid_like(fine, 2.5 * float(fine.res[0]))
    write_raster(
        out / "ms.tif", _resample(primary[ms_bands], fine, ms_grid), ms_grid, descriptions=list(ms_channels)
    )
    pan = (0.10 * primary[0] + 0.30 * primary[1] + 0.35 * primary[2] + 0.25 * primary[3]).astype("float32")
    pan = np.clip(pan + rng.normal(0, noise_std / 2, pan.shape).astype("float32"), 0, 1)
    pan[~valid] = np.nan
    write_raster(out / "pan.tif", pan, fine, descriptions=["pan"])


def _near_clouds(clouds_primary: np.ndarray) -> np.ndarray:
    """Cells near the primary image's clouds (opacity > 0.05, within 1/16 of the scene): where another image's
    thick clouds should not be, so that gap filling has data."""
    h, w = clouds_primary.shape
    return ndimage.distance_transform_edt(clouds_primary <= 0.05) < max(1, min(h, w) // 16)


def _write_s2(out: Path, image: np.ndarray, clouds: np.ndarray, fine: Grid, bands: list[str]) -> None:
    """s2.tif (the observed ``image`` averaged to 10 m, bands named ``bands``) and s2_cloud.tif (1 where the
    10 m cloud opacity ``clouds`` > 0.3)."""
    s2_grid = _grid_like(fine, 10.0)
    write_raster(out / "s2.tif", _resample(image, fine, s2_grid), s2_grid, descriptions=list(bands))
    cloud10 = _resample(clouds[None].astype("float32"), fine, s2_grid)[0]
    write_raster(out / "s2_cloud.tif", (np.nan_to_num(cloud10) > 0.3).astype("uint8"), s2_grid, nodata=255)


def _write_landsat_reflective(out: Path, red_nir: np.ndarray, fine: Grid, l8: Grid, sun_el: float) -> None:
    """Landsat 8 bands 4 and 5: the observed red/NIR reflectance ``red_nir`` (2, h, w) averaged to the 30 m
    grid ``l8`` and scaled to TOA-reflectance DNs (MTL rescaling, sun elevation ``sun_el`` in degrees)."""
    c = sensors.LANDSAT_CONSTANTS
    l8_refl = _resample(red_nir, fine, l8)
    sin_e = math.sin(math.radians(sun_el))
    for b, band in ((0, 4), (1, 5)):
        dn = (l8_refl[b] * sin_e - c[f"REFLECTANCE_ADD_BAND_{band}"]) / c[f"REFLECTANCE_MULT_BAND_{band}"]
        _write_dn(out / "landsat" / f"SYN_B{band}.TIF", dn, l8)


def _write_thermal(
    out: Path, temp_k: np.ndarray, kind: np.ndarray, valid: np.ndarray, fine: Grid, l8: Grid,
    clouds: np.ndarray | None = None, t_cloud_k: float | None = None,
) -> None:  # fmt: skip
    """Landsat 8 bands 10 and 11: radiance emitted by the surface at ``temp_k`` (K) with the surface types'
    emissivity, under cloud opacity ``clouds`` (0-1) whose tops radiate as black bodies at ``t_cloud_k`` (K),
    as DNs on the 30 m grid ``l8``."""
    emis = np.zeros(kind.shape, "float32")
    for name, code in SURFACE.items():
        emis[kind == code] = sensors.EMISSIVITY_B10[name]
    for band in (10, 11):
        radiance = sensors.planck_radiance(temp_k.astype("float64"), emis, band)
        if clouds is not None:
            top = sensors.planck_radiance(np.full(kind.shape, t_cloud_k), np.ones_like(emis), band)
            radiance = (1 - clouds) * radiance + clouds * top
        _write_thermal_dn(out, band, radiance, valid, fine, l8, sensors.LANDSAT_CONSTANTS)


def _write_thermal_dn(out: Path, band: int, radiance: np.ndarray, valid, fine, l8, c: dict) -> None:
    """Landsat 8 thermal ``band`` (10/11): at-sensor radiance on the fine grid → DN on the 30 m grid (MTL)."""
    radiance = radiance.astype("float32")
    radiance[~valid] = np.nan
    lr = _resample(radiance[None], fine, l8)[0]
    dn = (lr - c[f"RADIANCE_ADD_BAND_{band}"]) / c[f"RADIANCE_MULT_BAND_{band}"]
    _write_dn(out / "landsat" / f"SYN_B{band}.TIF", dn, l8)


def _clouds_hard(
    shape: tuple[int, int], rng, cover: float, look: Look, pixel_m: float, avoid: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Thin and thick cloud opacity (0-1) of one image and the opacity of the clouds casting shadow on each cell.

    Thick clouds are the soft blobs of :func:`_clouds` (up to two); thin clouds a fractal layer over about
    ``cover`` of the scene with opacity up to 0.2-0.5. Clouds float ``look.cloud_height_m`` above the ground:
    a cell is shadowed by the cloud on its ray to the sun, so the field is drawn on a padded grid and the
    shadow is the cloud field shifted towards the sun.
    """
    h, w = shape
    if cover <= 0:
        zero = np.zeros(shape, "float32")
        return zero, zero
    shift_px = look.cloud_height_m / math.tan(math.radians(look.sun_elevation_deg)) / pixel_m
    shift_px = min(shift_px, 0.5 * max(h, w))
    pad = int(math.ceil(shift_px)) + 1
    big = (h + 2 * pad, w + 2 * pad)
    n_thick = int(rng.integers(0, 3))
    thick = _clouds(big, rng, n_thick, pixel_m) if n_thick else np.zeros(big, "float32")
    n = max(big)
    noise = fractal_noise(big, rng, (max(4, n // 6), max(2, n // 24)), (1.0, 0.4))
    thr = float(np.quantile(noise, 1.0 - cover))
    thin = np.clip((noise - thr) / 0.8, 0.0, 1.0) * rng.uniform(0.2, 0.5)
    alpha = np.maximum(thick, thin).astype("float32")
    if avoid is not None:  # another image's clouds: keep this one's thick clouds off them (gap filling)
        a = np.zeros(big, bool)
        a[pad : pad + h, pad : pad + w] = avoid
        alpha = np.where(a, np.minimum(alpha, 0.15), alpha)
    cloud = alpha[pad : pad + h, pad : pad + w]
    az = math.radians(look.sun_azimuth_deg)
    dr, dc = int(round(-math.cos(az) * shift_px)), int(round(math.sin(az) * shift_px))
    shade = alpha[pad + dr : pad + dr + h, pad + dc : pad + dc + w]
    return np.ascontiguousarray(cloud), np.ascontiguousarray(shade)


def _render_hard(
    out: Path,
    z: np.ndarray,
    kind: np.ndarray,
    fine: Grid,
    valid: np.ndarray,
    rng,
    date: str,
    ms_channels,
    look: Look,
) -> np.ndarray:
    """A hard scene's sensors: random sun, haze, noise, thin/thick clouds with shadows, six reflective bands."""
    pixel_m = float(fine.res[0])
    az, el = look.sun_azimuth_deg, look.sun_elevation_deg
    cos_i, shadow, light = _lighting(z, pixel_m, az, el, diffuse=look.diffuse, max_light=1.6)
    table = spectra.draw_spectra(rng)
    surf = spectra.hard_reflectance(kind, table, rng)  # (6, h, w) over spectra.BANDS
    clouds_primary, shade_primary = _clouds_hard(z.shape, rng, look.cloud_cover, look, pixel_m)
    sensors.match_off_glacier_debris(surf, kind, light, clear=clouds_primary < 0.01)
    temp_k = spectra.hard_temperature_k(kind, z, cos_i, shadow, pixel_m, rng)
    trans, path = _haze(look.haze_aot, el)
    observe = functools.partial(
        _observe_hard, surf, light, trans, path, np.float32(look.noise_std), valid, rng
    )
    # primary sensor: 2 m pan, 5 m MS with the requested channels
    bands = [0, 1, 2, 3] + [spectra.BANDS.index(c) for c in ms_channels if c not in MS_CHANNELS]
    ms_bands = [bands.index(spectra.BANDS.index(c)) for c in ms_channels]
    _write_cloud_truth(out, clouds_primary, fine, valid)
    _write_pan_ms(out, observe(clouds_primary, shade_primary, bands), ms_bands, ms_channels, fine, valid,
                  look.noise_std, rng)  # fmt: skip
    # Sentinel-2-like 10 m: B2, B3, B4, B8, B11, B12, other clouds (thick ones away from the primary's)
    avoid = _near_clouds(clouds_primary)
    clouds_s2, shade_s2 = _clouds_hard(
        z.shape, rng, look.cloud_cover * rng.uniform(0.3, 1.0), look, pixel_m, avoid
    )
    _write_s2(out, observe(clouds_s2, shade_s2, list(range(6))), clouds_s2, fine, S2_BANDS)
    # Landsat-8-like 30 m with its own clouds: red/NIR DN and thermal DN (cloud tops radiate at 240-265 K)
    l8 = _grid_like(fine, 30.0)
    clouds_l8, shade_l8 = _clouds_hard(z.shape, rng, look.cloud_cover * rng.uniform(0.0, 1.0), look, pixel_m)
    _write_landsat_reflective(out, observe(clouds_l8, shade_l8, [2, 3]), fine, l8, el)
    _write_thermal(out, temp_k, kind, valid, fine, l8, clouds=clouds_l8, t_cloud_k=rng.uniform(240.0, 265.0))
    with atomic_path(out / "landsat" / "SYN_MTL.txt") as tmp:
        tmp.write_text(mtl_text(date, az, el, l8))
    return temp_k


def _haze(aot: float, sun_el: float) -> tuple[np.ndarray, np.ndarray]:
    """Haze per band of :data:`spectra.BANDS` for aerosol optical thickness ``aot`` at 0.55 µm (Ångström
    exponent 1.3) and sun elevation ``sun_el`` (degrees): two-way transmission and path reflectance
    (float32)."""
    tau = aot * (np.asarray(spectra.WAVELENGTH_UM) / 0.55) ** -1.3
    trans = np.exp(-tau * (1.0 + 1.0 / math.sin(math.radians(sun_el)))).astype("float32")
    path = (0.12 * (1.0 - np.exp(-tau))).astype("float32")
    return trans, path


def _observe_hard(
    surf: np.ndarray, light: np.ndarray, trans: np.ndarray, path: np.ndarray, noise_std: np.float32,
    valid: np.ndarray, rng, clouds: np.ndarray, cloud_shade: np.ndarray, bands: list[int],
) -> np.ndarray:  # fmt: skip
    """Bands ``bands`` of the hard surface reflectance ``surf`` as one sensor sees them: lit by ``light``
    (cloud shadows ``cloud_shade`` keep the diffuse sky light), through the haze (``trans``, ``path``), under
    cloud opacity ``clouds`` (0-1), with noise, clipped to 0-1, NaN outside ``valid`` (float32)."""
    h, w = valid.shape
    img = np.empty((len(bands), h, w), "float32")
    direct = light * (1.0 - 0.75 * cloud_shade)  # cloud shadows keep the diffuse sky light
    for i, b in enumerate(bands):
        band = surf[b] * direct * trans[b] + path[b]
        band = band * (1 - clouds) + clouds * np.float32(spectra.CLOUD[b])
        band += rng.standard_normal(band.shape, dtype="float32") * noise_std
        np.clip(band, 0.0, 1.0, out=band)
        band[~valid] = np.nan
        img[i] = band
    return img


def _grid_like(fine: Grid, res: float) -> Grid:
    left, bottom, right, top = fine.bounds
    nx = math.ceil((right - left) / res - 1e-9)
    ny = math.ceil((top - bottom) / res - 1e-9)
    return Grid.from_bounds(fine.crs, (left, top - ny * res, left + nx * res, top), res)


def _write_dn(path: Path, dn: np.ndarray, grid: Grid) -> None:
    arr = np.where(np.isnan(dn), 0, np.clip(np.round(dn), 1, 65535)).astype("uint16")
    write_raster(path, arr, grid, nodata=0)


def _surface_km2(kind: np.ndarray, pixel_m: float, look: Look | None = None) -> dict[str, float]:
    counts = np.bincount(kind.ravel(), minlength=len(SURFACE))
    return {
        name: round(float(counts[code]) * pixel_m**2 / 1e6, 6)
        for name, code in SURFACE.items()
        if code in BASE_SURFACES or look is not None
    }


def _hard_summary(look: Look | None, ms_channels, kind: np.ndarray, classes: np.ndarray) -> dict:
    """scene.json entries of a hard scene (or of non-default channels); nothing for the default easy scene."""
    out: dict = {}
    if tuple(ms_channels) != MS_CHANNELS:
        out["ms_channels"] = list(ms_channels)
    if look is None:
        return out
    off = classes == 0  # non-glacier cells with data
    snow_frac = float((kind[off] == SURFACE["seasonal_snow"]).mean()) if off.any() else 0.0
    return out | {
        "difficulty": "hard",
        "look": look.as_dict(),
        "seasonal_snow_offglacier_frac": round(snow_frac, 4),
    }
