"""Manual refinement round trip: export outlines for editing, take the edits back safely, keep provenance.

The seed refined its automated outlines by hand (section 3.3.2, Fig. 4) and summarised the change in
clean-ice and debris area (Tables S2-S3). This module makes that step reproducible:

* :func:`export_for_editing` writes the layers to edit (glaciers, debris, review flags, divides) to a
  styled GeoPackage for QGIS;
* :func:`refine_outlines` reads the edited glaciers/debris layers back, matches them to the automated
  outlines (by ``outline_id``, then by overlap), validates them (repairs invalid geometries, removes
  overlaps between units, clips debris to its glacier, enforces the minimum area) and reports each
  repair, and records provenance per polygon (auto / edited / added / deleted / split / merged, editor,
  UTC time, reason) in an ``edits`` layer. :func:`glacierinv.pipeline.refinement.apply_edits` wraps it for a run
  folder: it recomputes units, attributes and uncertainties of the changed outlines with the units and
  attributes stage runners and writes ``RUN/outlines_refined.gpkg`` plus ``RUN/refine_summary.csv``. The
  automated ``outlines.gpkg`` and ``inventory.gpkg`` are never modified;
* :func:`merge_with_edits` carries the edits over to a re-run of the automated outlines and lists the
  conflicts (places where the automated geometry under an edit has changed).
"""

from __future__ import annotations

import getpass
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely import wkt as shapely_wkt

from glacierinv.errors import InputError
from glacierinv.geometry import area_km2, polygon_parts, repair_polygons, valid_polygonal
from glacierinv.io.atomic import atomic_path, refuse_overwrite
from glacierinv.io.grid import Grid
from glacierinv.io.vector import list_layers, read_vector, write_layers
from glacierinv.pipeline.runfolder import RunFolder

__all__ = [
    "EDIT_COLUMNS",
    "RefinedOutlines",
    "diff_outlines",
    "export_for_editing",
    "merge_with_edits",
    "rebase_edits",
    "refine_outlines",
    "validate_edits",
]

log = logging.getLogger(__name__)

EDIT_COLUMNS = [
    "outline_id",
    "layer",
    "action",
    "source_ids",
    "editor",
    "timestamp",
    "reason",
    "area_before_km2",
    "area_after_km2",
    "auto_wkt",
]
REPAIR_COLUMNS = ["layer", "feature", "repair", "detail"]
SUMMARY_COLUMNS = [
    "reason",
    "n_changes",
    "clean_ice_before_km2",
    "clean_ice_after_km2",
    "clean_ice_change_km2",
    "debris_before_km2",
    "debris_after_km2",
    "debris_change_km2",
]
CHANGED_ACTIONS = ("edited", "added", "split", "merged")


# ---------------------------------------------------------------------------------------------------------
# run folder helpers
# ---------------------------------------------------------------------------------------------------------
def _need(path: Path, what: str) -> Path:
    if not path.exists():
        raise InputError(f"{what} not found", path, "Run the pipeline (`glacierinv run`) first")
    return path


def export_for_editing(run_dir: str | Path, out: str | Path, *, force: bool = False) -> Path:
    """Write the layers to edit in QGIS: ``glaciers`` and ``debris`` (editable), ``review`` and ``divides``
    (reference), each with an embedded style.

    Starts from ``outlines_refined.gpkg`` when it exists (a later editing round), else from the automated
    ``outlines.gpkg``. Adds empty ``reason`` and ``note`` text columns to glaciers and debris for the
    analyst (``reason``: one of the review reasons, e.g. ``boundary_omission``).
    """
    from glacierinv.outlines.styles import embed_styles

    run = Path(run_dir)
    out = Path(out)
    refuse_overwrite(out, force)
    refined = run / "outlines_refined.gpkg"
    src = refined if refined.exists() else _need(run / RunFolder.OUTLINES, RunFolder.OUTLINES)
    layers: dict[str, gpd.GeoDataFrame] = {}
    for name, cols in (("glaciers", ["outline_id"]), ("debris", ["debris_id", "outline_id"])):
        gdf = read_vector(src, layer=name, allow_empty=True)
        keep = [c for c in cols if c in gdf.columns]
        gdf = gdf[[*keep, gdf.geometry.name]].copy()
        gdf["reason"] = pd.Series([None] * len(gdf), dtype="object")
        gdf["note"] = pd.Series([None] * len(gdf), dtype="object")
        layers[name] = gdf
    auto = run / RunFolder.OUTLINES
    if auto.exists() and "review" in list_layers(auto):
        layers["review"] = read_vector(auto, layer="review", allow_empty=True)
    inv = run / RunFolder.INVENTORY
    if inv.exists() and "divides" in list_layers(inv):
        layers["divides"] = read_vector(inv, layer="divides", allow_empty=True, need_crs=False)
    with atomic_path(out) as tmp:
        write_layers(tmp, layers)
        embed_styles(tmp)
    return out


# ---------------------------------------------------------------------------------------------------------
# reading and validating edits
# ---------------------------------------------------------------------------------------------------------
def read_edited(path: str | Path, crs) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, list[dict]]:
    """Read the edited ``glaciers`` and ``debris`` layers, reprojected to ``crs`` (reported as a repair)."""
    p = Path(path)
    if not p.exists():
        raise InputError("edited file not found", p, "Give the GeoPackage you edited")
    layers = list_layers(p)
    out, repairs = [], []
    for name in ("glaciers", "debris"):
        if name not in layers:
            raise InputError(
                f"layer '{name}' missing (layers are: {', '.join(layers) or 'none'})",
                p,
                "Edit the file written by `glacierinv refine export` and keep its layer names",
            )
        gdf = read_vector(p, layer=name, allow_empty=True, repair=False)
        if "outline_id" not in gdf.columns:
            raise InputError(f"layer '{name}' has no 'outline_id' column", p, "Keep the exported columns")
        if crs is not None and gdf.crs != crs:
            repairs.append(
                _repair(name, "*", "reprojected", f"from {gdf.crs.to_string()} to {crs.to_string()}")
            )
            gdf = gdf.to_crs(crs)
        out.append(gdf.reset_index(drop=True))
    return out[0], out[1], repairs


def _repair(layer: str, feature, repair: str, detail: str) -> dict:
    log.debug("%s %s: %s (%s)", layer, feature, repair, detail)
    return {"layer": layer, "feature": str(feature), "repair": repair, "detail": detail}


def _label(row, i: int, id_col: str) -> str:
    v = row.get(id_col)
    return str(v) if _has_id(v) else f"row {i + 1}"


def _has_id(v) -> bool:
    return (
        v is not None
        and not (isinstance(v, float) and np.isnan(v))
        and str(v).strip() not in ("", "None", "nan")
    )


def _clean_polygons(gdf: gpd.GeoDataFrame, layer: str, id_col: str, repairs: list[dict]) -> gpd.GeoDataFrame:
    """Drop empty / non-polygon features, make invalid ones valid (:func:`repair_polygons`), explode
    multi-part features."""
    empty = (gdf.geometry.isna() | gdf.geometry.is_empty).to_numpy()
    fixed, fixes = repair_polygons(gdf[~empty], what=f"edited {layer}", log_level=logging.DEBUG)
    fix_at = {r["row"]: r for r in fixes}  # by position among the non-empty features
    rows = []
    k = -1
    for pos, (i, row) in enumerate(gdf.iterrows()):
        name = _label(row, i, id_col)
        if empty[pos]:
            repairs.append(_repair(layer, name, "dropped_empty", "feature without geometry"))
            continue
        k += 1
        geom, fix = fixed.geometry.iloc[k], fix_at.get(k)
        if fix is not None:
            repairs.append(_repair(layer, name, "made_valid", fix["reason"]))
        parts = polygon_parts(geom)
        if not parts:
            kind = fix["made_valid_type"] if fix is not None else geom.geom_type
            repairs.append(_repair(layer, name, "dropped_non_polygon", f"{kind} is not a polygon"))
            continue
        if len(parts) > 1:
            repairs.append(
                _repair(layer, name, "exploded_multipart", f"{len(parts)} parts kept as separate polygons")
            )
        for part in parts:
            rows.append({**{k_: row[k_] for k_ in gdf.columns if k_ != gdf.geometry.name}, "geometry": part})
    cols = [c for c in gdf.columns if c != gdf.geometry.name]
    if not rows:
        return gpd.GeoDataFrame({c: [] for c in cols}, geometry=[], crs=gdf.crs)
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=gdf.crs)


def _remove_overlaps(
    gdf: gpd.GeoDataFrame, layer: str, id_col: str, tol_m2: float, repairs: list[dict]
) -> gpd.GeoDataFrame:
    """Give each overlap to the larger polygon: smaller ones lose the overlapping area."""
    if len(gdf) < 2:
        return gdf
    gdf = gdf.assign(_a=gdf.geometry.area).sort_values("_a", ascending=False).drop(columns="_a")
    gdf = gdf.reset_index(drop=True)
    geoms = list(gdf.geometry)
    tree = shapely.STRtree(geoms)
    for i in range(len(geoms)):
        for j in sorted(tree.query(geoms[i], predicate="intersects")):
            if j >= i:
                continue
            inter = geoms[i].intersection(geoms[j])
            if inter.area <= tol_m2:
                continue
            geoms[i] = valid_polygonal(geoms[i].difference(geoms[j]))
            repairs.append(_repair(layer, _label(gdf.iloc[i], i, id_col), "removed_overlap",
                                   f"{inter.area:.0f} m² overlapping {_label(gdf.iloc[j], j, id_col)} removed"))  # fmt: skip
    rows = []
    for i, g in enumerate(geoms):
        for part in polygon_parts(g):
            rows.append({**gdf.iloc[i].drop(labels=gdf.geometry.name).to_dict(), "geometry": part})
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=gdf.crs) if rows else gdf.iloc[:0]


def validate_edits(
    glaciers: gpd.GeoDataFrame,
    debris: gpd.GeoDataFrame,
    *,
    min_area_km2: float,
    pixel_m: float,
    extent: tuple[float, float, float, float] | None = None,
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, pd.DataFrame]:
    """Repair edited outlines and report every repair.

    Steps: drop empty and non-polygon features; repair invalid geometries (``make_valid``); explode
    multi-part features; remove overlaps between glaciers (the larger keeps the overlap); drop glaciers
    below ``min_area_km2`` (ellipsoidal area); clip debris to the glacier(s) it lies on (reassigning its
    ``outline_id`` by overlap), drop debris outside glaciers and slivers smaller than one pixel, remove
    overlaps between debris polygons. With ``extent`` (left, bottom, right, top, in the outlines' CRS),
    glaciers are first clipped to the mapped scene (the DEM and imagery cover nothing beyond it). Geometry
    must be in a metric CRS.

    Returns
    -------
    glaciers, debris, repairs
        Repaired layers (``outline_id`` kept; debris ``outline_id`` = its glacier) and a table with one row
        per repair: layer, feature (id or row number), repair, detail.
    """
    if glaciers.crs is None or not glaciers.crs.is_projected:
        raise InputError("outlines must be in a projected (metric) CRS to be validated")
    repairs: list[dict] = []
    px_m2 = pixel_m * pixel_m
    gl = _clean_polygons(glaciers, "glaciers", "outline_id", repairs)
    if extent is not None and len(gl):
        gl = _clip_to_scene(gl, extent, repairs)
    gl = _remove_overlaps(gl, "glaciers", "outline_id", 0.01 * px_m2, repairs)
    if len(gl):
        gl = _drop_below_min_area(gl, min_area_km2, repairs)
    deb = _clean_polygons(debris, "debris", "debris_id", repairs)
    out_deb = _clip_debris_to_glaciers(deb, gl, px_m2, repairs)
    out_deb = _remove_overlaps(out_deb, "debris", "debris_id", 0.01 * px_m2, repairs)
    return (
        gl.reset_index(drop=True),
        out_deb.reset_index(drop=True),
        pd.DataFrame(repairs, columns=REPAIR_COLUMNS),
    )


def _clip_to_scene(
    gl: gpd.GeoDataFrame, extent: tuple[float, float, float, float], repairs: list[dict]
) -> gpd.GeoDataFrame:
    """Glaciers clipped to the mapped scene ``extent`` (left, bottom, right, top; CRS units), each clip
    reported with the area removed (m²), the clipped geometries cleaned again."""
    box = shapely.box(*extent)
    clipped = []
    for i, g in enumerate(gl.geometry):
        if box.contains(g):
            clipped.append(g)
            continue
        inside = g.intersection(box)  # repaired (if ever invalid) by _clean_polygons below
        repairs.append(_repair("glaciers", _label(gl.iloc[i], i, "outline_id"), "clipped_to_scene",
                               f"{g.area - inside.area:.0f} m² outside the mapped scene removed"))  # fmt: skip
        clipped.append(inside)
    return _clean_polygons(gl.set_geometry(clipped), "glaciers", "outline_id", repairs)


def _drop_below_min_area(gl: gpd.GeoDataFrame, min_area_km2: float, repairs: list[dict]) -> gpd.GeoDataFrame:
    """Glaciers whose ellipsoidal area is at least ``min_area_km2``; each dropped one reported."""
    a = area_km2(gl)
    small = a < min_area_km2
    for i in np.flatnonzero(small):
        repairs.append(_repair("glaciers", _label(gl.iloc[i], i, "outline_id"), "dropped_below_min_area",
                               f"{a[i]:.5f} km² < {min_area_km2:g} km²"))  # fmt: skip
    return gl[~small].reset_index(drop=True)


def _clip_debris_to_glaciers(
    deb: gpd.GeoDataFrame, gl: gpd.GeoDataFrame, px_m2: float, repairs: list[dict]
) -> gpd.GeoDataFrame:
    """Debris clipped to the glacier(s) it lies on, one row per part with that glacier's ``outline_id``;
    parts under one pixel (``px_m2``, m²) dropped, debris off every glacier dropped, each reported."""
    rows = []
    if len(deb) and len(gl):
        tree = shapely.STRtree(gl.geometry.to_numpy())
        for i, row in deb.iterrows():
            geom = row.geometry
            name = _label(row, i, "debris_id")
            hits = tree.query(geom, predicate="intersects")
            kept = 0.0
            for gi in hits:
                for part in polygon_parts(valid_polygonal(geom.intersection(gl.geometry.iloc[gi]))):
                    if part.area < px_m2:
                        continue
                    kept += part.area
                    rows.append({"debris_id": row.get("debris_id"), "outline_id": gl["outline_id"].iloc[gi],
                                 "reason": row.get("reason"), "geometry": part})  # fmt: skip
            lost = geom.area - kept
            if kept == 0:
                repairs.append(_repair("debris", name, "dropped_debris_outside", "no part on a glacier"))
            elif lost > 0.01 * px_m2:
                repairs.append(
                    _repair(
                        "debris", name, "clipped_to_glacier", f"{lost:.0f} m² outside its glacier removed"
                    )
                )
    elif len(deb):
        for i, row in deb.iterrows():
            repairs.append(
                _repair("debris", _label(row, i, "debris_id"), "dropped_debris_outside", "no glacier left")
            )
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=gl.crs) if rows else _empty_debris(gl.crs)


def _empty_debris(crs) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"debris_id": [], "outline_id": [], "reason": []}, geometry=[], crs=crs)


# ---------------------------------------------------------------------------------------------------------
# matching edits to the automated outlines
# ---------------------------------------------------------------------------------------------------------
def diff_outlines(
    auto: gpd.GeoDataFrame,
    auto_debris: gpd.GeoDataFrame,
    edited: gpd.GeoDataFrame,
    edited_debris: gpd.GeoDataFrame,
    *,
    tol_m2: float,
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, list[dict]]:
    """Match validated edited outlines to the automated ones and classify each change.

    Matching is by ``outline_id`` first; a feature without a known id is ``added``. Several features with
    one id are a ``split`` (the part overlapping the original most keeps the id, the others get
    ``<id>_2``, ``<id>_3``…). An original whose id is gone is ``merged`` into the edited polygon that
    covers at least half of it, else ``deleted``. A kept id whose geometry (symmetric difference above
    ``tol_m2``) or debris changed is ``edited``; otherwise ``auto``.

    Returns
    -------
    glaciers, debris, changes
        ``glaciers`` with ``outline_id`` (final) and ``action``; debris with final ``outline_id`` and
        ``debris_id``; one change record per final polygon and per vanished original (keys: outline_id,
        action, sources, geometry, reason).
    """
    orig = {str(k): g for k, g in zip(auto["outline_id"], auto.geometry, strict=True)}
    orig_deb = _group_by_outline(auto_debris)
    ed = edited.copy().reset_index(drop=True)
    ed["_id"] = [str(v) if _has_id(v) and str(v) in orig else None for v in ed["outline_id"]]
    final_ids, actions, sources = _assign_ids(ed, orig)
    changes = _vanished_originals(orig, ed, final_ids, actions, sources)
    deb = _debris_to_final_ids(edited_debris, ed, final_ids)
    new_deb = _group_by_outline(deb)
    for i in range(len(ed)):  # a kept id whose geometry or debris changed is an edit
        oid = final_ids[i]
        if actions[i] == "auto" and (
            _differs(ed.geometry[i], orig[oid], tol_m2)
            or _differs(_union(new_deb.get(oid, [])), _union(orig_deb.get(oid, [])), tol_m2)
        ):
            actions[i] = "edited"
    reasons = ed["reason"] if "reason" in ed.columns else pd.Series([None] * len(ed))
    for i in range(len(ed)):
        fid = final_ids[i]
        before = _union([orig[s] for s in sources[i]])
        changed = shapely.symmetric_difference(before, ed.geometry[i])
        deb_before = _union([g for s in sources[i] for g in orig_deb.get(s, [])])
        changed = changed.union(shapely.symmetric_difference(deb_before, _union(new_deb.get(fid, []))))
        changes.append({"outline_id": fid, "action": actions[i], "sources": sources[i],
                        "geometry": ed.geometry[i], "changed": changed, "reason": reasons[i]})  # fmt: skip
    out = ed.drop(columns=["_id"]).copy()
    out["outline_id"] = final_ids
    out["action"] = actions
    deb["debris_id"] = _debris_ids(deb, auto_debris, tol_m2)
    return out, deb, changes


def _group_by_outline(debris: gpd.GeoDataFrame) -> dict[str, list]:
    """Debris geometries per ``outline_id``."""
    out: dict[str, list] = {}
    for k, g in zip(debris.get("outline_id", []), debris.geometry, strict=False):
        out.setdefault(str(k), []).append(g)
    return out


def _assign_ids(ed: gpd.GeoDataFrame, orig: dict) -> tuple[list[str], list[str], list[list[str]]]:
    """Final id, action and source ids per edited polygon: kept ids (the part overlapping the original most
    keeps the id, other parts of a split get ``<id>_2``…) and new ids ``A00001``… for added polygons."""
    final_ids: list[str] = [""] * len(ed)
    actions: list[str] = [""] * len(ed)
    sources: list[list[str]] = [[] for _ in range(len(ed))]
    for oid, grp in ed[ed["_id"].notna()].groupby("_id"):
        idx = list(grp.index)
        ov = [ed.geometry[i].intersection(orig[oid]).area for i in idx]
        idx = [i for _, i in sorted(zip(ov, idx, strict=True), key=lambda t: -t[0])]
        for k, i in enumerate(idx):
            final_ids[i] = oid if k == 0 else f"{oid}_{k + 1}"
            actions[i] = "split" if len(idx) > 1 else "auto"
            sources[i] = [oid]
    used = set(final_ids) | set(orig)
    n_added = 0
    for i in ed.index[ed["_id"].isna()]:
        n_added += 1
        while f"A{n_added:05d}" in used:
            n_added += 1
        final_ids[i] = f"A{n_added:05d}"
        actions[i] = "added"
        used.add(final_ids[i])
    return final_ids, actions, sources


def _vanished_originals(orig: dict, ed, final_ids, actions, sources) -> list[dict]:
    """Change records of originals whose id is gone: ``merged`` into the edited polygon covering at least
    half of it (whose action and sources are updated), else ``deleted``."""
    changes: list[dict] = []
    gone = [oid for oid in orig if oid not in set(ed["_id"].dropna())]
    tree = shapely.STRtree(ed.geometry.to_numpy()) if len(ed) else None
    for oid in gone:
        og = orig[oid]
        best, best_share = None, 0.0
        if tree is not None:
            for i in tree.query(og, predicate="intersects"):
                share = ed.geometry[i].intersection(og).area / og.area
                if share > best_share:
                    best, best_share = int(i), share
        if best is not None and best_share >= 0.5:
            sources[best].append(oid)
            if actions[best] in ("auto", "added"):
                actions[best] = "merged"
            changes.append({"outline_id": oid, "action": "merged", "sources": [oid], "geometry": og,
                            "into": final_ids[best], "reason": None})  # fmt: skip
        else:
            changes.append(
                {"outline_id": oid, "action": "deleted", "sources": [oid], "geometry": og, "reason": None}
            )
    return changes


def _debris_to_final_ids(edited_debris: gpd.GeoDataFrame, ed, final_ids) -> gpd.GeoDataFrame:
    """Debris with the final id of the glacier it lies in (robust to splits, where several glaciers share
    the outline_id that validation gave the debris)."""
    deb = edited_debris.copy().reset_index(drop=True)
    if len(deb) and len(ed):
        gtree = shapely.STRtree(ed.geometry.to_numpy())
        fids = []
        for g in deb.geometry:
            hits = gtree.query(g.representative_point(), predicate="intersects")
            fids.append(final_ids[int(hits[0])] if len(hits) else None)
        deb["outline_id"] = fids
    return deb


def _debris_ids(deb: gpd.GeoDataFrame, auto_debris: gpd.GeoDataFrame, tol_m2: float) -> list[str]:
    """Debris ids: an original id where the polygon is unchanged, else a new ``DE00001``…"""
    orig_deb_ids = {}
    if "debris_id" in auto_debris.columns:
        orig_deb_ids = {
            str(k): g for k, g in zip(auto_debris["debris_id"], auto_debris.geometry, strict=True)
        }
    new_ids, seen, n_new = [], set(), 0
    for v, g in zip(deb.get("debris_id", [None] * len(deb)), deb.geometry, strict=False):
        unchanged = _has_id(v) and str(v) in orig_deb_ids and str(v) not in seen
        if unchanged and not _differs(g, orig_deb_ids[str(v)], tol_m2):
            new_ids.append(str(v))
        else:
            n_new += 1
            new_ids.append(f"DE{n_new:05d}")
        seen.add(new_ids[-1])
    return new_ids


def _union(geoms: list):
    return shapely.union_all(geoms) if geoms else shapely.Polygon()


def _differs(a, b, tol_m2: float) -> bool:
    if a.is_empty and b.is_empty:
        return False
    return shapely.symmetric_difference(a, b).area > tol_m2


# ---------------------------------------------------------------------------------------------------------
# apply
# ---------------------------------------------------------------------------------------------------------
@dataclass
class RefinedOutlines:
    """The analyst's outlines after validation, with provenance (see :func:`refine_outlines`)."""

    glaciers: gpd.GeoDataFrame  # outline_id, area_km2, provenance, action, editor, edit_time, edit_reason
    debris: gpd.GeoDataFrame  # debris_id, outline_id, area_km2
    changes: list[dict]  # one record per change (action, sources, editor, timestamp, reason …)
    edits: gpd.GeoDataFrame  # the provenance log (EDIT_COLUMNS)
    repairs: pd.DataFrame  # what validation repaired (REPAIR_COLUMNS)
    summary: pd.DataFrame  # change in clean-ice and debris area per reason (SUMMARY_COLUMNS)
    review: gpd.GeoDataFrame | None  # the automated review flags, carried along
    pixel_size_m: float  # of classes.tif
    editor: str  # who applied these edits
    timestamp: str  # when (UTC, ISO 8601)


def refine_outlines(
    run_dir: str | Path,
    edited_path: str | Path,
    *,
    min_area_km2: float,
    editor: str | None = None,
    previous: Path | None = None,
    now: datetime | None = None,
) -> RefinedOutlines:
    """Read an analyst's edited outlines against a run's automated ones: validate, diff, record provenance.

    Parameters
    ----------
    run_dir
        A run folder with ``outlines.gpkg`` and ``classes.tif`` (its grid bounds the edits).
    edited_path
        GeoPackage with layers ``glaciers`` and ``debris`` (as written by :func:`export_for_editing`), any
        CRS (reprojected to the run's); optional ``reason`` column per feature.
    min_area_km2
        Minimum glacier area (the run's ``[outlines] min_area_km2``).
    editor
        Name recorded in the provenance (default: the login name).
    previous
        An earlier refined file whose provenance of unchanged edits is carried over.
    now
        Timestamp to record (default: the current UTC time).
    """
    run = Path(run_dir)
    auto, auto_debris, review, grid = _read_automated(run)
    pixel_m = float(grid.res[0])
    gl, deb, repairs = _read_validated(edited_path, auto.crs, min_area_km2, pixel_m, grid.bounds)
    tol_m2 = 0.5 * pixel_m * pixel_m
    gl, deb, changes = diff_outlines(auto, auto_debris, gl, deb, tol_m2=tol_m2)
    editor = editor or _login()
    stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    for c in changes:
        c["editor"], c["timestamp"] = editor, stamp
    if previous is not None:
        _carry_previous(changes, previous, tol_m2)
    _assign_reasons(changes, auto, review, deb)
    edits = _edits_layer(changes, auto, editor, stamp, gl.crs)
    gl = _glaciers_with_provenance(gl, changes)
    deb["area_km2"] = area_km2(deb) if len(deb) else []
    deb = deb[["debris_id", "outline_id", "area_km2", "geometry"]]
    summary = change_summary(changes, auto, auto_debris, gl, deb)
    return RefinedOutlines(gl, deb, changes, edits, repairs, summary, review, pixel_m, editor, stamp)


def _read_automated(run: Path) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame | None, Grid]:
    """A run's automated glaciers, debris and review flags (None without a ``review`` layer) from
    ``outlines.gpkg``, and the grid of its ``classes.tif``."""
    from glacierinv.io.raster import raster_grid

    auto_path = _need(run / RunFolder.OUTLINES, RunFolder.OUTLINES)
    auto = read_vector(auto_path, layer="glaciers", allow_empty=True)
    auto_debris = read_vector(auto_path, layer="debris", allow_empty=True)
    review = (
        read_vector(auto_path, layer="review", allow_empty=True)
        if "review" in list_layers(auto_path)
        else None
    )
    grid = raster_grid(_need(run / RunFolder.CLASSES, RunFolder.CLASSES))
    return auto, auto_debris, review, grid


def _read_validated(
    edited_path: str | Path,
    crs,
    min_area_km2: float,
    pixel_m: float,
    extent: tuple[float, float, float, float],
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, pd.DataFrame]:
    """The edited glaciers and debris reprojected to ``crs`` and validated (:func:`validate_edits`, clipped
    to ``extent``), with every repair, the reprojection first."""
    edited, edited_debris, repairs0 = read_edited(edited_path, crs)
    gl, deb, repairs = validate_edits(
        edited, edited_debris, min_area_km2=min_area_km2, pixel_m=pixel_m, extent=extent
    )
    repairs = pd.concat([pd.DataFrame(repairs0, columns=REPAIR_COLUMNS), repairs], ignore_index=True)
    return gl, deb, repairs


def _glaciers_with_provenance(gl: gpd.GeoDataFrame, changes: list[dict]) -> gpd.GeoDataFrame:
    """The refined glaciers with ``area_km2`` (ellipsoidal), ``provenance``, ``action`` and, for changed
    ones, the ``editor``, ``edit_time`` and ``edit_reason`` of their change record."""
    by_id = {c["outline_id"]: c for c in changes if c["action"] != "merged" or "into" not in c}
    gl["provenance"] = [_provenance(a) for a in gl["action"]]
    gl["editor"] = [by_id.get(o, {}).get("editor") if a != "auto" else None for o, a in zip(gl["outline_id"], gl["action"], strict=True)]  # fmt: skip
    gl["edit_time"] = [by_id.get(o, {}).get("timestamp") if a != "auto" else None for o, a in zip(gl["outline_id"], gl["action"], strict=True)]  # fmt: skip
    gl["edit_reason"] = [by_id.get(o, {}).get("reason") if a != "auto" else None for o, a in zip(gl["outline_id"], gl["action"], strict=True)]  # fmt: skip
    gl["area_km2"] = area_km2(gl) if len(gl) else []
    return gl[
        ["outline_id", "area_km2", "provenance", "action", "editor", "edit_time", "edit_reason", "geometry"]
    ]


def _carry_previous(changes: list[dict], previous: Path, tol_m2: float) -> None:
    """Keep editor, time and reason of changes already recorded by an earlier ``apply`` (same outline,
    same action, same geometry), so that a later editing round re-attributes only what it changed."""
    if not previous.exists() or "edits" not in list_layers(previous):
        return
    try:
        prev = read_vector(previous, layer="edits", allow_empty=True)
    except InputError:
        return
    if not len(prev):
        return
    index: dict[tuple[str, str], list] = {}
    for _, r in prev.iterrows():
        index.setdefault((str(r["outline_id"]), str(r["action"])), []).append(r)
    for c in changes:
        if c["action"] == "auto":
            continue
        for r in index.get((str(c["outline_id"]), c["action"]), []):
            g = r.geometry if r.geometry is not None else shapely.Polygon()
            if not _differs(g, c["geometry"], tol_m2):
                c["editor"], c["timestamp"] = r["editor"], r["timestamp"]
                if not _has_id(c.get("reason")) and _has_id(r.get("reason")):
                    c["reason"] = r["reason"]
                break


def _login() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        return "unknown"


def _provenance(action: str) -> str:
    return {"auto": "auto", "added": "added"}.get(action, "edited")


def _assign_reasons(changes: list[dict], auto, review, deb) -> None:
    """A change's reason: the analyst's ``reason`` if given, else the highest-priority review flag on the
    changed area, else ``unflagged``."""
    flags = []
    if review is not None and len(review):
        flags = sorted(zip(review["priority"], review["reason"], review.geometry, review["outline_id"].astype(str),
                           strict=True), key=lambda t: t[0])  # fmt: skip
    for c in changes:
        if c["action"] == "auto":
            continue
        if _has_id(c.get("reason")):
            c["reason"] = str(c["reason"])
            continue
        c["reason"] = "unflagged"
        area = c.get("changed")
        if area is None or area.is_empty:
            area = c["geometry"]
        hit = [
            r
            for _, r, g, _ in flags
            if g is not None and g.intersects(area) and g.intersection(area).area > 0
        ]
        hit = hit or [r for _, r, _, oid in flags if oid in c["sources"]]
        if hit:
            c["reason"] = hit[0]


def _edits_layer(changes: list[dict], auto, editor: str, stamp: str, crs) -> gpd.GeoDataFrame:
    orig = {str(k): g for k, g in zip(auto["outline_id"], auto.geometry, strict=True)}
    rows = []
    for c in changes:
        if c["action"] == "auto":
            continue
        src = [orig[s] for s in c["sources"] if s in orig]
        before = _union(src)
        gone = c["action"] == "deleted" or "into" in c
        after = shapely.Polygon() if gone else c["geometry"]
        rows.append({
            "outline_id": c["outline_id"], "layer": "glaciers", "action": c["action"],
            "source_ids": ",".join(c["sources"]) + (f"→{c['into']}" if "into" in c else ""),
            "editor": c.get("editor", editor), "timestamp": c.get("timestamp", stamp), "reason": c["reason"],
            "area_before_km2": _km2(before, crs), "area_after_km2": _km2(after, crs),
            "auto_wkt": before.wkt if not before.is_empty else None, "geometry": c["geometry"],
        })  # fmt: skip
    if not rows:
        return gpd.GeoDataFrame({k: [] for k in EDIT_COLUMNS}, geometry=[], crs=crs)
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=crs)


def _km2(geom, crs) -> float:
    if geom is None or geom.is_empty:
        return 0.0
    return float(area_km2(gpd.GeoSeries([geom], crs=crs))[0])


def change_summary(changes, auto, auto_debris, glaciers, debris) -> pd.DataFrame:
    """Clean-ice and debris area before/after by reason (seed Tables S2-S3), plus ``all_edits`` and
    ``inventory`` (whole-inventory totals) rows. Clean ice = glacier area − debris area (km²)."""
    a_gl = dict(zip(auto["outline_id"].astype(str), area_km2(auto) if len(auto) else [], strict=True))
    a_deb: dict[str, float] = {}
    for k, v in zip(
        auto_debris.get("outline_id", []), area_km2(auto_debris) if len(auto_debris) else [], strict=False
    ):
        a_deb[str(k)] = a_deb.get(str(k), 0.0) + float(v)
    n_gl = dict(zip(glaciers["outline_id"].astype(str), glaciers["area_km2"], strict=True))
    n_deb: dict[str, float] = {}
    for k, v in zip(debris["outline_id"].astype(str), debris["area_km2"], strict=True):
        n_deb[k] = n_deb.get(k, 0.0) + float(v)
    groups: dict[frozenset, dict] = {}
    for c in changes:
        if c["action"] == "auto" or (c["action"] == "merged" and "into" in c):
            continue
        key = frozenset(c["sources"]) if c["sources"] else frozenset([c["outline_id"]])
        g = groups.setdefault(key, {"reason": c["reason"], "finals": [], "sources": list(c["sources"])})
        if c["action"] != "deleted":
            g["finals"].append(c["outline_id"])
    rows = []
    for g in groups.values():
        gb = sum(a_gl.get(s, 0.0) for s in g["sources"])
        db = sum(a_deb.get(s, 0.0) for s in g["sources"])
        ga = sum(n_gl.get(f, 0.0) for f in g["finals"])
        da = sum(n_deb.get(f, 0.0) for f in g["finals"])
        rows.append({"reason": g["reason"], "clean_ice_before_km2": gb - db, "clean_ice_after_km2": ga - da,
                     "debris_before_km2": db, "debris_after_km2": da})  # fmt: skip
    per = pd.DataFrame(rows, columns=["reason", "clean_ice_before_km2", "clean_ice_after_km2", "debris_before_km2", "debris_after_km2"])  # fmt: skip
    out = per.groupby("reason", as_index=False).agg(
        n_changes=("reason", "size"),
        clean_ice_before_km2=("clean_ice_before_km2", "sum"),
        clean_ice_after_km2=("clean_ice_after_km2", "sum"),
        debris_before_km2=("debris_before_km2", "sum"),
        debris_after_km2=("debris_after_km2", "sum"),
    )
    total = {"reason": "all_edits", "n_changes": len(per), **per.drop(columns="reason").sum().to_dict()}
    inv = {
        "reason": "inventory",
        "n_changes": len(per),
        "clean_ice_before_km2": sum(a_gl.values()) - sum(a_deb.values()),
        "clean_ice_after_km2": sum(n_gl.values()) - sum(n_deb.values()),
        "debris_before_km2": sum(a_deb.values()),
        "debris_after_km2": sum(n_deb.values()),
    }
    out = pd.concat([out, pd.DataFrame([total, inv])], ignore_index=True)
    out["clean_ice_change_km2"] = out["clean_ice_after_km2"] - out["clean_ice_before_km2"]
    out["debris_change_km2"] = out["debris_after_km2"] - out["debris_before_km2"]
    return out[SUMMARY_COLUMNS]


# ---------------------------------------------------------------------------------------------------------
# re-runs
# ---------------------------------------------------------------------------------------------------------
def merge_with_edits(
    new_auto: gpd.GeoDataFrame, edits: gpd.GeoDataFrame, *, tol_m2: float = 2.0
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Carry manual edits over to a re-run of the automated outlines.

    Every edited, added, split or merged polygon of ``edits`` replaces the new automated polygons it
    overlaps, and deleted/merged-away originals stay removed. A conflict is an edit whose automated
    geometry (``auto_wkt``: what the analyst started from) differs from the new automated geometry at the
    same place by more than ``tol_m2`` (m², metric CRS): the analyst should look at it again.

    Returns
    -------
    merged, conflicts
        ``merged``: glaciers with ``outline_id``, ``provenance`` (auto / edited / added), geometry.
        ``conflicts``: outline_id, action, changed_m2 (area of the automated change under the edit), detail.
    """
    crs = new_auto.crs
    ed = edits.to_crs(crs) if edits.crs is not None and edits.crs != crs else edits
    ed = ed[ed["layer"].astype(str) == "glaciers"] if "layer" in ed.columns else ed
    new = new_auto.reset_index(drop=True)
    tree = shapely.STRtree(new.geometry.to_numpy()) if len(new) else None
    drop: set[int] = set()
    conflicts = []
    for _, row in ed.iterrows():
        auto_geom = shapely_wkt.loads(row["auto_wkt"]) if _has_id(row.get("auto_wkt")) else shapely.Polygon()
        if auto_geom.is_empty or tree is None:
            continue
        # the new automated polygons that map the same glacier as the one the analyst edited
        hits = [int(i) for i in tree.query(auto_geom, predicate="intersects")
                if new.geometry[int(i)].intersection(auto_geom).area > tol_m2]  # fmt: skip
        drop.update(hits)
        changed = shapely.symmetric_difference(auto_geom, _union([new.geometry[i] for i in hits])).area
        if changed > tol_m2:
            conflicts.append({"outline_id": row["outline_id"], "action": row["action"], "changed_m2": float(changed),
                              "detail": "the automated outline under this edit changed since it was edited"})  # fmt: skip
    live = ed[(ed["action"] != "deleted") & ~ed["source_ids"].astype(str).str.contains("→")]
    live = live[live.geometry.notna() & ~live.geometry.is_empty]
    cover = _union(list(live.geometry))
    rows = []
    for i in range(len(new)):
        if i in drop:
            continue
        g = new.geometry[i]
        if not cover.is_empty and g.intersects(cover):
            g = valid_polygonal(g.difference(cover))
        for part in polygon_parts(g):
            if part.area > tol_m2:
                rows.append({"outline_id": str(new["outline_id"][i]), "provenance": "auto", "geometry": part})
    for _, row in live.iterrows():
        rows.append(
            {
                "outline_id": row["outline_id"],
                "provenance": _provenance(row["action"]),
                "geometry": row.geometry,
            }
        )
    merged = gpd.GeoDataFrame(
        rows or {"outline_id": [], "provenance": []}, geometry="geometry" if rows else [], crs=crs
    )
    return merged, pd.DataFrame(conflicts, columns=["outline_id", "action", "changed_m2", "detail"])


def rebase_edits(run_dir: str | Path, out: str | Path, *, force: bool = False) -> tuple[Path, pd.DataFrame]:
    """After a re-run of the pipeline: carry the edits of ``RUN/outlines_refined.gpkg`` over to the new
    automated ``RUN/outlines.gpkg`` and write a new file to edit (as :func:`export_for_editing`, plus a
    ``conflicts`` layer). Apply it with :func:`glacierinv.pipeline.refinement.apply_edits` after checking the conflicts.

    Returns
    -------
    path, conflicts
    """
    from glacierinv.outlines.styles import embed_styles

    run = Path(run_dir)
    out = Path(out)
    refuse_overwrite(out, force)
    auto_path = _need(run / RunFolder.OUTLINES, RunFolder.OUTLINES)
    refined = _need(run / "outlines_refined.gpkg", "outlines_refined.gpkg (no edits applied yet)")
    new_auto = read_vector(auto_path, layer="glaciers", allow_empty=True)
    new_deb = read_vector(auto_path, layer="debris", allow_empty=True)
    edits = read_vector(refined, layer="edits", allow_empty=True)
    ref_deb = read_vector(refined, layer="debris", allow_empty=True)
    merged, conflicts = merge_with_edits(new_auto, edits)
    live = set(merged["outline_id"][merged["provenance"] != "auto"].astype(str))
    cover = _union(list(merged.geometry[merged["provenance"] != "auto"]))
    rows = []
    for _, r in new_deb.iterrows():
        g = valid_polygonal(r.geometry.difference(cover)) if r.geometry.intersects(cover) else r.geometry
        rows += [
            {"debris_id": r["debris_id"], "outline_id": r["outline_id"], "geometry": p}
            for p in polygon_parts(g)
        ]
    for _, r in ref_deb[ref_deb["outline_id"].astype(str).isin(live)].iterrows():
        rows.append({"debris_id": None, "outline_id": r["outline_id"], "geometry": r.geometry})
    deb = gpd.GeoDataFrame(rows or {"debris_id": [], "outline_id": []}, geometry="geometry" if rows else [],
                           crs=new_auto.crs)  # fmt: skip
    gl = merged[["outline_id", "geometry"]].copy()
    # edited polygons keep their refined id; a split/added id unknown to the new run is matched as added
    for frame in (gl, deb):
        frame["reason"] = pd.Series([None] * len(frame), dtype="object")
        frame["note"] = pd.Series([None] * len(frame), dtype="object")
    prov = merged["provenance"].to_numpy()
    gl["reason"] = [None if p == "auto" else "carried_over" for p in prov]
    cgeo = [
        merged.geometry[merged["outline_id"] == oid].union_all()
        if (merged["outline_id"] == oid).any()
        else None
        for oid in conflicts["outline_id"]
    ]
    clayer = gpd.GeoDataFrame(conflicts, geometry=cgeo if len(conflicts) else [], crs=new_auto.crs)
    layers = {"glaciers": gl, "debris": deb, "conflicts": clayer}
    if "review" in list_layers(auto_path):
        layers["review"] = read_vector(auto_path, layer="review", allow_empty=True)
    with atomic_path(out) as tmp:
        write_layers(tmp, layers)
        embed_styles(tmp)
    return out, conflicts
