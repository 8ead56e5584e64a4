"""The transparent no-model classifier: band ratio + thermal + slope rules.

Kept forever as the method that needs no training and as the baseline the U-Net must beat.

- **Clean ice and snow**, by one of two rules chosen from the stack's channels (recorded as ``rule``):

  - ``red/swir1`` when a SWIR band exists (``swir1`` or ``swir``: Landsat TM/ETM+/OLI, Sentinel-2): the
    band-ratio method of Paul et al. (2002), TM3/TM5-type ``red/SWIR > ratio_swir_min`` (2.0; ice and snow
    absorb strongly at 1.6 µm: ice ≈ 10, snow ≈ 9, rock and debris ≈ 0.7, clouds ≈ 1.5) with
    ``NDSI > ndsi_min`` (0.4, Dozier 1989);
  - ``red/nir`` otherwise (the seed's VNIR-only sensors, GF/ZY-3): ice and snow reflect less in NIR than in
    red, so ``red/NIR > ratio_min`` (ice ≈ 1.4, snow ≈ 1.1, rock and debris ≈ 0.8, clouds ≈ 1.0); an
    ``ndsi`` channel, when present, is required too.

  Both need a minimum brightness and exclude open water (NDWI > ``ndwi_water``).
- **Debris-covered ice**: not clean ice, but *cold* (LST < ``lst_debris_max_k``: debris over ice stays a
  few kelvin above 273 K while sunlit rock, moraine and talus reach 285-300 K), on *gentle* slopes
  (< ``slope_debris_max_deg``), and connected to clean ice (a debris region must come within
  ``connect_m`` of clean ice). Debris is spectrally like moraine, so only these thermal and topographic
  cues separate them.

Probabilities are logistic ramps around each threshold (``proba.tif``, ×255); the classes are the
thresholded rules. Windows are read with a margin (``margin_px``) so connectivity is decided with context.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from glacierinv.classes import CLEAN_ICE, DEBRIS, NODATA
from glacierinv.errors import InputError
from glacierinv.io.grid import Grid
from glacierinv.io.raster import class_writers, core_slice, iter_windows, open_raster, read_window
from glacierinv.preprocess.indices import NDSI_SNOW

log = logging.getLogger(__name__)

REQUIRED_CHANNELS = ("blue", "green", "red", "nir")
DEBRIS_CHANNELS = ("lst", "slope")

__all__ = ["RULES", "BaselineParams", "classify_arrays", "classify_stack", "select_rule"]

RULES = {
    "red/swir1": "red/SWIR ratio + NDSI (Paul et al. 2002; Dozier 1989), SWIR band present",
    "red/nir": "red/NIR ratio (VNIR only, the seed's sensors)",
}


def select_rule(channels) -> str:
    """``"red/swir1"`` when the channels hold a SWIR band (``swir1`` or ``swir``), else ``"red/nir"``."""
    names = {c.lower() for c in channels}
    return "red/swir1" if names & {"swir1", "swir"} else "red/nir"


@dataclass(frozen=True)
class BaselineParams:
    """Thresholds of the rule classifier (reflectance 0-1, kelvin, degrees, metres).

    Defaults are tuned on the synthetic scenes (seeds 3, 10, 11 at 512 px: mIoU 0.83-0.88) and are
    physically motivated: ``ratio_min`` separates ice/snow (red/NIR ≈ 1.1-1.4) from rock (≈ 0.8);
    ``lst_debris_max_k`` lies between debris over ice (≈ 275-285 K) and sunlit rock (≈ 290-300 K);
    ``slope_debris_max_deg`` follows the ~24° slope limit of debris-covered tongues (Paul et al. 2004).
    """

    ratio_min: float = 1.06  # red/NIR for ice and snow
    ratio_swir_min: float = 2.0  # red/SWIR for ice and snow (Paul et al. 2002: TM3/TM5 and TM4/TM5 ≈ 2)
    bright_min: float = 0.10  # mean VIS reflectance of ice (shadowed ice included)
    ndwi_water: float = 0.45  # NDWI above this is water, not ice
    ndsi_min: float = NDSI_SNOW  # when an NDSI channel exists
    lst_debris_max_k: float = 284.0
    slope_debris_max_deg: float = 24.0
    debris_vis_max: float = 0.35  # debris is dark
    connect_m: float = 20.0
    min_debris_m2: float = 400.0  # debris regions smaller than this are dropped
    margin_px: int = 128


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -50, 50)))


def classify_arrays(
    bands: dict[str, np.ndarray], pixel_m: float, params: BaselineParams = BaselineParams()
) -> tuple[np.ndarray, np.ndarray]:
    """Classify one window of named channel arrays (pure function, no I/O).

    Parameters
    ----------
    bands : dict of str to ndarray
        Channel name → 2-D array (reflectance 0-1; ``lst`` in K; ``slope`` in degrees; optional ``ndsi``
        or ``swir``). Required: blue, green, red, nir; ``lst`` and ``slope`` enable the debris class
        (without them no debris is mapped). NaN marks nodata.
    pixel_m : float
        Pixel size in metres (for the connectivity reach and the minimum debris area).
    params : BaselineParams
        Thresholds.

    Returns
    -------
    classes : ndarray of uint8
        0 background, 1 clean ice, 2 debris-covered ice, 255 nodata (any optical band NaN).
    proba : ndarray of float32, shape (3, rows, cols)
        Soft scores from the logistic ramps, normalised to sum to 1 (0 at nodata).
    """
    for name in ("blue", "green", "red", "nir"):
        if name not in bands:
            raise InputError(
                f"the baseline classifier needs channel '{name}'; channels are: {', '.join(bands)}"
            )
    valid, vis, p_ice = _ice_score(bands, params)
    ice = valid & (p_ice > 0.5)
    p_debris = np.zeros_like(p_ice)
    debris = np.zeros_like(ice)
    if "lst" in bands and "slope" in bands:
        debris, p_debris = _debris_score(bands, valid, vis, p_ice, ice, pixel_m, params)
    classes = np.zeros(ice.shape, "uint8")
    classes[ice] = CLEAN_ICE
    classes[debris] = DEBRIS
    classes[~valid] = NODATA
    p_bg = np.clip(1.0 - p_ice - p_debris, 0.0, 1.0)
    proba = np.stack([p_bg, p_ice, p_debris]).astype("float32")
    proba /= np.maximum(proba.sum(axis=0, keepdims=True), 1e-6)
    proba[:, ~valid] = 0.0
    return classes, proba


def _ice_score(
    bands: dict[str, np.ndarray], params: BaselineParams
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Clean-ice score of a window → valid cells (every optical band, and SWIR when present, finite), the
    visible brightness (mean of blue, green, red; reflectance) and the score 0-1 (float64): the band ratio
    (red/SWIR after Paul et al. 2002, else red/NIR) × bright × not water (NDWI) × snow-like (NDSI, given or
    from green/SWIR, when available), each a logistic ramp around its threshold of ``params``."""
    blue, green, red, nir = (bands[k].astype("float64") for k in ("blue", "green", "red", "nir"))
    valid = np.isfinite(blue) & np.isfinite(green) & np.isfinite(red) & np.isfinite(nir)
    vis = (blue + green + red) / 3.0
    swir = bands.get("swir1", bands.get("swir"))
    swir = swir.astype("float64") if swir is not None else None
    with np.errstate(invalid="ignore", divide="ignore"):
        ndwi = (green - nir) / np.maximum(green + nir, 1e-6)
        if swir is not None:  # Paul et al. (2002): red/SWIR
            valid &= np.isfinite(swir)
            ratio = red / np.maximum(swir, 1e-4)
            p_ratio = _sigmoid((ratio - params.ratio_swir_min) / 0.1)
        else:
            ratio = red / np.maximum(nir, 1e-4)
            p_ratio = _sigmoid((ratio - params.ratio_min) / 0.02)
    p_ice = p_ratio * _sigmoid((vis - params.bright_min) / 0.01)
    p_ice *= _sigmoid((params.ndwi_water - ndwi) / 0.03)
    ndsi = bands.get("ndsi")
    if ndsi is None and swir is not None:  # NDSI = (green − SWIR) / (green + SWIR), Dozier (1989)
        with np.errstate(invalid="ignore", divide="ignore"):
            ndsi = (green - swir) / np.maximum(green + swir, 1e-6)
    if ndsi is not None:
        p_ice *= _sigmoid((np.nan_to_num(ndsi, nan=-1) - params.ndsi_min) / 0.03)
    return valid, vis, p_ice


def _debris_score(
    bands: dict[str, np.ndarray], valid: np.ndarray, vis: np.ndarray, p_ice: np.ndarray, ice: np.ndarray,
    pixel_m: float, params: BaselineParams,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Debris-covered ice → the mask and its score 0-1: not ice, cool (``lst`` K), gentle (``slope`` degrees)
    and dark (``vis``) as logistic ramps; kept when connected to clean ice within ``params.connect_m`` and at
    least ``params.min_debris_m2`` (cells of ``pixel_m`` m); dropped candidates' scores capped at 0.49."""
    lst = np.nan_to_num(bands["lst"].astype("float64"), nan=400.0)
    slope = np.nan_to_num(bands["slope"].astype("float64"), nan=90.0)
    p_debris = (1 - p_ice) * _sigmoid((params.lst_debris_max_k - lst) / 1.0)
    p_debris *= _sigmoid((params.slope_debris_max_deg - slope) / 2.0) * _sigmoid(
        (params.debris_vis_max - vis) / 0.02
    )
    candidate = valid & ~ice & (p_debris > 0.5)
    debris = _connected_to(candidate, ice, max(1, int(round(params.connect_m / pixel_m))))
    debris = _drop_small(debris, max(1, int(params.min_debris_m2 / pixel_m**2)))
    p_debris = np.where(candidate & ~debris, np.minimum(p_debris, 0.49), p_debris)
    return debris, p_debris


def _connected_to(candidate: np.ndarray, ice: np.ndarray, reach_px: int) -> np.ndarray:
    if not candidate.any():
        return candidate
    labels, n = ndimage.label(candidate)
    near_ice = ndimage.binary_dilation(ice, iterations=reach_px)
    touching = np.unique(labels[near_ice & candidate])
    keep = np.zeros(n + 1, bool)
    keep[touching[touching > 0]] = True
    return keep[labels]


def _drop_small(mask: np.ndarray, min_px: int) -> np.ndarray:
    labels, n = ndimage.label(mask)
    if n == 0:
        return mask
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    keep = sizes >= min_px
    keep[0] = False
    return keep[labels]


def classify_stack(
    stack_path: str | Path,
    classes_path: str | Path,
    proba_path: str | Path | None = None,
    *,
    block_px: int = 1024,
    params: BaselineParams | None = None,
) -> dict:
    """Classify a feature stack window by window into ``classes.tif`` (and ``proba.tif``).

    Parameters
    ----------
    stack_path : path
        Feature stack GeoTIFF whose band descriptions name the channels (``blue, green, red, nir`` are
        required; ``lst`` [K] and ``slope`` [deg] enable debris; ``ndsi``/``swir`` are used when present).
    classes_path : path
        Output uint8 classes (0 background, 1 clean ice, 2 debris, 255 nodata), written atomically.
    proba_path : path, optional
        Output 3-band uint8 soft scores ×255 (background, clean_ice, debris).
    block_px : int
        Window size in pixels; windows are read with ``params.margin_px`` of context so the debris
        connectivity rule is decided with neighbours (memory ~ (block_px + 2·margin)² × channels).
    params : BaselineParams, optional
        Thresholds (defaults documented on :class:`BaselineParams`).

    Returns
    -------
    dict
        ``method``, ``pixels_background``, ``pixels_clean_ice``, ``pixels_debris``, ``pixels_nodata``,
        ``debris_mapped`` (False when lst/slope are missing) and ``params``.

    Raises
    ------
    InputError
        The stack is missing, unreadable or lacks one of the required optical channels.
    """
    params = params or BaselineParams()
    with open_raster(stack_path) as ds:  # GDAL's block cache: configured once by the caller
        names, rule, debris_mapped = _stack_channels(ds, stack_path)
        counts = _classify_windows(ds, names, classes_path, proba_path, block_px, params)
    return {
        "method": "baseline",
        "rule": rule,
        "rule_description": RULES[rule],
        "pixels_background": int(counts[0]),
        "pixels_clean_ice": int(counts[1]),
        "pixels_debris": int(counts[2]),
        "pixels_nodata": int(counts[NODATA]),
        "debris_mapped": debris_mapped,
        "params": asdict(params),
    }


def _stack_channels(ds, stack_path: str | Path) -> tuple[list[str], str, bool]:
    """The open stack's channel names (lower-case band descriptions, "" when none), the rule they select
    and whether debris can be mapped (lst and slope present; else a warning). InputError when a required
    optical channel is missing."""
    names = [(d or "").lower() for d in ds.descriptions]
    missing = [c for c in REQUIRED_CHANNELS if c not in names]
    if missing:
        raise InputError(
            f"the baseline classifier needs band(s) {', '.join(missing)}; the stack's bands are: "
            f"{', '.join(d or '?' for d in ds.descriptions)}",
            stack_path,
            "Build the stack with [stack] channels including blue, green, red, nir",
        )
    debris_mapped = all(c in names for c in DEBRIS_CHANNELS)
    rule = select_rule(names)
    log.info("%s: baseline rule %s — %s", stack_path, rule, RULES[rule])
    if not debris_mapped:
        log.warning(
            "%s: no %s band, so the baseline maps clean ice only (no debris-covered ice)",
            stack_path,
            " / ".join(c for c in DEBRIS_CHANNELS if c not in names),
        )
    return names, rule, debris_mapped


def _classify_windows(
    ds, names: list[str], classes_path: str | Path, proba_path: str | Path | None, block_px: int,
    params: BaselineParams,
) -> np.ndarray:  # fmt: skip
    """Classify the open stack window by window (read with ``params.margin_px`` of context, written without)
    into the classes raster and, when ``proba_path`` is given, the soft scores × 255 → pixel count per class
    value (256 bins)."""
    grid = Grid(ds.crs, ds.transform, (ds.height, ds.width))
    counts = np.zeros(256, "int64")
    with class_writers(classes_path, proba_path, grid, ["background", "clean_ice", "debris"]) as opened:
        for read, core in iter_windows(grid, block=block_px, overlap=params.margin_px):
            arr = read_window(ds, read)
            bands = {n: arr[i] for i, n in enumerate(names) if n}
            classes, proba = classify_arrays(bands, grid.res[0], params)
            rs, cs = core_slice(read, core)
            classes = classes[rs, cs]
            counts += np.bincount(classes.ravel(), minlength=256)
            opened[0].write(classes, core)
            if proba_path is not None:
                opened[1].write(np.round(proba[:, rs, cs] * 255).astype("uint8"), core)
    return counts
