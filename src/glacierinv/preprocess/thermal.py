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

import contextlib
from pathlib import Path

import numpy as np

from glacierinv.preprocess.indices import NDSI_SNOW, normalized_difference
from glacierinv.preprocess.landsat import MTL, THERMAL_BANDS, read_mtl

__all__ = [
    "EMISSIVITY",
    "emissivity",
    "emissivity_from_ndvi",
    "fractional_vegetation_cover",
    "land_surface_temperature",
    "lst_from_bt",
    "lst_from_dn",
    "lst_inverse_planck",
]

EMISSIVITY = {
    "water_snow_ice": 0.99,  # NDVI < 0 when no NDSI/NDWI is available
    "water": 0.991,
    "snow_ice": 0.990,
    "soil_rock": 0.97,
    "vegetation": 0.99,
    "cavity": 0.005,
}
SNOW_NDSI = NDSI_SNOW  # Dozier (1989)
WATER_NDWI = 0.0  # McFeeters (1996) green/NIR
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


def emissivity(
    ndvi: np.ndarray, ndsi: np.ndarray | None = None, ndwi: np.ndarray | None = None
) -> np.ndarray:
    """Surface emissivity: NDVI thresholds, overridden by water (NDWI > 0) and then snow/ice (NDSI > 0.4).

    Following Ermida et al. (2020), water (ε = 0.991) and snow/ice (ε = 0.990, TIRS band 10 values) are
    prescribed from NDWI (McFeeters: green/NIR) and NDSI (green/SWIR) where those indices are available;
    snow/ice wins over water (frozen, snow-covered lakes). Without them, NDVI < 0 stands for all three.
    """
    eps = emissivity_from_ndvi(ndvi)
    if ndwi is not None:
        eps = np.where(np.asarray(ndwi) > WATER_NDWI, EMISSIVITY["water"], eps)
    if ndsi is not None:
        eps = np.where(np.asarray(ndsi) > SNOW_NDSI, EMISSIVITY["snow_ice"], eps)
    return np.where(np.isnan(np.asarray(ndvi, "float64")), np.nan, eps)


def lst_from_dn(
    mtl: MTL,
    thermal_dn: np.ndarray,
    red_dn: np.ndarray,
    nir_dn: np.ndarray,
    green_dn: np.ndarray | None = None,
    swir_dn: np.ndarray | None = None,
    *,
    tau: float = 1.0,
    l_up: float = 0.0,
    l_down: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """(LST, BT) in K from co-located DNs of one Landsat scene (thermal, red, NIR; green and SWIR optional).

    BT from the MTL constants; emissivity from NDVI (and NDSI/NDWI when green and SWIR are given, see
    :func:`emissivity`); LST by exact inverse Planck on the emissivity-corrected radiance
    (:func:`lst_inverse_planck`; no atmosphere unless ``tau``, ``l_up``, ``l_down`` are given).
    """
    band = mtl.thermal_band
    bt = mtl.brightness_temperature(thermal_dn, band)
    red_b, nir_b = mtl.red_nir_bands
    nir = mtl.toa_reflectance(nir_dn, nir_b)
    ndvi = normalized_difference(nir, mtl.toa_reflectance(red_dn, red_b))
    ndsi_w = ndwi_w = None
    if green_dn is not None and swir_dn is not None:
        green_b, swir_b = mtl.green_swir_bands
        green = mtl.toa_reflectance(green_dn, green_b)
        ndsi_w = normalized_difference(green, mtl.toa_reflectance(swir_dn, swir_b))
        ndwi_w = normalized_difference(green, nir)
    eps = emissivity(ndvi, ndsi_w, ndwi_w)
    k1 = mtl.number(f"K1_CONSTANT_BAND_{band}")
    k2 = mtl.number(f"K2_CONSTANT_BAND_{band}")
    lst = lst_inverse_planck(mtl.radiance(thermal_dn, band), eps, k1, k2, tau=tau, l_up=l_up, l_down=l_down)
    return lst, bt


def lst_inverse_planck(
    radiance: np.ndarray,
    emissivity: np.ndarray,
    k1: float,
    k2: float,
    *,
    tau: float = 1.0,
    l_up: float = 0.0,
    l_down: float = 0.0,
) -> np.ndarray:
    """LST (K) by inverting Planck's law on the emissivity-corrected surface radiance.

    Radiative transfer: ``L_sensor = τ·(ε·B(T) + (1 − ε)·L↓) + L↑``, so
    ``B(T) = (L_sensor − L↑ − τ·(1 − ε)·L↓) / (τ·ε)`` and ``T = K2 / ln(K1 / B(T) + 1)`` with the band's
    MTL constants. The defaults (τ = 1, L↑ = L↓ = 0) neglect the atmosphere — a fair approximation in the
    dry, thin air over high glaciers; pass τ, L↑, L↓ (W m⁻² sr⁻¹ µm⁻¹, e.g. from the NASA atmospheric
    correction parameter calculator) to correct for it.
    """
    rad = np.asarray(radiance, "float64")
    eps = np.asarray(emissivity, "float64")
    if not 0 < tau <= 1:
        raise ValueError(f"transmissivity tau must be in (0, 1], got {tau}")
    surface = (rad - l_up - tau * (1.0 - eps) * l_down) / (tau * eps)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(surface > 0, k2 / np.log(k1 / surface + 1.0), np.nan)


def land_surface_temperature(
    mtl_path: str | Path,
    out_path: str | Path,
    *,
    bt_out: str | Path | None = None,
    block_px: int = 1024,
    tau: float = 1.0,
    l_up: float = 0.0,
    l_down: float = 0.0,
) -> dict[str, float]:
    """Write LST (K, float32, NaN nodata) of a Landsat Level-1 scene on its thermal band's grid, windowed.

    Emissivity uses NDSI/NDWI (snow/ice, water) when the green and SWIR-1 band files are beside the MTL.
    Thermal band: TIRS B10 (Landsat 8/9; B11 is affected by stray light and not used for LST), ETM+ B6
    (low gain, ``6_VCID_1``), TM B6. With ``bt_out`` the at-sensor brightness temperatures of all thermal
    bands are written too (bands described ``bt_b10``, ``bt_b11``…). Returns LST/BT summary figures.
    """
    from glacierinv.io.raster import RasterWriter, iter_windows, raster_grid, read_on_grid

    mtl = read_mtl(mtl_path)
    paths = mtl.lst_band_paths()
    thermal = paths["thermal"]
    bt_bands = [b for b in THERMAL_BANDS[mtl.spacecraft] if f"FILE_NAME_BAND_{b}" in mtl.values]
    grid = raster_grid(thermal)
    stats = {"lst_min_k": np.inf, "lst_max_k": -np.inf, "valid_px": 0.0}
    with contextlib.ExitStack() as stack:
        w_lst = stack.enter_context(RasterWriter(out_path, grid, 1, "float32", descriptions=["lst"]))
        w_bt = None
        if bt_out is not None:
            names = [f"bt_b{b.lower()}" for b in bt_bands]
            w_bt = stack.enter_context(
                RasterWriter(bt_out, grid, len(bt_bands), "float32", descriptions=names)
            )
        for _, win in iter_windows(grid, block=block_px):

            def dn(path: Path, win=win) -> np.ndarray:
                v = read_on_grid(path, grid, window=win, bands=1, src_nodata=0)
                return np.where(np.isfinite(v), v, 0)

            dns = {k: dn(p) for k, p in paths.items()}
            lst, _ = lst_from_dn(
                mtl, dns["thermal"], dns["red"], dns["nir"], dns.get("green"), dns.get("swir"),
                tau=tau, l_up=l_up, l_down=l_down,
            )  # fmt: skip
            w_lst.write(lst.astype("float32"), win)
            if np.isfinite(lst).any():
                stats["lst_min_k"] = min(stats["lst_min_k"], float(np.nanmin(lst)))
                stats["lst_max_k"] = max(stats["lst_max_k"], float(np.nanmax(lst)))
                stats["valid_px"] += float(np.isfinite(lst).sum())
            if w_bt is not None:
                bts = [mtl.brightness_temperature(dn(mtl.band_path(b)), b) for b in bt_bands]
                w_bt.write(np.stack(bts).astype("float32"), win)
    return stats
