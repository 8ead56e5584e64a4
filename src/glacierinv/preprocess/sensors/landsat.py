"""Landsat 4/5/7/8/9, Collection 1 and 2: Level-1 (TOA) and Collection 2 Level-2 (surface) products.

Give the product's ``*_MTL.txt``; the band files are found beside it by the names the MTL lists
(``FILE_NAME_BAND_<n>``). What is computed (USGS Landsat 8-9 Collection 2 Level-1 and Level-2 Science
Product Guides; Landsat 7 / 4-5 Data Users Handbooks):

- Level-1 (``L1TP``, ``L1GT``, ``L1GS``): TOA reflectance ``ρ = (Mρ·DN + Aρ) / sin(θ_SE)`` with the MTL's
  ``REFLECTANCE_MULT/ADD_BAND_n`` and ``SUN_ELEVATION``; LST from the thermal band (TIRS B10, ETM+ B6 low
  gain ``6_VCID_1``, TM B6) by DN → radiance → brightness temperature → NDVI/NDSI emissivity → inverse
  Planck (:mod:`glacierinv.preprocess.thermal`); the channel ``tir`` is that band's at-sensor brightness
  temperature (K), before any emissivity correction.
- Collection 2 Level-2 (``L2SP``/``L2SR``): surface reflectance ``ρ = 2.75e-5·DN − 0.2`` and surface
  temperature ``T = 0.00341802·DN + 149.0`` K (``ST_B10`` / ``ST_B6``; USGS emissivity from ASTER GED, no
  further correction here); the scale factors are read from the MTL's Level-2 groups when present.
- Quality: Collection 2 ``QA_PIXEL`` (bit 0 fill, 1 dilated cloud, 2 cirrus, 3 cloud, 4 cloud shadow,
  5 snow) or Collection 1 ``BQA`` (bit 4 cloud, bits 7-8 cloud-shadow confidence, 9-10 snow/ice
  confidence): cloud, dilated cloud, cirrus and cloud shadow are flagged, except where the snow bit is set
  (snow and ice are what we map; the cloud tests confuse them).

DN 0 is the fill value of every band. The stack is built on the 30 m reflective grid (``[stack] resolution_m``
resamples); with ``[stack] landsat_pan = true`` a Level-1 ETM+/OLI product also gives its 15 m pan band B8
(TOA reflectance like the other bands), the grid becomes the pan grid and blue..nir are pan-sharpened
with ``[stack] pansharpen``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from rasterio.enums import Resampling

from glacierinv.errors import ConfigError, InputError
from glacierinv.io.grid import Grid
from glacierinv.io.raster import raster_grid, read_on_grid
from glacierinv.preprocess.landsat import MTL, read_mtl
from glacierinv.preprocess.sensors._base import OLI_CENTRAL_UM, BandRef, Key, Product, Sensor, ThermalSource

__all__ = ["BANDS", "L2_SR", "L2_ST", "SENSOR", "open_landsat", "qa_cloud"]

# channel → band label, per spacecraft (reflective bands)
_OLI = {"blue": "2", "green": "3", "red": "4", "nir": "5", "swir1": "6", "swir2": "7"}
_ETM_TM = {"blue": "1", "green": "2", "red": "3", "nir": "4", "swir1": "5", "swir2": "7"}
BANDS = {
    "LANDSAT_8": _OLI,
    "LANDSAT_9": _OLI,
    "LANDSAT_7": _ETM_TM,
    "LANDSAT_5": _ETM_TM,
    "LANDSAT_4": _ETM_TM,
}
# Level-2 surface-temperature band per spacecraft
_ST_BAND = {
    "LANDSAT_8": "ST_B10",
    "LANDSAT_9": "ST_B10",
    "LANDSAT_7": "ST_B6",
    "LANDSAT_5": "ST_B6",
    "LANDSAT_4": "ST_B6",
}
# the 15 m panchromatic band (ETM+ 0.52-0.90 µm, OLI 0.50-0.68 µm); TM has none
PAN_BAND = {"LANDSAT_7": "8", "LANDSAT_8": "8", "LANDSAT_9": "8"}
# Collection 2 Level-2 scale factors (USGS Landsat 8-9 C2 L2 Science Product Guide, LSDS-1619)
L2_SR = (2.75e-5, -0.2)
L2_ST = (0.00341802, 149.0)
# Collection 2 QA_PIXEL bits
QA_FILL, QA_DILATED, QA_CIRRUS, QA_CLOUD, QA_SHADOW, QA_SNOW = 0, 1, 2, 3, 4, 5

KEYS = (
    Key(
        "landsat",
        "Landsat product: its *_MTL.txt (Level-1 C1/C2 or C2 Level-2); band files beside it",
        "primary",
        example="LC08_L1TP_140041_20200101_20200113_02_T1_MTL.txt",
    ),
    Key(
        "landsat_mtl",
        "a Landsat Level-1 MTL used only for LST (thermal) beside another primary image",
        "thermal",
        example="landsat/MTL.txt",
        active=True,
    ),
)


def _level2(mtl: MTL) -> bool:
    level = mtl.values.get("PROCESSING_LEVEL", mtl.values.get("DATA_TYPE", ""))
    return level.upper().startswith("L2") or "_SR_B" in mtl.values.get("FILE_NAME_BAND_2", "")


def _file(mtl: MTL, key: str) -> Path:
    name = mtl.groups.get("PRODUCT_CONTENTS", {}).get(key) or mtl.get(key)
    p = mtl.path.parent / name
    if not p.exists():
        raise InputError(
            f"{key} file {name} named in the MTL is missing", p, "Keep the band files beside the MTL"
        )
    return p


def open_landsat(
    mtl_path: Path, *, dem: Path | None = None, calibration: dict | None = None, pan: bool = False
) -> Product:
    """Open a Landsat product from its MTL: calibrated reflective bands, LST, QA cloud mask, sun position.

    ``pan``: also read the 15 m panchromatic band B8 (TOA reflectance, Level-1 ETM+/OLI only); the
    product's grid is then the pan grid, so the stack pan-sharpens blue..nir onto 15 m.
    """
    mtl = read_mtl(mtl_path)
    sc = mtl.spacecraft
    _check_product(mtl, mtl_path)
    level2 = _level2(mtl)
    sun_el = mtl.sun_elevation_deg
    info = {"spacecraft": sc, "level": "L2" if level2 else "L1", "mtl": str(mtl_path)}
    bands: dict[str, BandRef] = {}
    for ch, b in BANDS[sc].items():
        bands[ch] = _surface_band(mtl, b) if level2 else _toa_band(mtl, b, sun_el)
        info[f"{ch}_band"] = b
    grid = raster_grid(bands["red"].path)
    pan_ref = None
    if pan:
        if level2 or sc not in PAN_BAND:
            raise ConfigError(
                f"config: [stack] landsat_pan = true, but {'a Level-2 product' if level2 else sc + ' (TM)'} "
                f"has no pan band (B8) — {Path(mtl_path).name}; use an ETM+/OLI Level-1 product or drop it"
            )
        pan_ref = _toa_band(mtl, PAN_BAND[sc], sun_el)
        grid = raster_grid(pan_ref.path)
        info["pan_band"] = PAN_BAND[sc]
    product = Product("landsat", "landsat", Path(mtl_path), bands, grid, pan=pan_ref, info=info)
    product.sun = (mtl.sun_azimuth_deg, sun_el)
    _attach_thermal(product, mtl, level2)
    _attach_quality(product, mtl)
    return product


def _check_product(mtl: MTL, mtl_path: Path) -> None:
    """Refuse an unsupported spacecraft, an MSS product (no blue band) or a sun elevation outside (0, 90]°."""
    sc = mtl.spacecraft
    if sc not in BANDS:
        raise InputError(f"unsupported SPACECRAFT_ID {sc}", mtl_path, f"Supported: {', '.join(BANDS)}")
    if mtl.values.get("SENSOR_ID", "") == "MSS":
        raise InputError(
            "Landsat MSS products are not supported (no blue band)", mtl_path, "Use TM, ETM+ or OLI"
        )
    sun_el = mtl.sun_elevation_deg
    if not 0 < sun_el <= 90:
        raise InputError(f"SUN_ELEVATION {sun_el} is not in (0, 90] degrees", mtl_path)


def _surface_band(mtl: MTL, b: int) -> BandRef:
    """Level-2 band ``b``: DN → surface reflectance with the MTL's scale/offset (default :data:`L2_SR`)."""
    grp = "LEVEL2_SURFACE_REFLECTANCE_PARAMETERS"
    scale = mtl.group_number(grp, f"REFLECTANCE_MULT_BAND_{b}", L2_SR[0])
    offset = mtl.group_number(grp, f"REFLECTANCE_ADD_BAND_{b}", L2_SR[1])
    return BandRef(_file(mtl, f"FILE_NAME_BAND_{b}"), 1, float(scale), float(offset), nodata=0)


def _toa_band(mtl: MTL, b: int, sun_el: float) -> BandRef:
    """Level-1 band ``b``: DN → TOA reflectance, the MTL's rescaling divided by sin(sun elevation in °)."""
    sin_el = np.sin(np.radians(sun_el))
    scale = mtl.number(f"REFLECTANCE_MULT_BAND_{b}") / sin_el
    offset = mtl.number(f"REFLECTANCE_ADD_BAND_{b}") / sin_el
    return BandRef(_file(mtl, f"FILE_NAME_BAND_{b}"), 1, float(scale), float(offset), nodata=0)


def _attach_thermal(product: Product, mtl: MTL, level2: bool) -> None:
    """Set the product's LST reader (K): Level-2 surface temperature, or from Level-1 thermal DNs (with the
    brightness-temperature reader as ``tir``); record the method and the thermal files in ``info``."""
    info = product.info
    if level2:
        sc = mtl.spacecraft
        grp = "LEVEL2_SURFACE_TEMPERATURE_PARAMETERS"
        st = BandRef(
            _file(mtl, f"FILE_NAME_BAND_{_ST_BAND[sc]}"),
            1,
            mtl.group_number(grp, f"TEMPERATURE_MULT_BAND_{_ST_BAND[sc]}", L2_ST[0]),
            mtl.group_number(grp, f"TEMPERATURE_ADD_BAND_{_ST_BAND[sc]}", L2_ST[1]),
            nodata=0,
        )
        product.lst = _st_reader(st)
        info["lst"] = "Level-2 surface temperature (USGS, ASTER GED emissivity)"
        info["extra_files"] = [st.path]
    else:
        product.lst = lst_reader(mtl)
        info["lst"] = "Level-1 thermal: BT, NDVI/NDSI emissivity, inverse Planck"
        product.tir = bt_reader(mtl)
        info["tir"] = f"Level-1 band {mtl.thermal_band} brightness temperature (K1/K2 of the MTL)"
        info["extra_files"] = list(mtl.lst_band_paths().values())


def _attach_quality(product: Product, mtl: MTL) -> None:
    """Set the product's cloud mask reader from its QA band when the MTL names one (QA_PIXEL of Collection 2,
    else BQA of Collection 1; cloud and cloud shadow masked, snow kept), recorded in ``info``."""
    info = product.info
    qa_key = (
        "FILE_NAME_QUALITY_L1_PIXEL"
        if "FILE_NAME_QUALITY_L1_PIXEL" in mtl.values
        else "FILE_NAME_BAND_QUALITY"
    )
    if qa_key in mtl.values:
        qa = _file(mtl, qa_key)
        c1 = qa_key == "FILE_NAME_BAND_QUALITY"
        product.quality = _qa_reader(qa, collection1=c1)
        info["quality"] = f"{'BQA (C1)' if c1 else 'QA_PIXEL (C2)'} cloud / cloud shadow, snow kept"
        info["extra_files"] = [*info["extra_files"], qa]


def lst_reader(mtl: MTL):
    """``(grid, window) → LST (K)`` from a Level-1 MTL's thermal, red, NIR (green, SWIR) DNs."""
    from glacierinv.preprocess.thermal import lst_from_dn

    paths = mtl.lst_band_paths()

    def read(grid: Grid, window=None) -> np.ndarray:
        dn = {
            k: read_on_grid(p, grid, window=window, bands=1, src_nodata=0, require_overlap=False)
            for k, p in paths.items()
        }
        dn = {k: np.where(np.isfinite(v), v, 0) for k, v in dn.items()}
        lst, _ = lst_from_dn(mtl, dn["thermal"], dn["red"], dn["nir"], dn.get("green"), dn.get("swir"))
        return lst.astype("float32")

    return read


def bt_reader(mtl: MTL):
    """``(grid, window) → at-sensor brightness temperature (K)`` of a Level-1 MTL's thermal band.

    TIRS B10, ETM+ B6 low gain (``6_VCID_1``: its range reaches below 200 K, where the high-gain
    ``6_VCID_2`` saturates near 240 K on cold ice), TM B6: ``T = K2 / ln(K1 / L + 1)`` with
    ``L = ML · DN + AL`` (USGS Landsat 8-9 Data Users Handbook, eq. 5.2-5.3). The DN are resampled bilinearly
    onto the grid first (fill DN 0 excluded), as for the LST.
    """
    path, band = mtl.band_path(mtl.thermal_band), mtl.thermal_band

    def read(grid: Grid, window=None) -> np.ndarray:
        dn = read_on_grid(path, grid, window=window, bands=1, src_nodata=0, require_overlap=False)
        return mtl.brightness_temperature(np.where(np.isfinite(dn), dn, 0), band).astype("float32")

    return read


def _st_reader(ref: BandRef):
    def read(grid: Grid, window=None) -> np.ndarray:
        arr = read_on_grid(ref.path, grid, window, bands=1, require_overlap=False, src_nodata=0)
        return (arr * ref.scale + ref.offset).astype("float32")

    return read


def qa_cloud(qa: np.ndarray, *, collection1: bool = False) -> np.ndarray:
    """Cloud / cloud shadow (True) from QA values; snow-flagged pixels are never cloud; fill is invalid.

    Collection 2 ``QA_PIXEL``: bit 1 dilated cloud, 2 cirrus, 3 cloud, 4 cloud shadow, 5 snow, 0 fill.
    Collection 1 ``BQA``: bit 0 fill, bit 4 cloud, bits 7-8 cloud-shadow confidence (3 = high), bits 9-10
    snow/ice confidence (3 = high).
    """
    q = np.asarray(qa).astype("int64")
    bit = lambda n: ((q >> n) & 1).astype(bool)  # noqa: E731
    if collection1:
        snow = ((q >> 9) & 3) == 3
        cloud = bit(4) | (((q >> 7) & 3) == 3)
    else:
        snow = bit(QA_SNOW)
        cloud = bit(QA_DILATED) | bit(QA_CIRRUS) | bit(QA_CLOUD) | bit(QA_SHADOW)
    return (cloud & ~snow) | bit(QA_FILL)


def _qa_reader(path: Path, *, collection1: bool):
    def read(grid: Grid, window=None) -> np.ndarray:
        arr = read_on_grid(path, grid, window, bands=1, resampling=Resampling.nearest, require_overlap=False)
        outside = ~np.isfinite(arr)
        return qa_cloud(np.where(outside, 1, arr), collection1=collection1) | outside

    return read


def thermal_reader(mtl_path: Path) -> ThermalSource:
    """LST and brightness-temperature readers of the thermal-only key ``landsat_mtl`` (a Level-1 MTL)."""
    mtl = read_mtl(mtl_path)
    sun = (mtl.sun_azimuth_deg, mtl.sun_elevation_deg)
    return ThermalSource(lst_reader(mtl), bt_reader(mtl), sun, tuple(mtl.lst_band_paths().values()))


SENSOR = Sensor(
    name="landsat",
    title="Landsat 4/5/7/8/9 (Collection 1 and 2, Level-1 and Level-2)",
    keys=KEYS,
    channels={**OLI_CENTRAL_UM, "pan": 0.59},  # OLI pan 0.50-0.68 µm (ETM+ 0.52-0.90)
    native_res_m={
        "blue": 30.0,
        "green": 30.0,
        "red": 30.0,
        "nir": 30.0,
        "swir1": 30.0,
        "swir2": 30.0,
        "lst": 100.0,
        "tir": 60.0,  # ETM+ B6 (TIRS 100 m, TM 120 m)
        "pan": 15.0,  # ETM+ / OLI B8 with [stack] landsat_pan
    },
    open=lambda paths, **kw: open_landsat(paths["landsat"], **kw),
    thermal=thermal_reader,
    options=lambda cfg: {"pan": bool(getattr(cfg.stack, "landsat_pan", False))},
)
