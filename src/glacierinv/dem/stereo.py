"""DSM from a satellite stereo pair (or triplet) with RPC camera models.

Pipeline, per pair and per tile of the region of interest (ROI, in pixels of the first image):

1. **Height range and pointing correction** (once per pair): SIFT matches between the ROI and the
   second image; each match's distance to its RPC epipolar curve gives the relative pointing error of
   the two RPC models (a translation of image 2 across the epipolar direction, as in s2p); matches are
   then triangulated to bound the heights of the scene.
2. **Rectification** (per tile): ground points of the tile at the lowest and highest scene height are
   projected into both images; an affine fundamental matrix is fitted to these correspondences and
   turned into two rectifying similarities, so the epipolar curves become image rows (the locally
   affine approximation of de Franchis et al., 2014). The disparity range follows from the height range.
3. **Dense matching**: OpenCV semi-global matching (:class:`cv2.StereoSGBM`, Hirschmüller 2008) on the
   rectified tiles, with an explicit left-right consistency check (the right-to-left disparity map is
   computed on the mirrored images).
4. **Triangulation**: for every match, (lon, lat, h) minimising the reprojection residuals in both RPC
   models (Gauss-Newton, 4 equations, 3 unknowns, vectorised), started from an affine fit; matches with
   a residual above ``max_residual_px`` are dropped.
5. **Gridding**: points in the output UTM grid, median per cell, outlier removal, gap filling
   (:mod:`glacierinv.dem.gridding`). Pairs of a triplet are fused by the median.

Heights are metres above the WGS84 ellipsoid (the RPC height datum).

References
----------
de Franchis, C., Meinhardt-Llopis, E., Michel, J., Morel, J.-M., Facciolo, G. (2014). An automatic and
modular stereo pipeline for pushbroom images. ISPRS Annals II-3, 49–56.
Hirschmüller, H. (2008). Stereo processing by semiglobal matching and mutual information. IEEE TPAMI 30(2).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from glacierinv.dem.gridding import fill_gaps, fuse_dsms, grid_points_median, remove_outliers
from glacierinv.dem.rpc import RPCModel, read_rpc
from glacierinv.errors import InputError, NoOverlap
from glacierinv.io.grid import Grid
from glacierinv.io.raster import iter_windows

__all__ = [
    "StereoParams",
    "StereoResult",
    "dsm_from_stereo",
    "triangulate",
    "stereo_to_file",
    "utm_crs_for",
    "write_dsm",
]

log = logging.getLogger(__name__)


@dataclass
class StereoParams:
    """Parameters of the stereo pipeline (defaults tuned for 0.5-2 m push-broom imagery)."""

    tile_px: int = 512
    """Tile size in pixels of the first image (the ROI is processed tile by tile)."""
    tile_overlap_px: int = 16
    block_size: int = 5
    """SGBM matching window (px, odd)."""
    p1_factor: int = 8
    p2_factor: int = 32
    """SGBM smoothness penalties P1/P2 = factor × block_size² (OpenCV's recommended values)."""
    uniqueness_ratio: int = 5
    lr_max_diff_px: float = 1.0
    """Left-right consistency tolerance (px)."""
    disparity_margin_px: int = 8
    height_margin_m: float = 20.0
    """Added above and below the height range found by the SIFT matches."""
    max_residual_px: float = 1.0
    """Triangulation reprojection RMS residual above which a match is dropped."""
    outlier_radius_m: float = 2.5
    outlier_max_dev_m: float = 3.0
    outlier_min_support: float = 0.3
    fill_max_distance_m: float = 5.0
    max_cost_volume_mb: float = 512.0
    """Above this SGBM cost volume per tile, the 3-way (row-buffer) SGBM variant is used."""
    sift_windows: int = 9
    """Windows (≤ 1024 px) of the ROI used for the SIFT pointing correction and height range."""
    max_roi_px: int = 64_000_000
    """Largest ROI (pixels of image 1) processed in one call; the point cloud is held in memory."""


@dataclass
class StereoResult:
    """A DSM with its quality layer (1 matched, 2 filled, 0 no data) and processing figures."""

    dsm_m: np.ndarray
    quality: np.ndarray
    grid: Grid
    n_points: int
    pointing_correction_px: list[float] = field(default_factory=list)
    height_range_m: list[tuple[float, float]] = field(default_factory=list)
    runtime_s: float = 0.0


def utm_crs_for(lon: float, lat: float):
    """The WGS84 / UTM CRS of the zone containing (lon, lat)."""
    from rasterio.crs import CRS

    from glacierinv.geometry import utm_epsg

    return CRS.from_epsg(utm_epsg(lon, lat))


# --------------------------------------------------------------------------------------------- images


class _Image:
    """An image with its RPC model and a global 8-bit stretch (from a decimated read)."""

    def __init__(self, path: str | Path):
        import rasterio

        self.path = Path(path)
        self.rpc: RPCModel = read_rpc(self.path)
        with rasterio.open(self.path) as ds:
            self.shape = (ds.height, ds.width)
            f = max(1, int(math.ceil(max(ds.height, ds.width) / 1024)))
            small = ds.read(1, out_shape=(max(1, ds.height // f), max(1, ds.width // f))).astype("float64")
            nodata = ds.nodata
        vals = small[small != nodata] if nodata is not None else small.ravel()
        vals = vals[np.isfinite(vals)]
        if vals.size == 0:
            raise InputError("image holds no data", self.path, "Check the image")
        self.lo, self.hi = np.percentile(vals, [0.5, 99.5])
        if self.hi <= self.lo:
            raise InputError(
                "image is uniform (no texture to match)", self.path, "Use an image with visible terrain"
            )

    def read_warped(self, m_inv: np.ndarray, out_shape: tuple[int, int]) -> np.ndarray:
        """Resample the image through the affine map ``m_inv`` (2×3, output (u, v) → image (col, row)).

        Only the window covering the mapped output is read. Returns uint8, 0 outside the image.
        """
        import cv2
        import rasterio
        from rasterio.windows import Window

        h, w = out_shape
        corners = np.array([[0, 0, 1], [w, 0, 1], [0, h, 1], [w, h, 1]], dtype="float64")
        src = corners @ m_inv.T
        c0 = max(0, int(math.floor(src[:, 0].min())) - 2)
        r0 = max(0, int(math.floor(src[:, 1].min())) - 2)
        c1 = min(self.shape[1], int(math.ceil(src[:, 0].max())) + 3)
        r1 = min(self.shape[0], int(math.ceil(src[:, 1].max())) + 3)
        if c1 <= c0 or r1 <= r0:
            return np.zeros(out_shape, "uint8")
        with rasterio.open(self.path) as ds:
            arr = ds.read(1, window=Window(c0, r0, c1 - c0, r1 - r0)).astype("float32")
        arr = np.clip((arr - self.lo) / (self.hi - self.lo) * 254.0 + 1.0, 1, 255)
        m = m_inv.copy()
        m[0, 2] -= c0
        m[1, 2] -= r0
        out = cv2.warpAffine(
            arr,
            m,
            (w, h),
            flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=0,
        )
        return np.clip(out, 0, 255).astype("uint8")

    def read_window_u8(self, col0: int, row0: int, width: int, height: int) -> np.ndarray:
        import rasterio
        from rasterio.windows import Window

        with rasterio.open(self.path) as ds:
            arr = ds.read(1, window=Window(col0, row0, width, height), boundless=True, fill_value=0)
        return np.clip((arr.astype("float32") - self.lo) / (self.hi - self.lo) * 255, 0, 255).astype("uint8")


# --------------------------------------------------------------------------------------- triangulation


def triangulate(
    rpc1: RPCModel,
    rpc2: RPCModel,
    col1: np.ndarray,
    row1: np.ndarray,
    col2: np.ndarray,
    row2: np.ndarray,
    start: tuple[np.ndarray, np.ndarray, np.ndarray],
    iterations: int = 4,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Least-squares RPC intersection of matches (Gauss-Newton, vectorised).

    Solves for (lon°, lat°, h m) minimising the four reprojection residuals (col, row in both images).

    Parameters
    ----------
    rpc1, rpc2 : RPCModel
    col1, row1, col2, row2 : arrays
        Matched image coordinates (px).
    start : (lon, lat, h) arrays
        Starting point (e.g. from an affine fit).

    Returns
    -------
    lon, lat, h, residual_px
        Ground point and the RMS reprojection residual (px) of the four equations.
    """
    lon, lat, h = (np.array(a, dtype="float64") for a in start)
    obs = np.stack([col1, row1, col2, row2]).astype("float64")
    steps = (1e-5 * rpc1.lon_scale, 1e-5 * rpc1.lat_scale, 1e-3 * rpc1.height_scale)

    def residual(lo, la, hh):
        c1, r1 = rpc1.project(lo, la, hh)
        c2, r2 = rpc2.project(lo, la, hh)
        return obs - np.stack([c1, r1, c2, r2])

    for _ in range(iterations):
        r0 = residual(lon, lat, h)
        jac = np.empty((lon.size, 4, 3))
        for k, (dl, da, dh) in enumerate(((steps[0], 0, 0), (0, steps[1], 0), (0, 0, steps[2]))):
            rk = residual(lon + dl, lat + da, h + dh)
            jac[:, :, k] = ((r0 - rk) / (dl + da + dh)).T  # d(model)/d(param)
        jt = np.transpose(jac, (0, 2, 1))
        delta = np.linalg.solve(jt @ jac, (jt @ r0.T[:, :, None]))[:, :, 0]
        lon, lat, h = lon + delta[:, 0], lat + delta[:, 1], h + delta[:, 2]
    res = residual(lon, lat, h)
    return lon, lat, h, np.sqrt(np.mean(res**2, axis=0))


# ------------------------------------------------------------------------------ pair geometry (global)


def _sift_matches(img1: np.ndarray, img2: np.ndarray, ratio: float = 0.75):
    import cv2

    sift = cv2.SIFT_create(nfeatures=8000)
    k1, d1 = sift.detectAndCompute(img1, None)
    k2, d2 = sift.detectAndCompute(img2, None)
    if d1 is None or d2 is None or len(k1) < 10 or len(k2) < 10:
        return np.empty((0, 2)), np.empty((0, 2))
    knn = cv2.BFMatcher(cv2.NORM_L2).knnMatch(d1, d2, k=2)
    good = [m[0] for m in knn if len(m) == 2 and m[0].distance < ratio * m[1].distance]
    p1 = np.array([k1[m.queryIdx].pt for m in good], dtype="float64").reshape(-1, 2)
    p2 = np.array([k2[m.trainIdx].pt for m in good], dtype="float64").reshape(-1, 2)
    return p1, p2


def _epipolar_normal(rpc1: RPCModel, rpc2: RPCModel, col1, row1, h_lo: float, h_hi: float):
    """Points of image 1's pixels projected into image 2 at two heights and the unit epipolar normal."""
    lo1, la1 = rpc1.localize(col1, row1, h_lo)
    lo2, la2 = rpc1.localize(col1, row1, h_hi)
    ca, ra = rpc2.project(lo1, la1, h_lo)
    cb, rb = rpc2.project(lo2, la2, h_hi)
    d = np.stack([cb - ca, rb - ra])
    d /= np.linalg.norm(d, axis=0)
    return ca, ra, np.stack([-d[1], d[0]])


def _search_window(im1: _Image, im2: _Image, win: tuple[int, int, int, int]):
    """The window of image 2 that can see a window of image 1 over the RPC height range (or None)."""
    x, y, w, h = win
    cc = np.array([x, x + w, x, x + w], float)
    rr = np.array([y, y, y + h, y + h], float)
    cols, rows = [], []
    for hh in im1.rpc.height_range_m:
        lon, lat = im1.rpc.localize(cc, rr, hh)
        c2, r2 = im2.rpc.project(lon, lat, hh)
        cols.append(c2)
        rows.append(r2)
    cols, rows = np.concatenate(cols), np.concatenate(rows)
    c20 = max(0, int(np.floor(cols.min())) - 50)
    r20 = max(0, int(np.floor(rows.min())) - 50)
    c21 = min(im2.shape[1], int(np.ceil(cols.max())) + 50)
    r21 = min(im2.shape[0], int(np.ceil(rows.max())) + 50)
    if c21 <= c20 or r21 <= r20:
        return None
    return c20, r20, c21 - c20, r21 - r20


def _pair_geometry(im1: _Image, im2: _Image, roi: tuple[int, int, int, int], params: StereoParams):
    """Pointing correction (vector, px in image 2) and the scene height range from SIFT matches.

    SIFT runs on at most ``params.sift_windows`` windows of up to 1024 px spread over the ROI, so a
    large ROI is never read whole.
    """
    h_lo, h_hi = im1.rpc.height_range_m
    p1, p2 = _roi_matches(im1, im2, _sift_windows(roi, params.sift_windows))
    if len(p1) < 8:
        raise InputError(
            f"too little texture to match: {len(p1)} SIFT matches between the images",
            im2.path,
            "Use images with visible texture (no cloud, snow saturation or night) or a larger --roi",
        )
    h_mid = 0.5 * (h_lo + h_hi)
    bias, bias_vec, keep = _pointing_bias(im1, im2, p1, p2, h_lo, h_mid)
    n_ok, rng = _matched_height_range(im1, im2, p1[keep], p2[keep] - bias_vec, h_mid, params.height_margin_m)
    log.info(
        "%s: %d SIFT matches, pointing correction %.2f px, heights %.0f–%.0f m",
        im2.path.name,
        n_ok,
        bias,
        *rng,
    )
    return bias_vec, rng, bias


def _sift_windows(roi: tuple[int, int, int, int], n_max: int) -> list[tuple[int, int, int, int]]:
    """Windows (col, row, width, height; px of image 1) of up to 1024 px over ``roi``: all of them, or at most
    ``n_max`` spread evenly over the ROI."""
    windows = list(_tiles(roi, 1024, 0))
    if len(windows) > n_max:
        pick = np.linspace(0, len(windows) - 1, n_max).round().astype(int)
        windows = [windows[i] for i in sorted(set(pick))]
    return windows


def _roi_matches(im1: _Image, im2: _Image, windows) -> tuple[np.ndarray, np.ndarray]:
    """SIFT matches between each window of image 1 and its RPC search area in image 2 → matched points
    (col, row; px) in image 1 and image 2. NoOverlap when image 2 sees none of the windows; InputError when
    a search area exceeds 16 Mpx (an RPC height range too wide)."""
    p1s, p2s, seen = [], [], False
    for win in windows:
        search = _search_window(im1, im2, win)
        if search is None:
            continue
        seen = True
        c20, r20, w2, h2 = search
        if w2 * h2 > 16 * 1024 * 1024:
            raise InputError(
                "the search area in the second image is too large (RPC height range too wide)",
                im2.path,
                "Check the RPC models of the images",
            )
        a = im1.read_window_u8(*win)
        b = im2.read_window_u8(c20, r20, w2, h2)
        q1, q2 = _sift_matches(a, b)
        p1s.append(q1 + win[:2])
        p2s.append(q2 + (c20, r20))
    if not seen:
        raise NoOverlap(
            "the ROI of the first image is not seen by this image (RPC footprints do not overlap)",
            im2.path,
            "Check that the images form a stereo pair over the same area and the --roi",
        )
    return np.vstack(p1s), np.vstack(p2s)


def _pointing_bias(
    im1: _Image, im2: _Image, p1: np.ndarray, p2: np.ndarray, h_lo: float, h_mid: float
) -> tuple[float, np.ndarray, np.ndarray]:
    """Pointing correction of image 2 across the epipolar lines: the median distance (px) of the matches to
    their epipolar curves over ``h_lo``…``h_mid`` (m), as a scalar and a vector (px in image 2), and the
    matches within 3 px of the median (bool). InputError when fewer than 8 stay."""
    ca, ra, nrm = _epipolar_normal(im1.rpc, im2.rpc, p1[:, 0], p1[:, 1], h_lo, h_mid)
    dist = (p2[:, 0] - ca) * nrm[0] + (p2[:, 1] - ra) * nrm[1]
    med = np.median(dist)
    keep = np.abs(dist - med) < 3.0
    if keep.sum() < 8:
        raise InputError(
            f"too little texture to match: only {int(keep.sum())} consistent SIFT matches",
            im2.path,
            "Use images with visible texture or a larger --roi",
        )
    bias = float(np.median(dist[keep]))
    return bias, bias * np.median(nrm[:, keep], axis=1), keep


def _matched_height_range(
    im1: _Image, im2: _Image, q1: np.ndarray, q2: np.ndarray, h_mid: float, margin_m: float
) -> tuple[int, tuple[float, float]]:
    """Triangulate the corrected matches ``q1``/``q2`` (px) from ``h_mid`` (m) → the number that triangulate
    consistently (residual < 2) and the scene's height range (m): their 0.5-99.5 percentiles widened by
    ``margin_m``. InputError when fewer than 8 are consistent."""
    lon0, lat0 = im1.rpc.localize(q1[:, 0], q1[:, 1], h_mid)
    _, _, hh, res = triangulate(
        im1.rpc, im2.rpc, q1[:, 0], q1[:, 1], q2[:, 0], q2[:, 1], (lon0, lat0, np.full(len(q1), h_mid)), 6
    )
    ok = (res < 2.0) & np.isfinite(hh)
    if ok.sum() < 8:
        raise InputError("the SIFT matches do not triangulate consistently", im2.path, "Check the RPCs")
    lo_m, hi_m = np.percentile(hh[ok], [0.5, 99.5])
    return int(ok.sum()), (float(lo_m - margin_m), float(hi_m + margin_m))


# ---------------------------------------------------------------------------------- per-tile matching


def _rectifying_similarities(p1: np.ndarray, p2: np.ndarray):
    """Two 2×3 similarities that make the epipolar lines of an affine pair horizontal and aligned.

    Fits the affine fundamental matrix (a·x2 + b·y2 + c·x1 + d·y1 + e = 0) to the correspondences and
    rotates each image so its epipolar normal becomes the y axis, with scales that make the rectified
    rows of corresponding points equal.
    """
    amat = np.column_stack([p2[:, 0], p2[:, 1], p1[:, 0], p1[:, 1], np.ones(len(p1))])
    mean = amat[:, :4].mean(0)
    amat[:, :4] -= mean
    _, _, vt = np.linalg.svd(amat, full_matrices=False)
    a, b, c, d, e = vt[-1]
    e -= a * mean[0] + b * mean[1] + c * mean[2] + d * mean[3]
    n1, n2 = math.hypot(c, d), math.hypot(a, b)
    k = math.sqrt(n1 * n2)
    u1 = np.array([c, d]) / n1
    u2 = -np.array([a, b]) / n2
    s1, s2 = n1 / k, n2 / k
    r1 = s1 * np.array([[u1[1], -u1[0]], [u1[0], u1[1]]])
    r2 = s2 * np.array([[u2[1], -u2[0]], [u2[0], u2[1]]])
    m1 = np.column_stack([r1, [0.0, 0.0]])
    m2 = np.column_stack([r2, [0.0, -e / k]])
    return m1, m2


def _invert_affine(m: np.ndarray) -> np.ndarray:
    a = np.vstack([m, [0, 0, 1]])
    return np.linalg.inv(a)[:2]


def _sgbm(left: np.ndarray, right: np.ndarray, num_disp: int, params: StereoParams) -> np.ndarray:
    import cv2

    bs = params.block_size
    # full 8-path SGM keeps a cost volume of the whole tile (≈ 2 bytes × pixels × disparities); beyond
    # the memory cap use OpenCV's 3-way variant, whose buffers grow with one row only
    volume_bytes = 2 * left.shape[0] * left.shape[1] * num_disp
    mode = (
        cv2.STEREO_SGBM_MODE_HH
        if volume_bytes <= params.max_cost_volume_mb * 2**20
        else cv2.STEREO_SGBM_MODE_SGBM_3WAY
    )
    if mode != cv2.STEREO_SGBM_MODE_HH:
        log.debug("tile cost volume %.0f MB: 3-way SGBM", volume_bytes / 2**20)
    matcher = cv2.StereoSGBM_create(
        minDisparity=0,
        numDisparities=num_disp,
        blockSize=bs,
        P1=params.p1_factor * bs * bs,
        P2=params.p2_factor * bs * bs,
        disp12MaxDiff=-1,
        uniquenessRatio=params.uniqueness_ratio,
        speckleWindowSize=0,
        speckleRange=0,
        mode=mode,
    )
    disp = matcher.compute(left, right).astype("float32") / 16.0
    disp[disp < 0] = np.nan
    return disp


def _match_tile(
    im1: _Image,
    im2: _Image,
    tile: tuple[int, int, int, int],
    bias_vec: np.ndarray,
    h_range: tuple[float, float],
    params: StereoParams,
):
    """Match one tile (col0, row0, w, h of image 1): returns (lon, lat, h, residual) of its points."""
    x, y, w, h = tile
    p1, p2, gnd = _tile_rpc_grid(im1, im2, tile, bias_vec, h_range)
    m1, m2 = _rectifying_similarities(p1, p2)
    q1 = p1 @ m1[:, :2].T + m1[:, 2]
    q2 = p2 @ m2[:, :2].T + m2[:, 2]
    disp = q1[:, 0] - q2[:, 0]
    margin = params.disparity_margin_px
    shift = -math.floor(disp.min()) + margin  # added to disparities so they are all positive
    num_disp = int(math.ceil((disp.max() - disp.min() + 2 * margin) / 16.0) * 16)
    # rectified frame of the tile, padded by the disparity search on both sides
    u0 = math.floor(q1[:, 0].min()) - num_disp
    u1 = math.ceil(q1[:, 0].max()) + num_disp
    v0, v1 = math.floor(q1[:, 1].min()) - 2, math.ceil(q1[:, 1].max()) + 2
    out_shape = (v1 - v0, u1 - u0)
    # output (u, v) → rectified (u + u0, v + v0); image 2 rectified x shifted by -shift
    inv1 = _invert_affine(m1)
    inv2 = _invert_affine(m2)
    left = _read_rectified(im1, inv1, u0, v0, out_shape)
    # undo the pointing correction when reading image 2: observed = model + bias
    right = _read_rectified(im2, inv2, u0 + shift, v0, out_shape)
    if (left > 0).mean() < 0.05 or (right > 0).mean() < 0.05:
        return None
    vv, uu, d = _lr_consistent_disparities(left, right, num_disp, params)
    # keep only matches whose image-1 pixel lies in the tile
    xr1 = np.column_stack([uu + u0, vv + v0]).astype("float64")
    xr2 = np.column_stack([uu + u0 - d + shift, vv + v0]).astype("float64")
    o1 = xr1 @ inv1[:, :2].T + inv1[:, 2]
    o2 = xr2 @ inv2[:, :2].T + inv2[:, 2]
    inside = (o1[:, 0] >= x) & (o1[:, 0] < x + w) & (o1[:, 1] >= y) & (o1[:, 1] < y + h)
    o1, o2 = o1[inside], o2[inside] - bias_vec
    if len(o1) == 0:
        return None
    # affine start: (col1, row1, col2, row2) → (lon, lat, h) from the ground grid
    design = np.column_stack([p1, p2 - bias_vec, np.ones(len(p1))])
    coef, *_ = np.linalg.lstsq(design, gnd, rcond=None)
    start = np.column_stack([o1, o2, np.ones(len(o1))]) @ coef
    lon, lat, hh, res = triangulate(
        im1.rpc, im2.rpc, o1[:, 0], o1[:, 1], o2[:, 0], o2[:, 1], (start[:, 0], start[:, 1], start[:, 2])
    )
    return lon, lat, hh, res


def _tile_rpc_grid(
    im1: _Image, im2: _Image, tile, bias_vec: np.ndarray, h_range: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Model correspondences over a tile: a 5 × 5 grid of image-1 points (col, row; px) at three heights
    spanning ``h_range`` (m) → their image-1 points, image-2 points (RPC projection plus the pointing
    correction ``bias_vec``, px) and ground points (lon, lat in degrees, h in m), 75 rows each."""
    x, y, w, h = tile
    gc, gr = np.meshgrid(np.linspace(x, x + w, 5), np.linspace(y, y + h, 5))
    gc, gr = gc.ravel(), gr.ravel()
    p1s, p2s, gnd = [], [], []
    for hh in np.linspace(h_range[0], h_range[1], 3):
        lon, lat = im1.rpc.localize(gc, gr, hh)
        c2, r2 = im2.rpc.project(lon, lat, hh)
        p1s.append(np.column_stack([gc, gr]))
        p2s.append(np.column_stack([c2, r2]) + bias_vec)
        gnd.append(np.column_stack([lon, lat, np.full(lon.shape, hh)]))
    return np.vstack(p1s), np.vstack(p2s), np.vstack(gnd)


def _read_rectified(
    im: _Image, inv: np.ndarray, u0: float, v0: float, out_shape: tuple[int, int]
) -> np.ndarray:
    """Image ``im`` resampled into the rectified frame: output pixel (u, v) is rectified (u + u0, v + v0),
    mapped back to the image by the inverse rectifying similarity ``inv`` (2 × 3)."""
    t = np.array([[1, 0, u0], [0, 1, v0]], float)
    return im.read_warped(inv[:, :2] @ t + np.column_stack([np.zeros((2, 2)), inv[:, 2]]), out_shape)


def _lr_consistent_disparities(
    left: np.ndarray, right: np.ndarray, num_disp: int, params: StereoParams
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SGBM disparities (px) of the rectified pair that pass the left-right check (the right-to-left match
    within ``params.lr_max_diff_px``, both pixels with data) → rows, columns (of ``left``) and disparities."""
    d_lr = _sgbm(left, right, num_disp, params)
    d_rl = _sgbm(right[:, ::-1].copy(), left[:, ::-1].copy(), num_disp, params)[:, ::-1]
    vv, uu = np.nonzero(np.isfinite(d_lr) & (left > 0))
    d = d_lr[vv, uu]
    ur = np.round(uu - d).astype(int)
    inside = (ur >= 0) & (ur < left.shape[1])
    vv, uu, d, ur = vv[inside], uu[inside], d[inside], ur[inside]
    back = d_rl[vv, ur]
    ok = np.isfinite(back) & (np.abs(back - d) <= params.lr_max_diff_px) & (right[vv, ur] > 0)
    return vv[ok], uu[ok], d[ok]


# ---------------------------------------------------------------------------------------- the pipeline


def _tiles(roi, tile_px: int, overlap: int):
    """(col, row, width, height) image windows covering the ROI in tiles of ``tile_px`` + ``overlap``."""
    x, y, w, h = roi
    for read, _ in iter_windows((h, w), tile_px, overlap):
        yield (x + int(read.col_off), y + int(read.row_off), int(read.width), int(read.height))


class _TileCloud:
    """Triangulated points of one tile, kept on disk (x, y in the output CRS; z in m) with their bounds."""

    def __init__(self, path: Path, x: np.ndarray, y: np.ndarray, z: np.ndarray):
        self.path = path
        self.n = int(z.size)
        self.bounds = (float(x.min()), float(y.min()), float(x.max()), float(y.max()))
        np.save(path, np.stack([x, y, z.astype("float64")]))

    def load(self) -> np.ndarray:
        return np.load(self.path)


def _pair_clouds(im1: _Image, im2: _Image, roi, params: StereoParams, to_map, folder: Path, tag: str):
    """Match and triangulate a pair tile by tile; each tile's points go to a file in ``folder``."""
    bias_vec, h_range, bias = _pair_geometry(im1, im2, roi, params)
    clouds: list[_TileCloud] = []
    for i, tile in enumerate(_tiles(roi, params.tile_px, params.tile_overlap_px)):
        got = _match_tile(im1, im2, tile, bias_vec, h_range, params)
        if got is None:
            continue
        lon, lat, hh, res = got
        ok = (res <= params.max_residual_px) & (hh >= h_range[0]) & (hh <= h_range[1])
        log.debug("tile %s: %d matches, %d kept", tile, lon.size, int(ok.sum()))
        if not ok.any():
            continue
        xs, ys = to_map.transform(lon[ok], lat[ok])
        clouds.append(_TileCloud(folder / f"{tag}_{i}.npy", np.asarray(xs), np.asarray(ys), hh[ok]))
    if not clouds:
        raise InputError(
            "dense matching found no consistent matches (too little texture?)",
            im2.path,
            "Use images with visible texture over the ROI",
        )
    return clouds, bias, h_range


def _grid_window(pairs: list[list[_TileCloud]], sub: Grid, params: StereoParams, res_m: float):
    """DSM and quality of one (overlap-enlarged) window of the output grid from the tile point files."""
    left, bottom, right, top = sub.bounds
    dsms, quals = [], []
    for clouds in pairs:
        parts = [
            c.load()
            for c in clouds
            if not (c.bounds[2] < left or c.bounds[0] > right or c.bounds[3] < bottom or c.bounds[1] > top)
        ]
        pts = np.concatenate(parts, axis=1) if parts else np.empty((3, 0))
        z = grid_points_median(pts[0], pts[1], pts[2], sub)
        z = remove_outliers(
            z,
            res_m,
            radius_m=params.outlier_radius_m,
            max_dev_m=params.outlier_max_dev_m,
            min_support=params.outlier_min_support,
        )
        z, q = fill_gaps(z, res_m, max_distance_m=params.fill_max_distance_m)
        dsms.append(z)
        quals.append(q)
    return fuse_dsms(dsms, quals) if len(dsms) > 1 else (dsms[0], quals[0])


def _window_overlap_px(params: StereoParams, res_m: float) -> int:
    """Cells a window must see beyond its core so windowed results equal whole-grid results."""
    reach_m = params.outlier_radius_m * 2 + params.fill_max_distance_m
    return int(math.ceil(reach_m / res_m)) + 4


@dataclass
class _Prepared:
    """Everything before gridding: tile point clouds on disk per pair, the output grid (see :func:`_prepare`)."""

    pairs: list[list[_TileCloud]]
    biases: list
    ranges: list
    n_points: int
    grid: Grid
    ref_path: Path


def _prepare(images, res_m, roi, crs, params: StereoParams, folder: Path) -> _Prepared:
    """Check the images and ROI, match and triangulate every pair, and fix the output grid."""
    if not 2 <= len(images) <= 3:
        raise InputError(f"stereo needs 2 or 3 images, got {len(images)}", None, "Pass 2 or 3 images")
    if not res_m > 0:
        raise InputError(f"--res must be positive metres, got {res_m}", None, "Pass e.g. --res 0.5")
    ims = [_Image(p) for p in images]
    ref = ims[0]
    roi = _checked_roi(ref, roi, params)
    to_map, out_crs = _output_projection(ref, roi, crs)
    pairs, biases, ranges = [], [], []
    for k, other in enumerate(ims[1:]):
        clouds, bias, h_range = _pair_clouds(ref, other, roi, params, to_map, folder, f"pair{k}")
        pairs.append(clouds)
        biases.append(bias)
        ranges.append(h_range)
    all_clouds = [c for clouds in pairs for c in clouds]
    grid = _footprint_grid(all_clouds, out_crs, res_m)
    return _Prepared(pairs, biases, ranges, int(sum(c.n for c in all_clouds)), grid, ref.path)


def _checked_roi(ref: _Image, roi, params: StereoParams) -> tuple[int, int, int, int]:
    """The ROI (x, y, w, h) in pixels of the reference image: whole image by default, inside it, not too large."""
    if roi is None:
        roi = (0, 0, ref.shape[1], ref.shape[0])
    x, y, w, h = (int(v) for v in roi)
    if w <= 0 or h <= 0 or x < 0 or y < 0 or x + w > ref.shape[1] or y + h > ref.shape[0]:
        raise InputError(
            f"ROI {tuple(roi)} is not inside the image ({ref.shape[1]}×{ref.shape[0]} px)",
            ref.path,
            "Give --roi x,y,w,h in pixels of the first image",
        )
    if w * h > params.max_roi_px:
        raise InputError(
            f"ROI of {w * h} px exceeds the {params.max_roi_px} px limit of one call",
            ref.path,
            "Split the area into several ROIs and mosaic the DSMs with `glacierinv dem mosaic`",
        )
    return x, y, w, h


def _output_projection(ref: _Image, roi, crs):
    """(lon/lat → map transformer, map CRS): the given metric CRS or the UTM zone of the ROI centre."""
    from pyproj import Transformer
    from rasterio.crs import CRS

    x, y, w, h = roi
    clon, clat = ref.rpc.localize(x + w / 2, y + h / 2, ref.rpc.height_off)
    out_crs = CRS.from_user_input(crs) if crs is not None else utm_crs_for(float(clon), float(clat))
    if not out_crs.is_projected:
        raise InputError(f"output CRS {out_crs} is not metric", None, "Pass a UTM EPSG code with --crs")
    return Transformer.from_crs("EPSG:4326", out_crs, always_xy=True), out_crs


def _footprint_grid(clouds: list[_TileCloud], crs, res_m: float) -> Grid:
    """The ground footprint of the matched points, snapped to multiples of the resolution."""
    lo_x = min(c.bounds[0] for c in clouds)
    lo_y = min(c.bounds[1] for c in clouds)
    hi_x = max(c.bounds[2] for c in clouds)
    hi_y = max(c.bounds[3] for c in clouds)
    left, right = math.floor(lo_x / res_m) * res_m, math.ceil(hi_x / res_m) * res_m
    bottom, top = math.floor(lo_y / res_m) * res_m, math.ceil(hi_y / res_m) * res_m
    return Grid.from_bounds(crs, (left, bottom, right, top), res_m)


def dsm_from_stereo(
    images: list[str | Path],
    res_m: float,
    *,
    roi: tuple[int, int, int, int] | None = None,
    crs=None,
    params: StereoParams | None = None,
) -> StereoResult:
    """Compute a DSM in memory from 2 or 3 images with RPC models (pairs: 1-2, and 1-3 for a triplet).

    For large areas use :func:`stereo_to_file`, which grids window by window.

    Parameters
    ----------
    images : list of paths
        GeoTIFFs with RPC tags (or a GDAL-readable RPC side-car). The first image is the reference.
    res_m : float
        Output cell size in metres.
    roi : (x, y, w, h), optional
        Region of interest in pixels of the first image; default the whole image.
    crs : CRS-like, optional
        Output CRS (metric); default the UTM zone of the ROI centre.
    params : StereoParams, optional

    Returns
    -------
    StereoResult
        DSM in metres above the WGS84 ellipsoid (float32, NaN = no data) and its quality layer.
    """
    import tempfile

    t0 = time.perf_counter()
    params = params or StereoParams()
    with tempfile.TemporaryDirectory(prefix="glacierinv-stereo-") as tmp:
        prep = _prepare(images, res_m, roi, crs, params, Path(tmp))
        dsm, quality = _grid_window(prep.pairs, prep.grid, params, res_m)
    if not np.isfinite(dsm).any():
        raise InputError("the stereo DSM is empty", prep.ref_path, "Check the images and the ROI")
    return StereoResult(
        dsm, quality, prep.grid, prep.n_points, prep.biases, prep.ranges, time.perf_counter() - t0
    )


def _tags(n_points: int, biases: list[float], extra: dict[str, str] | None) -> dict[str, str]:
    meta = {
        "vertical_datum": "WGS84 ellipsoid",
        "quality_codes": "1 matched, 2 filled, 0 no data",
        "n_points": str(n_points),
        "pointing_correction_px": ",".join(f"{b:.3f}" for b in biases),
    }
    meta.update(extra or {})
    return meta


def stereo_to_file(
    images: list[str | Path],
    out: str | Path,
    res_m: float,
    *,
    roi: tuple[int, int, int, int] | None = None,
    crs=None,
    params: StereoParams | None = None,
    block: int = 1024,
) -> dict[str, float]:
    """Compute a DSM from 2-3 RPC images and write it window by window (bounded memory).

    Tile point clouds are kept in a temporary folder beside ``out``; each output window of ``block``
    cells (plus an overlap covering the outlier and gap-filling neighbourhoods, so the result equals the
    in-memory one) loads only the tiles that reach it. The file has two bands, ``dsm_m`` (metres above
    the WGS84 ellipsoid) and ``quality`` (1 matched, 2 filled, 0 no data); it appears only when complete.

    Returns
    -------
    dict
        ``matched_frac``, ``filled_frac``, ``n_points``, ``runtime_s``, ``pointing_correction_px`` (first pair).
    """
    import tempfile

    from glacierinv.io.raster import RasterWriter, core_slice, iter_windows

    t0 = time.perf_counter()
    params = params or StereoParams()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    counts = np.zeros(3, "int64")
    with tempfile.TemporaryDirectory(prefix=".stereo-", dir=out.parent) as tmp:
        prep = _prepare(images, res_m, roi, crs, params, Path(tmp))
        overlap = _window_overlap_px(params, res_m)
        with RasterWriter(
            out,
            prep.grid,
            count=2,
            dtype="float32",
            descriptions=["dsm_m", "quality"],
            tags=_tags(prep.n_points, prep.biases, None),
        ) as w:
            for read_w, core_w in iter_windows(prep.grid, block, overlap):
                z, q = _grid_window(prep.pairs, prep.grid.window_grid(read_w), params, res_m)
                rs, cs = core_slice(read_w, core_w)
                counts += np.bincount(q[rs, cs].ravel(), minlength=3)[:3]
                w.write(np.stack([z[rs, cs], q[rs, cs].astype("float32")]), window=core_w)
            if counts[1] == 0:
                raise InputError("the stereo DSM is empty", prep.ref_path, "Check the images and the ROI")
    total = max(1, counts.sum())
    return {
        "matched_frac": counts[1] / total,
        "filled_frac": counts[2] / total,
        "n_points": prep.n_points,
        "runtime_s": time.perf_counter() - t0,
        "pointing_correction_px": prep.biases[0],
        "width": prep.grid.width,
        "height": prep.grid.height,
    }


def write_dsm(result: StereoResult, path: str | Path, *, tags: dict[str, str] | None = None) -> Path:
    """Write a DSM as a 2-band float32 GeoTIFF (band 1 ``dsm_m``, band 2 ``quality``), atomically.

    Quality: 1 matched, 2 filled, 0 no data. Heights in metres above the WGS84 ellipsoid.
    """
    from glacierinv.io.raster import write_raster

    arr = np.stack([result.dsm_m.astype("float32"), result.quality.astype("float32")])
    return write_raster(
        path,
        arr,
        result.grid,
        nodata=float("nan"),
        descriptions=["dsm_m", "quality"],
        tags=_tags(result.n_points, result.pointing_correction_px, tags),
    )
