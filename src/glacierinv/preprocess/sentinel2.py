"""Sentinel-2 L2A readers: band roles by name (SAFE folder, band GeoTIFFs, or one described GeoTIFF) and
cloud/cirrus masks from SCL, QA60 or a given 0/1 mask.

Band roles (``blue`` B2, ``green`` B3, ``red`` B4, ``nir`` B8, ``swir`` B11, ``scl`` SCL) are found by
*name* — band descriptions of a multi-band GeoTIFF, or file names (``*_B02_10m.jp2``, ``*B2.tif``…) in a
SAFE ``IMG_DATA`` tree or a folder — never by band position.

Reflectance scaling: integer L2A products store ``10000 · ρ`` (plus ``BOA_ADD_OFFSET`` = −1000 since
processing baseline 04.00, read from ``MTD_MSIL2A.xml`` when present); float inputs are taken as
reflectance already (values 0–1.5 expected).

Cloud masks (1 = cloudy/invalid, 0 = clear):

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

__all__ = ["S2_ROLES", "SCL_INVALID", "Sentinel2", "cloud_mask_on_grid", "mask_kind", "open_sentinel2"]

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

    def has(self, role: str) -> bool:
        return role in self.bands

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
            arr = (arr + self.offset) * self.scale
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
                    band = (band + self.offset) * self.scale
                out[i] = band
        return out


def _scan_files(folder: Path) -> dict[str, tuple[Path, int]]:
    """Band files in a folder tree (SAFE IMG_DATA or a plain folder); finest resolution wins."""
    found: dict[str, tuple[float, Path]] = {}
    pattern = re.compile(r"(?:^|[_\-.])(B0?\d{1,2}A?|SCL)(?:_(\d+)m)?(?=[_\-.]|$)", re.IGNORECASE)
    for p in sorted(folder.rglob("*")):
        if p.suffix.lower() not in (".jp2", ".tif", ".tiff") or not p.is_file():
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


def _boa_offset(folder: Path) -> float:
    for mtd in folder.glob("MTD_MSIL2A.xml"):
        m = re.search(r"<BOA_ADD_OFFSET[^>]*>\s*(-?\d+)\s*<", mtd.read_text(errors="ignore"))
        if m:
            return float(m.group(1))
    return 0.0


def open_sentinel2(path: str | Path) -> Sentinel2:
    """Open a Sentinel-2 L2A input: a ``.SAFE`` folder, a folder of band files, or one described GeoTIFF.

    Raises :class:`InputError` naming the missing band when blue, green, red or NIR cannot be found.
    """
    p = Path(path)
    if not p.exists():
        raise InputError("Sentinel-2 input not found", p, "Fix the path of [inputs] s2")
    offset = 0.0
    if p.is_dir():
        bands = _scan_files(p)
        offset = _boa_offset(p)
    else:
        with open_raster(p) as ds:
            names = [_norm(d or "") for d in ds.descriptions]
        bands = {}
        for role, band in S2_ROLES.items():
            if band in names:
                bands[role] = (p, names.index(band) + 1)
    s2 = Sentinel2(p, bands, offset=offset)
    for role in _REQUIRED:
        s2.require(role)
    for role, (bp, idx) in bands.items():
        if role == "scl":
            continue
        with open_raster(bp) as ds:
            is_int = np.dtype(ds.dtypes[idx - 1]).kind in "iu"
        s2.integer[role] = is_int
        if is_int:
            s2.scale = 1e-4
    return s2


def mask_kind(path: str | Path) -> str:
    """``"qa60"``, ``"scl"`` or ``"binary"``: by band description / file name, else by value range of a
    decimated read (values above 1 → SCL classes). Decided once per file, so every window agrees."""
    p = Path(path)
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
