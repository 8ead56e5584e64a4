"""Synthetic land surface over the terrain: glaciers, debris, ponds, lake, moraines, talus, seasonal snow.

Surface types are small integers (:data:`SURFACE`); the truth classes derive from them (ponds on debris are
part of the glacier, as in glacier inventories). All thresholds are in metres and degrees.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from glacierinv.synthetic.terrain import Valley, fractal_noise, illumination

__all__ = [
    "CLEAN_ICE_SURFACES",
    "DEBRIS_SURFACES",
    "GLACIER_SURFACES",
    "SURFACE",
    "Surface",
    "cirque_glaciers",
    "decorate_surface",
    "ela_field_m",
    "glacier_extent",
    "make_surface",
    "slope_deg_simple",
]

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
    # hard scenes only (``difficulty="hard"``, :mod:`glacierinv.synthetic.hard`)
    "dirty_ice": 9,  # wet / dirty bare ice in the lower ablation area (glacier, clean-ice class)
    "dead_ice": 10,  # debris-covered dead ice cut off from the glacier (not glacier)
    "vegetation": 11,  # alpine meadow / shrubs at low elevation
    "turbid_lake": 12,  # lake coloured by glacial flour
    "frozen_lake": 13,  # lake under ice and snow
}
BASE_SURFACES = tuple(range(9))  # the easy scene's types (codes 0-8)
GLACIER_SURFACES = (SURFACE["snow"], SURFACE["ice"], SURFACE["debris"], SURFACE["pond"], SURFACE["dirty_ice"])
CLEAN_ICE_SURFACES = (SURFACE["snow"], SURFACE["ice"], SURFACE["dirty_ice"])  # truth class 1
DEBRIS_SURFACES = (SURFACE["debris"], SURFACE["pond"])  # truth class 2


@dataclass
class Surface:
    """Surface type per cell (values of :data:`SURFACE`) and the regional ELA (m)."""

    kind: np.ndarray  # uint8, values of SURFACE
    ela_m: float

    @property
    def glacier(self) -> np.ndarray:
        return np.isin(self.kind, GLACIER_SURFACES)

    @property
    def truth_classes(self) -> np.ndarray:
        """0 background, 1 clean ice (snow + ice), 2 debris-covered ice (debris + ponds)."""
        out = np.zeros(self.kind.shape, "uint8")
        out[np.isin(self.kind, CLEAN_ICE_SURFACES)] = 1
        out[np.isin(self.kind, DEBRIS_SURFACES)] = 2
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


def ela_field_m(z: np.ndarray, cos_i: np.ndarray, ela_m: float, relief_m: float) -> np.ndarray:
    """Local equilibrium-line altitude (m): higher on sunny slopes, lower in shaded ones.

    ``ela_m + 0.08 · relief · (cos_i − mean cos_i)`` — the radiation control that lets north-facing cirques
    hold glaciers below the regional ELA (seed: Karakoram glaciers are topographically controlled).
    """
    return ela_m + 0.08 * relief_m * (cos_i - float(np.mean(cos_i)))


def glacier_extent(
    z: np.ndarray, ela_local_m: np.ndarray, pixel_m: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Ice mask from a balance-flux model: mass balance accumulated down the D8 flow network.

    The specific balance ``b = γ (z − ELA)`` (capped in the accumulation area) is summed downstream with
    pyflwdir; ice exists where the accumulated balance flux ``Q`` is positive (the flux from above the
    ELA is not yet melted) — so tongues descend the valleys that collect large accumulation areas and end
    where the ablation below the ELA has consumed their flux. Tongue half-width follows hydraulic geometry,
    ``w = 0.6 √(Q / b_ref)`` (m), filling the valley floor but not its walls. Steep walls (> 40°) above the
    ELA shed their snow (it still feeds the flux below them: avalanche-fed valley heads) and stay rock.

    Returns the ice mask and the balance flux ``Q`` in m² of reference balance (both on the grid of ``z``).
    """
    import pyflwdir

    relief = float(z.max() - z.min())
    above = z - ela_local_m
    b = np.minimum(above, 0.35 * relief) / (0.1 * relief)  # in units of the reference balance
    flw = pyflwdir.from_dem(z.astype("float32"), nodata=-9999.0)
    q_m2 = flw.accuflux(b * pixel_m**2).astype("float64")
    # spread each D8 line across ~5 px (peak of an isolated line kept): parallel D8 lines on planar
    # slopes merge instead of leaving a comb of ice stripes
    q_m2 = ndimage.gaussian_filter(q_m2, 2.0) * (2.0 * np.sqrt(2.0 * np.pi))
    slope = slope_deg_simple(ndimage.gaussian_filter(z, 1.0), pixel_m)
    acc = (above > 0) & (slope < 40.0)
    # valley glaciers: channel cells that still carry positive flux, widened to the valley floor
    extent_m = max(z.shape) * pixel_m
    channel = q_m2 > max(25 * pixel_m**2, (0.025 * extent_m) ** 2)  # valley floors, above and below the ELA
    tongue = np.zeros(z.shape, bool)
    if channel.any():
        dist_px, (ri, ci) = ndimage.distance_transform_edt(~channel, return_indices=True)
        half_w = 0.6 * np.sqrt(np.maximum(q_m2[ri, ci], 0.0))
        floor = z < z[ri, ci] + 0.6 * half_w
        tongue = (dist_px * pixel_m < half_w) & floor
    ice = acc | tongue
    # natural outlines: smooth the margin with a little noise, drop slivers
    soft = ndimage.gaussian_filter(ice.astype("float64"), 3.0) + 0.08 * fractal_noise(
        z.shape, rng, (6, 2), (1.0, 0.4)
    )
    ice = ndimage.binary_opening(soft > 0.5, iterations=1)
    return ice, q_m2


def cirque_glaciers(
    z: np.ndarray,
    ice: np.ndarray,
    cos_i: np.ndarray,
    ela_m: float,
    pixel_m: float,
    rng: np.random.Generator,
    n_range: tuple[int, int] = (2, 5),
) -> np.ndarray:
    """Small cirque glaciers in shaded hollows just below the ELA, away from the big glaciers.

    Their areas are drawn log-uniformly between 0.002 and 0.02 km², so some fall either side of the
    inventory's 0.005 km² minimum (the truth flags those below it as ``tiny``). Shade (low ``cos_i``) and
    avalanche feeding are what keep such glaciers below the regional ELA in the Karakoram.
    """
    relief = float(z.max() - z.min())
    slope = slope_deg_simple(ndimage.gaussian_filter(z, 2), pixel_m)
    away = ~ndimage.binary_dilation(ice, iterations=max(3, int(round(30 / pixel_m))))
    shaded = cos_i < np.percentile(cos_i, 35)
    where = away & shaded & (slope < 32) & (z > ela_m - 0.15 * relief) & (z < ela_m + 0.02 * relief)
    out = np.zeros(z.shape, bool)
    for _ in range(int(rng.integers(*n_range))):
        cand = np.flatnonzero(where & ~ndimage.binary_dilation(out, iterations=10))
        if cand.size == 0:
            break
        r0, c0 = np.unravel_index(rng.choice(cand), z.shape)
        area_m2 = 10 ** rng.uniform(np.log10(2000.0), np.log10(20000.0))
        radius_px = max(3.0, np.sqrt(area_m2 / np.pi) / pixel_m)
        h = int(np.ceil(radius_px * 1.6))
        rows, cols = np.ogrid[-h : h + 1, -h : h + 1]
        ecc = rng.uniform(0.6, 0.9)
        ellipse = (rows / radius_px) ** 2 + (cols / (radius_px * ecc)) ** 2
        rough = ndimage.gaussian_filter(rng.standard_normal(ellipse.shape), max(1.0, radius_px / 3))
        blob = ellipse + 0.5 * rough / (rough.std() + 1e-12) <= 1.0  # irregular, not a perfect ellipse
        r_lo, c_lo = max(0, r0 - h), max(0, c0 - h)
        r_hi, c_hi = min(z.shape[0], r0 + h + 1), min(z.shape[1], c0 + h + 1)
        out[r_lo:r_hi, c_lo:c_hi] |= blob[r_lo - r0 + h : r_hi - r0 + h, c_lo - c0 + h : c_hi - c0 + h]
    return out & ~ice


def decorate_surface(
    z: np.ndarray,
    ice: np.ndarray,
    ela_m: float,
    pixel_m: float,
    rng: np.random.Generator,
    *,
    debris: np.ndarray | None = None,
    lake: bool = True,
    valid: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Surface types around a given ice mask: snow/ice by the ELA, debris, ponds, lake, moraines, talus, seasonal snow.

    Parameters
    ----------
    z
        Elevation (m) on a metric grid of ``pixel_m`` (m) cells.
    ice
        Glacier mask (True = glacier).
    ela_m
        Equilibrium-line altitude (m): snow/firn above, bare ice below.
    debris
        Given supraglacial debris mask (e.g. from real debris outlines); None = debris on the low-gradient
        lower tongues (below the ELA by more than a third of the ablation range, smoothed slope < 18°).
    lake
        Put a proglacial lake in front of the lowest terminus (the lake surface is flattened in the DEM).
    valid
        Cells with data (others stay rock and are nodata in every output).

    Returns
    -------
    kind, z
        Surface type per cell (:data:`SURFACE`) and the DEM (lake-flattened).
    """
    shape = z.shape
    z = z.copy()
    valid = np.ones(shape, bool) if valid is None else valid
    ice = ice & valid
    zv = z[valid]
    zmin, zmax = float(zv.min()), float(zv.max())
    slope = slope_deg_simple(ndimage.gaussian_filter(z, 2), pixel_m)
    kind = np.full(shape, SURFACE["rock"], "uint8")
    kind[ice & (z >= ela_m)] = SURFACE["snow"]
    kind[ice & (z < ela_m)] = SURFACE["ice"]
    if debris is None:
        debris = _debris_tongues(z, ice, ela_m, pixel_m, zmin)
    debris = debris & ice
    kind[debris] = SURFACE["debris"]
    # supraglacial ponds on debris (water bodies of a few pixels to a few tens of metres)
    core = ndimage.binary_erosion(debris, iterations=4)
    ponds = _blob_mask(shape, rng, int(rng.integers(3, 8)), (2.0, 5.0), where=core)
    kind[ponds & debris] = SURFACE["pond"]
    if lake and ice.any():
        _add_proglacial_lake(kind, z, ice, valid)
    _add_moraines_and_talus(kind, z, ice, slope, ela_m, pixel_m, rng)
    _add_offglacier_snow(kind, z, ice, ela_m, zmax - zmin, valid, rng)
    kind[~valid] = SURFACE["rock"]
    return kind, z


def _debris_tongues(z: np.ndarray, ice: np.ndarray, ela_m: float, pixel_m: float, zmin: float) -> np.ndarray:
    """Supraglacial debris mask: the low-gradient lower tongues — ice below the ELA by more than a third of the
    ablation range (down to the lowest ice, else ``zmin``; m), smoothed slope < 18°, cleaned by closing and
    opening, patches of at least 0.002 km² (cells of ``pixel_m`` m)."""
    smooth_slope = slope_deg_simple(ndimage.gaussian_filter(z, 4), pixel_m)
    z_low = float(z[ice].min()) if ice.any() else zmin
    debris = ice & (z < ela_m - 0.33 * max(ela_m - z_low, 0.0)) & (smooth_slope < 18.0)
    debris = ndimage.binary_closing(debris, iterations=3) & ice
    debris = ndimage.binary_opening(debris, iterations=2)
    lab, n = ndimage.label(debris)
    if n:
        sizes = ndimage.sum(debris, lab, index=np.arange(1, n + 1)) * pixel_m**2 / 1e6
        keep = np.zeros(n + 1, bool)
        keep[1:] = sizes >= 0.002
        debris = keep[lab]
    return debris


def _add_proglacial_lake(kind: np.ndarray, z: np.ndarray, ice: np.ndarray, valid: np.ndarray) -> None:
    """A proglacial lake (in place): an ellipse in front of the lowest ice cell (the terminus), on the
    downslope side, sized by the tongue's width; kept when at least 9 cells, its surface flattened in ``z``
    (m) to the 5th percentile of its elevations."""
    shape = z.shape
    zi = np.where(ice, z, np.inf)
    r0, c0 = np.unravel_index(int(np.argmin(zi)), shape)
    gy, gx = np.gradient(ndimage.gaussian_filter(z, 6).astype("float64"))
    dy, dx = -gy[r0, c0], -gx[r0, c0]  # downslope direction in (row, col)
    norm = float(np.hypot(dx, dy)) or 1.0
    lab, _ = ndimage.label(ice)
    tongue_w = np.sqrt(float((lab == lab[r0, c0]).sum())) * 0.08
    radius = float(np.clip(tongue_w, 5.0, 60.0))
    lr, lc = r0 + dy / norm * radius * 0.9, c0 + dx / norm * radius * 0.9
    rows, cols = np.indices(shape)
    lake_m = ((rows - lr) / radius) ** 2 + ((cols - lc) / (radius * 0.75)) ** 2 <= 1.0
    lake_m &= ~ndimage.binary_dilation(ice, iterations=1) & valid
    if lake_m.sum() >= 9:
        kind[lake_m] = SURFACE["lake"]
        z[lake_m] = float(np.percentile(z[lake_m], 5))  # a flat lake surface


def _add_moraines_and_talus(
    kind: np.ndarray, z: np.ndarray, ice: np.ndarray, slope: np.ndarray, ela_m: float, pixel_m: float, rng
) -> None:
    """Moraines (in place in ``kind``): patchy bands on rock within ~24 m of the glacier margins below the
    ELA; talus: patches on rock at the foot of steep walls (``slope`` 22-36°) below the ELA."""
    shape = z.shape
    near_ice = ndimage.binary_dilation(ice, iterations=max(2, int(round(24 / pixel_m)))) & ~ice
    low = z < ela_m
    moraine = near_ice & low & (kind == SURFACE["rock"])
    moraine &= fractal_noise(shape, rng, (6, 2), (1.0, 0.3)) > -0.6
    kind[moraine] = SURFACE["moraine"]
    talus_zone = (slope > 22) & (slope < 36) & low & (kind == SURFACE["rock"])
    talus = talus_zone & (fractal_noise(shape, rng, (10, 3), (1.0, 0.3)) > 0.5)
    kind[talus] = SURFACE["talus"]


def _add_offglacier_snow(
    kind: np.ndarray, z: np.ndarray, ice: np.ndarray, ela_m: float, relief_m: float, valid: np.ndarray, rng
) -> None:
    """Seasonal snow patches (in place in ``kind``) on rock off-glacier (more than 8 px from the ice), in the
    band from a quarter of the scene's relief ``relief_m`` (m) below the ELA up to the ELA."""
    far = ~ndimage.binary_dilation(ice, iterations=8)
    band = (z > ela_m - 0.25 * relief_m) & (z < ela_m) & far & (kind == SURFACE["rock"]) & valid
    snow = _blob_mask(z.shape, rng, int(rng.integers(3, 7)), (3.0, 9.0), where=band) & band
    kind[snow] = SURFACE["seasonal_snow"]


def make_surface(
    z: np.ndarray, valleys: list[Valley], pixel_m: float, rng: np.random.Generator
) -> tuple[Surface, np.ndarray]:
    """Place glaciers (balance-flux model, :func:`glacier_extent`) and the other surfaces.

    Returns the surface and the (lake-flattened) DEM. ``valleys`` are accepted for the terrain's
    centerlines but the ice follows the DEM's own flow network.
    """
    zmin, zmax = float(z.min()), float(z.max())
    relief = zmax - zmin
    ela = zmin + rng.uniform(0.5, 0.58) * relief
    cos_i = illumination(z, pixel_m, 140.0, 55.0)
    ela_local = ela_field_m(ndimage.gaussian_filter(z, 3), ndimage.gaussian_filter(cos_i, 6), ela, relief)
    # wind drift and avalanching make the snowline wavy: ±~4 % of the relief at the scale of ridges
    n = max(z.shape)
    ela_local = ela_local + 0.04 * relief * fractal_noise(
        z.shape, rng, (max(4, n // 12), max(2, n // 40)), (1.0, 0.4)
    )
    ice, _ = glacier_extent(z, ela_local, pixel_m, rng)
    ice |= cirque_glaciers(z, ice, cos_i, ela, pixel_m, rng)
    # drop slivers; keep small cirque glaciers (a few near the 0.005 km² inventory threshold)
    lab, n = ndimage.label(ice)
    if n:
        sizes = ndimage.sum(ice, lab, index=np.arange(1, n + 1)) * pixel_m**2 / 1e6
        keep = np.zeros(n + 1, bool)
        keep[1:] = sizes >= 0.003
        ice = keep[lab]
    kind, z = decorate_surface(z, ice, ela, pixel_m, rng)
    return Surface(kind, float(ela)), z
