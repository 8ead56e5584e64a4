"""ICESat-2 ATL06 land-ice heights: reading, quality filtering, vertical datums.

Datums: ATL06 ``h_li`` is the height of the segment above the **WGS84 ellipsoid** (ITRF2014 realisation),
metres. ``dem/geoid_h`` (when the file holds it) is the EGM2008 geoid undulation at the segment, so the
orthometric height is ``h_li − geoid_h``. ``dem/dem_h`` is the ellipsoidal height of the reference DEM
that ATL06 carries at the segment (ArcticDEM/REMA/GMTED), useful as a DEM-free self-check.

References
----------
Smith, B. et al. (2019). ATLAS/ICESat-2 L3A Land Ice Height, ATL06 — Algorithm Theoretical Basis Document.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from glacierinv.errors import InputError

__all__ = ["BEAMS", "read_atl06", "read_atl06_many"]

log = logging.getLogger(__name__)

BEAMS = ("gt1l", "gt1r", "gt2l", "gt2r", "gt3l", "gt3r")
_FILL_LIMIT = 1e30  # ATL06 float fill value is 3.4028235e38


def _get(group, name: str, n: int) -> np.ndarray:
    """A 1-D dataset as float64 with fill values → NaN; NaN array when absent."""
    if name not in group:
        return np.full(n, np.nan)
    arr = np.asarray(group[name][()], dtype="float64")
    arr[np.abs(arr) > _FILL_LIMIT] = np.nan
    return arr


def read_atl06(path: str | Path, *, quality_only: bool = True, beams: Sequence[str] = BEAMS) -> pd.DataFrame:
    """Read the land-ice segments of an ATL06 granule (all beams present).

    Parameters
    ----------
    path : path
        ATL06 HDF5 file (a full granule or a subset with the same group layout).
    quality_only : bool
        Keep only segments with ``atl06_quality_summary == 0`` (the ATL06 recommended filter) and a
        finite ``h_li``.
    beams : sequence of str
        Ground tracks to read (those absent from the file are skipped).

    Returns
    -------
    DataFrame
        One row per segment: ``beam``, ``lon``, ``lat`` (degrees WGS84), ``h_li_m`` (ellipsoidal),
        ``h_li_sigma_m``, ``delta_time_s`` (s since the ATLAS SDP epoch 2018-01-01), ``quality``
        (atl06_quality_summary), ``geoid_h_m`` (EGM2008 undulation; NaN when absent), ``dem_h_m``
        (ATL06's reference DEM, ellipsoidal; NaN when absent), ``granule``.
    """
    import h5py

    path = Path(path)
    _check_hdf5(path)
    with h5py.File(path, "r") as f:
        present = [b for b in beams if f"{b}/land_ice_segments/h_li" in f]
        if not present:
            raise InputError(
                "no ATL06 land_ice_segments in any beam (gt1l…gt3r)",
                path,
                "Pass an ATL06 land-ice product (not ATL03/ATL08)",
            )
        frames = [_beam_segments(f[f"{beam}/land_ice_segments"], beam, quality_only) for beam in present]
    out = pd.concat(frames, ignore_index=True)
    out["granule"] = path.name
    log.info("%s: %d segments (%s)", path.name, len(out), "quality-filtered" if quality_only else "all")
    return out


def _check_hdf5(path: Path) -> None:
    """Refuse a missing file or one that is not HDF5 (InputError with a hint)."""
    import h5py

    if not path.exists():
        raise InputError("altimetry file not found", path, "Check the path")
    if not h5py.is_hdf5(path):
        raise InputError(
            "not an HDF5 file", path, "Pass an ICESat-2 ATL06 granule (.h5) as downloaded from NSIDC"
        )


def _beam_segments(g, beam: str, quality_only: bool) -> pd.DataFrame:
    """The segments of one beam's ``land_ice_segments`` group ``g`` as the columns of :func:`read_atl06`
    (without ``granule``); with ``quality_only`` only quality-0 segments with a finite ``h_li_m``."""
    h = _get(g, "h_li", g["h_li"].shape[0])
    n = h.size
    frame = pd.DataFrame(
        {
            "beam": beam,
            "lon": _get(g, "longitude", n),
            "lat": _get(g, "latitude", n),
            "h_li_m": h,
            "h_li_sigma_m": _get(g, "h_li_sigma", n),
            "delta_time_s": _get(g, "delta_time", n),
            "quality": _get(g, "atl06_quality_summary", n),
            "geoid_h_m": _get(g["dem"], "geoid_h", n) if "dem" in g else np.full(n, np.nan),
            "dem_h_m": _get(g["dem"], "dem_h", n) if "dem" in g else np.full(n, np.nan),
        }
    )
    if quality_only:
        frame = frame[(frame["quality"] == 0) & np.isfinite(frame["h_li_m"])]
    return frame


def read_atl06_many(paths: Sequence[str | Path], *, quality_only: bool = True) -> pd.DataFrame:
    """:func:`read_atl06` over several granules, concatenated."""
    if not paths:
        raise InputError("no altimetry file given", None, "Pass at least one ATL06 file with --altimetry")
    return pd.concat([read_atl06(p, quality_only=quality_only) for p in paths], ignore_index=True)
