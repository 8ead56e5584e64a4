"""Glacier types from the accumulation-area ratio (seed section 4.4, Figs. 11-12a-c).

For glaciers of at least ``min_area_km2`` (seed: 5 km²):

1. **Snowline altitude.** Either from a snow raster (binary snow, snow-cover fraction or albedo; a cell is
   snow where its value ≥ ``snow_threshold``, read with nearest-neighbour on the glacier's DEM window), or a
   given ELA per glacier (``ela_column``), or an existing ``aar`` column. From a raster, the snowline is the
   altitude that best separates snow-free cells below from snow cells above: it minimises the number of
   misclassified glacier cells (snow below + bare ice above), the mid-point between the two cells around
   the optimum (the first of equal optima). On a glacier whose snow-cover fraction rises monotonically
   with elevation this is where the fraction crosses 0.5; it is robust to avalanche snow low down and
   bare patches high up.
2. **AAR** = glacier area above the snowline / glacier area (DEM cells with values).
3. **Type**: Turkestan (AAR ≤ 0.3) < Mustagh (≤ 0.6) < Alpine (> 0.6); thresholds configurable
   (Hewitt 2011; Xie et al. 2023; seed section 4.4).
4. **Surging** flag from a list of ids or from ``surge_type`` (RGI: 0 no evidence, 1 possible,
   2 probable, 3 observed; flagged from ``surge_min_code``, default 2).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from glacierinv.analysis.inventory import Inventory
from glacierinv.analysis.output import GROUP_COLOURS, AnalysisResult, new_figure
from glacierinv.analysis.sampling import TerrainHistograms
from glacierinv.attributes.snowline import classify_aar, snowline_altitude, snowlines_from_raster
from glacierinv.errors import InputError

__all__ = [
    "TYPE_NAMES",
    "aar_from_ela",
    "classify_aar",
    "glacier_types",
    "read_surge_list",
    "snowline_altitude",
    "snowlines_from_raster",
    "surge_flags",
    "type_groups",
]

log = logging.getLogger(__name__)

TYPE_NAMES = ("Turkestan", "Mustagh", "Alpine")


def aar_from_ela(h: TerrainHistograms, ela_m: np.ndarray, select: np.ndarray) -> np.ndarray:
    """AAR = 1 − (glacier area below the ELA) / (glacier area with DEM), per selected glacier."""
    idx = np.flatnonzero(select) if np.asarray(select).dtype == bool else np.asarray(select)
    below = h.area_below(np.asarray(ela_m, float), idx, per_glacier=True)
    total = np.array([h.z_glacier[i].sum() for i in idx])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, 1.0 - below / total, np.nan)


def read_surge_list(path: str | Path) -> set[str]:
    """Glacier ids from a text file (one per line, ``#`` comments) or a CSV (``glac_id``/``RGIId``/``rgi_id``
    column, else the first column)."""
    p = Path(path)
    if not p.exists():
        raise InputError("surge list not found", p, "Give a text file with one glacier id per line")
    if p.suffix.lower() == ".csv":
        df = pd.read_csv(p, dtype=str)
        col = next((c for c in ("glac_id", "RGIId", "rgi_id") if c in df.columns), df.columns[0])
        return {s.strip() for s in df[col].dropna()}
    lines = [ln.split("#")[0].strip() for ln in p.read_text(encoding="utf-8").splitlines()]
    return {ln for ln in lines if ln}


def surge_flags(glaciers: pd.DataFrame, surge_ids: set[str] | None = None, min_code: int = 2) -> np.ndarray:
    """True for surge-type glaciers: id in ``surge_ids``, or ``surge_type`` ≥ ``min_code`` (9 = unknown)."""
    flag = np.zeros(len(glaciers), dtype=bool)
    if surge_ids:
        flag |= glaciers["glac_id"].astype(str).isin(surge_ids).to_numpy()
    if "surge_type" in glaciers.columns:
        code = pd.to_numeric(glaciers["surge_type"], errors="coerce").to_numpy()
        flag |= (code >= min_code) & (code != 9)
    return flag


def type_groups(types: pd.DataFrame, n: int) -> dict[str, np.ndarray]:
    """Boolean selections over the ``n`` inventory glaciers: each type present, ``surging``, ``all``."""
    groups = {}
    for name in (*TYPE_NAMES[::-1], "surging"):
        sel = np.zeros(n, dtype=bool)
        hit = (
            types["row"][types["surging"]] if name == "surging" else types["row"][types["glac_type"] == name]
        )
        sel[hit.to_numpy(dtype=int)] = True
        if sel.any():
            groups[name] = sel
    sel = np.zeros(n, dtype=bool)
    sel[types["row"][types["glac_type"].notna()].to_numpy(dtype=int)] = True
    groups["all"] = sel
    return groups


def glacier_types(
    inv: Inventory,
    h: TerrainHistograms | None,
    *,
    dem_path: str | Path | None = None,
    snow_path: str | Path | None = None,
    snow_threshold: float = 0.5,
    ela_column: str | None = None,
    surge_ids: set[str] | None = None,
    surge_min_code: int = 2,
    min_area_km2: float = 5.0,
    thresholds: tuple[float, float] = (0.3, 0.6),
    band_m: float = 200.0,
    slope_bin_deg: int = 5,
) -> AnalysisResult:
    """AAR types of the glaciers ≥ ``min_area_km2`` and their hypsometry / slope distributions (Fig. 12a-c).

    The AAR comes from ``snow_path`` (needs ``dem_path``), else ``ela_column`` (needs the terrain
    histograms ``h``), else an ``aar`` column. Tables: ``''`` per glacier (``row`` = position in the
    inventory), ``summary`` per type, ``hypsometry`` and ``slope`` per type (tidy, column ``group``).
    """
    g = inv.glaciers
    sel = inv.area_km2 >= min_area_km2
    rows = np.flatnonzero(sel)
    base = pd.DataFrame(
        {"row": rows, "glac_id": g["glac_id"].to_numpy()[rows], "area_km2": inv.area_km2[rows]}
    )
    base = base.assign(**_aar_columns(inv, h, rows, dem_path, snow_path, snow_threshold, ela_column))
    base["glac_type"] = classify_aar(base["aar"].to_numpy(), thresholds)
    base["surging"] = surge_flags(g, surge_ids, surge_min_code)[rows]
    groups = type_groups(base, len(g))
    tables = {"": base, "summary": _type_summary(base)}
    notes = [
        f"{int(sel.sum())} glaciers ≥ {min_area_km2:g} km²; {int(base['glac_type'].isna().sum())} without AAR"
    ]
    fig = None
    if h is not None:
        tables |= _type_distributions(h, groups, band_m, slope_bin_deg)
        fig = _plot_types(tables, band_m, slope_bin_deg)
    else:
        notes.append("no DEM: per-type hypsometry and slope distributions not computed")
    return AnalysisResult("glacier_types", tables, fig, notes)


def _aar_columns(
    inv: Inventory, h: TerrainHistograms | None, rows: np.ndarray, dem_path, snow_path, snow_threshold: float,
    ela_column: str | None,
) -> dict:  # fmt: skip
    """``snowline_m`` (m), ``aar`` (0-1) and ``aar_source`` of the inventory ``rows``: from the snow raster
    (with the DEM), else the ELA column (with the terrain histograms ``h``), else the ``aar`` column.
    InputError when none is available or a needed DEM or column is missing."""
    g = inv.glaciers
    if snow_path is not None:
        if dem_path is None:
            raise InputError("AAR from a snow raster needs a DEM", snow_path, "Give --dem")
        sl = snowlines_from_raster(g.iloc[rows], dem_path, snow_path, snow_threshold=snow_threshold)
        return {
            "snowline_m": sl["snowline_m"].to_numpy(),
            "aar": sl["aar"].to_numpy(),
            "aar_source": "snow raster",
        }
    if ela_column is not None:
        if ela_column not in g.columns:
            raise InputError(f"ELA column '{ela_column}' not in the inventory", inv.path,
                             f"Columns are: {', '.join(c for c in g.columns if c != 'geometry')}")  # fmt: skip
        if h is None:
            raise InputError("AAR from an ELA needs a DEM", inv.path, "Give --dem")
        ela = pd.to_numeric(g[ela_column], errors="coerce").to_numpy()[rows]
        return {
            "snowline_m": ela,
            "aar": aar_from_ela(h, ela, rows),
            "aar_source": f"ELA column {ela_column}",
        }
    if "aar" in g.columns and pd.to_numeric(g["aar"], errors="coerce").notna().any():
        return {"snowline_m": np.nan, "aar": pd.to_numeric(g["aar"], errors="coerce").to_numpy()[rows],
                "aar_source": "aar column"}  # fmt: skip
    raise InputError("glacier types need an AAR: no snow raster, ELA column or aar column", inv.path,
                     "Give --snow RASTER or --ela-column COL")  # fmt: skip


def _type_summary(base: pd.DataFrame) -> pd.DataFrame:
    """Per AAR type and for the surging glaciers: count, area (km²), share of the typed area (%) and median
    AAR."""
    summary = []
    typed_area = base.loc[base["glac_type"].notna(), "area_km2"].sum()
    for name in (*TYPE_NAMES, "surging"):
        part = base[base["surging"]] if name == "surging" else base[base["glac_type"] == name]
        summary.append({"group": name, "n": len(part), "area_km2": part["area_km2"].sum(),
                        "area_pct_of_typed": 100 * part["area_km2"].sum() / typed_area if typed_area else np.nan,
                        "aar_median": part["aar"].median() if len(part) else np.nan})  # fmt: skip
    return pd.DataFrame(summary)


def _type_distributions(
    h: TerrainHistograms, groups: dict[str, np.ndarray], band_m: float, slope_bin_deg: int
) -> dict[str, pd.DataFrame]:
    """Per type group (tidy, column ``group``): hypsometry in ``band_m`` (m) bands, slope distribution in
    ``slope_bin_deg`` (°) bins and the area shares below 10-30° slope."""
    hyps, slopes, below = [], [], []
    for name, s in groups.items():
        hyps.append(h.hypsometry(band_m, s).assign(group=name))
        slopes.append(h.slope_distribution(slope_bin_deg, s).assign(group=name))
        below.append(h.slope_shares_below((10, 15, 20, 25, 30), s).assign(group=name))
    return {
        "hypsometry": pd.concat(hyps, ignore_index=True),
        "slope": pd.concat(slopes, ignore_index=True),
        "slope_below": pd.concat(below, ignore_index=True),
    }


def _plot_types(tables: dict[str, pd.DataFrame], band_m: float, bin_deg: int):
    fig, axes = new_figure(ncols=3, width_in=4.4, height_in=4.0)
    ax_a, ax_b, ax_c = axes[0]
    hyps, slope = tables["hypsometry"], tables["slope"]
    for name, t in hyps.groupby("group", sort=False):
        if name == "all":
            continue
        mid = (t["band_min_m"] + t["band_max_m"]) / 2
        ax_a.plot(t["glacier_km2"], mid, color=GROUP_COLOURS.get(name), label=name,
                  ls="--" if name == "surging" else "-")  # fmt: skip
    ax_a.set_xlabel("area (km²)")
    ax_a.set_ylabel(f"elevation (m, {band_m:g} m bands)")
    ax_a.set_title("(a) elevation-area")
    ax_a.legend(frameon=False)
    for name, t in slope.groupby("group", sort=False):
        if name == "all":
            continue
        mid = (t["slope_min_deg"] + t["slope_max_deg"]) / 2
        style = {"color": GROUP_COLOURS.get(name), "ls": "--" if name == "surging" else "-", "label": name}
        ax_b.plot(mid, t["glacier_km2"], **style)
        ax_c.plot(mid, t["glacier_pct"], **style)
    ax_b.set_xlabel(f"slope (°, {bin_deg}° bins)")
    ax_b.set_ylabel("area (km²)")
    ax_b.set_title("(b) slope-area")
    ax_c.set_xlabel(f"slope (°, {bin_deg}° bins)")
    ax_c.set_ylabel("share of the type's area (%)")
    ax_c.set_title("(c) slope-area fraction")
    for ax in (ax_b, ax_c):
        ax.set_xlim(0, 90)
    return fig
