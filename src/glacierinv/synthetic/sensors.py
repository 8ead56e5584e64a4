"""Render the synthetic surface as sensors see it: reflectance (VNIR + SWIR), surface temperature,
illumination with cast shadows, clouds, and Landsat-8-like digital numbers with an MTL file.

Debris-covered ice and moraine/talus share one optical distribution (their class means differ by less
than the sensor noise), so only temperature and topography can tell them apart — as in reality.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from glacierinv.synthetic.surface import SURFACE
from glacierinv.synthetic.terrain import fractal_noise, illumination  # illumination re-exported

__all__ = [
    "BANDS",
    "EMISSIVITY_B10",
    "LANDSAT_CONSTANTS",
    "REFLECTANCE",
    "cast_shadow",
    "match_off_glacier_debris",
    "illumination",
    "reflectance",
    "surface_temperature_k",
]

BANDS = ("blue", "green", "red", "nir", "swir")
# mean surface reflectance per surface type (blue, green, red, nir, swir 1.6 µm)
REFLECTANCE = {
    "rock": (0.17, 0.19, 0.22, 0.26, 0.30),
    "snow": (0.93, 0.91, 0.88, 0.78, 0.10),
    "ice": (0.60, 0.56, 0.50, 0.36, 0.04),
    "debris": (0.13, 0.15, 0.17, 0.21, 0.26),
    "pond": (0.07, 0.09, 0.06, 0.02, 0.01),
    "lake": (0.11, 0.14, 0.11, 0.05, 0.02),
    "moraine": (0.13, 0.15, 0.17, 0.21, 0.26),  # = debris: spectrally indistinguishable
    "talus": (0.13, 0.15, 0.17, 0.21, 0.26),
    "seasonal_snow": (0.86, 0.84, 0.80, 0.70, 0.12),
}
CLOUD = (0.78, 0.78, 0.79, 0.77, 0.52)
TEXTURE_STD = 0.02  # spatial reflectance texture within a surface type
# thermal-infrared emissivity (TIRS band 10) per surface type
EMISSIVITY_B10 = {
    "rock": 0.970, "snow": 0.990, "ice": 0.990, "debris": 0.970, "pond": 0.990, "lake": 0.990,
    "moraine": 0.970, "talus": 0.970, "seasonal_snow": 0.990,
    # hard scenes (Salisbury & D'Aria 1992; ASTER/ECOSTRESS library: vegetation 0.97-0.99)
    "dirty_ice": 0.985, "dead_ice": 0.970, "vegetation": 0.980, "turbid_lake": 0.990, "frozen_lake": 0.990,
}  # fmt: skip
# Landsat 8 Collection 2 rescaling and thermal constants (as published in real MTL files)
LANDSAT_CONSTANTS = {
    "RADIANCE_MULT_BAND_10": 3.3420e-04, "RADIANCE_ADD_BAND_10": 0.10000,
    "RADIANCE_MULT_BAND_11": 3.3420e-04, "RADIANCE_ADD_BAND_11": 0.10000,
    "K1_CONSTANT_BAND_10": 774.8853, "K2_CONSTANT_BAND_10": 1321.0789,
    "K1_CONSTANT_BAND_11": 480.8883, "K2_CONSTANT_BAND_11": 1201.1442,
    "REFLECTANCE_MULT_BAND_4": 2.0000e-05, "REFLECTANCE_ADD_BAND_4": -0.100000,
    "REFLECTANCE_MULT_BAND_5": 2.0000e-05, "REFLECTANCE_ADD_BAND_5": -0.100000,
}  # fmt: skip


def cast_shadow(
    z: np.ndarray, pixel_m: float, sun_azimuth_deg: float, sun_elevation_deg: float, step_px: float = 1.0
) -> np.ndarray:
    """Cells in cast shadow: some terrain towards the sun rises above the sun ray (horizon test)."""
    h, w = z.shape
    az = np.radians(sun_azimuth_deg)
    dx, dy = np.sin(az), -np.cos(az)  # towards the sun, in (col, row)
    tan_e = np.tan(np.radians(sun_elevation_deg))
    rows, cols = np.indices(z.shape, dtype="float64")
    shadow = np.zeros(z.shape, bool)
    max_rise = float(z.max() - z.min())
    n_steps = int(min(max(h, w), max_rise / (tan_e * pixel_m * step_px) + 1))
    for k in range(1, n_steps + 1):
        d = k * step_px
        r, c = rows + dy * d, cols + dx * d
        inside = (r >= 0) & (r <= h - 1) & (c >= 0) & (c <= w - 1)
        if not inside.any():
            break
        zs = ndimage.map_coordinates(z, [np.clip(r, 0, h - 1), np.clip(c, 0, w - 1)], order=1)
        shadow |= inside & (zs > z + d * pixel_m * tan_e)
    return shadow


def reflectance(kind: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Surface reflectance (5, rows, cols) for BANDS, with spatial texture."""
    out = np.zeros((len(BANDS), *kind.shape), "float32")
    texture = fractal_noise(kind.shape, rng, (6, 2, 1), (1.0, 0.6, 0.4))
    for name, code in SURFACE.items():
        m = kind == code
        if not m.any():
            continue
        for b, value in enumerate(REFLECTANCE[name]):
            out[b][m] = value * (1.0 + TEXTURE_STD / max(value, 0.05) * texture[m])
    return np.clip(out, 0.0, 1.0)


def match_off_glacier_debris(
    surf: np.ndarray, kind: np.ndarray, light: np.ndarray, clear: np.ndarray | None = None
) -> None:
    """Scale moraine/talus reflectance (in place) so their mean *illuminated* reflectance equals debris-covered
    ice's, band by band.

    Debris on flat tongues is better lit on average than moraine and talus on steep slopes; without this
    the illumination alone would separate them. Real supraglacial debris and moraines come from the same
    rock, so the optical bands must not separate them (the ratio is bounded to ±20 %). The means are taken
    over the interiors (2 px from the class edge) of the ``clear`` (cloud-free) cells, where a sensor sees
    pure pixels of each class.
    """
    debris = kind == SURFACE["debris"]
    rock_debris = np.isin(kind, (SURFACE["moraine"], SURFACE["talus"]))
    if not debris.any() or not rock_debris.any():
        return
    clear = np.ones(kind.shape, bool) if clear is None else clear
    a = ndimage.binary_erosion(debris, iterations=2) & clear
    b = ndimage.binary_erosion(rock_debris, iterations=2) & clear
    a = a if a.sum() >= 25 else debris
    b = b if b.sum() >= 25 else rock_debris
    for band in range(surf.shape[0]):  # per band: texture sampling is matched too, not only illumination
        lit = surf[band] * light
        ratio = float(np.clip(lit[a].mean() / max(float(lit[b].mean()), 1e-6), 0.8, 1.2))
        surf[band][rock_debris] *= np.float32(ratio)


def surface_temperature_k(
    kind: np.ndarray, z: np.ndarray, cos_i: np.ndarray, shadow: np.ndarray, pixel_m: float, rng
) -> np.ndarray:
    """Late-summer midday surface temperature (K).

    Ice and snow are pinned near 273.15 K; debris over ice warms with its thickness (proxied by the distance
    to clean ice) to ~284 K; sunlit rock, moraine and talus reach ~288-300 K (lapse rate 6.5 K/km, cooler in
    shadow); water ~277 K.
    """
    t = np.zeros(kind.shape, "float64")
    sun = np.where(shadow, 0.1, cos_i)
    z_ref = float(np.median(z))
    rock = np.isin(kind, (SURFACE["rock"], SURFACE["moraine"], SURFACE["talus"]))
    t[rock] = (291.0 + 8.0 * sun - 6.5e-3 * (z - z_ref))[rock]
    clean = np.isin(kind, (SURFACE["snow"], SURFACE["ice"], SURFACE["seasonal_snow"]))
    t[clean] = 273.15
    debris = kind == SURFACE["debris"]
    if debris.any():
        dist_m = ndimage.distance_transform_edt(~np.isin(kind, (SURFACE["snow"], SURFACE["ice"]))) * pixel_m
        t[debris] = (275.5 + 8.0 * np.tanh(dist_m / 60.0) + 2.0 * sun)[debris]
    water = np.isin(kind, (SURFACE["pond"], SURFACE["lake"]))
    t[water] = 277.0
    t += 0.4 * fractal_noise(kind.shape, rng, (4, 1), (1.0, 0.5))
    return t.astype("float32")


def planck_radiance(t_k: np.ndarray, emissivity: np.ndarray, band: int) -> np.ndarray:
    """At-sensor radiance (W m⁻² sr⁻¹ µm⁻¹) of a surface, no atmosphere: ε·K1/(exp(K2/T)−1)."""
    k1 = LANDSAT_CONSTANTS[f"K1_CONSTANT_BAND_{band}"]
    k2 = LANDSAT_CONSTANTS[f"K2_CONSTANT_BAND_{band}"]
    return emissivity * k1 / (np.exp(k2 / t_k) - 1.0)
