"""DEM-resolution effects on glacier terrain statistics (seed section 5.2, Fig. 14a-d).

For every selected glacier and each of two DEMs (fine, e.g. 2-4 m, and coarse, e.g. 30 m), on the DEM's own
metric grid (geographic DEMs are warped to UTM at their ground resolution), over the cells inside the
glacier:

- ``slope_mean_deg`` and ``slope_p90_deg``: mean and 90th percentile of the Horn (1981) slope;
- ``roughness_m``: mean of the standard deviation of elevation in a ``window_m`` (default 90 m) window;
- ``relief_m``: mean of max − min elevation in the same window.

Kernels are :mod:`glacierinv.dem.terrain` (``slope_deg``, ``roughness_m``, ``local_relief_m``); windows
are read with a margin of half the kernel so that cells at the glacier margin see their neighbours. The
difference fine − coarse per glacier is averaged per group with a 95 % percentile-bootstrap confidence
interval of the mean (``n_boot`` resamples of the glaciers, seeded).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from glacierinv.analysis.output import GROUP_COLOURS, AnalysisResult, new_figure
from glacierinv.dem.windows import GlacierWindow

__all__ = [
    "METRICS",
    "bootstrap_mean_ci",
    "dem_resolution_effects",
    "terrain_metrics",
    "terrain_metrics_per_glacier",
]

METRICS = {"slope_mean_deg": "mean slope (°)", "slope_p90_deg": "90th percentile slope (°)",
           "roughness_m": "roughness (m)", "relief_m": "local relief (m)"}  # fmt: skip


def terrain_metrics(win: GlacierWindow, window_m: float = 90.0) -> dict[str, float]:
    """The four metrics over the glacier cells of one DEM window (NaN without valid cells)."""
    from glacierinv.dem.terrain import local_relief_m, roughness_m, slope_deg

    cells = win.mask & np.isfinite(win.dem_m)
    if not cells.any():
        return dict.fromkeys(METRICS, float("nan"))
    s = slope_deg(win.dem_m, win.res_m)[cells]
    return {
        "slope_mean_deg": float(np.nanmean(s)),
        "slope_p90_deg": float(np.nanpercentile(s, 90)),
        "roughness_m": float(np.nanmean(roughness_m(win.dem_m, win.res_m, window_m)[cells])),
        "relief_m": float(np.nanmean(local_relief_m(win.dem_m, win.res_m, window_m)[cells])),
    }


def terrain_metrics_per_glacier(
    glaciers: gpd.GeoDataFrame, dem_path: str | Path, window_m: float = 90.0
) -> pd.DataFrame:
    """:func:`terrain_metrics` of every glacier (columns ``glac_id``, metrics, ``res_m``)."""
    from glacierinv.dem.windows import complex_groups, map_glacier_windows

    func = partial(_metrics_in_window, window_m=window_m)
    rows = map_glacier_windows(func, glaciers.geometry, dem_path, groups=complex_groups(glaciers))
    rows = [{"glac_id": gid, **r} for gid, r in zip(glaciers["glac_id"], rows, strict=True)]
    return pd.DataFrame(rows, columns=["glac_id", *METRICS, "res_m"])


def _metrics_in_window(dw, g, crs, _extra, *, window_m: float) -> dict:
    """:func:`terrain_metrics` and ``res_m`` of one glacier (a task of :func:`terrain_metrics_per_glacier`),
    on a window with the margin the terrain window needs."""
    from glacierinv.dem.terrain import window_px

    win = dw.window(g, crs, margin_px=window_px(window_m, dw.res_m) // 2 + 1)
    return {**terrain_metrics(win, window_m), "res_m": win.res_m}


def bootstrap_mean_ci(values: np.ndarray, n_boot: int = 2000, seed: int = 0, level: float = 0.95):
    """(mean, low, high): percentile-bootstrap confidence interval of the mean of ``values`` (NaN dropped)."""
    v = np.asarray(values, dtype="float64")
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan"), float("nan"), float("nan")
    if v.size == 1 or n_boot <= 0:
        return float(v.mean()), float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, v.size, size=(n_boot, v.size))].mean(axis=1)
    a = (1 - level) / 2
    return float(v.mean()), float(np.quantile(means, a)), float(np.quantile(means, 1 - a))


def dem_resolution_effects(
    glaciers: gpd.GeoDataFrame,
    fine_dem: str | Path,
    coarse_dem: str | Path,
    *,
    groups: dict[str, np.ndarray] | None = None,
    window_m: float = 90.0,
    n_boot: int = 2000,
    seed: int = 0,
) -> AnalysisResult:
    """Per-glacier metrics on both DEMs, and fine − coarse by group with 95 % bootstrap CIs (Fig. 14a-d)."""
    n = len(glaciers)
    groups = groups or {"all": np.ones(n, dtype=bool)}
    select = np.zeros(n, dtype=bool)
    for s in groups.values():
        select |= s
    idx = np.flatnonzero(select)
    sub = glaciers.iloc[idx]
    fine = terrain_metrics_per_glacier(sub, fine_dem, window_m)
    coarse = terrain_metrics_per_glacier(sub, coarse_dem, window_m)
    per = []
    for m in METRICS:
        per.append(pd.DataFrame({"glac_id": fine["glac_id"], "row": idx, "metric": m, "fine": fine[m],
                                 "coarse": coarse[m], "diff": fine[m] - coarse[m],
                                 "fine_res_m": fine["res_m"], "coarse_res_m": coarse["res_m"]}))  # fmt: skip
    per_glacier = pd.concat(per, ignore_index=True)
    summary = []
    for name, s in groups.items():
        rows = set(np.flatnonzero(s))
        for k, m in enumerate(METRICS):
            d = per_glacier[(per_glacier["metric"] == m) & per_glacier["row"].isin(rows)]["diff"].to_numpy(
                "float64"
            )
            mean, lo, hi = bootstrap_mean_ci(d, n_boot, seed + k)
            summary.append({"group": name, "metric": m, "n": int(np.isfinite(d).sum()), "mean_diff": mean,
                            "ci_low": lo, "ci_high": hi})  # fmt: skip
    table = pd.DataFrame(summary)
    return AnalysisResult("dem_resolution", {"": table, "per_glacier": per_glacier}, _plot(table),
                          [f"window {window_m:g} m; {n_boot} bootstrap resamples"])  # fmt: skip


def _plot(table: pd.DataFrame):
    fig, axes = new_figure(ncols=4, width_in=3.4, height_in=3.2)
    names = list(dict.fromkeys(table["group"]))
    for ax, (m, label) in zip(axes[0], METRICS.items(), strict=True):
        t = table[table["metric"] == m].set_index("group").reindex(names)
        y = np.arange(len(names))
        for j, name in enumerate(names):
            r = t.loc[name]
            c = GROUP_COLOURS.get(name, "k")
            if np.isfinite(r["ci_low"]):
                ax.hlines(j, r["ci_low"], r["ci_high"], color=c, lw=2)
            ax.plot(r["mean_diff"], j, "o", color=c)
        ax.axvline(0, color="0.6", lw=0.8)
        ax.set_yticks(y, names)
        ax.set_xlabel(f"Δ {label}\nfine − coarse DEM")
        ax.set_title(label.split(" (")[0])
    return fig
