"""GaoFen-1/2/6 PMS and ZiYuan-3 pan + multispectral products (CRESDA Level-1A), the seed's sensors.

Give the product folder as unpacked (or one of its images). Files are found by CRESDA's naming, e.g.
``GF2_PMS1_E113.6_N23.1_20150117_L1A0000567980-MSS1.tiff`` / ``-PAN1.tiff`` with their ``.xml`` metadata
and ``.rpb`` (or ``_rpc.txt``) RPC model; GF-6 ``-MUX`` / ``-PAN``; ZY-3 ``ZY3_MUX_…`` / ``ZY3_NAD_…``;
GF-1 WFV ``GF1_WFV1_…_L1A….tiff`` (one 16 m multispectral image, no pan band).

What is computed:

- radiance ``L = gain · DN + offset`` (W m⁻² sr⁻¹ µm⁻¹) with CRESDA's absolute calibration coefficients
  for the satellite, camera and year (:data:`CALIBRATION`; ``[inputs.calibration]`` overrides them);
- TOA reflectance ``ρ = π · L · d² / (ESUN · cos θ_z)`` with the solar zenith angle of the XML, the
  Earth-Sun distance ``d`` (AU) of the acquisition day and the band's mean exo-atmospheric solar irradiance
  ESUN (W m⁻² µm⁻¹, :data:`ESUN`; ``[inputs.calibration] esun`` overrides it);
- orthorectification through the RPC model with the DEM (GDAL's RPC transformer, ``RPC_DEM``, bilinear) when
  the images carry no map georeferencing, on the fly, window by window, onto a UTM grid at the nominal pan
  pixel size; already orthorectified GeoTIFFs are read on their own grid;
- pan-sharpening of blue, green, red, NIR onto the pan grid (:mod:`glacierinv.preprocess.pansharpen`).

Coefficient sources (docs/sensors.md lists them per row):

- gains and offsets: CRESDA's annual absolute radiometric calibration coefficients (China Centre for
  Resources Satellite Data and Application, published yearly at www.cresda.com). GF-1/GF-2 2013-2018 and
  GF-6 2018 as transcribed in the open-source Project_JiaoTang GaoFen tool (desertstsung/Project_JiaoTang,
  ``gainOffsetExtForMSPN.pro``); GF-2 and GF-6 2019-2021, GF-1 WFV 2014-2021 and ZY-3-03 2020 as
  tabulated in the open-source Gaofen-Batch tool (GenghisYoung233/Gaofen-Batch,
  ``data/AtmosphericCorrectionParameter.yaml``; its 2021 GF-2/GF-6 rows agree with an independent GF preprocessing script); ZY-3-01 MUX from CRESDA's 2013
  field-calibration notice and ZY-3-02 MUX from CRESDA's 2017 notice (国产陆地观测卫星绝对辐射定标系数).
  Later years fall back to the latest edition listed (a warning says so) — give the current year's values
  in the config for quantitative work.
- ESUN: CRESDA's per-band values (computed by CRESDA from each camera's spectral response), as tabulated
  in Gaofen-Batch's ``AtmosphericCorrectionParameter.yaml``; the GF-1 PMS1, GF-2 PMS1/2 and GF-6 PMS rows
  agree to the last digit with the independent GF preprocessing script. Every value lies within 5 % (the
  test allows 6 %) of Landsat 7 ETM+'s ESUN for the band of the same nominal edges (Chander et al. 2009), the test that guards
  transcription. ZY-3-01/02 ESUN is not tabulated (no published value found; the ZY-3-03 MUX values listed
  by Gaofen-Batch — NIR 1203, green above blue — fail that physical check). ZY-3 MUX has the nominal band
  edges of every tabulated camera, so it takes their mean (:func:`band_equivalent_esun`, spread ≤ 1.4 %);
  a pan band without gain and ESUN is read in relative units for pan-sharpening only (no ``pan`` channel).
Limitation: RPC heights are ellipsoidal while most DEMs are orthometric; the geoid undulation N (tens of
metres) shifts points horizontally by about N · tan(off-nadir angle).
"""

from __future__ import annotations

import logging
import math
import re
import warnings
from datetime import date
from pathlib import Path

from rasterio.errors import NotGeoreferencedWarning

from glacierinv.errors import ConfigError, InputError
from glacierinv.io.grid import Grid
from glacierinv.io.raster import open_raster
from glacierinv.preprocess.sensors._base import BandRef, Key, Product, Sensor, rpc_dem_options

__all__ = ["CALIBRATION", "ESUN", "SENSOR", "earth_sun_distance_au", "find_pair", "open_gfzy", "read_xml"]

log = logging.getLogger(__name__)

MS_ORDER = ("blue", "green", "red", "nir")  # band 1-4 of every PMS / MUX multispectral image
# CRESDA absolute calibration: (satellite-camera) → year → {"pan": gain, "ms": (gains b1-b4), offsets}
CALIBRATION: dict[str, dict[int, dict]] = {
    "GF2-PMS1": {
        2014: {"pan": 0.163, "ms": (0.1585, 0.1883, 0.1740, 0.1897), "pan_offset": -0.6077,
               "ms_offset": (-0.8765, -0.9742, -0.7652, -0.7233)},
        2015: {"pan": 0.1538, "ms": (0.1457, 0.1604, 0.155, 0.1731)},
        2016: {"pan": 0.1501, "ms": (0.1322, 0.155, 0.1477, 0.1613)},
        2017: {"pan": 0.1503, "ms": (0.1193, 0.153, 0.1424, 0.1569)},
        2018: {"pan": 0.1725, "ms": (0.1356, 0.1736, 0.1644, 0.1788)},
        2019: {"pan": 0.1855, "ms": (0.1453, 0.1826, 0.1727, 0.1908)},
        2020: {"pan": 0.1817, "ms": (0.1378, 0.1778, 0.17, 0.1858)},
        2021: {"pan": 0.1884, "ms": (0.1374, 0.1784, 0.1723, 0.1894)},
    },
    "GF2-PMS2": {
        2014: {"pan": 0.1823, "ms": (0.1748, 0.1817, 0.1741, 0.1975), "pan_offset": 0.1654,
               "ms_offset": (-0.593, -0.2717, -0.2879, -0.2773)},
        2015: {"pan": 0.1538, "ms": (0.1761, 0.1843, 0.1677, 0.183)},
        2016: {"pan": 0.1863, "ms": (0.1762, 0.1856, 0.1754, 0.1980)},
        2017: {"pan": 0.1679, "ms": (0.1434, 0.1595, 0.1511, 0.1685)},
        2018: {"pan": 0.2136, "ms": (0.1859, 0.2072, 0.1934, 0.2180)},
        2019: {"pan": 0.198, "ms": (0.175, 0.1902, 0.177, 0.1968)},
        2020: {"pan": 0.2025, "ms": (0.1752, 0.1919, 0.1804, 0.1968)},
        2021: {"pan": 0.1959, "ms": (0.1641, 0.1830, 0.1705, 0.1878)},
    },
    "GF1-PMS1": {
        2013: {"pan": 0.1886, "ms": (0.2082, 0.1672, 0.1748, 0.1883), "pan_offset": -13.127,
               "ms_offset": (4.6186, 4.8768, 4.8924, -9.4771)},
        2014: {"pan": 0.1963, "ms": (0.2247, 0.1892, 0.1889, 0.1939)},
        2015: {"pan": 0.1956, "ms": (0.211, 0.1802, 0.1806, 0.187)},
        2016: {"pan": 0.1982, "ms": (0.232, 0.187, 0.1795, 0.196)},
        2017: {"pan": 0.1228, "ms": (0.1424, 0.1177, 0.1194, 0.1135)},
        2018: {"pan": 0.1428, "ms": (0.153, 0.1356, 0.1366, 0.1272)},
    },
    "GF1-PMS2": {
        2013: {"pan": 0.1878, "ms": (0.2072, 0.1776, 0.177, 0.1909), "pan_offset": -7.9731,
               "ms_offset": (7.5348, 3.9395, -1.7445, -7.2053)},
        2014: {"pan": 0.2147, "ms": (0.2419, 0.2047, 0.2009, 0.2058)},
        2015: {"pan": 0.2018, "ms": (0.2242, 0.1887, 0.1882, 0.1963)},
        2016: {"pan": 0.1979, "ms": (0.224, 0.1851, 0.1793, 0.1863)},
        2017: {"pan": 0.1365, "ms": (0.1460, 0.1248, 0.1274, 0.1255)},
        2018: {"pan": 0.149, "ms": (0.1523, 0.1382, 0.1403, 0.1334)},
    },
    # GF-1 WFV (16 m multispectral, no pan); 2014-2021 per Gaofen-Batch, the 2017 rows equal CRESDA's 2017
    # notice (2013 was published as the inverse, DN per radiance, and is left out)
    "GF1-WFV1": {
        2014: {"ms": (0.2004, 0.1648, 0.1243, 0.1563)}, 2015: {"ms": (0.1816, 0.156, 0.1412, 0.1368)},
        2016: {"ms": (0.1843, 0.1477, 0.122, 0.1365)}, 2017: {"ms": (0.2165, 0.1685, 0.1354, 0.1507)},
        2018: {"ms": (0.1824, 0.1546, 0.127, 0.1344)}, 2019: {"ms": (0.2144, 0.1657, 0.1228, 0.1213)},
        2020: {"ms": (0.19319, 0.16041, 0.12796, 0.13405)}, 2021: {"ms": (0.1722, 0.1496, 0.1227, 0.1262)},
    },
    "GF1-WFV2": {
        2014: {"ms": (0.1733, 0.1383, 0.1122, 0.1391)}, 2015: {"ms": (0.1684, 0.1527, 0.1373, 0.1263)},
        2016: {"ms": (0.1929, 0.154, 0.1349, 0.1359)}, 2017: {"ms": (0.2097, 0.163, 0.1339, 0.1521)},
        2018: {"ms": (0.1851, 0.1538, 0.1231, 0.1314)}, 2019: {"ms": (0.2368, 0.1745, 0.1254, 0.1163)},
        2020: {"ms": (0.2057, 0.1648, 0.126, 0.1187)}, 2021: {"ms": (0.1792, 0.1534, 0.1232, 0.1291)},
    },
    "GF1-WFV3": {
        2014: {"ms": (0.1745, 0.1514, 0.1257, 0.1462)}, 2015: {"ms": (0.177, 0.1589, 0.1385, 0.1344)},
        2016: {"ms": (0.1753, 0.1565, 0.148, 0.1322)}, 2017: {"ms": (0.187, 0.1619, 0.1295, 0.1383)},
        2018: {"ms": (0.1894, 0.1728, 0.1343, 0.1373)}, 2019: {"ms": (0.2139, 0.1797, 0.1344, 0.1337)},
        2020: {"ms": (0.2106, 0.1825, 0.1346, 0.1187)}, 2021: {"ms": (0.2044, 0.1844, 0.1429, 0.1453)},
    },
    "GF1-WFV4": {
        2014: {"ms": (0.1713, 0.16, 0.1497, 0.1435)}, 2015: {"ms": (0.1886, 0.1645, 0.1467, 0.1378)},
        2016: {"ms": (0.1973, 0.1714, 0.15, 0.1572)}, 2017: {"ms": (0.177, 0.1521, 0.1322, 0.1349)},
        2018: {"ms": (0.1866, 0.1599, 0.1307, 0.1251)}, 2019: {"ms": (0.2442, 0.1945, 0.1547, 0.1037)},
        2020: {"ms": (0.2522, 0.2029, 0.1528, 0.1031)}, 2021: {"ms": (0.2102, 0.1808, 0.1442, 0.1362)},
    },
    "GF6-PMS": {
        2018: {"pan": 0.0505, "ms": (0.0825, 0.0663, 0.0513, 0.0298)},
        2019: {"pan": 0.0534, "ms": (0.0847, 0.0653, 0.0491, 0.0289)},
        2020: {"pan": 0.0534, "ms": (0.082, 0.0645, 0.0489, 0.0286)},
        2021: {"pan": 0.0577, "ms": (0.0821, 0.0671, 0.0518, 0.0310)},
    },
    # ZY-3: the multispectral (MUX) camera; no NAD (pan) gain was published for 01/02 -> give it in the config
    "ZY3-01": {2013: {"ms": (0.2551, 0.2353, 0.1944, 0.2107)}},
    "ZY3-02": {2017: {"ms": (0.2136, 0.1993, 0.2189, 0.1965)}},
    "ZY3-03": {
        2020: {"pan": 0.20796, "ms": (0.20223, 0.19506, 0.21429, 0.21654), "pan_offset": -2.67428},
    },
}  # fmt: skip
#: CRESDA's mean exo-atmospheric solar irradiance per band, W m⁻² µm⁻¹ (sources in the module docstring).
ESUN: dict[str, dict[str, float]] = {
    "GF1-PMS1": {"pan": 1371.79, "blue": 1945.29, "green": 1854.10, "red": 1542.90, "nir": 1080.77},
    "GF1-PMS2": {"pan": 1376.37, "blue": 1945.63, "green": 1853.83, "red": 1543.90, "nir": 1081.89},
    "GF2-PMS1": {"pan": 1364.26, "blue": 1941.76, "green": 1853.73, "red": 1541.79, "nir": 1086.47},
    "GF2-PMS2": {"pan": 1362.16, "blue": 1941.22, "green": 1853.61, "red": 1541.70, "nir": 1086.53},
    "GF6-PMS": {"pan": 1497.79, "blue": 1945.50, "green": 1832.38, "red": 1558.18, "nir": 1090.77},
    "GF1-WFV1": {"blue": 1968.63, "green": 1849.19, "red": 1571.46, "nir": 1079.00},
    "GF1-WFV2": {"blue": 1955.11, "green": 1847.22, "red": 1569.45, "nir": 1087.87},
    "GF1-WFV3": {"blue": 1956.62, "green": 1840.46, "red": 1541.45, "nir": 1084.06},
    "GF1-WFV4": {"blue": 1968.08, "green": 1841.53, "red": 1540.80, "nir": 1069.60},
}  # fmt: skip
#: nominal band edges (µm) of the cameras in :data:`ESUN` (CRESDA): pan 0.45-0.90 (GF-6: 0.45-0.70)
BAND_EDGES_UM = {
    "pan": (0.45, 0.90), "blue": (0.45, 0.52), "green": (0.52, 0.59), "red": (0.63, 0.69), "nir": (0.77, 0.89),
}  # fmt: skip
PAN_RES_M = {"GF1": 2.0, "GF2": 0.8, "GF6": 2.0, "ZY3": 2.1}  # nominal pan pixel size (nadir)
WFV_RES_M = 16.0  # GF-1 WFV multispectral pixel size (nadir)

KEYS = (
    Key(
        "gf",
        "GaoFen-1/2/6 PMS (-PAN/-MSS .tiff) or GF-1 WFV Level-1A product folder with .xml and .rpb",
        "primary",
        example="GF2_PMS1_E113.6_N23.1_20150117_L1A0000567980",
    ),
    Key(
        "zy3",
        "ZiYuan-3 product folder (NAD pan + MUX multispectral .tif with .xml and RPC)",
        "primary",
        example="ZY3_NAD_E74.5_N36.1_20190801_L1A0004567890",
    ),
)
_MS_TOKEN = re.compile(r"[-_](MSS\d?|MUX)(?=[._-]|$)", re.IGNORECASE)
_WFV_TOKEN = re.compile(r"^GF1_WFV\d(?=[._-]|$)", re.IGNORECASE)  # GF1_WFV1_E…_L1A….tiff: one 16 m MS image
_PAN_TOKEN = re.compile(r"[-_](PAN\d?|NAD)(?=[._-]|$)", re.IGNORECASE)


def find_pair(path: Path) -> tuple[Path | None, Path]:
    """(pan, ms) image files of a product folder (or the folder of one given image)."""
    folder = path if path.is_dir() else path.parent
    images = [p for p in sorted(folder.iterdir()) if p.suffix.lower() in (".tif", ".tiff") and p.is_file()]
    ms = [p for p in images if _MS_TOKEN.search(p.stem)] or [p for p in images if _WFV_TOKEN.search(p.stem)]
    pan = [p for p in images if _PAN_TOKEN.search(p.stem)]
    if not ms:
        raise InputError(
            "no multispectral image (-MSS / -MUX / GF1_WFV .tiff) in the product folder",
            folder,
            "Give the unpacked GF/ZY-3 product folder with its MSS/MUX and PAN images",
        )
    if len(ms) > 1 or len(pan) > 1:
        raise InputError(
            f"several images of one kind in the product folder ({', '.join(p.name for p in ms + pan)})",
            folder,
            "Give one product (one pan + one multispectral image) per [[scenes]] entry",
        )
    return (pan[0] if pan else None), ms[0]


def read_xml(image: Path) -> dict[str, str]:
    """The provider XML beside ``image`` (same stem, ``.xml``): flat tag → text of the leaf tags."""
    xml = image.with_suffix(".xml")
    if not xml.exists():
        raise InputError(
            f"metadata {xml.name} of {image.name} is missing",
            xml,
            "Keep the provider's .xml beside each image",
        )
    text = xml.read_text(encoding="utf-8", errors="ignore")
    return {k: v.strip() for k, v in re.findall(r"<(\w+)>([^<>]*)</\1>", text)}


def _first(meta: dict, *tags: str) -> str | None:
    low = {k.lower(): v for k, v in meta.items()}
    for t in tags:
        if t.lower() in low and low[t.lower()]:
            return low[t.lower()]
    return None


def earth_sun_distance_au(day: date) -> float:
    """Earth-Sun distance (AU) of a day: ``1 − 0.01672·cos(0.9856°·(DOY − 4))`` (error < 2e-4 AU)."""
    doy = day.timetuple().tm_yday
    return 1.0 - 0.01672 * math.cos(math.radians(0.9856 * (doy - 4)))


def _acquisition(meta: dict, xml: Path) -> tuple[str, str, date, float, float | None]:
    sat = (_first(meta, "SatelliteID", "satelliteId", "SatelliteName") or "").upper().replace("-", "")
    camera = (_first(meta, "SensorID", "sensorId", "SensorName") or "").upper()
    when = _first(meta, "CenterTime", "StartTime", "ReceiveTime", "imagingTime", "SceneDate")
    zen = _first(meta, "SolarZenith", "SunZenith")
    elev = _first(meta, "SolarElevation", "SunElevation")
    azi = _first(meta, "SolarAzimuth", "SunAzimuth")
    if not sat or when is None or (zen is None and elev is None):
        raise InputError(
            "provider XML lacks SatelliteID, the acquisition time or the solar angle (SolarZenith)",
            xml,
            "Use the .xml delivered with the Level-1A product",
        )
    m = re.search(r"(\d{4})-?(\d{2})-?(\d{2})", when)
    if not m:
        raise InputError(f"cannot read the acquisition date {when!r}", xml)
    day = date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    zenith = float(zen) if zen is not None else 90.0 - float(elev)
    if not 0 <= zenith < 90:
        raise InputError(f"solar zenith {zenith}° is not in [0, 90)", xml)
    return sat, camera, day, zenith, float(azi) if azi is not None else None


def camera_key(sat: str, camera: str) -> str:
    """Table key of a satellite + camera: ``GF2-PMS1``, ``GF6-PMS``, ``ZY3-01`` … (SatelliteID as in the XML).

    ZY-3: ``ZY3`` / ``ZY301`` is ZY-3-01, ``ZY302`` ZY-3-02, ``ZY303`` ZY-3-03 (one key for MUX and NAD).
    """
    sat = sat.upper().replace("-", "").replace("_", "")
    if sat.startswith("ZY3"):
        n = sat[3:].lstrip("0") or "1"
        return f"ZY3-0{n[:1]}"
    if sat == "GF6":
        return "GF6-PMS"
    return f"{sat}-{camera.upper()}"


def _coefficients(
    key: str,
    year: int,
    override: dict,
    xml: Path,
    need: tuple[str, ...],
    optional: tuple[str, ...] = (),
    notes: list[str] | None = None,
) -> dict[str, tuple[float, float]]:
    """{channel: (gain, offset)} from the table for the year (latest earlier edition), config overriding.

    A channel of ``need`` without a gain raises :class:`ConfigError`; one of ``optional`` is left out.
    What was substituted is appended to ``notes`` (logged as a warning when ``notes`` is None).
    """
    table = CALIBRATION.get(key, {})
    coeffs: dict[str, tuple[float, float]] = {}
    if table:
        years = sorted(y for y in table if y <= year) or sorted(table)
        edition = years[-1]
        if edition != year:
            _note(notes, f"{key}: no CRESDA {year} coefficients in the table; using the {edition} edition")
        row = table[edition]
        if "pan" in row:
            coeffs["pan"] = (row["pan"], row.get("pan_offset", 0.0))
        for i, ch in enumerate(MS_ORDER):
            coeffs[ch] = (row["ms"][i], row.get("ms_offset", (0.0,) * 4)[i])
    gains, offsets = override.get("gain", {}), override.get("offset", {})
    for ch in ("pan", *MS_ORDER):
        if ch in gains:
            coeffs[ch] = (float(gains[ch]), float(offsets.get(ch, 0.0)))
        elif ch in offsets and ch in coeffs:
            coeffs[ch] = (coeffs[ch][0], float(offsets[ch]))
    missing = [ch for ch in need if ch not in coeffs]
    if missing:
        raise ConfigError(
            f"config: no absolute calibration gains for {key} ({', '.join(missing)}) in the table; give them "
            f"under [inputs.calibration] gain = {{{', '.join(f'{c} = …' for c in missing)}}} "
            f"(CRESDA's coefficients for {year}) — {xml.name}"
        )
    return {ch: coeffs[ch] for ch in (*need, *optional) if ch in coeffs}


def band_equivalent_esun(channel: str) -> tuple[float, float]:
    """(mean ESUN, largest relative deviation of one camera from it) over the cameras of :data:`ESUN`.

    Every camera tabulated (GF-1 PMS1/2, GF-2 PMS1/2, GF-6 PMS, GF-1 WFV1-4) has the nominal multispectral
    band edges :data:`BAND_EDGES_UM` (0.45-0.52, 0.52-0.59, 0.63-0.69, 0.77-0.89 µm) — so has ZY-3's MUX
    camera. Their CRESDA ESUN differ only through the shape of each camera's spectral response; the mean
    stands in for a camera of the same edges whose ESUN is unpublished, with the spread (≤ 1.4 %) as its
    uncertainty — below the ≈ 5 % uncertainty of the vicarious absolute calibration itself.
    """
    values = [row[channel] for row in ESUN.values() if channel in row]
    mean = sum(values) / len(values)
    return round(mean, 2), max(abs(v - mean) for v in values) / mean


def _note(notes: list[str] | None, note: str) -> None:
    """Record a substituted coefficient: into ``notes``, or as a warning when there is no list."""
    if notes is None:
        log.warning("%s", note)
    else:
        notes.append(note)


def solar_irradiance(
    key: str,
    override: dict,
    need: tuple[str, ...],
    optional: tuple[str, ...] = (),
    notes: list[str] | None = None,
) -> tuple[dict[str, float], dict[str, str]]:
    """({channel: ESUN (W m⁻² µm⁻¹)}, {channel: source}).

    From :data:`ESUN`, ``[inputs.calibration] esun`` overriding per channel. ZY-3 MUX bands missing from
    both take the band-equivalent value (:func:`band_equivalent_esun`, with a warning). A channel of
    ``need`` still without ESUN raises :class:`ConfigError`; one of ``optional`` is left out. What was
    substituted is appended to ``notes`` (logged as a warning when ``notes`` is None).
    """
    given = {c: float(v) for c, v in override.get("esun", {}).items()}
    esun = {**ESUN.get(key, {}), **given}
    source = {c: "config" if c in given else f"CRESDA {key}" for c in esun}
    if key.startswith("ZY3"):
        for c in MS_ORDER:
            if c in need and c not in esun:
                esun[c], spread = band_equivalent_esun(c)
                source[c] = (
                    f"band-equivalent mean of {len(ESUN)} CRESDA cameras (spread {100 * spread:.1f} %)"
                )
                _note(
                    notes,
                    f"{key}: no published ESUN for {c}; using {esun[c]:.2f} W m-2 um-1, the mean of the CRESDA "
                    f"cameras with the same nominal band edges (spread {100 * spread:.1f} %); give "
                    "[inputs.calibration] esun to replace it",
                )
    missing = [c for c in need if c not in esun]
    if missing:
        raise ConfigError(
            f"config: TOA reflectance of {key} needs ESUN (W m-2 um-1) for {', '.join(missing)}, which the "
            "table lacks: add [inputs.calibration] esun = {"
            + ", ".join(f"{c} = ..." for c in missing)
            + "} (see docs/sensors.md)"
        )
    keep = [c for c in (*need, *optional) if c in esun]
    return {c: esun[c] for c in keep}, {c: source[c] for c in keep}


def _grid(image: Path, res_m: float, dem: Path | None) -> tuple[Grid, bool]:
    """(grid, needs_rpc): the image's own map grid, or a UTM grid covering its RPC footprint."""
    from pyproj import CRS
    from rasterio.warp import calculate_default_transform

    with warnings.catch_warnings():  # a raw Level-1A image has no geotransform, by design
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        ds = open_raster(image, need_crs=False)
    with ds:
        if ds.crs is not None and not ds.transform.is_identity:
            return Grid(ds.crs, ds.transform, (ds.height, ds.width)), False
        if ds.rpcs is None:
            raise InputError(
                "image has neither map georeferencing nor an RPC model (.rpb / _rpc.txt / RPC tags)",
                image,
                "Keep the provider's .rpb file beside the image",
            )
        rpcs = ds.rpcs
        zone = int((rpcs.long_off + 180) // 6) + 1
        crs = CRS.from_epsg((32600 if rpcs.lat_off >= 0 else 32700) + zone)
        opts = rpc_dem_options(dem) if dem is not None else {}
        transform, width, height = calculate_default_transform(
            "EPSG:4326", crs, ds.width, ds.height, rpcs=rpcs, resolution=res_m, **opts
        )
    from rasterio.crs import CRS as RCRS

    return Grid(RCRS.from_epsg(crs.to_epsg()), transform, (height, width)), True


def open_gfzy(paths: dict[str, Path], *, dem: Path | None = None, calibration: dict | None = None) -> Product:
    """Open a GF-1/2/6 or ZY-3 pan + MS product: calibrated TOA reflectance, RPC orthorectification."""
    key = "gf" if paths.get("gf") is not None else "zy3"
    path = paths[key]
    pan, ms = find_pair(path)
    calibration = calibration or {}
    meta = read_xml(ms)
    xml = ms.with_suffix(".xml")
    sat, camera, day, zenith, azimuth = _acquisition(meta, xml)
    _check_satellite(key, sat, xml)
    table_key = camera_key(sat, camera)
    sat = "ZY3" if sat.startswith("ZY3") else sat
    optional = ("pan",) if pan is not None else ()
    notes: list[str] = []  # substitutions, logged by the stack stage (not by config check)
    coeffs = _coefficients(table_key, day.year, calibration, xml, MS_ORDER, optional, notes)
    esun, esun_source = solar_irradiance(table_key, calibration, MS_ORDER, optional, notes)
    pan_relative = pan is not None and not ("pan" in coeffs and "pan" in esun)
    if pan_relative:
        notes.append(
            f"{table_key}: no absolute calibration (gain and ESUN) for the pan band; it is used in relative "
            "units for pan-sharpening only (which does not depend on the pan's scale), and the stack has no "
            "'pan' channel; give [inputs.calibration] gain/esun for pan to calibrate it"
        )
    d = earth_sun_distance_au(day)
    k = math.pi * d * d / math.cos(math.radians(zenith))
    res = float(calibration.get("pan_res_m", PAN_RES_M.get(sat, 2.0)))
    grid, rpc = _product_grid(pan, ms, res, WFV_RES_M if camera.startswith("WFV") else 4 * res, dem)
    bands, pan_ref = _toa_bands(ms, pan, coeffs, esun, k, rpc, pan_relative)
    info = {
        "satellite": sat, "camera": camera, "date": day.isoformat(), "solar_zenith_deg": zenith,
        "earth_sun_au": round(d, 6), "gain_offset": {c: list(v) for c, v in coeffs.items()},
        "calibration_table": table_key, "esun": esun, "esun_source": esun_source,
        "orthorectified_by": "RPC + DEM" if rpc else "provider",
    }  # fmt: skip
    if pan_relative:
        info["pan"] = "relative DN (no gain/ESUN): pan-sharpening only"
    if notes:
        info["calibration_notes"] = notes
    sun = (azimuth, 90.0 - zenith) if azimuth is not None else None
    return Product(
        sat.lower(), key, Path(path), bands, grid, pan=pan_ref, sun=sun, dem=dem, info=info,
        pan_relative=pan_relative,
    )  # fmt: skip


def _check_satellite(key: str, sat: str, xml: Path) -> None:
    """Refuse a product whose SatelliteID does not belong to the input key (``zy3``: ZY3…; ``gf``: GF1/2/6)."""
    expect = "ZY3" if key == "zy3" else ("GF1", "GF2", "GF6")
    if (key == "zy3" and not sat.startswith("ZY3")) or (key == "gf" and sat not in expect):
        raise InputError(
            f"SatelliteID {sat} is not a {'ZY-3' if key == 'zy3' else 'GF-1/2/6'} product", xml,
            f"Give it under the key for {sat}",
        )  # fmt: skip


def _product_grid(
    pan: Path | None, ms: Path, res: float, ms_res: float, dem: Path | None
) -> tuple[Grid, bool]:
    """The product's grid — the pan image's at ``res`` m, else the MS image's at ``ms_res`` m — and whether it
    is orthorectified by RPC. InputError when the MS image has fewer than 4 bands or pan and MS differ in
    georeferencing (one map-projected, one raw with RPC)."""
    with open_raster(ms, need_crs=False) as ds:
        if ds.count < 4:
            raise InputError(
                f"multispectral image has {ds.count} band(s), expected 4 (blue, green, red, nir)", ms
            )
    grid, rpc = _grid(pan or ms, res if pan is not None else ms_res, dem)
    if pan is not None and _grid(ms, ms_res, dem)[1] != rpc:
        raise InputError(
            "pan and multispectral images differ in georeferencing (one map-projected, one raw with RPC)",
            ms,
            "Give both images of one product level",
        )
    return grid, rpc


def _toa_bands(
    ms: Path, pan: Path | None, coeffs: dict, esun: dict, k: float, rpc: bool, pan_relative: bool
) -> tuple[dict[str, BandRef], BandRef | None]:
    """The MS bands (blue, green, red, nir) and the pan band as TOA reflectance: DN × gain + offset
    (radiance, W m⁻² sr⁻¹ µm⁻¹) × ``k`` / ESUN, with ``k`` = π d² / cos(solar zenith); a pan without absolute
    calibration stays in relative DN (``pan_relative``); None without a pan image."""
    bands = {}
    for i, ch in enumerate(MS_ORDER):
        gain, off = coeffs[ch]
        bands[ch] = BandRef(ms, i + 1, k * gain / esun[ch], k * off / esun[ch], nodata=0, rpc=rpc)
    pan_ref = None
    if pan_relative:  # DN: pan-sharpening is invariant to the pan's scale (pansharpen module)
        pan_ref = BandRef(pan, 1, 1.0, 0.0, nodata=0, rpc=rpc)
    elif pan is not None:
        gain, off = coeffs["pan"]
        pan_ref = BandRef(pan, 1, k * gain / esun["pan"], k * off / esun["pan"], nodata=0, rpc=rpc)
    return bands, pan_ref


SENSOR = Sensor(
    name="gfzy",
    title="GaoFen-1/2/6 PMS, GF-1 WFV and ZiYuan-3 (pan + multispectral, CRESDA Level-1A)",
    keys=KEYS,
    channels={"blue": 0.485, "green": 0.555, "red": 0.66, "nir": 0.83, "pan": 0.675},
    native_res_m={"pan": 0.8, "blue": 3.2, "green": 3.2, "red": 3.2, "nir": 3.2},
    open=open_gfzy,
)
