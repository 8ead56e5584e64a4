"""Multiple digitisation (round robin) uncertainty of automated outlines (Paul et al. 2013; seed §3.3.3).

Several analysts digitise the same glaciers independently. Per glacier:

- reference area ``A_ref`` = arithmetic mean of the analysts' areas (seed: mean of three digitisations);
- relative difference of the automated area ``100 (A_auto − A_ref) / A_ref`` (%);
- spread among analysts: coefficient of variation ``CV = 100 · std(A_k, ddof=1) / mean(A_k)`` (%);
- boundary distances between each pair of outlines (analyst–analyst and automated–analyst): the mean
  distance (symmetric: the average over points sampled every ``step_m`` along each boundary of the
  distance to the other boundary) and the Hausdorff distance (the largest such distance).

The overall uncertainty is the mean of the absolute relative differences over the glaciers
(``overall_unc_pct``; the seed reports ±4.7 % this way); the area-weighted version
``100 Σ|A_auto − A_ref| / Σ A_ref`` and the net ``100 (ΣA_auto − ΣA_ref) / ΣA_ref`` are given too.

Glaciers are matched by an id column present in all inputs, or by overlap: each digitised polygon goes
to the automated glacier it overlaps most (several polygons of one analyst for one glacier are merged).
Only glaciers digitised by at least ``min_analysts`` analysts are evaluated.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from glacierinv.errors import InputError
from glacierinv.geometry import area_km2, local_metric_crs

__all__ = ["boundary_distances_m", "round_robin"]

log = logging.getLogger(__name__)


def boundary_distances_m(a, b, step_m: float = 1.0) -> tuple[float, float]:
    """Symmetric mean and Hausdorff distance (m) between the boundaries of two polygons (metric CRS).

    Points are sampled every ``step_m`` metres along each boundary (plus its vertices); the mean is the
    average of the point-to-boundary distances taken in both directions.
    """
    if step_m <= 0:
        raise ValueError("step_m must be positive")
    ba, bb = a.boundary, b.boundary
    da = _sampled_distances(ba, bb, step_m)
    db = _sampled_distances(bb, ba, step_m)
    all_d = np.concatenate([da, db])
    return float(all_d.mean()), float(all_d.max())


def _sampled_distances(line, other, step_m: float) -> np.ndarray:
    dense = shapely.segmentize(line, step_m)
    pts = shapely.points(shapely.get_coordinates(dense))
    return shapely.distance(pts, other)


def _assign(auto_m: gpd.GeoDataFrame, dig_m: gpd.GeoDataFrame) -> dict[int, object]:
    """Digitised polygons merged per automated glacier (row index → geometry), by largest overlap."""
    tree = shapely.STRtree(auto_m.geometry.values)
    out: dict[int, list] = {}
    for geom in dig_m.geometry.values:
        idx = tree.query(geom, predicate="intersects")
        if len(idx) == 0:
            continue
        ov = shapely.area(shapely.intersection(auto_m.geometry.values[idx], geom))
        if ov.max() <= 0:
            continue
        out.setdefault(int(idx[int(np.argmax(ov))]), []).append(geom)
    return {k: shapely.union_all(v) for k, v in out.items()}


def _dissolve(gdf: gpd.GeoDataFrame, column: str) -> pd.Series:
    """Geometries merged per id (id as string → geometry)."""
    keyed = gdf[[gdf.geometry.name]].assign(_key=gdf[column].astype(str).to_numpy())
    return keyed.dissolve(by="_key").geometry


def round_robin(
    auto: gpd.GeoDataFrame,
    digitisations: Sequence[gpd.GeoDataFrame],
    *,
    id_column: str | None = None,
    names: Sequence[str] | None = None,
    step_m: float = 1.0,
    min_analysts: int = 2,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Round-robin comparison of automated outlines against several manual digitisations.

    Parameters
    ----------
    auto
        Automated glacier outlines.
    digitisations
        One GeoDataFrame per analyst (any CRSs).
    id_column
        Match glaciers by this column (present in all inputs); None: by overlap.
    names
        Analyst names (default ``D1``, ``D2``, …).
    step_m
        Sampling step along boundaries for the mean distance, metres.
    min_analysts
        Evaluate only glaciers digitised by at least this many analysts.

    Returns
    -------
    per_glacier, pairs, summary
        ``per_glacier``: id, ``auto_area_km2``, one ``<name>_area_km2`` per analyst, ``n_analysts``,
        ``ref_area_km2``, ``rel_diff_pct``, ``cv_pct``. ``pairs``: id, ``a``, ``b`` (``auto`` or an
        analyst), ``mean_dist_m``, ``hausdorff_m``. ``summary``: JSON-serialisable totals.
    """
    names = _check_inputs(auto, digitisations, names, min_analysts)
    auto = auto.reset_index(drop=True)
    crs = local_metric_crs(auto)
    auto_m = auto.to_crs(crs)
    digs_m = [d.reset_index(drop=True).to_crs(crs) for d in digitisations]
    auto_geoms, per_dig = _match_glaciers(auto, auto_m, digitisations, digs_m, names, id_column)

    rows, pair_rows = [], []
    for gid, ageom in auto_geoms.items():
        geoms = {n: per[gid] for n, per in zip(names, per_dig, strict=True) if gid in per}
        if len(geoms) < min_analysts:
            continue
        rows.append(_glacier_row(gid, ageom, geoms, names, crs))
        pair_rows.extend(_pair_rows(gid, {"auto": ageom, **geoms}, step_m))
    if not rows:
        raise InputError(
            f"no glacier was digitised by at least {min_analysts} analysts",
            fix="Check that the digitisations overlap the automated outlines (or the --id-column values)",
        )
    per_glacier = pd.DataFrame(rows)
    pairs = pd.DataFrame(pair_rows)
    return per_glacier, pairs, _summary(per_glacier, pairs, names, id_column, step_m)


def _check_inputs(auto, digitisations, names, min_analysts: int) -> list[str]:
    """Validate the round-robin inputs; return the analyst names (default ``D1``, ``D2``, …).

    Raises InputError for fewer than 2 digitisations, ``min_analysts < 2``, names not one unique per
    digitisation, or a layer without CRS or without polygons.
    """
    if len(digitisations) < 2:
        raise InputError(
            f"a round robin needs at least 2 digitisations, got {len(digitisations)}",
            fix="Pass two or more files to --digitisations",
        )
    if min_analysts < 2:
        raise InputError("min_analysts must be at least 2 (the spread needs two digitisations)")
    names = list(names) if names is not None else [f"D{k + 1}" for k in range(len(digitisations))]
    if len(names) != len(digitisations) or len(set(names)) != len(names):
        raise InputError("one unique name per digitisation is required")
    for gdf, what in [(auto, "automated outlines"), *zip(digitisations, names, strict=True)]:
        if gdf.crs is None:
            raise InputError(f"{what} have no CRS", fix="Assign one and save again")
        if len(gdf) == 0:
            raise InputError(f"{what} have no polygons", fix="Give a layer with glacier polygons")
    return names


def _match_glaciers(auto, auto_m, digitisations, digs_m, names, id_column):
    """Automated geometry per glacier id and, per analyst, a dict id → digitised geometry.

    ``auto``/``digitisations`` are the inputs (for the id column checks), ``auto_m``/``digs_m`` the
    same in the local metric CRS. With ``id_column``, polygons are dissolved per id (ids as strings);
    without, ids are ``glac_id`` (or the row number) and digitised polygons go to the automated
    glacier they overlap most.
    """
    if id_column is not None:
        for gdf, what in [(auto, "automated outlines"), *zip(digitisations, names, strict=True)]:
            if id_column not in gdf.columns:
                raise InputError(
                    f"{what} have no column '{id_column}'", fix="Pass --id-column present in all"
                )
            if gdf[id_column].isna().any():
                raise InputError(
                    f"{what} have polygons without '{id_column}'", fix="Give every polygon an id"
                )
        auto_geoms = _dissolve(auto_m, id_column)
        per_dig = [_dissolve(d, id_column).to_dict() for d in digs_m]
        return auto_geoms, per_dig
    ids = pd.Series([str(v) for v in auto.get("glac_id", pd.Series(range(len(auto))))])
    if ids.duplicated().any():
        raise InputError("automated outlines have duplicate ids", fix="Pass --id-column with unique ids")
    auto_geoms = pd.Series(auto_m.geometry.values, index=ids)
    per_dig = [{ids[k]: g for k, g in _assign(auto_m, d).items()} for d in digs_m]
    return auto_geoms, per_dig


def _glacier_row(gid: str, ageom, geoms: dict, names: Sequence[str], crs) -> dict[str, Any]:
    """One per-glacier row: areas (km²), reference area (analyst mean), ``rel_diff_pct`` and ``cv_pct`` (%)."""
    a_auto = float(area_km2(gpd.GeoSeries([ageom], crs=crs))[0])
    a_dig = dict(zip(geoms, area_km2(gpd.GeoSeries(list(geoms.values()), crs=crs)), strict=True))
    vals = np.array(list(a_dig.values()))
    ref = float(vals.mean())
    row = {"id": gid, "auto_area_km2": a_auto}
    row |= {f"{n}_area_km2": a_dig.get(n, np.nan) for n in names}
    row |= {
        "n_analysts": len(vals),
        "ref_area_km2": ref,
        "rel_diff_pct": 100 * (a_auto - ref) / ref,
        "cv_pct": 100 * float(vals.std(ddof=1)) / ref,
    }
    return row


def _pair_rows(gid: str, outlines: dict, step_m: float) -> list[dict[str, Any]]:
    """Boundary distances (m) for every pair of ``outlines`` (name → geometry, metric CRS) of one glacier."""
    out = []
    for a, b in itertools.combinations(outlines, 2):
        mean_d, haus = boundary_distances_m(outlines[a], outlines[b], step_m)
        out.append({"id": gid, "a": a, "b": b, "mean_dist_m": mean_d, "hausdorff_m": haus})
    return out


def _summary(per_glacier, pairs, names, id_column, step_m: float) -> dict[str, Any]:
    """JSON-serialisable totals: areas (km²), overall/weighted/net differences (%), mean distances (m)."""
    ref_sum = per_glacier["ref_area_km2"].sum()
    auto_sum = per_glacier["auto_area_km2"].sum()
    analyst_pairs = pairs[pairs["a"] != "auto"]
    auto_pairs = pairs[pairs["a"] == "auto"]
    return {
        "n_glaciers": len(per_glacier),
        "analysts": names,
        "matched_by": id_column or "overlap",
        "ref_area_km2": float(ref_sum),
        "auto_area_km2": float(auto_sum),
        "overall_unc_pct": float(per_glacier["rel_diff_pct"].abs().mean()),
        "weighted_unc_pct": float(
            100 * (per_glacier["auto_area_km2"] - per_glacier["ref_area_km2"]).abs().sum() / ref_sum
        ),
        "net_diff_pct": float(100 * (auto_sum - ref_sum) / ref_sum),
        "mean_cv_pct": float(per_glacier["cv_pct"].mean()),
        "analyst_mean_dist_m": float(analyst_pairs["mean_dist_m"].mean()),
        "analyst_hausdorff_m": float(analyst_pairs["hausdorff_m"].mean()),
        "auto_mean_dist_m": float(auto_pairs["mean_dist_m"].mean()),
        "auto_hausdorff_m": float(auto_pairs["hausdorff_m"].mean()),
        "step_m": step_m,
    }
