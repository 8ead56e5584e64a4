"""Freezing-level exposure of glacier and debris area (seed section 5.2, Fig. 14e-f).

- Cumulative glacier and supraglacial-debris area below elevation thresholds (default every 100 m over the
  glacier elevation range).
- Share of debris (and glacier) area below a freezing level raised by warming: ``FL = FL0 + ΔT / Γ`` with the
  lapse rate Γ (default 6.5 K km⁻¹, the standard-atmosphere value), for several baseline freezing levels FL0
  and warming scenarios ΔT. Default FL0: the 25th, 50th and 75th percentiles of the debris elevations (of
  the glacier elevations when there is no debris), rounded to 100 m — give real freezing-level heights
  (e.g. from reanalysis) for a study.

Areas below an elevation come from the per-glacier elevation histograms (linear inside a ``z_step_m`` bin).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from glacierinv.analysis.output import DEBRIS_COLOUR, GLACIER_COLOUR, PALETTE, AnalysisResult, new_figure
from glacierinv.analysis.sampling import TerrainHistograms

__all__ = ["freezing_level_exposure", "shifted_freezing_level_m"]


def shifted_freezing_level_m(baseline_m: float, warming_k: float, lapse_rate_k_per_km: float = 6.5) -> float:
    """Freezing level after warming by ``warming_k`` (K) with a lapse rate in K per km: FL0 + 1000·ΔT/Γ."""
    if not lapse_rate_k_per_km > 0:
        raise ValueError(f"lapse_rate_k_per_km must be > 0, got {lapse_rate_k_per_km}")
    return float(baseline_m + 1000.0 * warming_k / lapse_rate_k_per_km)


def _quantile_levels(z0: float, weights: np.ndarray, step: float, q=(0.25, 0.5, 0.75)) -> list[float]:
    c = np.cumsum(weights)
    if c.size == 0 or c[-1] <= 0:
        return []
    edges = z0 + step * np.arange(1, c.size + 1)
    levels = np.interp(np.asarray(q) * c[-1], c, edges)
    return sorted({float(np.round(v / 100.0) * 100.0) for v in levels})


def freezing_level_exposure(
    h: TerrainHistograms,
    *,
    thresholds_m=None,
    baseline_levels_m=None,
    warming_k=(0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0),
    lapse_rate_k_per_km: float = 6.5,
) -> AnalysisResult:
    """Area below elevation thresholds, and below freezing levels shifted by warming scenarios."""
    z0, g, d = h.z_dense()
    if thresholds_m is None:
        lo = np.floor(z0 / 100.0) * 100.0
        hi = np.ceil((z0 + h.z_step_m * len(g)) / 100.0) * 100.0
        thresholds_m = np.arange(lo, hi + 1.0, 100.0)
    t = np.asarray(thresholds_m, dtype="float64")
    gb, db = h.area_below(t)
    gt, dt = g.sum(), d.sum()
    cumulative = pd.DataFrame({
        "elevation_m": t, "glacier_km2_below": gb, "debris_km2_below": db,
        "glacier_pct_below": 100 * gb / gt if gt else np.nan, "debris_pct_below": 100 * db / dt if dt else np.nan,
    })  # fmt: skip
    if baseline_levels_m is None:
        baseline_levels_m = _quantile_levels(z0, d if dt > 0 else g, h.z_step_m)
    rows = []
    for fl0 in baseline_levels_m:
        for dT in warming_k:
            fl = shifted_freezing_level_m(fl0, dT, lapse_rate_k_per_km)
            gbl, dbl = h.area_below([fl])
            rows.append({"baseline_m": fl0, "warming_k": dT, "lapse_rate_k_per_km": lapse_rate_k_per_km,
                         "freezing_level_m": fl, "glacier_km2_below": gbl[0], "debris_km2_below": dbl[0],
                         "glacier_pct_below": 100 * gbl[0] / gt if gt else np.nan,
                         "debris_pct_below": 100 * dbl[0] / dt if dt else np.nan})  # fmt: skip
    scenarios = pd.DataFrame(rows, columns=["baseline_m", "warming_k", "lapse_rate_k_per_km", "freezing_level_m",
                                            "glacier_km2_below", "debris_km2_below", "glacier_pct_below",
                                            "debris_pct_below"])  # fmt: skip

    fig, axes = new_figure(ncols=2, width_in=4.8, height_in=3.8)
    ax_e, ax_f = axes[0]
    ax_e.plot(
        cumulative["elevation_m"], cumulative["glacier_km2_below"], color=GLACIER_COLOUR, label="glacier"
    )
    ax_e.plot(cumulative["elevation_m"], cumulative["debris_km2_below"], color=DEBRIS_COLOUR, label="debris")
    ax_e.set_xlabel("elevation threshold (m)")
    ax_e.set_ylabel("area below threshold (km²)")
    ax_e.set_title("(e) cumulative area below elevation")
    ax_e.legend(frameon=False)
    col = "debris_pct_below" if dt > 0 else "glacier_pct_below"
    for k, (fl0, s) in enumerate(scenarios.groupby("baseline_m")):
        ax_f.plot(s["warming_k"], s[col], "o-", color=PALETTE[k % len(PALETTE)], label=f"FL₀ = {fl0:.0f} m")
    ax_f.set_xlabel(f"warming ΔT (K), lapse rate {lapse_rate_k_per_km:g} K/km")
    ax_f.set_ylabel(f"{'debris' if dt > 0 else 'glacier'} area below freezing level (%)")
    ax_f.set_title("(f) exposure to a rising freezing level")
    ax_f.legend(frameon=False)
    notes = [] if dt > 0 else ["no debris area: panel (f) shows glacier area"]
    return AnalysisResult("freezing_level", {"cumulative": cumulative, "scenarios": scenarios}, fig, notes)
