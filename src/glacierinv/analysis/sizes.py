"""Size structure of glaciers and debris patches, debris on the largest glaciers, spatial distribution on a grid.

Seed section 4.1-4.2, Figs. 8-9: number and area share per size class (<0.1, 0.1-0.5, 0.5-1, 1-5, 5-10,
10-50, 50-100, >100 km²) for glaciers and for supraglacial debris patches (each connected debris polygon
is one patch), the debris area held by each glacier size class ("26 glaciers > 100 km² hold 47.4 % of the
debris"), and glacier / debris number and area on a regular grid of square cells in a Lambert azimuthal
equal-area projection centred on the inventory (objects are assigned to a cell by a point inside them).
"""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS

from glacierinv.analysis.inventory import Inventory
from glacierinv.analysis.output import DEBRIS_COLOUR, GLACIER_COLOUR, AnalysisResult, new_figure
from glacierinv.geometry import SIZE_CLASSES_KM2, equal_area_crs, size_class_index, size_class_labels

__all__ = [
    "SIZE_CLASSES_KM2",
    "debris_by_glacier_size",
    "equal_area_crs",
    "grid_distribution",
    "size_class_labels",
    "size_classes",
    "size_structure",
    "spatial_distribution",
]


def size_classes(area_km2: np.ndarray, edges_km2: tuple[float, ...] = SIZE_CLASSES_KM2) -> pd.DataFrame:
    """Number and area (count, %, km², %) per size class; classes are [lo, hi) in km².

    Returns columns ``class_km2, lo_km2, hi_km2, n, n_pct, area_km2, area_pct`` (percentages of the totals;
    0 when there is nothing).
    """
    area = np.asarray(area_km2, dtype="float64")
    area = area[np.isfinite(area)]
    idx = size_class_index(area, edges_km2)
    k = len(edges_km2) - 1
    n = np.bincount(idx, minlength=k)
    a = np.bincount(idx, weights=area, minlength=k)
    tn, ta = n.sum(), a.sum()
    return pd.DataFrame({
        "class_km2": size_class_labels(edges_km2),
        "lo_km2": list(edges_km2[:-1]),
        "hi_km2": list(edges_km2[1:]),
        "n": n.astype(int),
        "n_pct": 100.0 * n / tn if tn else np.zeros(k),
        "area_km2": a,
        "area_pct": 100.0 * a / ta if ta else np.zeros(k),
    })  # fmt: skip


def debris_by_glacier_size(
    glacier_area_km2: np.ndarray, debris_km2: np.ndarray, edges_km2: tuple[float, ...] = SIZE_CLASSES_KM2
) -> pd.DataFrame:
    """Debris area held by each glacier size class and its share of all debris.

    Returns columns ``class_km2, n_glaciers, n_with_debris, glacier_km2, debris_km2, debris_pct_of_total,
    debris_pct_of_class`` (debris share of the class's glacier area).
    """
    area = np.asarray(glacier_area_km2, dtype="float64")
    deb = np.nan_to_num(np.asarray(debris_km2, dtype="float64"))
    idx = size_class_index(area, edges_km2)
    k = len(edges_km2) - 1
    ga = np.bincount(idx, weights=area, minlength=k)
    da = np.bincount(idx, weights=deb, minlength=k)
    total = da.sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(ga > 0, 100.0 * da / ga, 0.0)
    return pd.DataFrame({
        "class_km2": size_class_labels(edges_km2),
        "n_glaciers": np.bincount(idx, minlength=k).astype(int),
        "n_with_debris": np.bincount(idx, weights=(deb > 0).astype(float), minlength=k).astype(int),
        "glacier_km2": ga,
        "debris_km2": da,
        "debris_pct_of_total": 100.0 * da / total if total > 0 else np.zeros(k),
        "debris_pct_of_class": frac,
    })  # fmt: skip


def size_structure(inv: Inventory, edges_km2: tuple[float, ...] = SIZE_CLASSES_KM2) -> AnalysisResult:
    """Seed Figs. 8b/9b: size classes of glaciers and debris patches, and debris per glacier size class."""
    tables = []
    g = size_classes(inv.area_km2, edges_km2)
    tables.append(g.assign(object="glacier"))
    patches = inv.debris_patch_area_km2()
    notes = []
    if inv.debris is not None and len(patches):
        tables.append(size_classes(patches, edges_km2).assign(object="debris_patch"))
    elif inv.debris is not None:  # a clean-ice inventory: no empty debris panel
        notes.append("no supraglacial debris patch (n = 0): no debris size classes")
    out = {"": pd.concat(tables, ignore_index=True)[["object", *g.columns]]}
    deb = inv.debris_km2_per_glacier()
    if deb is not None:
        out["debris_by_glacier_size"] = debris_by_glacier_size(inv.area_km2, deb, edges_km2)
    else:
        notes.append("no debris_km2 column and no debris layer: debris per glacier size not computed")

    fig, axes = new_figure(ncols=len(tables), width_in=5.2)
    for ax, t in zip(axes[0], tables, strict=True):
        x = np.arange(len(t))
        ax.bar(x - 0.2, t["n_pct"], 0.4, color=GLACIER_COLOUR, label="number")
        ax.bar(x + 0.2, t["area_pct"], 0.4, color=DEBRIS_COLOUR, label="area")
        ax.set_xticks(x, t["class_km2"], rotation=45, ha="right")
        ax.set_xlabel("size class (km²)")
        ax.set_ylabel("share (%)")
        kind = t["object"].iloc[0]
        ax.set_title(f"{'glaciers' if kind == 'glacier' else 'debris patches'} (n = {int(t['n'].sum())})")
        ax.legend(frameon=False)
    return AnalysisResult("size_classes", out, fig, notes)


def _nice_cell_km(extent_km: float, n_cells: int = 10) -> float:
    raw = max(extent_km / n_cells, 1e-3)
    mag = 10 ** math.floor(math.log10(raw))
    return next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)


def grid_distribution(
    points: gpd.GeoSeries, area_km2: np.ndarray, crs: CRS, cell_km: float, origin_m: tuple[float, float]
) -> pd.DataFrame:
    """Number and area of objects per square grid cell (objects located by ``points``).

    Returns columns ``cell_col, cell_row, x_m, y_m`` (cell centre in ``crs``), ``lon, lat`` (cell centre),
    ``n``, ``area_km2``; only cells holding objects.
    """
    xy = points.to_crs(crs)
    size = cell_km * 1000.0
    col = np.floor((xy.x.to_numpy() - origin_m[0]) / size).astype(int)
    row = np.floor((xy.y.to_numpy() - origin_m[1]) / size).astype(int)
    df = pd.DataFrame({"cell_col": col, "cell_row": row, "area_km2": np.asarray(area_km2, float), "n": 1})
    agg = df.groupby(["cell_col", "cell_row"], as_index=False).agg(
        n=("n", "sum"), area_km2=("area_km2", "sum")
    )
    agg["x_m"] = origin_m[0] + (agg["cell_col"] + 0.5) * size
    agg["y_m"] = origin_m[1] + (agg["cell_row"] + 0.5) * size
    centres = gpd.GeoSeries(gpd.points_from_xy(agg["x_m"], agg["y_m"]), crs=crs).to_crs(4326)
    agg["lon"], agg["lat"] = centres.x.to_numpy(), centres.y.to_numpy()
    return agg[["cell_col", "cell_row", "x_m", "y_m", "lon", "lat", "n", "area_km2"]]


def spatial_distribution(inv: Inventory, cell_km: float | None = None) -> AnalysisResult:
    """Seed Figs. 8a/9a: glacier and debris-patch number and area per equal-area grid cell.

    ``cell_km`` defaults to a round size giving about 10 cells across the larger extent of the inventory.
    """
    crs = equal_area_crs(inv.glaciers)
    g = inv.glaciers.geometry.to_crs(crs)
    left, bottom, right, top = g.total_bounds
    if cell_km is None:
        cell_km = _nice_cell_km(max(right - left, top - bottom) / 1000.0)
    if not cell_km > 0:
        raise ValueError(f"cell_km must be > 0, got {cell_km}")
    size = cell_km * 1000.0
    origin = (math.floor(left / size) * size, math.floor(bottom / size) * size)
    frames = [
        grid_distribution(g.representative_point(), inv.area_km2, crs, cell_km, origin).assign(
            object="glacier"
        )
    ]
    if inv.debris is not None and len(inv.debris):
        parts = inv.debris.geometry.explode(index_parts=False)
        parts = parts[~parts.is_empty]
        from glacierinv.geometry import area_km2

        pts = parts.to_crs(crs).representative_point()
        frames.append(
            grid_distribution(pts, area_km2(parts), crs, cell_km, origin).assign(object="debris_patch")
        )
    table = pd.concat(frames, ignore_index=True).assign(cell_km=cell_km)
    table = table[["object", "cell_km", *frames[0].columns[:-1]]]

    fig, axes = new_figure(ncols=len(frames), width_in=5.2, height_in=4.4)
    for ax, (kind, t) in zip(axes[0], table.groupby("object", sort=False), strict=True):
        amax = t["area_km2"].max() or 1.0
        sc = ax.scatter(t["lon"], t["lat"], s=20 + 480 * t["area_km2"] / amax, c=t["n"], cmap="viridis",
                        alpha=0.85, edgecolors="k", linewidths=0.4)  # fmt: skip
        fig.colorbar(sc, ax=ax, label="number per cell")
        ax.ticklabel_format(useOffset=False, style="plain")
        ax.set_xlabel("longitude (°E)")
        ax.set_ylabel("latitude (°N)")
        name = "glaciers" if kind == "glacier" else "debris patches"
        ax.set_title(f"{name}: {cell_km:g} km cells (size ∝ area, max {amax:.3g} km²)")
    return AnalysisResult("spatial_distribution", {"": table}, fig)
