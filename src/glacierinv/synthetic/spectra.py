"""Surface reflectance and temperature of the hard synthetic scenes, per band, from published measurements.

Each surface type has two end-member spectra (``low``, ``high``) over the Landsat-8 OLI / Sentinel-2 MSI
channel set :data:`BANDS` (blue 0.48, green 0.56, red 0.66, nir 0.86, swir1 1.61, swir2 2.20 µm). A scene
draws one mixing fraction per type (e.g. coarse old firn ↔ fresh fine-grained snow, wet dirty ↔ clean bare
ice), so the spectral shape stays physical (no band is drawn independently of the others). Sources, also in
docs/synthetic.md:

- snow: Dozier (1989) Landsat TM snow spectra (TM1-4 0.8-0.97, TM5 1.6 µm 0.02-0.2 falling with grain size,
  TM7 2.2 µm lower still); Warren (1982); ECOSTRESS/ASTER library fine, medium and coarse granular snow.
- glacier ice, dirty ice: Hall et al. (1988) and Hall & Martinec (1985) (bare-ice albedo 0.3-0.6, dirty
  ice 0.15-0.3); Paul et al. (2002, 2016) TM/OLI spectra of clean and dirty glacier ice (SWIR < 0.05).
- debris, rock, moraine: USGS spectral library (splib07) granite, gneiss, schist and ECOSTRESS rock
  spectra (reflectance rising from 0.1-0.15 in the blue to 0.2-0.35 at 1.6 µm); Paul et al. (2004) debris.
- vegetation: USGS splib07 lawn grass / dry grass and ECOSTRESS alpine meadow: red edge (red 0.04-0.08,
  NIR 0.25-0.45), SWIR1 0.15-0.28, SWIR2 0.07-0.14.
- water: clear glacial lakes 0.05-0.12 in the visible, < 0.04 NIR, ~0 SWIR; turbid (glacial flour)
  lakes 0.13-0.22 green/red (Huggel et al. 2002); frozen lakes as lake ice to thin snow.
- clouds: water clouds ~0.75 VNIR, 0.5 at 1.6 µm, 0.35 at 2.2 µm (Dozier 1989, the basis of NDSI
  cloud/snow separation).

Surface temperatures (K, late-summer to autumn midday, Landsat overpass): snow and ice at most 273.15
(melting) and colder in autumn or shade (Hall & Martinec 1985); debris from ~274 K (thin) to 285-300 K
(thick, > 0.5 m) with the thickness proxied by the distance to clean ice (Mihalcea et al. 2008, ASTER
Baltoro: surface temperature rising with debris thickness); sunlit rock 280-305 K with a 6.5 K/km lapse
rate; vegetation a few K below rock (transpiration); lakes 275-283 K; frozen lakes ≤ 273.15 K.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from glacierinv.synthetic.surface import SURFACE
from glacierinv.synthetic.terrain import fractal_noise

__all__ = [
    "BANDS",
    "CLOUD",
    "SPECTRA",
    "WAVELENGTH_UM",
    "draw_spectra",
    "hard_reflectance",
    "hard_temperature_k",
]

BANDS = ("blue", "green", "red", "nir", "swir1", "swir2")
WAVELENGTH_UM = (0.482, 0.561, 0.655, 0.865, 1.609, 2.201)  # Landsat 8 OLI central wavelengths
# (low, high) end-member reflectance per band; a scene mixes them with one fraction per type
SPECTRA = {
    "rock": ((0.08, 0.10, 0.12, 0.15, 0.19, 0.16), (0.22, 0.25, 0.29, 0.33, 0.38, 0.33)),
    "snow": ((0.80, 0.78, 0.74, 0.60, 0.04, 0.02), (0.97, 0.96, 0.94, 0.85, 0.15, 0.08)),
    "ice": ((0.45, 0.40, 0.33, 0.15, 0.01, 0.01), (0.65, 0.60, 0.55, 0.38, 0.04, 0.03)),
    "debris": ((0.08, 0.10, 0.12, 0.16, 0.20, 0.16), (0.16, 0.19, 0.23, 0.28, 0.33, 0.28)),
    "pond": ((0.06, 0.09, 0.06, 0.02, 0.01, 0.005), (0.12, 0.17, 0.14, 0.06, 0.02, 0.01)),
    "lake": ((0.05, 0.06, 0.04, 0.01, 0.005, 0.003), (0.09, 0.12, 0.09, 0.04, 0.01, 0.005)),
    "moraine": ((0.08, 0.10, 0.12, 0.16, 0.20, 0.16), (0.16, 0.19, 0.23, 0.28, 0.33, 0.28)),
    "talus": ((0.08, 0.10, 0.12, 0.16, 0.20, 0.16), (0.16, 0.19, 0.23, 0.28, 0.33, 0.28)),
    "seasonal_snow": ((0.72, 0.70, 0.67, 0.52, 0.03, 0.02), (0.96, 0.95, 0.93, 0.84, 0.16, 0.08)),
    "dirty_ice": ((0.15, 0.14, 0.13, 0.09, 0.02, 0.01), (0.32, 0.30, 0.28, 0.20, 0.05, 0.03)),
    "dead_ice": ((0.08, 0.10, 0.12, 0.16, 0.20, 0.16), (0.16, 0.19, 0.23, 0.28, 0.33, 0.28)),
    "vegetation": ((0.03, 0.06, 0.04, 0.25, 0.16, 0.07), (0.06, 0.11, 0.08, 0.45, 0.28, 0.14)),
    "turbid_lake": ((0.10, 0.14, 0.13, 0.05, 0.01, 0.005), (0.16, 0.22, 0.22, 0.10, 0.02, 0.01)),
    "frozen_lake": ((0.35, 0.35, 0.32, 0.20, 0.02, 0.01), (0.85, 0.84, 0.80, 0.65, 0.10, 0.05)),
}
CLOUD = (0.78, 0.78, 0.79, 0.77, 0.52, 0.35)  # thick water cloud (Dozier 1989)
TEXTURE_STD = 0.03  # relative spatial texture within a type (hard scenes: a little rougher than easy)
DEBRIS_TYPES = ("debris", "moraine", "talus", "dead_ice")  # one rock source: one spectrum


def draw_spectra(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One scene's mean reflectance per type and band: a mixing fraction U(0, 1) per type.

    Supraglacial debris, moraine, talus and dead ice share the fraction (the same rock, so the optical
    bands cannot separate them, as in the easy scene).
    """
    frac = {name: rng.uniform() for name in SPECTRA}
    for name in DEBRIS_TYPES[1:]:
        frac[name] = frac["debris"]
    return {
        name: np.asarray(lo) + frac[name] * (np.asarray(hi) - np.asarray(lo))
        for name, (lo, hi) in SPECTRA.items()
    }


def hard_reflectance(
    kind: np.ndarray, spectra: dict[str, np.ndarray], rng: np.random.Generator
) -> np.ndarray:
    """Surface reflectance (6, rows, cols) over :data:`BANDS` with spatial texture (float32)."""
    out = np.zeros((len(BANDS), *kind.shape), "float32")
    texture = fractal_noise(kind.shape, rng, (6, 2, 1), (1.0, 0.6, 0.4)).astype("float32")
    for name, code in SURFACE.items():
        m = kind == code
        if not m.any():
            continue
        for b, value in enumerate(spectra[name]):
            out[b][m] = value * (1.0 + TEXTURE_STD * texture[m])
    return np.clip(out, 0.0, 1.0)


def hard_temperature_k(
    kind: np.ndarray, z: np.ndarray, cos_i: np.ndarray, shadow: np.ndarray, pixel_m: float, rng
) -> np.ndarray:
    """Midday surface temperature (K) of a hard scene, with per-scene season and debris warming."""
    t = np.zeros(kind.shape, "float64")
    sun = np.where(shadow, 0.1, cos_i)
    z_ref = float(np.median(z))
    t_rock = rng.uniform(280.0, 295.0)  # season: autumn to late summer at the median elevation
    t_snow = rng.uniform(-6.0, 0.0)  # 0: melting snow/ice; < 0: cold autumn surface
    warm_debris = rng.uniform(6.0, 20.0)  # thick-debris warming above 0 °C (Mihalcea et al. 2008)
    k = SURFACE
    rock = np.isin(kind, (k["rock"], k["moraine"], k["talus"]))
    t[rock] = (t_rock + 10.0 * sun - 6.5e-3 * (z - z_ref))[rock]
    veg = kind == k["vegetation"]
    t[veg] = (t_rock - 3.0 + 5.0 * sun - 6.5e-3 * (z - z_ref))[veg]
    cold = np.isin(kind, (k["snow"], k["ice"], k["seasonal_snow"], k["dirty_ice"], k["frozen_lake"]))
    t[cold] = np.minimum(273.15, 273.15 + t_snow - 3.0 * (1.0 - sun))[cold]
    debris = kind == k["debris"]
    if debris.any():
        clean = np.isin(kind, (k["snow"], k["ice"], k["dirty_ice"]))
        dist_m = ndimage.distance_transform_edt(~clean) * pixel_m
        t[debris] = (273.65 + warm_debris * np.tanh(dist_m / 80.0) + 3.0 * sun)[debris]
    dead = kind == k["dead_ice"]  # thin debris over stagnant ice: cool, like the thin debris of a tongue
    t[dead] = (274.0 + 0.3 * warm_debris + 3.0 * sun)[dead]
    water = np.isin(kind, (k["pond"], k["lake"], k["turbid_lake"]))
    t[water] = rng.uniform(275.0, 283.0)
    t += 0.5 * fractal_noise(kind.shape, rng, (4, 1), (1.0, 0.5))
    return t.astype("float32")
