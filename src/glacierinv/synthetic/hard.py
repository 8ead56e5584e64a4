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
    zmin, zmax = float(z.min()), float(z.max())
    relief = max(zmax - zmin, 1.0)
    slope = slope_deg_simple(ndimage.gaussian_filter(z, 2), pixel_m)
    ice = np.isin(kind, (k["snow"], k["ice"], k["debris"], k["pond"]))
    _add_dirty_ice(kind, z, ela_m, look, rng)
    _add_dead_ice(kind, z, ice, slope, ela_m, pixel_m, rng)
    _add_lakes(kind, z, ice, ela_m, pixel_m, rng)
    if look.vegetation_frac > 0:
        _add_vegetation(kind, z, ice, slope, zmin + look.vegetation_frac * relief, rng)
    _add_seasonal_snow(kind, z, slope, ela_m, zmin, relief, pixel_m, look, rng)
    return kind, z


def _add_dirty_ice(
    kind: np.ndarray, z: np.ndarray, ela_m: float, look: Look, rng: np.random.Generator
) -> None:
    """Dirty / wet bare ice (in place in ``kind``): patches over the lowest ``look.dirty_ice_frac`` of the bare
    ice's elevation range below the ELA (``z``, ``ela_m`` in m)."""
    k = SURFACE
    n = max(z.shape)
    bare = kind == k["ice"]
    if bare.any() and look.dirty_ice_frac > 0:
        z_low = float(z[bare].min())
        cut = z_low + look.dirty_ice_frac * (ela_m - z_low)
        patch = fractal_noise(z.shape, rng, (max(4, n // 30), 3), (1.0, 0.4)) > -0.3
        kind[bare & (z < cut) & patch] = k["dirty_ice"]


def _add_dead_ice(
    kind: np.ndarray, z: np.ndarray, ice: np.ndarray, slope: np.ndarray, ela_m: float, pixel_m: float, rng
) -> None:
    """Debris-covered dead ice cut off from the glacier (in place in ``kind``): 1-3 blobs 3-12 px beyond the
    margin of the ice below the ELA, on rock, moraine or talus gentler than 25° (``slope`` in degrees)."""
    k = SURFACE
    low_ice = ice & (z < ela_m)
    if low_ice.any():
        near = ndimage.binary_dilation(
            low_ice, iterations=max(6, int(40 / pixel_m))
        ) & ~ndimage.binary_dilation(ice, iterations=3)
        where = near & np.isin(kind, (k["rock"], k["moraine"], k["talus"])) & (slope < 25)
        dead = _blob_mask(z.shape, rng, int(rng.integers(1, 4)), (6.0, 18.0), where=where)
        dead &= ~ndimage.binary_dilation(ice, iterations=2) & np.isin(
            kind, (k["rock"], k["moraine"], k["talus"])
        )
        kind[dead] = k["dead_ice"]


def _add_lakes(kind: np.ndarray, z: np.ndarray, ice: np.ndarray, ela_m: float, pixel_m: float, rng) -> None:
    """Extra lakes in flat (< 8°) low hollows on rock off the glacier, their surface flattened in ``z`` (m);
    then every lake of ``kind`` turns turbid, frozen or stays clear at random (both in place)."""
    k = SURFACE
    flat = (slope_deg_simple(ndimage.gaussian_filter(z, 4), pixel_m) < 8) & (z < ela_m)
    flat &= ~ndimage.binary_dilation(ice | (kind == k["dead_ice"]), iterations=4) & (kind == k["rock"])
    new_lakes = _blob_mask(z.shape, rng, int(rng.integers(0, 4)), (4.0, 12.0), where=flat) & flat
    lab, n_lakes = ndimage.label(new_lakes)
    for i in range(1, n_lakes + 1):
        m = lab == i
        if m.sum() >= 9:
            z[m] = float(np.percentile(z[m], 5))
            kind[m] = k["lake"]
    lab, n_lakes = ndimage.label(kind == k["lake"])
    for i in range(1, n_lakes + 1):
        kind[lab == i] = rng.choice([k["lake"], k["turbid_lake"], k["frozen_lake"]])


def _add_vegetation(
    kind: np.ndarray, z: np.ndarray, ice: np.ndarray, slope: np.ndarray, z_top_m: float, rng
) -> None:
    """Vegetation (in place in ``kind``): patchy, on rock below ``z_top_m`` (m) gentler than 35°
    (``slope`` in degrees), not on the fresh moraines within 3 px of the ice."""
    k = SURFACE
    n = max(z.shape)
    veg = (z < z_top_m) & (slope < 35) & (kind == k["rock"])
    veg &= fractal_noise(z.shape, rng, (max(4, n // 25), 3), (1.0, 0.5)) > -0.2
    kind[veg & ~ndimage.binary_dilation(ice, iterations=3)] = k["vegetation"]


def _add_seasonal_snow(
    kind: np.ndarray, z: np.ndarray, slope: np.ndarray, ela_m: float, zmin: float, relief: float,
    pixel_m: float, look: Look, rng,
) -> None:  # fmt: skip
    """Seasonal snow (in place in ``kind``): above a snowline between the ELA and the scene's floor ``zmin``
    (m), more on shaded slopes, patchy at its edge, shed by walls steeper than 50°; bare ice under it becomes
    snow (still glacier), lakes freeze; debris and open water melt it first (stay free)."""
    k = SURFACE
    n = max(z.shape)
    snowline = ela_m - look.snowline_frac * (ela_m - zmin)
    shade = illumination(ndimage.gaussian_filter(z, 3), pixel_m, look.sun_azimuth_deg, look.sun_elevation_deg)
    aspect_term = (float(np.mean(shade)) - shade) / (float(np.std(shade)) + 1e-6)
    patch = fractal_noise(z.shape, rng, (max(4, n // 20), max(2, n // 60), 2), (1.0, 0.5, 0.2))
    score = (z - snowline) / (0.08 * relief) + 0.5 * aspect_term + 0.8 * patch
    snow = (score > 0) & (slope < 50)
    off = np.isin(kind, (k["rock"], k["moraine"], k["talus"], k["vegetation"], k["dead_ice"]))
    kind[snow & off] = k["seasonal_snow"]
    kind[snow & np.isin(kind, (k["ice"], k["dirty_ice"]))] = k["snow"]
    kind[snow & (kind == k["lake"])] = k["frozen_lake"]
