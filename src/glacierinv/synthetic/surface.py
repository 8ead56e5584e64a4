"""Synthetic land surface over the terrain: glaciers, debris, ponds, lake, moraines, talus, seasonal snow.

Surface types are small integers (:data:`SURFACE`); the truth classes derive from them (ponds on debris are
part of the glacier, as in glacier inventories). All thresholds are in metres and degrees.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from glacierinv.synthetic.terrain import Valley, _distance_along, fractal_noise

__all__ = ["SURFACE", "Surface", "make_surface", "slope_deg_simple"]

SURFACE = {
    "rock": 0,
    "snow": 1,  # accumulation-area snow/firn (glacier)
    "ice": 2,  # bare clean ice (glacier)
    "debris": 3,  # supraglacial debris (glacier)
    "pond": 4,  # supraglacial pond (glacier, on debris)
    "lake": 5,  # proglacial lake
    "moraine": 6,  # lateral/terminal moraine (non-glacier debris)
    "talus": 7,  # talus cones (non-glacier debris)
    "seasonal_snow": 8,  # snow patches off-glacier
}
GLACIER_SURFACES = (SURFACE["snow"], SURFACE["ice"], SURFACE["debris"], SURFACE["pond"])


@dataclass
class Surface:
    """Surface type per cell, the ELA (m) and the valleys' ice extent."""

    kind: np.ndarray  # uint8, values of SURFACE
    ela_m: float

    @property
    def glacier(self) -> np.ndarray:
        return np.isin(self.kind, GLACIER_SURFACES)

    @property
    def truth_classes(self) -> np.ndarray:
        """0 background, 1 clean ice (snow + ice), 2 debris-covered ice (debris + ponds)."""
        out = np.zeros(self.kind.shape, "uint8")
        out[np.isin(self.kind, (SURFACE["snow"], SURFACE["ice"]))] = 1
        out[np.isin(self.kind, (SURFACE["debris"], SURFACE["pond"]))] = 2
        return out


def slope_deg_simple(z: np.ndarray, pixel_m: float) -> np.ndarray:
    """Slope (degrees) by central differences (for scene generation only)."""
    gy, gx = np.gradient(z.astype("float64"), pixel_m)
    return np.degrees(np.arctan(np.hypot(gx, gy)))


def _blob_mask(shape, rng, n, radius_px, where=None) -> np.ndarray:
    out = np.zeros(shape, bool)
    rows, cols = np.indices(shape)
    for _ in range(n):
        if where is not None:
            cand = np.flatnonzero(where)
            if cand.size == 0:
                break
            r0, c0 = np.unravel_index(rng.choice(cand), shape)
        else:
            r0, c0 = rng.integers(0, shape[0]), rng.integers(0, shape[1])
        rr = rng.uniform(*radius_px)
        ecc = rng.uniform(0.6, 1.0)
        out |= ((rows - r0) / rr) ** 2 + ((cols - c0) / (rr * ecc)) ** 2 <= 1.0
    return out


def make_surface(
    z: np.ndarray, valleys: list[Valley], pixel_m: float, rng: np.random.Generator
) -> tuple[Surface, np.ndarray]:
    """Place glaciers and the other surfaces; returns the surface and the (lake-flattened) DEM."""
    shape = z.shape
    z = z.copy()
    slope = slope_deg_simple(ndimage.gaussian_filter(z, 2), pixel_m)
    zmin, zmax = float(z.min()), float(z.max())
    ela = zmin + rng.uniform(0.5, 0.58) * (zmax - zmin)

    # accumulation areas: above the ELA, not on steep rock walls
    acc = (z > ela) & (slope < 38.0)
    # tongues: ice in valley floors down to each valley's terminus
    tongue = np.zeros(shape, bool)
    termini = []
    for v in valleys:
        dist, pos = _distance_along(shape, pixel_m, v)
        width = v.width_m * (1.05 - 0.55 * np.clip(pos / max(v.glacier_length, 1e-6), 0, 1))
        t = (dist < width) & (pos <= v.glacier_length)
        tongue |= t
        if v.trunk or v.glacier_length < 1.0:
            k = int(round((len(v.xs) - 1) * v.glacier_length))
            termini.append((v.ys[k] / pixel_m, v.xs[k] / pixel_m, v))
    ice = acc | tongue
    # natural outlines: smooth the mask with a little noise on the margin
    soft = ndimage.gaussian_filter(ice.astype("float64"), 3.0) + 0.12 * fractal_noise(
        shape, rng, (8, 3), (1.0, 0.4)
    )
    ice = soft > 0.5
    ice = ndimage.binary_opening(ice, iterations=2)
    # drop slivers; keep small cirque glaciers (a few near the 0.005 km² inventory threshold)
    lab, n = ndimage.label(ice)
    sizes = ndimage.sum(ice, lab, index=np.arange(1, n + 1)) * pixel_m**2 / 1e6
    keep = np.zeros(n + 1, bool)
    keep[1:] = sizes >= 0.003
    ice = keep[lab]

    kind = np.full(shape, SURFACE["rock"], "uint8")
    kind[ice & (z >= ela)] = SURFACE["snow"]
    kind[ice & (z < ela)] = SURFACE["ice"]

    # debris on low-gradient lower tongues, thickening away from clean ice
    smooth_slope = slope_deg_simple(ndimage.gaussian_filter(z, 4), pixel_m)
    debris = ice & (z < ela - 0.06 * (zmax - zmin)) & (smooth_slope < 16.0)
    debris = ndimage.binary_closing(debris, iterations=3) & ice
    debris = ndimage.binary_opening(debris, iterations=3)
    lab, n = ndimage.label(debris)
    if n:
        sizes = ndimage.sum(debris, lab, index=np.arange(1, n + 1)) * pixel_m**2 / 1e6
        keep = np.zeros(n + 1, bool)
        keep[1:] = sizes >= 0.002
        debris = keep[lab]
    kind[debris] = SURFACE["debris"]
    # supraglacial ponds on debris
    ponds = _blob_mask(
        shape, rng, int(rng.integers(3, 8)), (2.0, 5.0), where=ndimage.binary_erosion(debris, iterations=6)
    )
    kind[ponds & debris] = SURFACE["pond"]

    # proglacial lake in front of the lowest terminus
    if termini:
        r0, c0, v = max(termini, key=lambda t: t[0])  # the southernmost terminus
        step = 12
        k = int(round((len(v.xs) - 1) * v.glacier_length))
        k2 = min(len(v.xs) - 1, k + step)
        dy, dx = (v.ys[k2] - v.ys[k]) / pixel_m, (v.xs[k2] - v.xs[k]) / pixel_m
        norm = np.hypot(dx, dy) + 1e-9
        radius = max(6.0, 0.45 * v.width_m / pixel_m)
        lr, lc = r0 + dy / norm * (radius * 1.2), c0 + dx / norm * (radius * 1.2)
        rows, cols = np.indices(shape)
        lake = ((rows - lr) / radius) ** 2 + ((cols - lc) / (radius * 0.75)) ** 2 <= 1.0
        lake &= ~ice
        if lake.any():
            kind[lake] = SURFACE["lake"]
            z[lake] = float(np.percentile(z[lake], 5))  # a flat lake surface

    # moraines: bands along the tongue margins below the ELA; talus: foot of steep walls below the ELA
    near_ice = ndimage.binary_dilation(ice, iterations=max(2, int(12 / pixel_m * 2))) & ~ice
    low = z < ela
    moraine = near_ice & low & (kind == SURFACE["rock"])
    moraine &= fractal_noise(shape, rng, (6, 2), (1.0, 0.3)) > -0.6
    kind[moraine] = SURFACE["moraine"]
    talus_zone = (slope > 22) & (slope < 36) & low & (kind == SURFACE["rock"])
    talus = talus_zone & (fractal_noise(shape, rng, (10, 3), (1.0, 0.3)) > 0.7)
    kind[talus] = SURFACE["talus"]

    # seasonal snow patches off-glacier, below the ELA, not connected to glaciers
    far = ~ndimage.binary_dilation(ice, iterations=8)
    band = (z > ela - 0.25 * (zmax - zmin)) & (z < ela) & far & (kind == SURFACE["rock"])
    snow = _blob_mask(shape, rng, int(rng.integers(3, 7)), (3.0, 9.0), where=band) & band
    kind[snow] = SURFACE["seasonal_snow"]
    return Surface(kind, float(ela)), z
