"""Sentinel-2 L1C and L2A readers: band roles by name (SAFE folder, band files, or one described GeoTIFF)
and cloud/cirrus masks from SCL, MSK_CLASSI, QA60 or a given 0/1 mask.

Band roles (``blue`` B2, ``green`` B3, ``red`` B4, ``nir`` B8, ``swir`` B11, ``scl`` SCL) are found by
*name* — band descriptions of a multi-band GeoTIFF, or file names (``*_B02_10m.jp2``, ``*B2.tif``…) in a
SAFE ``IMG_DATA`` tree or a folder — never by band position.

Reflectance scaling (Sentinel-2 Products Specification Document; processing baseline 04.00, 2022):
integer products store ``ρ = (DN + offset) / Q`` with ``Q`` = ``QUANTIFICATION_VALUE`` (L1C) or
``BOA_QUANTIFICATION_VALUE`` (L2A), 10000 when absent, and the per-band offset ``RADIO_ADD_OFFSET`` (L1C)
or ``BOA_ADD_OFFSET`` (L2A) of the product metadata ``MTD_MSIL1C.xml`` / ``MTD_MSIL2A.xml`` (−1000 since
baseline 04.00; 0 before, when the lists are absent). ``band_id`` 0-12 = B1, B2, B3, B4, B5, B6, B7, B8,
B8A, B9, B10, B11, B12. DN 0 is NO_DATA. Float inputs are taken as reflectance already (0–1.5).
JPEG 2000 bands need GDAL's JP2OpenJPEG driver (checked, with a clear error when missing).

Cloud masks (1 = cloudy/invalid, 0 = clear):

- MSK_CLASSI_B00 (L1C, baseline >= 04.00): band 1 opaque clouds, band 2 cirrus;
- SCL (scene classification): 0 no data, 1 saturated/defective, 3 cloud shadow, 8 cloud medium
  probability, 9 cloud high probability, 10 thin cirrus are invalid; 11 snow/ice and the rest are clear;
- QA60 bitmask: bit 10 opaque cloud, bit 11 cirrus;
- a 0/1 raster: used as is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rasterio.enums import Resampling
from rasterio.windows import Window

from glacierinv.errors import InputError
from glacierinv.io.grid import Grid
from glacierinv.io.raster import open_raster, read_on_grid

__all__ = [
    "S2_ROLES",
    "SCL_INVALID",
    "Sentinel2",
    "check_jp2_driver",
    "cloud_mask_on_grid",
    "mask_kind",
    "open_sentinel2",
]

S2_ROLES = {
    "blue": "B2",
    "green": "B3",
    "red": "B4",
    "nir": "B8",
    "swir": "B11",
    "swir2": "B12",
    "scl": "SCL",
}
SCL_INVALID = (0, 1, 3, 8, 9, 10)
_REQUIRED = ("blue", "green", "red", "nir")


def _norm(name: str) -> str:
    """'B02' / 'b2' / 'B8' → 'B2' / 'B8'; 'B8A' stays; 'SCL' stays."""
    m = re.fullmatch(r"B0?(\d{1,2}A?)", name.strip().upper())
    return f"B{m.group(1)}" if m else name.strip().upper()


@dataclass
class Sentinel2:
    """Where each Sentinel-2 band role lives: ``{role: (path, band index)}`` plus the reflectance scaling."""

    source: Path
    bands: dict[str, tuple[Path, int]]
    scale: float = 1.0  # reflectance = (value + offset) * scale
    offset: float = 0.0
    integer: dict[str, bool] = field(default_factory=dict)
    offsets: dict[str, float] = field(default_factory=dict)  # per-role offsets (baseline >= 04.00)
    level: str = "L2A"  # or "L1C"
    sun: tuple[float, float] | None = None  # (azimuth, elevation) deg from MTD_TL.xml
    classi: Path | None = None  # L1C MSK_CLASSI_B00 cloud mask

    def offset_of(self, role: str) -> float:
        return self.offsets.get(role, self.offset)

    def has(self, role: str) -> bool:
        return role in self.bands

    def channels(self) -> set[str]:
        """The stack channels this product provides (``swir1`` for band role ``swir``)."""
        return {c for c, role in S2_CHANNELS.items() if role in self.bands}

    def require(self, role: str) -> tuple[Path, int]:
        if role not in self.bands:
            raise InputError(
                f"Sentinel-2 band {S2_ROLES.get(role, role)} ({role}) not found; found: "
                f"{', '.join(S2_ROLES.get(r, r) for r in self.bands) or 'none'}",
                self.source,
                "Give a SAFE folder, band files named *B02*/*B2*, or a GeoTIFF with band descriptions B2..B11",
            )
        return self.bands[role]

    def reflectance(
        self, role: str, grid: Grid, window: Window | None = None, *, require_overlap: bool = True
    ) -> np.ndarray:
        """Surface reflectance (0–1) of a band role, resampled bilinearly onto ``grid`` (window)."""
        path, idx = self.require(role)
        arr = read_on_grid(path, grid, window, bands=idx, require_overlap=require_overlap)
        if self.integer.get(role, False):
            arr = (arr + self.offset_of(role)) * self.scale
        return arr.astype("float32")

    def reflectances(
        self, roles: list[str], grid: Grid, window: Window | None = None, *, require_overlap: bool = True
    ) -> np.ndarray:
        """Several band roles at once, (roles, rows, cols): bands of one file are warped in one pass."""
        out = np.empty((len(roles), *(grid.window_grid(window).shape if window else grid.shape)), "float32")
        by_file: dict[Path, list[int]] = {}
        for i, role in enumerate(roles):
            by_file.setdefault(self.require(role)[0], []).append(i)
        for path, idxs in by_file.items():
            bands = [self.bands[roles[i]][1] for i in idxs]
            arr = read_on_grid(path, grid, window, bands=bands, require_overlap=require_overlap)
            for j, i in enumerate(idxs):
                band = arr[j]
                if self.integer.get(roles[i], False):
                    band = (band + self.offset_of(roles[i])) * self.scale
                out[i] = band
        return out


def _scan_files(folder: Path) -> dict[str, tuple[Path, int]]:
    """Band files in a folder tree (SAFE IMG_DATA or a plain folder); finest resolution wins."""
    found: dict[str, tuple[float, Path]] = {}
    pattern = re.compile(r"(?:^|[_\-.])(B0?\d{1,2}A?|SCL)(?:_(\d+)m)?(?=[_\-.]|$)", re.IGNORECASE)
    for p in sorted(folder.rglob("*")):
        if p.suffix.lower() not in (".jp2", ".tif", ".tiff") or not p.is_file():
            continue
        if p.stem.upper().startswith("MSK_") or "QI_DATA" in p.parts:  # quality masks, not bands
            continue
        matches = list(pattern.finditer(p.stem))
        if not matches:
            continue
        m = matches[-1]  # the last band token in the name
        band = _norm(m.group(1))
        res = float(m.group(2)) if m.group(2) else 0.0
        role = next((r for r, b in S2_ROLES.items() if b == band), None)
        if role is None:
            continue
        if role not in found or res < found[role][0]:
            found[role] = (res, p)
    return {role: (p, 1) for role, (_, p) in found.items()}


BAND_IDS = ("B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B10", "B11", "B12")


def _metadata(folder: Path) -> tuple[str, float, dict[str, float]]:
    """(level, quantification value, {band: offset}) from ``MTD_MSIL2A.xml`` / ``MTD_MSIL1C.xml``."""
    for level, mtd_name, q_tag, off_tag in (
        ("L2A", "MTD_MSIL2A.xml", "BOA_QUANTIFICATION_VALUE", "BOA_ADD_OFFSET"),
        ("L1C", "MTD_MSIL1C.xml", "QUANTIFICATION_VALUE", "RADIO_ADD_OFFSET"),
    ):
        mtd = folder / mtd_name
        if not mtd.exists():
            continue
        text = mtd.read_text(errors="ignore")
        m = re.search(rf"<{q_tag}[^>]*>\s*([0-9.]+)\s*<", text)
        quant = float(m.group(1)) if m else 10000.0
        offsets = {}
        for bid, val in re.findall(rf'<{off_tag}\s+band_id="(\d+)"[^>]*>\s*(-?[0-9.]+)\s*<', text):
            if int(bid) < len(BAND_IDS):
                offsets[BAND_IDS[int(bid)]] = float(val)
        return level, quant, offsets
    name = folder.name.upper()
    return ("L1C" if "MSIL1C" in name else "L2A"), 10000.0, {}


def _sun_angles(folder: Path) -> tuple[float, float] | None:
    """(azimuth, elevation) in degrees from the granule's ``MTD_TL.xml`` Mean_Sun_Angle, if present."""
    for mtd in sorted(folder.rglob("MTD_TL.xml")):
        text = mtd.read_text(errors="ignore")
        m = re.search(r"<Mean_Sun_Angle>(.*?)</Mean_Sun_Angle>", text, re.S)
        if not m:
            continue
        zen = re.search(r"<ZENITH_ANGLE[^>]*>\s*([0-9.]+)", m.group(1))
        azi = re.search(r"<AZIMUTH_ANGLE[^>]*>\s*([0-9.]+)", m.group(1))
        if zen and azi:
            return float(azi.group(1)), 90.0 - float(zen.group(1))
    return None


def _is_int(path: Path, band: int = 1) -> bool:
    with open_raster(path) as ds:
        return np.dtype(ds.dtypes[band - 1]).kind in "iu"


def check_jp2_driver(path: Path) -> None:
    """Raise a clear error when a JPEG 2000 band cannot be read because GDAL lacks the driver."""
    from rasterio.drivers import raster_driver_extensions

    if path.suffix.lower() == ".jp2" and "jp2" not in raster_driver_extensions():
        raise InputError(
            "this GDAL build (rasterio) has no JPEG 2000 driver (JP2OpenJPEG), so Sentinel-2 .jp2 bands "
            "cannot be read",
            path,
            "Install rasterio wheels from PyPI (they bundle OpenJPEG) or a GDAL built with OpenJPEG",
        )


def open_sentinel2(path: str | Path) -> Sentinel2:
    """Open a Sentinel-2 L2A input: a ``.SAFE`` folder, a folder of band files, or one described GeoTIFF.

    Raises :class:`InputError` naming the missing band when blue, green, red or NIR cannot be found.
    """
    p = Path(path)
    if not p.exists():
        raise InputError("Sentinel-2 input not found", p, "Fix the path of [inputs] s2")
    level, quant, band_offsets = "L2A", 10000.0, {}
    sun = classi = None
    if p.is_dir():
        bands = _scan_files(p)
        level, quant, band_offsets = _metadata(p)
        sun = _sun_angles(p)
        classi = next(iter(sorted(p.rglob("MSK_CLASSI_B00.jp2"))), None) or next(
            iter(sorted(p.rglob("MSK_CLASSI_B00.tif"))), None
        )
        for bp, _ in bands.values():
            check_jp2_driver(bp)
        m = re.search(r"_N(\d{2})(\d{2})_", p.name)
        if m and int(m.group(1)) >= 4 and not band_offsets and any(_is_int(bp) for bp, _ in bands.values()):
            raise InputError(
                f"processing baseline {m.group(1)}.{m.group(2)} product without its radiometric offsets "
                "(MTD_MSIL1C.xml / MTD_MSIL2A.xml not found in the folder)",
                p,
                "Give the whole .SAFE folder as downloaded",
            )
    else:
        with open_raster(p) as ds:
            names = [_norm(d or "") for d in ds.descriptions]
        bands = {}
        for role, band in S2_ROLES.items():
            if band in names:
                bands[role] = (p, names.index(band) + 1)
    offsets = {role: band_offsets[S2_ROLES[role]] for role in bands if S2_ROLES[role] in band_offsets}
    s2 = Sentinel2(p, bands, offsets=offsets, level=level, sun=sun, classi=classi)
    for role in _REQUIRED:
        s2.require(role)
    for role, (bp, idx) in bands.items():
        if role == "scl":
            continue
        with open_raster(bp) as ds:
            is_int = np.dtype(ds.dtypes[idx - 1]).kind in "iu"
        s2.integer[role] = is_int
        if is_int:
            s2.scale = 1.0 / quant
    return s2


def mask_kind(path: str | Path) -> str:
    """``"qa60"``, ``"scl"`` or ``"binary"``: by band description / file name, else by value range of a
    decimated read (values above 1 → SCL classes). Decided once per file, so every window agrees."""
    p = Path(path)
    if "MSK_CLASSI" in p.name.upper():
        return "classi"
    with open_raster(p) as ds:
        names = [(d or "").upper() for d in ds.descriptions]
        if "QA60" in p.name.upper() or "QA60" in names:
            return "qa60"
        if "SCL" in p.name.upper() or "SCL" in names:
            return "scl"
        step = max(1, max(ds.width, ds.height) // 512)
        sample = ds.read(1, out_shape=(max(1, ds.height // step), max(1, ds.width // step)), masked=True)
    return "scl" if sample.count() and float(sample.max()) > 1 else "binary"


def cloud_mask_on_grid(
    path: str | Path,
    grid: Grid,
    window: Window | None = None,
    *,
    kind: str | None = None,
    require_overlap: bool = True,
) -> np.ndarray:
    """Cloud/cirrus mask (bool, True = cloudy or invalid) of an SCL, QA60 or 0/1 raster on ``grid`` (window).

    ``kind`` as returned by :func:`mask_kind` (computed when omitted). Nearest-neighbour resampling keeps
    classes unmixed. Pixels outside the mask raster count as cloudy (unknown).
    """
    kind = kind or mask_kind(path)
    if kind == "classi":  # band 1 opaque clouds, band 2 cirrus (L1C, baseline >= 04.00)
        arr2 = read_on_grid(
            path, grid, window, bands=[1, 2], resampling=Resampling.nearest, require_overlap=require_overlap
        )
        outside = ~np.isfinite(arr2[0])
        return (np.nan_to_num(arr2, nan=0) > 0).any(axis=0) | outside
    arr = read_on_grid(
        path, grid, window, bands=1, resampling=Resampling.nearest, require_overlap=require_overlap
    )
    outside = ~np.isfinite(arr)
    vals = np.where(outside, 0, arr).astype("int64")
    if kind == "qa60":
        cloudy = (((vals >> 10) & 1) | ((vals >> 11) & 1)).astype(bool)
    elif kind == "scl":
        cloudy = np.isin(vals, SCL_INVALID)
    else:
        cloudy = vals != 0
    return cloudy | outside


# channel of the stack → Sentinel-2 band role
S2_CHANNELS = {
    "blue": "blue",
    "green": "green",
    "red": "red",
    "nir": "nir",
    "swir1": "swir",
    "swir2": "swir2",
}


def s2_product(s2: Sentinel2, key: str = "s2"):
    """The Sentinel-2 input as a :class:`~glacierinv.preprocess.sensors.Product` (primary imagery).

    Channels are calibrated ``ρ = (DN + offset) / Q`` per band; the grid is the 10 m grid of B2 (20 m bands
    are resampled bilinearly onto it); the quality mask is SCL (L2A) or MSK_CLASSI (L1C) when present.
    """
    from glacierinv.io.raster import raster_grid
    from glacierinv.preprocess.sensors._base import BandRef, Product

    bands = {}
    for ch, role in S2_CHANNELS.items():
        if role not in s2.bands:
            continue
        path, idx = s2.bands[role]
        if s2.integer.get(role, False):
            bands[ch] = BandRef(path, idx, s2.scale, s2.offset_of(role) * s2.scale, nodata=0)
        else:
            bands[ch] = BandRef(path, idx)
    mask_path = s2.bands["scl"][0] if "scl" in s2.bands else s2.classi
    quality = None
    if mask_path is not None:
        kind = "scl" if "scl" in s2.bands else "classi"

        def quality(grid, window=None, _p=mask_path, _k=kind):
            return cloud_mask_on_grid(_p, grid, window, kind=_k, require_overlap=False)

    info = {
        "level": s2.level,
        "quantification": round(1.0 / s2.scale) if s2.scale != 1.0 else None,
        "offsets": {S2_ROLES[r]: v for r, v in s2.offsets.items()},
        "quality": ("SCL" if "scl" in s2.bands else "MSK_CLASSI") if mask_path is not None else None,
        "extra_files": [mask_path] if mask_path is not None else [],
    }
    return Product(
        "sentinel2", key, s2.source, bands, raster_grid(s2.require("blue")[0]), sun=s2.sun, quality=quality,
        info=info,
    )  # fmt: skip
