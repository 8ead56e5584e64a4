"""Landsat Level-1 metadata (MTL.txt, Collection 1 and 2) and radiometric conversions.

Conversions follow the USGS Landsat Data Users Handbook:

- TOA spectral radiance ``L = ML·DN + AL`` (W m⁻² sr⁻¹ µm⁻¹);
- at-sensor brightness temperature ``BT = K2 / ln(K1/L + 1)`` (K);
- TOA reflectance ``ρ = (Mρ·DN + Aρ) / sin(θ_SE)`` (sun-elevation corrected, unitless).

DN 0 is the fill value of Landsat Level-1 products and becomes NaN.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from glacierinv.errors import InputError

__all__ = ["GREEN_SWIR_BANDS", "MTL", "RED_NIR_BANDS", "THERMAL_BANDS", "read_mtl"]

# thermal band labels per spacecraft, first = the one used for single-channel LST
THERMAL_BANDS = {
    "LANDSAT_8": ("10", "11"),
    "LANDSAT_9": ("10", "11"),
    "LANDSAT_7": ("6_VCID_1", "6_VCID_2"),
    "LANDSAT_5": ("6",),
    "LANDSAT_4": ("6",),
}
# red and NIR band labels per spacecraft
RED_NIR_BANDS = {
    "LANDSAT_8": ("4", "5"),
    "LANDSAT_9": ("4", "5"),
    "LANDSAT_7": ("3", "4"),
    "LANDSAT_5": ("3", "4"),
    "LANDSAT_4": ("3", "4"),
}
# green and SWIR-1 band labels per spacecraft (NDSI / NDWI for snow, ice and water emissivities)
GREEN_SWIR_BANDS = {
    "LANDSAT_8": ("3", "6"),
    "LANDSAT_9": ("3", "6"),
    "LANDSAT_7": ("2", "5"),
    "LANDSAT_5": ("2", "5"),
    "LANDSAT_4": ("2", "5"),
}
# effective central wavelength (µm) of thermal bands, for the emissivity correction
THERMAL_WAVELENGTH_UM = {"10": 10.895, "11": 12.005, "6_VCID_1": 11.335, "6_VCID_2": 11.335, "6": 11.457}


@dataclass(frozen=True)
class MTL:
    """A parsed MTL file: flat ``KEY → value`` (groups dropped) and its folder."""

    path: Path
    values: dict[str, str]
    groups: dict[str, dict[str, str]] = field(default_factory=dict)  # innermost GROUP → its KEY → value

    def group_number(self, group: str, key: str, default: float | None = None) -> float:
        """A number from one GROUP (e.g. the Level-2 scale factors), ``default`` when the group lacks it."""
        value = self.groups.get(group, {}).get(key)
        if value is None:
            if default is None:
                return self.number(key)
            return default
        try:
            return float(value)
        except ValueError:
            raise InputError(f"MTL key {group}.{key} is not a number ({value!r})", self.path) from None

    def get(self, key: str) -> str:
        if key not in self.values:
            raise InputError(
                f"MTL key {key} is missing",
                self.path,
                "Use the complete MTL.txt delivered with the Level-1 product",
            )
        return self.values[key]

    def number(self, key: str) -> float:
        value = self.get(key)
        try:
            return float(value)
        except ValueError:
            raise InputError(f"MTL key {key} is not a number ({value!r})", self.path) from None

    @property
    def spacecraft(self) -> str:
        sc = self.get("SPACECRAFT_ID")
        if sc not in THERMAL_BANDS:
            raise InputError(
                f"unsupported SPACECRAFT_ID {sc}", self.path, f"Supported: {', '.join(THERMAL_BANDS)}"
            )
        return sc

    @property
    def thermal_band(self) -> str:
        return THERMAL_BANDS[self.spacecraft][0]

    @property
    def red_nir_bands(self) -> tuple[str, str]:
        return RED_NIR_BANDS[self.spacecraft]

    @property
    def green_swir_bands(self) -> tuple[str, str]:
        return GREEN_SWIR_BANDS[self.spacecraft]

    def has_band(self, band: str) -> bool:
        """True when the MTL names the band's file and it exists beside the MTL."""
        name = self.values.get(f"FILE_NAME_BAND_{band}")
        return bool(name) and (self.path.parent / name).exists()

    def lst_band_paths(self) -> dict[str, Path]:
        """Band files LST needs (thermal, red, nir) plus green and swir when present (snow/water cues)."""
        red_b, nir_b = self.red_nir_bands
        paths = {
            "thermal": self.band_path(self.thermal_band),
            "red": self.band_path(red_b),
            "nir": self.band_path(nir_b),
        }
        green_b, swir_b = self.green_swir_bands
        if self.has_band(green_b) and self.has_band(swir_b):
            paths["green"], paths["swir"] = self.band_path(green_b), self.band_path(swir_b)
        return paths

    @property
    def sun_elevation_deg(self) -> float:
        return self.number("SUN_ELEVATION")

    @property
    def sun_azimuth_deg(self) -> float:
        return self.number("SUN_AZIMUTH")

    def band_path(self, band: str) -> Path:
        """Path of a band file (``FILE_NAME_BAND_<band>``), beside the MTL."""
        p = self.path.parent / self.get(f"FILE_NAME_BAND_{band}")
        if not p.exists():
            raise InputError(
                f"band {band} file {p.name} named in the MTL is missing",
                p,
                "Keep the band files beside the MTL",
            )
        return p

    def radiance(self, dn: np.ndarray, band: str) -> np.ndarray:
        """TOA spectral radiance (W m⁻² sr⁻¹ µm⁻¹) from DN; DN 0 (fill) → NaN."""
        ml = self.number(f"RADIANCE_MULT_BAND_{band}")
        al = self.number(f"RADIANCE_ADD_BAND_{band}")
        dn = np.asarray(dn, "float64")
        return np.where(dn > 0, ml * dn + al, np.nan)

    def brightness_temperature(self, dn: np.ndarray, band: str) -> np.ndarray:
        """At-sensor brightness temperature (K) from thermal DN."""
        k1 = self.number(f"K1_CONSTANT_BAND_{band}")
        k2 = self.number(f"K2_CONSTANT_BAND_{band}")
        radiance = self.radiance(dn, band)
        with np.errstate(invalid="ignore", divide="ignore"):
            return k2 / np.log(k1 / radiance + 1.0)

    def toa_reflectance(self, dn: np.ndarray, band: str) -> np.ndarray:
        """Sun-elevation-corrected TOA reflectance from DN; DN 0 (fill) → NaN."""
        mr = self.number(f"REFLECTANCE_MULT_BAND_{band}")
        ar = self.number(f"REFLECTANCE_ADD_BAND_{band}")
        dn = np.asarray(dn, "float64")
        return np.where(dn > 0, (mr * dn + ar) / np.sin(np.radians(self.sun_elevation_deg)), np.nan)


def read_mtl(path: str | Path) -> MTL:
    """Parse a Landsat MTL.txt (Collection 1 or 2; ``KEY = value`` lines inside ``GROUP`` blocks)."""
    p = Path(path)
    if not p.exists():
        raise InputError("MTL file not found", p, "Give the *_MTL.txt of the Landsat Level-1 product")
    try:
        text = p.read_text(encoding="utf-8", errors="strict")
    except (UnicodeDecodeError, OSError):
        raise InputError(
            "not a text MTL file", p, "Give the *_MTL.txt of the Landsat Level-1 product"
        ) from None
    values: dict[str, str] = {}
    groups: dict[str, dict[str, str]] = {}
    stack: list[str] = []
    for line in text.splitlines():
        if "=" not in line:
            continue
        key, _, value = line.partition("=")
        key, value = key.strip(), value.strip().strip('"')
        if key == "GROUP":
            stack.append(value)
            continue
        if key == "END_GROUP":
            if stack:
                stack.pop()
            continue
        values[key] = value
        if stack:
            groups.setdefault(stack[-1], {})[key] = value
    if "SPACECRAFT_ID" not in values:
        raise InputError(
            "not a Landsat MTL file (no SPACECRAFT_ID)",
            p,
            "Give the *_MTL.txt of the Landsat Level-1 product",
        )
    return MTL(p, values, groups)
