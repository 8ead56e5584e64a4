"""Elevation, slope and aspect distributions of glacier and debris area (seed section 4.3, Fig. 10).

- hypsometry: glacier and debris area per elevation band (default 200 m, aligned on multiples of the band);
- slope: area per 5° bin and the shares below 10°, 15°, 20°, 25°, 30° (cell slopes, Horn 1981);
- aspect: glacier *number* and *area* per 8 sectors (1 = N [−22.5°, 22.5°), … 8 = NW) from each glacier's
  ``aspect_sec`` (or ``aspect_deg``: circular mean of the per-cell aspects, as RGI).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from glacierinv.analysis.inventory import Inventory, require_columns
from glacierinv.analysis.output import DEBRIS_COLOUR, GLACIER_COLOUR, AnalysisResult, new_figure
from glacierinv.analysis.sampling import TerrainHistograms

__all__ = ["SECTORS", "aspect_distribution", "aspect_sectors", "hypsometry", "slope_distribution"]

SECTORS = ("N", "NE", "E", "SE", "S", "SW", "W", "NW")


def hypsometry(h: TerrainHistograms, band_m: float = 200.0) -> AnalysisResult:
    """Seed Fig. 10a: glacier and debris area per elevation band."""
    t = h.hypsometry(band_m)
    fig, axes = new_figure(ncols=1, width_in=5.5, height_in=4.5)
    ax = axes[0, 0]
    mid = (t["band_min_m"] + t["band_max_m"]) / 2
    ax.barh(mid, t["glacier_km2"], height=band_m * 0.9, color=GLACIER_COLOUR, label="glacier")
    ax.barh(mid, t["debris_km2"], height=band_m * 0.9, color=DEBRIS_COLOUR, label="supraglacial debris")
    ax.set_xlabel("area (km²)")
    ax.set_ylabel("elevation (m)")
    ax.set_title(f"hypsometry ({band_m:g} m bands)")
    ax.legend(frameon=False)
    cov = h.table["dem_cov"].to_numpy()
    notes = [f"DEM coverage of glacier cells: {100 * np.average(cov, weights=h.table['area_km2']):.1f} %"]
    return AnalysisResult("hypsometry", {"": t}, fig, notes)


def slope_distribution(
    h: TerrainHistograms, bin_deg: int = 5, thresholds_deg=(10, 15, 20, 25, 30)
) -> AnalysisResult:
    """Seed Fig. 10b: glacier and debris area per slope bin; shares below thresholds."""
    t = h.slope_distribution(bin_deg)
    below = h.slope_shares_below(thresholds_deg)
    fig, axes = new_figure(ncols=1, width_in=5.5, height_in=4.0)
    ax = axes[0, 0]
    mid = (t["slope_min_deg"] + t["slope_max_deg"]) / 2
    ax.bar(mid - bin_deg * 0.2, t["glacier_pct"], bin_deg * 0.4, color=GLACIER_COLOUR, label="glacier")
    ax.bar(
        mid + bin_deg * 0.2, t["debris_pct"], bin_deg * 0.4, color=DEBRIS_COLOUR, label="supraglacial debris"
    )
    ax.set_xlabel(f"slope (°, {bin_deg}° bins)")
    ax.set_ylabel("share of area (%)")
    b10 = below.set_index("below_deg")
    if 10 in b10.index:
        ax.set_title(f"slope: {b10.loc[10, 'glacier_pct']:.1f} % of glacier, "
                     f"{np.nan_to_num(b10.loc[10, 'debris_pct']):.1f} % of debris area < 10°")  # fmt: skip
    ax.set_xlim(0, 90)
    ax.legend(frameon=False)
    return AnalysisResult("slope", {"": t, "below": below}, fig)


def aspect_sectors(glaciers: pd.DataFrame) -> np.ndarray:
    """Aspect sector (1 = N … 8 = NW, 9 = not assigned) per glacier from ``aspect_sec`` or ``aspect_deg``."""
    from glacierinv.attributes.compute import aspect_sector

    if "aspect_sec" in glaciers.columns:
        sec = pd.to_numeric(glaciers["aspect_sec"], errors="coerce").fillna(9).astype(int).to_numpy()
        return np.where((sec >= 1) & (sec <= 8), sec, 9)
    require_columns(glaciers, ["aspect_deg"], "aspect")
    return np.array([aspect_sector(None if pd.isna(a) else float(a)) for a in glaciers["aspect_deg"]])


def aspect_distribution(inv: Inventory, h: TerrainHistograms | None = None) -> AnalysisResult:
    """Seed Fig. 10c: glacier number and area per aspect sector (polar bars).

    Uses the inventory's ``aspect_sec``/``aspect_deg``; without them, the DEM aspect of the terrain
    histograms ``h`` (circular mean of the per-cell aspects per glacier).
    """
    notes = []
    if {"aspect_sec", "aspect_deg"} & set(inv.glaciers.columns):
        sec = aspect_sectors(inv.glaciers)
    elif h is not None:
        sec = aspect_sectors(h.table[["aspect_deg"]])
        notes.append("aspect from the DEM (circular mean of per-cell aspects per glacier)")
    else:
        require_columns(inv.glaciers, ["aspect_deg"], "aspect", inv.path)
    area = inv.area_km2
    n = np.bincount(sec - 1, minlength=9)
    a = np.bincount(sec - 1, weights=area, minlength=9)
    t = pd.DataFrame({"aspect_sec": np.arange(1, 10), "sector": [*SECTORS, "not assigned"], "n": n,
                      "n_pct": 100 * n / max(n.sum(), 1), "area_km2": a,
                      "area_pct": 100 * a / a.sum() if a.sum() else 0.0})  # fmt: skip
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 4.2))  # pyplot-free: no global backend change
    theta = np.radians(np.arange(8) * 45.0)
    for k, (col, label, colour) in enumerate(
        (("n_pct", "glacier number", GLACIER_COLOUR), ("area_pct", "glacier area", DEBRIS_COLOUR))
    ):
        ax = fig.add_subplot(1, 2, k + 1, projection="polar")
        ax.set_theta_zero_location("N")
        ax.set_theta_direction(-1)  # clockwise from north
        ax.bar(theta, t[col].iloc[:8], width=np.radians(40), color=colour, alpha=0.85)
        ax.set_xticks(theta, SECTORS)
        ax.set_title(f"{label} by aspect (% of total)")
    notes += [f"{int(n[8])} glaciers without an aspect"] if n[8] else []
    return AnalysisResult("aspect", {"": t}, fig, notes)
