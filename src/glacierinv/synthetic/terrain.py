"""Synthetic mountain terrain: a main ridge with peaks, glacial valleys carved down from cirques, tributaries
joining a trunk valley, and fractal roughness.

Valleys are explicit centerlines (so glaciers can follow them); ridges and drainage divides appear between
them. All lengths are in metres, elevations in metres above sea level.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

__all__ = ["Valley", "fractal_noise", "illumination", "make_terrain"]


@dataclass(frozen=True)
class Valley:
    """A valley centerline (x, y in metres from the upper-left corner, y downwards) and its shape."""

    xs: np.ndarray
    ys: np.ndarray
    width_m: float  # half-width of the U-shaped floor
    depth_m: float  # incision below the surrounding slope at the valley mouth
    glacier_length: float  # fraction of the centerline (from the head) covered by ice
    trunk: bool = False


def fractal_noise(
    shape: tuple[int, int], rng: np.random.Generator, scales_px=(64, 16, 4), weights=(1.0, 0.35, 0.1)
) -> np.ndarray:
    """Sum of Gaussian-filtered white noise at several scales (px), normalised to unit standard deviation.

    Scales above 8 px are drawn on a grid coarser by ``scale // 4`` and interpolated (bilinear) back:
    the same spectrum at a fraction of the cost of a wide Gaussian kernel on the full grid.
    """
    h, w = shape
    out = np.zeros(shape, "float64")
    for s, wt in zip(scales_px, weights, strict=True):
        f = max(1, int(s // 4)) if s > 8 else 1
        small = (-(-h // f) + 1, -(-w // f) + 1) if f > 1 else (h, w)
        n = ndimage.gaussian_filter(rng.standard_normal(small), s / f, mode="reflect")
        if f > 1:
            n = ndimage.zoom(n, f, order=1, grid_mode=False)[:h, :w]
        out += wt * n / (n.std() + 1e-12)
    return out / (out.std() + 1e-12)


def _curve(rng, x0, y0, x1, y1, n=200, wiggle=0.06) -> tuple[np.ndarray, np.ndarray]:
    t = np.linspace(0, 1, n)
    length = np.hypot(x1 - x0, y1 - y0)
    nx, ny = -(y1 - y0) / length, (x1 - x0) / length
    amp = wiggle * length * rng.uniform(-1, 1)
    bend = amp * np.sin(np.pi * t) + 0.3 * amp * np.sin(2 * np.pi * t + rng.uniform(0, np.pi))
    return x0 + (x1 - x0) * t + nx * bend, y0 + (y1 - y0) * t + ny * bend


def _distance_along(shape, pixel_m, valley: Valley) -> tuple[np.ndarray, np.ndarray]:
    """Distance (m) of every cell to the centerline and the normalised position (0 head → 1 mouth) of the nearest point."""
    h, w = shape
    seg = np.zeros(shape, bool)
    cols = np.clip((valley.xs / pixel_m).astype(int), 0, w - 1)
    rows = np.clip((valley.ys / pixel_m).astype(int), 0, h - 1)
    seg[rows, cols] = True
    pos = np.zeros(shape, "float64")
    pos[rows, cols] = np.linspace(0, 1, len(rows))
    dist, (ri, ci) = ndimage.distance_transform_edt(~seg, return_indices=True)
    return dist * pixel_m, pos[ri, ci]


def make_terrain(size_px: int, pixel_m: float, rng: np.random.Generator) -> tuple[np.ndarray, list[Valley]]:
    """Elevation (m) on a size_px² grid and the valleys carved into it.

    A north (top) main ridge at ~6200-6800 m falls to a trunk-valley floor near the south edge; 3-4
    tributary valleys start at cirques below the ridge and join a trunk valley that leaves the scene to the
    south; side cirques sit on the flanks.
    """
    n = size_px
    extent = n * pixel_m
    relief = min(2400.0, 0.32 * extent)  # valley-glacier gradients (~10-20°) at any scene size
    z_top, z_bottom = 6400.0, 6400.0 - relief
    z = _ridge_slope(n, pixel_m, z_top, relief, rng)
    valleys = _draw_valleys(rng, extent, relief)
    z -= _valley_carving(z.shape, pixel_m, valleys)
    # cirque bowls flatten the valley heads
    z += (
        relief
        * 0.025
        * fractal_noise(
            z.shape, rng, scales_px=(max(8, n // 10), max(3, n // 40), 2), weights=(1.0, 0.2, 0.03)
        )
    )
    # trunk floor must keep falling to the south: remove closed depressions along the valleys
    z = ndimage.gaussian_filter(z, 1.0)
    z = np.maximum(z, z_bottom - 0.25 * relief)
    return z.astype("float32"), valleys


def _ridge_slope(n: int, pixel_m: float, z_top: float, relief: float, rng: np.random.Generator) -> np.ndarray:
    """Elevation (m, float64, n × n cells of ``pixel_m`` m) before the valleys: a regional slope falling
    ``relief`` m from ``z_top`` at the northern ridge (row 0) to the south, with five Gaussian peaks along
    the ridge (each of 0.1-0.25 × ``relief``)."""
    extent = n * pixel_m
    y = (np.arange(n) + 0.5) * pixel_m
    x = (np.arange(n) + 0.5) * pixel_m
    xx, yy = np.meshgrid(x, y)
    # regional slope from the northern ridge to the south
    frac = yy / extent
    z = z_top - relief * (0.15 + 0.85 * frac**0.9)
    # peaks along the ridge
    for _ in range(5):
        px, py = rng.uniform(0.05, 0.95) * extent, rng.uniform(0.02, 0.12) * extent
        r = rng.uniform(0.08, 0.16) * extent
        z += rng.uniform(0.1, 0.25) * relief * np.exp(-((xx - px) ** 2 + (yy - py) ** 2) / (2 * r**2))
    return z


def _draw_valleys(rng: np.random.Generator, extent: float, relief: float) -> list[Valley]:
    """The valley network (map coordinates in m from the upper-left corner, ``extent`` m square): the trunk
    valley from the confluence to the southern edge, 3-4 tributaries from cirques near the ridge to the
    confluence, and 2-3 small hanging side cirques on the flanks; depths are fractions of ``relief`` (m)."""
    valleys: list[Valley] = []
    # trunk valley: from the confluence to the southern edge
    cx = rng.uniform(0.42, 0.58) * extent
    cy = rng.uniform(0.50, 0.58) * extent
    tx, ty = _curve(rng, cx, cy, cx + rng.uniform(-0.1, 0.1) * extent, 1.02 * extent, wiggle=0.05)
    valleys.append(Valley(tx, ty, 0.06 * extent, 0.25 * relief, rng.uniform(0.45, 0.6), trunk=True))
    # tributaries from cirques near the ridge to the confluence
    n_trib = int(rng.integers(3, 5))
    heads = np.sort(rng.uniform(0.1, 0.9, n_trib)) * extent
    for hx in heads:
        hy = rng.uniform(0.1, 0.18) * extent
        vx, vy = _curve(rng, hx, hy, cx, cy, wiggle=0.08)
        valleys.append(Valley(vx, vy, rng.uniform(0.035, 0.05) * extent, 0.2 * relief, 1.0))
    # side cirques (small hanging valleys on the flanks)
    for _ in range(int(rng.integers(2, 4))):
        hx = rng.choice([rng.uniform(0.03, 0.2), rng.uniform(0.8, 0.97)]) * extent
        hy = rng.uniform(0.25, 0.5) * extent
        ex = hx + rng.uniform(-0.08, 0.08) * extent
        ey = hy + rng.uniform(0.1, 0.18) * extent
        vx, vy = _curve(rng, hx, hy, ex, ey, wiggle=0.1)
        valleys.append(Valley(vx, vy, rng.uniform(0.02, 0.03) * extent, 0.12 * relief, rng.uniform(0.4, 0.7)))
    return valleys


def _valley_carving(shape: tuple[int, int], pixel_m: float, valleys: list[Valley]) -> np.ndarray:
    """Depth (m, ≥ 0) carved into the terrain: per cell the deepest of the valleys' U-shaped troughs."""
    carve = np.zeros(shape, "float64")
    for v in valleys:
        dist, pos = _distance_along(shape, pixel_m, v)
        # U-shaped cross-section (glacial trough): flat floor, steepening walls
        profile = np.exp(-((np.maximum(dist - 0.5 * v.width_m, 0.0) / (1.3 * v.width_m)) ** 2))
        depth = v.depth_m * (0.55 + 0.45 * pos) if not v.trunk else v.depth_m * np.ones_like(pos)
        carve = np.maximum(carve, depth * profile)
    return carve


def illumination(
    z: np.ndarray, pixel_m: float, sun_azimuth_deg: float, sun_elevation_deg: float
) -> np.ndarray:
    """cos(incidence angle) of the sun on each cell (Lambert), clipped at 0; aspect clockwise from north."""
    gy, gx = np.gradient(z.astype("float64"), pixel_m)  # gy: +down the rows (south)
    slope = np.arctan(np.hypot(gx, gy))
    # downslope azimuth, clockwise from north: east = +x, north = -row direction
    aspect = np.arctan2(-gx, gy)
    zen = np.radians(90 - sun_elevation_deg)
    az = np.radians(sun_azimuth_deg)
    cos_i = np.cos(zen) * np.cos(slope) + np.sin(zen) * np.sin(slope) * np.cos(az - aspect)
    return np.clip(cos_i, 0.0, None)
