"""Land-surface temperature from Landsat: NDVI → emissivity → inverse Planck with emissivity correction.

Method (seed section 3.1; Ermida et al. 2020 use the same NDVI-based vegetation cover to weight
emissivities):

1. brightness temperature BT (K) of the thermal band from its DN and the MTL constants (:mod:`.landsat`);
2. NDVI from sun-corrected TOA red and NIR reflectance;
3. fractional vegetation cover ``FVC = ((NDVI − NDVI_s)/(NDVI_v − NDVI_s))²``, clipped to [0, 1], with
   NDVI_s = 0.2 (bare soil/rock) and NDVI_v = 0.86 (full vegetation) as in Ermida et al. (2020);
4. emissivity by NDVI thresholds (Sobrino et al. 2004): NDVI < 0 → water/snow/ice ε = 0.99
   (snow/ice 0.990, water 0.991 in TIRS band 10; we use 0.99 for both); 0 ≤ NDVI < 0.2 → bare rock/soil and
   debris ε = 0.97; 0.2 ≤ NDVI ≤ 0.5 → ``ε_v·FVC + ε_s·(1−FVC) + 0.005`` (cavity term); NDVI > 0.5 → 0.99;
5. LST by inverting Planck's law with the emissivity correction (Artis & Carnahan 1982):
   ``LST = BT / (1 + (λ·BT/ρ)·ln ε)``, λ the band's effective wavelength (10.895 µm for TIRS B10) and
   ρ = h·c/k = 14388 µm K.

Assumptions: no atmospheric correction (the transmissivity and path radiance of a dry, high-altitude
atmosphere are neglected; expect LST biased low by ~1-3 K in humid lowlands), Lambertian surfaces. Where
ε < 1, LST > BT.
"""

from __future__ import annotations

import numpy as np

from glacierinv.preprocess.indices import normalized_difference
from glacierinv.preprocess.landsat import MTL, THERMAL_WAVELENGTH_UM

__all__ = ["EMISSIVITY", "emissivity_from_ndvi", "fractional_vegetation_cover", "lst_from_bt", "lst_from_dn"]

EMISSIVITY = {"water_snow_ice": 0.99, "soil_rock": 0.97, "vegetation": 0.99, "cavity": 0.005}
NDVI_SOIL = 0.2
NDVI_VEG = 0.86
RHO_UM_K = 14388.0  # h·c/k_B in µm·K


def fractional_vegetation_cover(ndvi: np.ndarray) -> np.ndarray:
    """FVC = ((NDVI − 0.2)/(0.86 − 0.2))², clipped to [0, 1]."""
    return np.clip((np.asarray(ndvi) - NDVI_SOIL) / (NDVI_VEG - NDVI_SOIL), 0.0, 1.0) ** 2


def emissivity_from_ndvi(ndvi: np.ndarray) -> np.ndarray:
    """Thermal-infrared surface emissivity from NDVI by thresholds (see module docstring)."""
    ndvi = np.asarray(ndvi, "float64")
    fvc = fractional_vegetation_cover(ndvi)
    mixed = EMISSIVITY["vegetation"] * fvc + EMISSIVITY["soil_rock"] * (1 - fvc) + EMISSIVITY["cavity"]
    eps = np.select(
        [ndvi < 0, ndvi < NDVI_SOIL, ndvi <= 0.5],
        [EMISSIVITY["water_snow_ice"], EMISSIVITY["soil_rock"], np.minimum(mixed, 0.995)],
        default=EMISSIVITY["vegetation"],
    )
    return np.where(np.isnan(ndvi), np.nan, eps)


def lst_from_bt(bt_k: np.ndarray, emissivity: np.ndarray, wavelength_um: float) -> np.ndarray:
    """LST (K) = BT / (1 + (λ·BT/ρ)·ln ε) (Artis & Carnahan 1982)."""
    bt = np.asarray(bt_k, "float64")
    return bt / (1.0 + (wavelength_um * bt / RHO_UM_K) * np.log(emissivity))


def lst_from_dn(
    mtl: MTL, thermal_dn: np.ndarray, red_dn: np.ndarray, nir_dn: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(LST, BT) in K from co-located thermal, red and NIR DNs of one Landsat scene."""
    band = mtl.thermal_band
    bt = mtl.brightness_temperature(thermal_dn, band)
    red_b, nir_b = mtl.red_nir_bands
    ndvi = normalized_difference(mtl.toa_reflectance(nir_dn, nir_b), mtl.toa_reflectance(red_dn, red_b))
    lst = lst_from_bt(bt, emissivity_from_ndvi(ndvi), THERMAL_WAVELENGTH_UM[band])
    return lst, bt
