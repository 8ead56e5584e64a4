"""Hard synthetic scenes: what real images throw at a glacier classifier, drawn at random per scene.

:func:`draw_look` draws the acquisition (sun position, season's snowline, haze, sensor noise, clouds);
:func:`harden_surface` adds to the surface of :func:`~glacierinv.synthetic.surface.make_surface` the
confusers a glaciologist meets on real scenes: widespread patchy seasonal snow following elevation and
aspect (sometimes down to the termini, touching the glacier margins), dirty/wet bare ice, debris-covered
dead ice cut off from the glacier, vegetation at low elevation, turbid and frozen lakes. The truth stays
exact: seasonal snow on a glacier is glacier (clean-ice class), dead ice cut off from it is not.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage

from glacierinv.synthetic.surface import SURFACE, _blob_mask, slope_deg_simple
from glacierinv.synthetic.terrain import fractal_noise, illumination

__all__ = ["DIFFICULTIES", "Look", "draw_look", "harden_surface"]

DIFFICULTIES = ("easy", "hard")


@dataclass(frozen=True)
class Look:
    """One hard scene's acquisition and season (angles in degrees, heights in metres)."""

    sun_azimuth_deg: float  # clockwise from north (Landsat ~10:30 local overpass: south-east to south)
    sun_elevation_deg: float  # 25° (late autumn) to 65° (midsummer) at ~36° N
    snowline_frac: float  # seasonal snowline between the ELA (0) and the lowest point of the scene (1)
    diffuse: float  # fraction of light in cast shadow (sky light)
    haze_aot: float  # aerosol optical thickness at 0.55 µm
    noise_std: float  # sensor noise, reflectance units
    cloud_cover: float  # target fraction of the scene under (thin + thick) cloud, per image
    cloud_height_m: float  # cloud base above the terrain: offsets the cloud shadows
    vegetation_frac: float  # vegetation up to this fraction of the relief above the lowest point
    dirty_ice_frac: float  # lowest fraction of the ablation area that is dirty/wet ice

    def as_dict(self) -> dict:
        return {k: round(float(v), 4) for k, v in asdict(self).items()}


def draw_look(rng: np.random.Generator) -> Look:
    """Draw a hard scene's acquisition and season (each draw independent, uniform)."""
    return Look(
        sun_azimuth_deg=rng.uniform(110.0, 210.0),
        sun_elevation_deg=rng.uniform(25.0, 65.0),
        snowline_frac=rng.uniform(0.0, 1.1),
        diffuse=rng.uniform(0.08, 0.3),
        haze_aot=rng.uniform(0.0, 0.6),
        noise_std=rng.uniform(0.005, 0.025),
        cloud_cover=rng.choice([0.0, rng.uniform(0.05, 0.25), rng.uniform(0.2, 0.5)]),
        cloud_height_m=rng.uniform(100.0, 800.0),
        vegetation_frac=rng.choice([0.0, rng.uniform(0.1, 0.35)]),
        dirty_ice_frac=rng.uniform(0.0, 0.6),
    )


def harden_surface(
    z: np.ndarray, kind: np.ndarray, ela_m: float, pixel_m: float, look: Look, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Add seasonal snow, dirty ice, dead ice, vegetation and turbid/frozen lakes to ``kind`` (copies).

    Returns ``kind`` and the DEM (new lakes are flattened in it).
    """
    kind, z = kind.copy(), z.copy()
    k = SURFACE
    shape = z.shape
    n = max(shape)
    zmin, zmax = float(z.min()), float(z.max())
    relief = max(zmax - zmin, 1.0)
    slope = slope_deg_simple(ndimage.gaussian_filter(z, 2), pixel_m)
    ice = np.isin(kind, (k["snow"], k["ice"], k["debris"], k["pond"]))

    # dirty / wet bare ice: the lowest part of the ablation area, patchy
    bare = kind == k["ice"]
    if bare.any() and look.dirty_ice_frac > 0:
        z_low = float(z[bare].min())
        cut = z_low + look.dirty_ice_frac * (ela_m - z_low)
        patch = fractal_noise(shape, rng, (max(4, n // 30), 3), (1.0, 0.4)) > -0.3
        kind[bare & (z < cut) & patch] = k["dirty_ice"]

    # debris-covered dead ice cut off from the glacier: blobs 3-12 px beyond the debris/ice margin
    low_ice = ice & (z < ela_m)
    if low_ice.any():
        near = ndimage.binary_dilation(
            low_ice, iterations=max(6, int(40 / pixel_m))
        ) & ~ndimage.binary_dilation(ice, iterations=3)
        where = near & np.isin(kind, (k["rock"], k["moraine"], k["talus"])) & (slope < 25)
        dead = _blob_mask(shape, rng, int(rng.integers(1, 4)), (6.0, 18.0), where=where)
        dead &= ~ndimage.binary_dilation(ice, iterations=2) & np.isin(
            kind, (k["rock"], k["moraine"], k["talus"])
        )
        kind[dead] = k["dead_ice"]

    # extra lakes in flat low hollows off the glacier; every lake turbid, frozen or clear at random
    flat = (slope_deg_simple(ndimage.gaussian_filter(z, 4), pixel_m) < 8) & (z < ela_m)
    flat &= ~ndimage.binary_dilation(ice | (kind == k["dead_ice"]), iterations=4) & (kind == k["rock"])
    new_lakes = _blob_mask(shape, rng, int(rng.integers(0, 4)), (4.0, 12.0), where=flat) & flat
    lab, n_lakes = ndimage.label(new_lakes)
    for i in range(1, n_lakes + 1):
        m = lab == i
        if m.sum() >= 9:
            z[m] = float(np.percentile(z[m], 5))
            kind[m] = k["lake"]
    lab, n_lakes = ndimage.label(kind == k["lake"])
    for i in range(1, n_lakes + 1):
        kind[lab == i] = rng.choice([k["lake"], k["turbid_lake"], k["frozen_lake"]])

    # vegetation: low, gentle, patchy, not on fresh moraines next to the ice
    if look.vegetation_frac > 0:
        veg = (z < zmin + look.vegetation_frac * relief) & (slope < 35) & (kind == k["rock"])
        veg &= fractal_noise(shape, rng, (max(4, n // 25), 3), (1.0, 0.5)) > -0.2
        kind[veg & ~ndimage.binary_dilation(ice, iterations=3)] = k["vegetation"]

    # seasonal snow: above a snowline between the ELA and the scene's floor, more on shaded slopes,
    # patchy at its edge, shed by walls steeper than 50°; bare ice under it becomes snow (still glacier);
    # debris and open water melt it first (stay free)
    snowline = ela_m - look.snowline_frac * (ela_m - zmin)
    shade = illumination(ndimage.gaussian_filter(z, 3), pixel_m, look.sun_azimuth_deg, look.sun_elevation_deg)
    aspect_term = (float(np.mean(shade)) - shade) / (float(np.std(shade)) + 1e-6)
    patch = fractal_noise(shape, rng, (max(4, n // 20), max(2, n // 60), 2), (1.0, 0.5, 0.2))
    score = (z - snowline) / (0.08 * relief) + 0.5 * aspect_term + 0.8 * patch
    snow = (score > 0) & (slope < 50)
    off = np.isin(kind, (k["rock"], k["moraine"], k["talus"], k["vegetation"], k["dead_ice"]))
    kind[snow & off] = k["seasonal_snow"]
    kind[snow & np.isin(kind, (k["ice"], k["dirty_ice"]))] = k["snow"]
    kind[snow & (kind == k["lake"])] = k["frozen_lake"]
    return kind, z
