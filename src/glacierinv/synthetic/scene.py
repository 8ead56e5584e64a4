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


def _mtl_text(date: str, sun_az: float, sun_el: float, grid30: Grid) -> str:
    """A Landsat 8 Collection 2 Level-1 MTL.txt (the real file's groups and key syntax) for the 30 m grid."""
    import datetime as dt

    c = sensors.LANDSAT_CONSTANTS
    epsg = grid30.crs.to_epsg() or 0
    zone = epsg - 32600 if 32601 <= epsg <= 32660 else (epsg - 32700 if 32701 <= epsg <= 32760 else None)
    doy = dt.date.fromisoformat(date).timetuple().tm_yday
    earth_sun_au = 1.0 - 0.01672 * math.cos(math.radians(0.9856 * (doy - 4)))
    half = grid30.res[0] / 2  # MTL product corners are pixel centres
    left, bottom, right, top = (v + d for v, d in zip(grid30.bounds, (half, half, -half, -half), strict=True))
    stamp = date.replace("-", "")
    fmt_mult = lambda k: f"{c[k]:.4E}"  # noqa: E731 - as in real MTL files: 3.3420E-04, 0.10000
    fmt_add = lambda k: f"{c[k]:.5f}" if k.startswith("RADIANCE") else f"{c[k]:.6f}"  # noqa: E731
    lines = [
        "GROUP = LANDSAT_METADATA_FILE",
        "  GROUP = PRODUCT_CONTENTS",
        '    ORIGIN = "Synthetic scene generated by glacierinv (not USGS data)"',
        f'    LANDSAT_PRODUCT_ID = "LC08_L1TP_148035_{stamp}_{stamp}_02_T1"',
        '    PROCESSING_LEVEL = "L1TP"',
        "    COLLECTION_NUMBER = 02",
        '    COLLECTION_CATEGORY = "T1"',
        *[f'    FILE_NAME_BAND_{b} = "SYN_B{b}.TIF"' for b in (4, 5, 10, 11)],
        '    FILE_NAME_METADATA_ODL = "SYN_MTL.txt"',
        *[f'    DATA_TYPE_BAND_{b} = "UINT16"' for b in (4, 5, 10, 11)],
        "  END_GROUP = PRODUCT_CONTENTS",
        "  GROUP = IMAGE_ATTRIBUTES",
        '    SPACECRAFT_ID = "LANDSAT_8"',
        '    SENSOR_ID = "OLI_TIRS"',
        "    WRS_PATH = 148",
        "    WRS_ROW = 35",
        f"    DATE_ACQUIRED = {date}",
        '    SCENE_CENTER_TIME = "05:35:00.0000000Z"',
        f"    SUN_AZIMUTH = {sun_az:.8f}",
        f"    SUN_ELEVATION = {sun_el:.8f}",
        f"    EARTH_SUN_DISTANCE = {earth_sun_au:.7f}",
        "  END_GROUP = IMAGE_ATTRIBUTES",
        "  GROUP = PROJECTION_ATTRIBUTES",
        '    MAP_PROJECTION = "UTM"' if zone else '    MAP_PROJECTION = "TM"',
        '    DATUM = "WGS84"',
        '    ELLIPSOID = "WGS84"',
        *([f"    UTM_ZONE = {zone}"] if zone else []),
        f"    GRID_CELL_SIZE_THERMAL = {grid30.res[0]:.2f}",
        f"    GRID_CELL_SIZE_REFLECTIVE = {grid30.res[0]:.2f}",
        f"    REFLECTIVE_LINES = {grid30.height}",
        f"    REFLECTIVE_SAMPLES = {grid30.width}",
        f"    THERMAL_LINES = {grid30.height}",
        f"    THERMAL_SAMPLES = {grid30.width}",
        '    ORIENTATION = "NORTH_UP"',
        f"    CORNER_UL_PROJECTION_X_PRODUCT = {left:.3f}",
        f"    CORNER_UL_PROJECTION_Y_PRODUCT = {top:.3f}",
        f"    CORNER_LR_PROJECTION_X_PRODUCT = {right:.3f}",
        f"    CORNER_LR_PROJECTION_Y_PRODUCT = {bottom:.3f}",
        "  END_GROUP = PROJECTION_ATTRIBUTES",
        "  GROUP = LEVEL1_RADIOMETRIC_RESCALING",
        *[f"    RADIANCE_{kind}_BAND_{b} = {fmt(f'RADIANCE_{kind}_BAND_{b}')}"
          for b in (10, 11) for kind, fmt in (("MULT", fmt_mult), ("ADD", fmt_add))],
        *[f"    REFLECTANCE_{kind}_BAND_{b} = {fmt(f'REFLECTANCE_{kind}_BAND_{b}')}"
          for b in (4, 5) for kind, fmt in (("MULT", fmt_mult), ("ADD", fmt_add))],
        "  END_GROUP = LEVEL1_RADIOMETRIC_RESCALING",
        "  GROUP = LEVEL1_THERMAL_CONSTANTS",
        *[f"    {k}_CONSTANT_BAND_{b} = {c[f'{k}_CONSTANT_BAND_{b}']:.4f}" for b in (10, 11) for k in ("K1", "K2")],
        "  END_GROUP = LEVEL1_THERMAL_CONSTANTS",
        "END_GROUP = LANDSAT_METADATA_FILE",
        "END",
    ]  # fmt: skip
    return "\n".join(lines) + "\n"


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
    if not 64 <= size_px <= MAX_SIZE_PX:
        raise InputError(f"--size must be between 64 and {MAX_SIZE_PX} px, not {size_px}")
    if not 0.5 <= pixel_m <= 30:
        raise InputError(f"--pixel-m must be between 0.5 and 30 m, not {pixel_m}")
    ms_channels = check_channels(channels, difficulty)
    rng = np.random.default_rng(seed)
    z, valleys = make_terrain(size_px, pixel_m, rng)
    surface, z = make_surface(z, valleys, pixel_m, rng)
    kind = surface.kind
    look = None
    if difficulty == "hard":
        look = draw_look(rng)
        kind, z = harden_surface(z, kind, surface.ela_m, pixel_m, look, rng)
    h, w = z.shape
    x0, y0 = ORIGIN
    grid = Grid.from_bounds(CRS_UTM43N, (x0, y0 - h * pixel_m, x0 + w * pixel_m, y0), pixel_m)
    return write_scene(
        Path(out_dir), z, kind, surface.ela_m, grid, rng, seed=seed, look=look, ms_channels=ms_channels
    )


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
    fine = grid
    pixel_m = float(grid.res[0])
    valid = np.ones(z.shape, bool) if valid is None else valid

    if look is None:
        temp_k = _render_easy(out, z, kind, fine, valid, rng, date, ms_channels)
    else:
        temp_k = _render_hard(out, z, kind, fine, valid, rng, date, ms_channels, look)

    # DEMs: the fine 2 × pixel_m DEM (as the 4 m ZY-3 DEM) and a 30 m DEM
    zf = np.where(valid, z, np.nan).astype("float32")
    dem_grid = _grid_like(fine, 2 * pixel_m)
    write_raster(
        out / "dem.tif", _resample(zf[None], fine, dem_grid)[0], dem_grid, descriptions=["elevation_m"]
    )
    dem30 = _grid_like(fine, 30.0)
    write_raster(out / "dem30.tif", _resample(zf[None], fine, dem30)[0], dem30, descriptions=["elevation_m"])

    # truth
    glacier = np.isin(kind, GLACIER_SURFACES)
    classes = np.zeros(kind.shape, "uint8")
    classes[np.isin(kind, CLEAN_ICE_SURFACES)] = CLEAN_ICE
    classes[np.isin(kind, DEBRIS_SURFACES)] = DEBRIS
    classes[~valid] = NODATA
    write_raster(out / "truth" / "classes.tif", classes, fine, nodata=NODATA)
    write_raster(out / "truth" / "surface_temperature_k.tif", np.where(valid, temp_k, np.nan).astype("float32"),
                 fine, descriptions=["surface_temperature_k"])  # fmt: skip
    write_raster(out / "truth" / "surface.tif", np.where(valid, kind, 255).astype("uint8"), fine, nodata=255,
                 tags={f"SURFACE_{k.upper()}": str(v) for k, v in SURFACE.items()
                       if v in BASE_SURFACES or look is not None})  # fmt: skip
    if truth is None:
        unit = _units(np.where(valid, z, np.nanmax(z[valid])), glacier & valid, fine)
        units, debris, divides = _truth_layers(unit, classes, fine)
    else:
        units, debris, divides = truth
    write_layers(out / "truth" / "glaciers.gpkg", {"glaciers": units, "debris": debris, "divides": divides})

    info = SceneInfo(
        str(out), seed, int(max(h, w)), pixel_m, round(ela_m, 1), int(len(units)),
        float(units["area_km2"].sum()), float(debris["area_km2"].sum()) if len(debris) else 0.0,
        int((units["area_km2"] < MIN_GLACIER_KM2).sum()), "easy" if look is None else "hard",
    )  # fmt: skip
    with atomic_path(out / "config.toml") as tmp:
        tmp.write_text(CONFIG_TEMPLATE.format(seed=seed, date=date, dem_source=dem_source))
    with atomic_path(out / "scene.json") as tmp:
        tmp.write_text(
            json.dumps(
                {k: v for k, v in asdict(info).items() if k not in ("out_dir", "difficulty")}
                | {"shape_px": [h, w], "crs": str(fine.crs), "surface_km2": _surface_km2(kind, pixel_m, look)}
                | _hard_summary(look, ms_channels, kind, classes)
                | (extra or {}),
                indent=2,
            )
        )
    return info


def _render_easy(
    out: Path, z: np.ndarray, kind: np.ndarray, fine: Grid, valid: np.ndarray, rng, date: str, ms_channels
) -> np.ndarray:
    """The embedded default scene's sensors (unchanged since the recorded demo figures) → surface temperature."""
    h, w = z.shape
    pixel_m = float(fine.res[0])
    cos_i = sensors.illumination(z, pixel_m, SUN_AZIMUTH_DEG, SUN_ELEVATION_DEG)
    coarse = max(1, int(round(8.0 / pixel_m)))
    z_c = z[::coarse, ::coarse]
    shadow_c = sensors.cast_shadow(z_c, pixel_m * coarse, SUN_AZIMUTH_DEG, SUN_ELEVATION_DEG)
    shadow = np.repeat(np.repeat(shadow_c, coarse, 0), coarse, 1)[:h, :w]
    cos_z = math.cos(math.radians(90 - SUN_ELEVATION_DEG))
    light = np.where(shadow, 0.2, np.clip(0.2 + 0.8 * cos_i / cos_z, 0.2, 1.5)).astype("float32")

    # primary sensor (ZY-3-like) clouds, drawn first: the debris/moraine match is made where it sees the ground
    clouds_primary = _clouds(z.shape, rng, int(rng.integers(1, 3)), pixel_m) * (rng.uniform() < 0.9)
    surf = sensors.reflectance(kind, rng)  # (5, h, w): blue, green, red, nir, swir
    sensors.match_off_glacier_debris(surf, kind, light, clear=clouds_primary < 0.01)
    temp_k = sensors.surface_temperature_k(kind, z, cos_i, shadow, pixel_m, rng)

    def observe(clouds: np.ndarray) -> np.ndarray:
        """The surface as one sensor sees it: lit, under its clouds, with noise (band by band, float32)."""
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

    # primary sensor: 2 m pan, 5 m MS, its own clouds
    primary = observe(clouds_primary)
    # truth of pan/ms clouds: the mask (opacity > 0.3, as the S2 mask) and the opacity in % (thin edges too)
    write_raster(
        out / "truth" / "cloud_primary.tif", (clouds_primary > 0.3).astype("uint8"), fine, nodata=255
    )
    opacity_pct = np.round(100 * clouds_primary).astype("uint8")
    write_raster(out / "truth" / "cloud_opacity_pct.tif", opacity_pct, fine, nodata=255,
                 descriptions=["cloud_opacity_pct"])  # fmt: skip
    ms_grid = _grid_like(fine, 2.5 * pixel_m)
    ms = _resample(primary[[EASY_BAND_INDEX[c] for c in ms_channels]], fine, ms_grid)
    pan = (0.10 * primary[0] + 0.30 * primary[1] + 0.35 * primary[2] + 0.25 * primary[3]).astype("float32")
    pan = np.clip(pan + rng.normal(0, NOISE_STD / 2, pan.shape).astype("float32"), 0, 1)
    pan[~valid] = np.nan
    write_raster(out / "pan.tif", pan, fine, descriptions=["pan"])
    write_raster(out / "ms.tif", ms, ms_grid, descriptions=list(ms_channels))

    # Sentinel-2-like 10 m scene with other clouds and SWIR
    s2_grid = _grid_like(fine, 10.0)
    # other clouds than the primary image's (so gap filling from S2 makes sense)
    avoid = ndimage.distance_transform_edt(clouds_primary <= 0.05) < max(1, min(h, w) // 16)
    clouds_s2 = _clouds(z.shape, rng, int(rng.integers(1, 3)), pixel_m, avoid=avoid)
    s2 = _resample(observe(clouds_s2), fine, s2_grid)
    write_raster(out / "s2.tif", s2, s2_grid, descriptions=["B2", "B3", "B4", "B8", "B11"])
    cloud10 = _resample(clouds_s2[None].astype("float32"), fine, s2_grid)[0]
    write_raster(out / "s2_cloud.tif", (np.nan_to_num(cloud10) > 0.3).astype("uint8"), s2_grid, nodata=255)

    # Landsat-8-like 30 m: TOA reflectance DNs for red/NIR, thermal DNs from emitted radiance
    l8 = _grid_like(fine, 30.0)
    c = sensors.LANDSAT_CONSTANTS
    sin_e = math.sin(math.radians(SUN_ELEVATION_DEG))
    emis = np.zeros(kind.shape, "float32")
    for name, code in SURFACE.items():
        emis[kind == code] = sensors.EMISSIVITY_B10[name]
    no_cloud = np.zeros(z.shape, "float32")
    l8_refl = _resample(observe(no_cloud)[2:4], fine, l8)
    for b, band in ((0, 4), (1, 5)):
        dn = (l8_refl[b] * sin_e - c[f"REFLECTANCE_ADD_BAND_{band}"]) / c[f"REFLECTANCE_MULT_BAND_{band}"]
        _write_dn(out / "landsat" / f"SYN_B{band}.TIF", dn, l8)
    for band in (10, 11):
        radiance = sensors.planck_radiance(temp_k.astype("float64"), emis, band)
        _write_thermal_dn(out, band, radiance, valid, fine, l8, c)
    with atomic_path(out / "landsat" / "SYN_MTL.txt") as tmp:
        tmp.write_text(_mtl_text(date, SUN_AZIMUTH_DEG, SUN_ELEVATION_DEG, l8))

    return temp_k


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
    h, w = z.shape
    pixel_m = float(fine.res[0])
    az, el = look.sun_azimuth_deg, look.sun_elevation_deg
    cos_i = sensors.illumination(z, pixel_m, az, el)
    coarse = max(1, int(round(8.0 / pixel_m)))
    shadow_c = sensors.cast_shadow(z[::coarse, ::coarse], pixel_m * coarse, az, el)
    shadow = np.repeat(np.repeat(shadow_c, coarse, 0), coarse, 1)[:h, :w]
    cos_z = math.cos(math.radians(90 - el))
    d = look.diffuse
    light = np.where(shadow, d, np.clip(d + (1 - d) * cos_i / cos_z, d, 1.6)).astype("float32")
    table = spectra.draw_spectra(rng)
    surf = spectra.hard_reflectance(kind, table, rng)  # (6, h, w) over spectra.BANDS
    clouds_primary, shade_primary = _clouds_hard(z.shape, rng, look.cloud_cover, look, pixel_m)
    sensors.match_off_glacier_debris(surf, kind, light, clear=clouds_primary < 0.01)
    temp_k = spectra.hard_temperature_k(kind, z, cos_i, shadow, pixel_m, rng)
    # haze: aerosol optical depth ~ λ^-1.3 (Ångström); two-way transmission and a path reflectance
    tau = look.haze_aot * (np.asarray(spectra.WAVELENGTH_UM) / 0.55) ** -1.3
    trans = np.exp(-tau * (1.0 + 1.0 / math.sin(math.radians(el)))).astype("float32")
    path = (0.12 * (1.0 - np.exp(-tau))).astype("float32")
    noise_std = np.float32(look.noise_std)

    def observe(clouds: np.ndarray, cloud_shade: np.ndarray, bands: list[int]) -> np.ndarray:
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

    # primary sensor: 2 m pan, 5 m MS with the requested channels
    vnir = [0, 1, 2, 3]
    extra = [spectra.BANDS.index(c) for c in ms_channels if c not in ("blue", "green", "red", "nir")]
    primary = observe(clouds_primary, shade_primary, vnir + extra)
    write_raster(out / "truth" / "cloud_primary.tif", np.where(valid, clouds_primary > 0.3, 255).astype("uint8"),
                 fine, nodata=255)  # fmt: skip
    write_raster(out / "truth" / "cloud_opacity_pct.tif", np.round(100 * clouds_primary).astype("uint8"), fine,
                 nodata=255, descriptions=["cloud_opacity_pct"])  # fmt: skip
    ms_grid = _grid_like(fine, 2.5 * pixel_m)
    order = [(vnir + extra).index(spectra.BANDS.index(c)) for c in ms_channels]
    write_raster(
        out / "ms.tif", _resample(primary[order], fine, ms_grid), ms_grid, descriptions=list(ms_channels)
    )
    pan = (0.10 * primary[0] + 0.30 * primary[1] + 0.35 * primary[2] + 0.25 * primary[3]).astype("float32")
    pan = np.clip(pan + rng.normal(0, look.noise_std / 2, pan.shape).astype("float32"), 0, 1)
    pan[~valid] = np.nan
    write_raster(out / "pan.tif", pan, fine, descriptions=["pan"])
    del primary

    # Sentinel-2-like 10 m: B2, B3, B4, B8, B11, B12, other clouds (thick ones away from the primary's)
    s2_grid = _grid_like(fine, 10.0)
    avoid = ndimage.distance_transform_edt(clouds_primary <= 0.05) < max(1, min(h, w) // 16)
    clouds_s2, shade_s2 = _clouds_hard(
        z.shape, rng, look.cloud_cover * rng.uniform(0.3, 1.0), look, pixel_m, avoid
    )
    s2 = _resample(observe(clouds_s2, shade_s2, list(range(6))), fine, s2_grid)
    write_raster(out / "s2.tif", s2, s2_grid, descriptions=["B2", "B3", "B4", "B8", "B11", "B12"])
    cloud10 = _resample(clouds_s2[None].astype("float32"), fine, s2_grid)[0]
    write_raster(out / "s2_cloud.tif", (np.nan_to_num(cloud10) > 0.3).astype("uint8"), s2_grid, nodata=255)

    # Landsat-8-like 30 m with its own clouds: red/NIR DN and thermal DN (cloud tops radiate at 240-265 K)
    l8 = _grid_like(fine, 30.0)
    c = sensors.LANDSAT_CONSTANTS
    clouds_l8, shade_l8 = _clouds_hard(z.shape, rng, look.cloud_cover * rng.uniform(0.0, 1.0), look, pixel_m)
    l8_refl = _resample(observe(clouds_l8, shade_l8, [2, 3]), fine, l8)
    sin_e = math.sin(math.radians(el))
    for b, band in ((0, 4), (1, 5)):
        dn = (l8_refl[b] * sin_e - c[f"REFLECTANCE_ADD_BAND_{band}"]) / c[f"REFLECTANCE_MULT_BAND_{band}"]
        _write_dn(out / "landsat" / f"SYN_B{band}.TIF", dn, l8)
    emis = np.zeros(kind.shape, "float32")
    for name, code in SURFACE.items():
        emis[kind == code] = sensors.EMISSIVITY_B10[name]
    t_cloud = np.full(kind.shape, rng.uniform(240.0, 265.0))
    for band in (10, 11):
        ground = sensors.planck_radiance(temp_k.astype("float64"), emis, band)
        top = sensors.planck_radiance(t_cloud, np.ones_like(emis), band)
        _write_thermal_dn(out, band, (1 - clouds_l8) * ground + clouds_l8 * top, valid, fine, l8, c)
    with atomic_path(out / "landsat" / "SYN_MTL.txt") as tmp:
        tmp.write_text(_mtl_text(date, az, el, l8))
    return temp_k


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
