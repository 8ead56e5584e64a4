"""Robust elevation-difference statistics (the figures DEM studies report)."""

from __future__ import annotations

import numpy as np

__all__ = ["nmad", "dh_summary"]


def nmad(values: np.ndarray) -> float:
    """Normalised median absolute deviation, 1.4826 · median(|x − median(x)|) (Höhle & Höhle, 2009).

    NaNs are ignored; NaN for an empty input. Equals the standard deviation for normal errors but is
    insensitive to blunders.
    """
    v = np.asarray(values, dtype="float64")
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan")
    return float(1.4826 * np.median(np.abs(v - np.median(v))))


def dh_summary(dh_m: np.ndarray) -> dict[str, float]:
    """Count, mean, median, standard deviation, NMAD and RMSE (m) of elevation differences."""
    v = np.asarray(dh_m, dtype="float64")
    v = v[np.isfinite(v)]
    if v.size == 0:
        nan = float("nan")
        return {"n": 0, "mean_m": nan, "median_m": nan, "std_m": nan, "nmad_m": nan, "rmse_m": nan}
    return {
        "n": int(v.size),
        "mean_m": float(v.mean()),
        "median_m": float(np.median(v)),
        "std_m": float(v.std(ddof=1)) if v.size > 1 else 0.0,
        "nmad_m": nmad(v),
        "rmse_m": float(np.sqrt(np.mean(v**2))),
    }
