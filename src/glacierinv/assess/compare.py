"""Compare two glacier inventories of the same region (seed §5.1, Fig. 13, Figs. S4-S5).

Works on any two polygon inventories (ours vs RGI, RGI 6 vs RGI 7, …):

- **Matching by overlap.** Glaciers of the two inventories are nodes of a bipartite graph; an edge joins
  two glaciers whose overlap is at least ``min_overlap_frac`` of either one's area (so slivers from a
  shifted divide do not chain neighbours together). Each connected component is one *match group*:
  1:1, 1:n (one of ours covers several reference glaciers, e.g. an undivided complex), n:1 or n:m.
  Area differences are computed per group (ours − reference), so splits and merges compare like with
  like.
- **Omissions** are reference glaciers with no match (missed by ours); **commissions** are glaciers of
  ours with no match, i.e. the glaciers of ours absent from the reference (e.g. small glaciers RGI
  omits). Both are listed with their areas and summarised by size class.
- **Size classes** (km²): <0.1, 0.1-0.5, 0.5-1, 1-5, 5-10, 10-50, 50-100, >100. Matched groups are
  classed by the reference group area, omissions by their area, commissions by our area.
- **Debris** (when both inventories carry debris): debris area per match group and its difference.
- **Grid cells** (seed Fig. S4/S5): square cells of ``cell_km`` in a Lambert azimuthal equal-area CRS
  centred on the data; the area of each inventory inside each cell, the difference, and the combined
  uncertainty ``sqrt(u_ours² + u_ref²)``; a cell difference is *credible* when ``|diff| > combined``.
  A glacier's uncertainty is shared among cells in proportion to its area in each cell (fully
  correlated within a glacier). Per-glacier uncertainties come from an ``area_unc_km2`` column, a
  relative uncertainty, or the buffer method at a given pixel size.
- **Accumulation areas only**: :func:`clip_above_elevation` clips both inventories to DEM > Z before
  comparing (the seed's RGI comparison restricted to high-elevation areas, where real change is small).

Areas of whole glaciers are geodesic (:func:`glacierinv.geometry.area_km2`); overlaps and clipped parts
are measured in the equal-area CRS.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from glacierinv.errors import InputError
from glacierinv.geometry import (
    SIZE_CLASSES_KM2,
    area_km2,
    covered_area_km2,
    equal_area_crs,
    size_class_index,
    size_class_labels,
)
from glacierinv.io.vector import ID_CANDIDATES  # one id convention for every command

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "ID_CANDIDATES",
    "SIZE_CLASSES_KM2",
    "CompareOptions",
    "Comparison",
    "InventorySide",
    "clip_above_elevation",
    "compare_inventories",
    "equal_area_crs",
    "match_by_overlap",
    "plot_comparison",
    "size_class_labels",
    "total_areas",
]

log = logging.getLogger(__name__)


def _size_class(area: np.ndarray) -> np.ndarray:
    return np.array(size_class_labels())[size_class_index(area)]


def _ids(gdf: gpd.GeoDataFrame, column: str | None, what: str, src: Any) -> tuple[pd.Series, str]:
    """The id column (given or guessed) as strings; row numbers when no id column exists."""
    if column is not None:
        if column not in gdf.columns:
            raise InputError(
                f"{what} has no id column '{column}'; columns are: "
                f"{', '.join(c for c in gdf.columns if c != gdf.geometry.name)}",
                src,
                "Pass the name of its id column",
            )
    else:
        column = next((c for c in ID_CANDIDATES if c in gdf.columns), None)
        if column is None:
            log.warning("%s has no id column (tried %s): rows are numbered", what, ", ".join(ID_CANDIDATES))
            return pd.Series([f"row{i}" for i in range(len(gdf))], index=gdf.index), "row"
    ids = gdf[column]
    if ids.isna().any() or (ids.astype(str).str.strip() == "").any():
        n = int((ids.isna() | (ids.astype(str).str.strip() == "")).sum())
        raise InputError(f"{n} polygons of {what} have no id in '{column}'", src, "Give every polygon an id")
    ids = ids.astype(str)
    if ids.duplicated().any():
        dup = ids[ids.duplicated()].iloc[0]
        raise InputError(
            f"id '{dup}' appears more than once in '{column}' of {what}",
            src,
            "Dissolve multi-part glaciers first or choose a unique id column",
        )
    return ids, column


def match_by_overlap(
    ours_ea: gpd.GeoSeries, ref_ea: gpd.GeoSeries, min_overlap_frac: float = 0.05
) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Match two sets of polygons (same equal-area CRS) into overlap groups.

    Returns
    -------
    ours_group, ref_group, edges
        Group number of each polygon (-1 = unmatched) and the kept edges (``i_ours``, ``i_ref``,
        ``overlap_km2``). Groups are the connected components of the bipartite overlap graph.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n_o, n_r = len(ours_ea), len(ref_ea)
    a_o = ours_ea.area.to_numpy()
    a_r = ref_ea.area.to_numpy()
    edges = []
    if n_o and n_r:
        i_r, i_o = shapely.STRtree(ours_ea.values).query(ref_ea.values, predicate="intersects")
        for o, r in zip(i_o, i_r, strict=True):
            inter = shapely.intersection(ours_ea.values[o], ref_ea.values[r]).area
            if inter <= 0:
                continue
            if inter >= min_overlap_frac * a_o[o] or inter >= min_overlap_frac * a_r[r]:
                edges.append((int(o), int(r), inter / 1e6))
    e = pd.DataFrame(edges, columns=["i_ours", "i_ref", "overlap_km2"])
    e = e.astype({"i_ours": "int64", "i_ref": "int64", "overlap_km2": "float64"})  # typed when empty too
    graph = coo_matrix(
        (np.ones(len(e)), (e["i_ours"].to_numpy(), n_o + e["i_ref"].to_numpy())), shape=(n_o + n_r,) * 2
    )
    _, comp = connected_components(graph, directed=False)
    matched = np.zeros(n_o + n_r, dtype=bool)
    matched[e["i_ours"].to_numpy()] = True
    matched[n_o + e["i_ref"].to_numpy()] = True
    # renumber the matched components 0..G-1 in order of first appearance
    _, group = np.unique(np.where(matched, comp, -1), return_inverse=True)
    group = group - (1 if (~matched).any() else 0)
    group[~matched] = -1
    return group[:n_o], group[n_o:], e


@dataclass
class Comparison:
    """Result of :func:`compare_inventories` (tables in km²; GeoDataFrames in the ours' CRS)."""

    pairs: pd.DataFrame  # one row per matched pair (matches.csv)
    groups: pd.DataFrame  # one row per match group
    omissions: gpd.GeoDataFrame  # reference glaciers without a match
    commissions: gpd.GeoDataFrame  # glaciers of ours without a match (absent from the reference)
    size_classes: pd.DataFrame
    matches: gpd.GeoDataFrame  # matched glaciers of both inventories with their group
    cells: gpd.GeoDataFrame | None = None
    summary: dict[str, Any] = field(default_factory=dict)


def _uncertainty_km2(
    gdf: gpd.GeoDataFrame, areas: np.ndarray, rel: float | None, pixel_m: float | None, buffer_px: float
) -> tuple[np.ndarray, str]:
    if pixel_m is not None:
        from glacierinv.attributes.uncertainty import buffer_uncertainty

        out, _ = buffer_uncertainty(gdf, pixel_size_m=pixel_m, buffer_px=buffer_px)
        return out["area_unc_km2"].to_numpy(float), f"buffer ±{buffer_px:g} px of {pixel_m:g} m"
    if rel is not None:
        return areas * rel, f"relative {100 * rel:g} %"
    if "area_unc_km2" in gdf.columns and gdf["area_unc_km2"].notna().all():
        return gdf["area_unc_km2"].to_numpy(float), "area_unc_km2 column"
    return areas * 0.05, "relative 5 % (default; no area_unc_km2 column)"


def _debris_per_glacier(gdf: gpd.GeoDataFrame, debris: gpd.GeoDataFrame | None) -> np.ndarray | None:
    """Debris area (km²) per glacier: from a debris layer (overlap) or a ``debris_km2`` column."""
    if debris is not None:
        return covered_area_km2(gdf, debris)
    if "debris_km2" in gdf.columns:
        return gdf["debris_km2"].fillna(0).to_numpy(float)
    return None


@dataclass(frozen=True, eq=False)
class InventorySide:
    """How to read one inventory of a comparison.

    Attributes
    ----------
    id_column
        Id column (default: the first of :data:`ID_CANDIDATES` present, else row numbers).
    debris
        Optional debris polygons (else a ``debris_km2`` column is used when present).
    unc_rel, pixel_m
        Per-glacier area uncertainty: buffer method at ``pixel_m`` (± ``CompareOptions.buffer_px`` px), else
        the relative fraction ``unc_rel``, else an ``area_unc_km2`` column, else 5 % of the area.
    name
        Name in the output columns and messages (default ``ours`` / ``ref`` by position).
    source
        The input path, used in error messages.
    """

    id_column: str | None = None
    debris: gpd.GeoDataFrame | None = None
    unc_rel: float | None = None
    pixel_m: float | None = None
    name: str | None = None
    source: Any = None


@dataclass(frozen=True, eq=False)
class CompareOptions:
    """Options of :func:`compare_inventories`.

    Attributes
    ----------
    min_overlap_frac
        An overlap counts as a match when it covers at least this fraction of either glacier.
    cell_km
        Side of the grid cells in km (None: no grid comparison).
    buffer_px
        Buffer of the uncertainty's buffer method, pixels (seed: ±2 px).
    ours, ref
        The two inventories' :class:`InventorySide`.
    """

    min_overlap_frac: float = 0.05
    cell_km: float | None = None
    buffer_px: float = 2.0
    ours: InventorySide = field(default_factory=InventorySide)
    ref: InventorySide = field(default_factory=InventorySide)

    #: the flat keywords of :func:`compare_inventories` (earlier signature) → (side or None, field)
    KEYWORDS = {
        "ours_id": ("ours", "id_column"), "ref_id": ("ref", "id_column"),
        "ours_debris": ("ours", "debris"), "ref_debris": ("ref", "debris"),
        "ours_unc_rel": ("ours", "unc_rel"), "ref_unc_rel": ("ref", "unc_rel"),
        "ours_pixel_m": ("ours", "pixel_m"), "ref_pixel_m": ("ref", "pixel_m"),
        "ours_name": ("ours", "name"), "ref_name": ("ref", "name"),
        "min_overlap_frac": (None, "min_overlap_frac"), "cell_km": (None, "cell_km"),
        "buffer_px": (None, "buffer_px"),
    }  # fmt: skip

    def with_keywords(self, **keywords: Any) -> CompareOptions:
        """A copy with the flat keywords of :data:`KEYWORDS` (and ``sources=(ours, ref)``) applied."""
        top: dict[str, Any] = {}
        sides: dict[str, dict[str, Any]] = {"ours": {}, "ref": {}}
        sources = keywords.pop("sources", None)
        if sources is not None:
            sides["ours"]["source"], sides["ref"]["source"] = sources
        for key, value in keywords.items():
            if key not in self.KEYWORDS:
                raise TypeError(f"compare_inventories() got an unexpected keyword argument '{key}'")
            side, name = self.KEYWORDS[key]
            (sides[side] if side else top)[name] = value
        return dataclasses.replace(
            self,
            **top,
            ours=dataclasses.replace(self.ours, **sides["ours"]),
            ref=dataclasses.replace(self.ref, **sides["ref"]),
        )


def compare_inventories(
    ours: gpd.GeoDataFrame,
    ref: gpd.GeoDataFrame,
    options: CompareOptions | None = None,
    **keywords: Any,
) -> Comparison:
    """Compare inventory ``ours`` against reference inventory ``ref`` (see module docstring).

    Parameters
    ----------
    ours, ref
        Glacier polygons (any CRSs; ``ref`` is reprojected to ``ours``' CRS for the outputs).
    options
        :class:`CompareOptions` (default: all defaults).
    **keywords
        The flat keywords of earlier versions, applied on top of ``options``: ``ours_id, ref_id,
        min_overlap_frac, cell_km, ours_debris, ref_debris, ours_unc_rel, ref_unc_rel, ours_pixel_m,
        ref_pixel_m, buffer_px, ours_name, ref_name, sources`` (see :class:`CompareOptions`,
        :class:`InventorySide`).

    Returns
    -------
    Comparison

    Examples
    --------
    >>> opts = CompareOptions(cell_km=10, ref=InventorySide(unc_rel=0.05, name="ref"))  # doctest: +SKIP
    >>> comp = compare_inventories(ours, rgi, opts)  # doctest: +SKIP
    """
    opt = (options or CompareOptions()).with_keywords(**keywords)
    os_, rs_ = _named_sides(opt)
    _check_inputs(ours, ref, os_.name, rs_.name, (os_.source, rs_.source), opt.min_overlap_frac, opt.cell_km)
    ours, ref, reprojected = _in_common_crs(ours, ref, rs_.name)
    ea = equal_area_crs(ours, ref)
    o = _Side.prepare(ours, os_, opt.buffer_px, ea)
    r = _Side.prepare(ref, rs_, opt.buffer_px, ea)
    o.group, r.group, edges = match_by_overlap(o.geom_ea, r.geom_ea, opt.min_overlap_frac)
    groups = _group_table(o, r)
    pairs = _pair_table(o, r, edges, groups)
    omissions, commissions = r.frame(r.group < 0, ours.crs), o.frame(o.group < 0, ours.crs)
    matches = _matched_glaciers(o, r, ours.crs)
    size_classes = _size_class_table(o, r, groups, omissions, commissions)
    cells = _side_cells(o, r, opt.cell_km, ea) if opt.cell_km is not None else None
    setup = {
        "equal_area_crs": ea.srs,
        "ref_reprojected": reprojected,
        "min_overlap_frac": opt.min_overlap_frac,
    }
    summary = _summary(o, r, groups, omissions, commissions, cells, opt.cell_km, setup)
    return Comparison(pairs, groups, omissions, commissions, size_classes, matches, cells, summary)


def _named_sides(opt: CompareOptions) -> tuple[InventorySide, InventorySide]:
    """Both sides of ``opt`` with their default names filled in (``ours``, ``ref``).

    Raises InputError when the two sides end up with the same name (the output columns would collide).
    """
    os_ = opt.ours if opt.ours.name else dataclasses.replace(opt.ours, name="ours")
    rs_ = opt.ref if opt.ref.name else dataclasses.replace(opt.ref, name="ref")
    if os_.name == rs_.name:
        raise InputError(f"the two inventories have the same name '{os_.name}'; give them different names")
    return os_, rs_


def _in_common_crs(
    ours: gpd.GeoDataFrame, ref: gpd.GeoDataFrame, ref_name: str
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, str | None]:
    """Both inventories indexed 0..n-1, ``ref`` reprojected to ``ours``' CRS where the CRSs differ.

    Returns ``(ours, ref, reprojected)``; ``reprojected`` is ``"<ref CRS name> -> <ours CRS name>"`` (also
    logged) or None when ``ref`` was already in ``ours``' CRS.
    """
    ours = ours.reset_index(drop=True)
    ref = ref.reset_index(drop=True)
    reprojected = None
    if CRS.from_user_input(ref.crs) != CRS.from_user_input(ours.crs):
        reprojected = f"{ref.crs.name} -> {ours.crs.name}"
        log.info("%s inventory reprojected: %s", ref_name, reprojected)
        ref = ref.to_crs(ours.crs)
    return ours, ref, reprojected


def _check_inputs(ours, ref, ours_name, ref_name, sources, min_overlap_frac, cell_km) -> None:
    for gdf, what, src in ((ours, ours_name, sources[0]), (ref, ref_name, sources[1])):
        if gdf.crs is None:
            raise InputError(f"{what} inventory has no CRS", src, "Assign one and save again")
        if len(gdf) == 0:
            raise InputError(f"{what} inventory has no glaciers", src, "Give a layer with glacier polygons")
    if not 0 < min_overlap_frac <= 1:
        raise InputError(f"min overlap fraction must be in (0, 1], got {min_overlap_frac}")
    if cell_km is not None and not cell_km > 0:
        raise InputError(f"cell size must be positive, got {cell_km} km")


@dataclass
class _Side:
    """One inventory of a comparison, prepared: ids, equal-area geometries, areas, uncertainty, debris."""

    gdf: gpd.GeoDataFrame
    name: str
    source: Any
    ids: pd.Series
    id_column: str
    geom_ea: gpd.GeoSeries
    area: np.ndarray  # km², geodesic
    unc: np.ndarray  # km²
    unc_source: str
    debris: np.ndarray | None  # km² per glacier
    group: np.ndarray | None = None  # match group per glacier (-1: unmatched)

    @classmethod
    def prepare(cls, gdf, side: InventorySide, buffer_px: float, ea) -> _Side:
        ids, col = _ids(gdf, side.id_column, side.name, side.source)
        geom_ea = gdf.geometry.to_crs(ea)
        area = area_km2(gdf)
        unc, unc_source = _uncertainty_km2(gdf, area, side.unc_rel, side.pixel_m, buffer_px)
        deb = _debris_per_glacier(gdf, side.debris)
        return cls(gdf, side.name, side.source, ids, col, geom_ea, area, unc, unc_source, deb)

    def per_group(self, values: np.ndarray, n_groups: int) -> np.ndarray:
        m = self.group >= 0
        return np.bincount(self.group[m], weights=values[m], minlength=n_groups)

    def frame(self, mask: np.ndarray, crs, with_group: bool = False) -> gpd.GeoDataFrame:
        """The glaciers under ``mask`` as a GeoDataFrame (largest first)."""
        cols = {
            "source": self.name,
            "id": self.ids.to_numpy()[mask],
            "id_column": self.id_column,
            "area_km2": self.area[mask],
            "size_class": _size_class(self.area[mask]),
        }
        if with_group:
            cols["match_id"] = self.group[mask]
        f = gpd.GeoDataFrame(cols, geometry=self.gdf.geometry.values[mask], crs=crs)
        return f.sort_values("area_km2", ascending=False).reset_index(drop=True)


def _matched_glaciers(o: _Side, r: _Side, crs) -> gpd.GeoDataFrame:
    """The matched glaciers of both inventories, ours then the reference's (each largest first), with their
    ``match_id``, in ``crs`` (ours' CRS): the ``matches`` layer."""
    both = [o.frame(o.group >= 0, crs, True), r.frame(r.group >= 0, crs, True)]
    return gpd.GeoDataFrame(pd.concat(both, ignore_index=True), crs=crs)


def _side_cells(o: _Side, r: _Side, cell_km: float, ea) -> gpd.GeoDataFrame:
    """:func:`_grid_cells` of two prepared sides: their areas (km²) and uncertainties (km²) in square cells
    of ``cell_km`` km of the equal-area CRS ``ea``."""
    return _grid_cells(o.geom_ea, r.geom_ea, o.area, r.area, o.unc, r.unc, cell_km, ea, o.name, r.name)


def _group_table(o: _Side, r: _Side) -> pd.DataFrame:
    """One row per overlap group (1:1, 1:n, n:1, n:m): areas, difference, combined uncertainty, credibility."""
    n_groups = int(max(o.group.max(initial=-1), r.group.max(initial=-1)) + 1)
    area_o, area_r = o.per_group(o.area, n_groups), r.per_group(r.area, n_groups)
    n_o = np.bincount(o.group[o.group >= 0], minlength=n_groups)
    n_r = np.bincount(r.group[r.group >= 0], minlength=n_groups)
    kind = np.where(
        (n_o == 1) & (n_r == 1), "1:1", np.where(n_o == 1, "1:n", np.where(n_r == 1, "n:1", "n:m"))
    )
    groups = pd.DataFrame(
        {
            "match_id": np.arange(n_groups),
            "match_type": kind,
            f"{o.name}_ids": [";".join(o.ids[o.group == k]) for k in range(n_groups)],
            f"{r.name}_ids": [";".join(r.ids[r.group == k]) for k in range(n_groups)],
            f"{o.name}_area_km2": area_o,
            f"{r.name}_area_km2": area_r,
            "area_diff_km2": area_o - area_r,
            "area_diff_pct": 100 * (area_o - area_r) / np.where(area_r > 0, area_r, np.nan),
            "combined_unc_km2": np.sqrt(
                o.per_group(o.unc, n_groups) ** 2 + r.per_group(r.unc, n_groups) ** 2
            ),
            "size_class": _size_class(area_r),
        }
    )
    groups["credible"] = np.abs(groups["area_diff_km2"]) > groups["combined_unc_km2"]
    if o.debris is not None and r.debris is not None:
        groups[f"{o.name}_debris_km2"] = o.per_group(o.debris, n_groups)
        groups[f"{r.name}_debris_km2"] = r.per_group(r.debris, n_groups)
        groups["debris_diff_km2"] = groups[f"{o.name}_debris_km2"] - groups[f"{r.name}_debris_km2"]
    return groups


def _pair_table(o: _Side, r: _Side, edges: pd.DataFrame, groups: pd.DataFrame) -> pd.DataFrame:
    """matches.csv: one row per overlapping pair kept as an edge, with its IoU."""
    io_, ir_ = edges["i_ours"].to_numpy(int), edges["i_ref"].to_numpy(int)
    gid = o.group[io_] if len(io_) else np.zeros(0, dtype=int)
    kind = groups["match_type"].to_numpy()
    group_diff = groups["area_diff_km2"].to_numpy()
    pairs = pd.DataFrame(
        {
            "match_id": gid,
            "match_type": kind[gid] if len(gid) else np.array([], dtype=str),
            f"{o.name}_id": o.ids.to_numpy()[io_],
            f"{r.name}_id": r.ids.to_numpy()[ir_],
            f"{o.name}_area_km2": o.area[io_],
            f"{r.name}_area_km2": r.area[ir_],
            "area_diff_km2": o.area[io_] - r.area[ir_],
            "overlap_km2": edges["overlap_km2"].to_numpy(float),
            "group_area_diff_km2": group_diff[gid] if len(gid) else np.zeros(0),
        }
    )
    pairs["iou"] = pairs["overlap_km2"] / (
        pairs[f"{o.name}_area_km2"] + pairs[f"{r.name}_area_km2"] - pairs["overlap_km2"]
    )
    return pairs.sort_values(["match_id", f"{o.name}_id", f"{r.name}_id"]).reset_index(drop=True)


def _size_class_table(o: _Side, r: _Side, groups, omissions, commissions) -> pd.DataFrame:
    """Number and area per size class in both inventories, matched differences, omissions, commissions."""
    sc_o, sc_r = _size_class(o.area), _size_class(r.area)
    rows = []
    for lab in size_class_labels():
        g_in = groups["size_class"] == lab
        om, cm = omissions["size_class"] == lab, commissions["size_class"] == lab
        rows.append(
            {
                "size_class_km2": lab,
                f"n_{o.name}": int((sc_o == lab).sum()),
                f"{o.name}_area_km2": float(o.area[sc_o == lab].sum()),
                f"n_{r.name}": int((sc_r == lab).sum()),
                f"{r.name}_area_km2": float(r.area[sc_r == lab].sum()),
                "area_diff_km2": float(o.area[sc_o == lab].sum() - r.area[sc_r == lab].sum()),
                "n_match_groups": int(g_in.sum()),
                "matched_area_diff_km2": float(groups.loc[g_in, "area_diff_km2"].sum()),
                "n_omitted": int(om.sum()),
                "omitted_km2": float(omissions.loc[om, "area_km2"].sum()),
                "n_commission": int(cm.sum()),
                "commission_km2": float(commissions.loc[cm, "area_km2"].sum()),
            }
        )
    return pd.DataFrame(rows)


def _summary(
    o: _Side, r: _Side, groups, omissions, commissions, cells, cell_km, setup: dict
) -> dict[str, Any]:
    kind = groups["match_type"].to_numpy()
    summary: dict[str, Any] = {
        "ours": str(o.source) if o.source is not None else o.name,
        "ref": str(r.source) if r.source is not None else r.name,
        "ours_id_column": o.id_column,
        "ref_id_column": r.id_column,
        **setup,
        f"n_{o.name}": len(o.gdf),
        f"n_{r.name}": len(r.gdf),
        f"{o.name}_area_km2": float(o.area.sum()),
        f"{r.name}_area_km2": float(r.area.sum()),
        "area_diff_km2": float(o.area.sum() - r.area.sum()),
        "area_diff_pct": float(100 * (o.area.sum() - r.area.sum()) / r.area.sum())
        if r.area.sum() > 0
        else None,
        f"{o.name}_unc_km2": float(o.unc.sum()),
        f"{r.name}_unc_km2": float(r.unc.sum()),
        "uncertainty_source": {o.name: o.unc_source, r.name: r.unc_source},
        "n_match_groups": len(groups),
        "match_types": {t: int((kind == t).sum()) for t in ("1:1", "1:n", "n:1", "n:m")},
        "matched_area_diff_km2": float(groups["area_diff_km2"].sum()),
        "n_credible_groups": int(groups["credible"].sum()),
        "n_omissions": len(omissions),
        "omitted_km2": float(omissions["area_km2"].sum()),
        "n_commissions": len(commissions),
        "commission_km2": float(commissions["area_km2"].sum()),
    }
    if o.debris is not None and r.debris is not None:
        summary[f"{o.name}_debris_km2"] = float(o.debris.sum())
        summary[f"{r.name}_debris_km2"] = float(r.debris.sum())
        summary["debris_diff_km2"] = float(o.debris.sum() - r.debris.sum())
    if cells is not None:
        summary["cell_km"] = cell_km
        summary["n_cells"] = len(cells)
        summary["n_credible_cells"] = int(cells["credible"].sum())
        summary["cell_diff_min_km2"] = float(cells["area_diff_km2"].min()) if len(cells) else None
        summary["cell_diff_max_km2"] = float(cells["area_diff_km2"].max()) if len(cells) else None
    return summary


def _grid_cells(o_ea, r_ea, a_o, a_r, u_o, u_r, cell_km, ea, ours_name, ref_name) -> gpd.GeoDataFrame:
    """Areas of both inventories in square equal-area cells, with propagated uncertainty."""
    size = cell_km * 1000.0
    bounds = np.array([o_ea.total_bounds, r_ea.total_bounds])
    xmin, ymin = bounds[:, :2].min(axis=0)
    xmax, ymax = bounds[:, 2:].max(axis=0)
    x0, y0 = np.floor(xmin / size) * size, np.floor(ymin / size) * size
    nx = max(1, int(np.ceil((xmax - x0) / size)))
    ny = max(1, int(np.ceil((ymax - y0) / size)))
    if nx * ny > 2_000_000:
        raise InputError(f"{nx * ny} grid cells of {cell_km:g} km is too many", fix="Choose a larger --cell")
    xs, ys = np.meshgrid(x0 + size * np.arange(nx), y0 + size * np.arange(ny))
    boxes = shapely.box(xs.ravel(), ys.ravel(), xs.ravel() + size, ys.ravel() + size)
    tree = shapely.STRtree(boxes)
    n = len(boxes)
    area = {ours_name: np.zeros(n), ref_name: np.zeros(n)}
    unc = {ours_name: np.zeros(n), ref_name: np.zeros(n)}
    for name, geoms, areas, uncs in ((ours_name, o_ea, a_o, u_o), (ref_name, r_ea, a_r, u_r)):
        planar = geoms.area.to_numpy() / 1e6
        i_g, i_c = tree.query(geoms.values, predicate="intersects")
        part = shapely.area(shapely.intersection(geoms.values[i_g], boxes[i_c])) / 1e6
        frac = np.divide(part, planar[i_g], out=np.zeros_like(part), where=planar[i_g] > 0)
        # clipped parts carry the glacier's geodesic area and uncertainty in proportion to their share
        np.add.at(area[name], i_c, frac * areas[i_g])
        np.add.at(unc[name], i_c, frac * uncs[i_g])
    keep = (area[ours_name] > 0) | (area[ref_name] > 0)
    cells = gpd.GeoDataFrame(
        {
            "cell_id": np.flatnonzero(keep),
            "col": np.flatnonzero(keep) % nx,
            "row": np.flatnonzero(keep) // nx,
            f"{ours_name}_area_km2": area[ours_name][keep],
            f"{ref_name}_area_km2": area[ref_name][keep],
            f"{ours_name}_unc_km2": unc[ours_name][keep],
            f"{ref_name}_unc_km2": unc[ref_name][keep],
        },
        geometry=boxes[keep],
        crs=ea,
    )
    cells["area_diff_km2"] = cells[f"{ours_name}_area_km2"] - cells[f"{ref_name}_area_km2"]
    cells["combined_unc_km2"] = np.hypot(cells[f"{ours_name}_unc_km2"], cells[f"{ref_name}_unc_km2"])
    cells["credible"] = cells["area_diff_km2"].abs() > cells["combined_unc_km2"]
    return cells.reset_index(drop=True)


def clip_above_elevation(
    glaciers: gpd.GeoDataFrame, dem_path: str | Path, z_m: float, *, block_px: int = 2048
) -> gpd.GeoDataFrame:
    """Clip glacier polygons to the parts where the DEM is above ``z_m`` metres.

    The DEM is read window by window over the glaciers' extent only; cells above ``z_m`` are
    polygonised (pixel edges) and intersected with the glaciers. DEM nodata counts as *not* above.
    Glaciers entirely below ``z_m`` are dropped; ``area_km2`` (if present) is recomputed.
    """
    import rasterio.features
    from rasterio.errors import WindowError
    from rasterio.windows import Window, from_bounds

    from glacierinv.io.raster import iter_windows, open_raster, read_window

    if len(glaciers) == 0:
        return glaciers.copy()
    with open_raster(dem_path) as ds:
        b = glaciers.to_crs(ds.crs).total_bounds
        full = Window(0, 0, ds.width, ds.height)
        try:
            win = from_bounds(*b, transform=ds.transform).round_offsets().round_lengths().intersection(full)
        except WindowError:
            raise InputError(
                "DEM does not cover the glaciers", dem_path, "Give a DEM over the inventories"
            ) from None
        pieces = []
        for _, w in iter_windows((int(win.height), int(win.width)), block_px):
            w = Window(w.col_off + win.col_off, w.row_off + win.row_off, w.width, w.height)
            z = read_window(ds, w, 1)
            mask = np.nan_to_num(z, nan=-np.inf) > z_m
            if not mask.any():
                continue
            t = ds.window_transform(w)
            pieces.extend(
                shapely.geometry.shape(g)
                for g, _ in rasterio.features.shapes(mask.astype("uint8"), mask=mask, transform=t)
            )
        dem_crs = ds.crs
    if not pieces:
        log.warning("no DEM cell above %g m under the glaciers", z_m)
        return glaciers.iloc[0:0].copy()
    high = gpd.GeoSeries([shapely.union_all(pieces)], crs=dem_crs).to_crs(glaciers.crs).iloc[0]
    out = glaciers.copy()
    out["geometry"] = shapely.intersection(out.geometry.values, high)
    out = out[shapely.area(out.geometry.values) > 0].copy()
    if "area_km2" in out.columns:
        out["area_km2"] = area_km2(out)
    return out


# ------------------------------------------------------------------------------------------------ figures

# Okabe & Ito (2008) colour-blind-safe palette
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")


def plot_comparison(
    comp: Comparison, folder: str | Path, ours_name: str = "ours", ref_name: str = "ref"
) -> list[Path]:
    """Write the comparison figures (PNG) into ``folder``; returns their paths.

    ``size_classes.png`` (area and count per size class, both inventories), ``group_areas.png`` (area of
    matched groups, ours vs reference, log-log, credible differences marked) and, with grid cells,
    ``cells.png`` (cell area difference on a diverging colour-blind-safe map, credible cells outlined).
    """
    folder = Path(folder)
    figures = [
        ("size_classes.png", _size_class_figure, comp.size_classes),
        ("group_areas.png", _group_area_figure, comp.groups),
    ]
    if comp.cells is not None and len(comp.cells):
        figures.append(("cells.png", _cell_figure, comp.cells))
    # drawn and written one after the other (one figure in memory at a time)
    return [_save_figure(draw(table, ours_name, ref_name), folder / name) for name, draw, table in figures]


def _subplots(*grid: int, figsize: tuple[float, float]) -> tuple[Figure, Any]:
    """A new figure (``figsize`` in inches) and its axes on ``grid``, without pyplot (no global backend
    change)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    return fig, fig.subplots(*grid)


def _save_figure(fig: Figure, path: Path) -> Path:
    """Lay out ``fig`` tightly and write it to ``path`` as PNG at 120 dpi; returns ``path``."""
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path


def _size_class_figure(sc: pd.DataFrame, ours_name: str, ref_name: str) -> Figure:
    """Two bar panels per size class (km²): glacier area (km²) and glacier count, both inventories side by
    side (ours left in blue, the reference right in orange). ``sc`` is :attr:`Comparison.size_classes`."""
    fig, axes = _subplots(1, 2, figsize=(10, 4))
    x = np.arange(len(sc))
    for k, (col, lab) in enumerate(
        ((f"{ours_name}_area_km2", ours_name), (f"{ref_name}_area_km2", ref_name))
    ):
        axes[0].bar(x + (k - 0.5) * 0.4, sc[col], 0.4, label=lab, color=OKABE_ITO[k])
    for k, (col, lab) in enumerate(((f"n_{ours_name}", ours_name), (f"n_{ref_name}", ref_name))):
        axes[1].bar(x + (k - 0.5) * 0.4, sc[col], 0.4, label=lab, color=OKABE_ITO[k])
    for ax, ylab in zip(axes, ("area (km²)", "number of glaciers"), strict=True):
        ax.set_xticks(x, sc["size_class_km2"], rotation=45)
        ax.set_xlabel("size class (km²)")
        ax.set_ylabel(ylab)
        ax.legend()
    return fig


def _group_area_figure(g: pd.DataFrame, ours_name: str, ref_name: str) -> Figure:
    """Area of each match group (km²), ours against the reference's, log-log with the 1:1 line; groups
    whose difference exceeds the combined uncertainty (``credible``) as squares. ``g`` is
    :attr:`Comparison.groups`; with no group only the labelled axes are drawn."""
    fig, ax = _subplots(figsize=(5, 5))
    if len(g):
        cred = g["credible"].to_numpy(bool)
        a_r, a_o = g[f"{ref_name}_area_km2"], g[f"{ours_name}_area_km2"]
        ax.scatter(a_r[~cred], a_o[~cred], s=14, color=OKABE_ITO[5], label="within uncertainty")
        ax.scatter(a_r[cred], a_o[cred], s=14, color=OKABE_ITO[3], marker="s", label="credible difference")
        lim = [max(min(a_r.min(), a_o.min()) * 0.8, 1e-4), max(a_r.max(), a_o.max()) * 1.25]
        ax.plot(lim, lim, color="0.4", lw=0.8)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.legend()
    ax.set_xlabel(f"{ref_name} area of match group (km²)")
    ax.set_ylabel(f"{ours_name} area of match group (km²)")
    return fig


def _cell_figure(c: gpd.GeoDataFrame, ours_name: str, ref_name: str) -> Figure:
    """Map of the grid cells' area difference (ours − reference, km²) on a diverging colour map symmetric
    about 0 (``PuOr``), cells with a credible difference outlined in black. ``c`` is
    :attr:`Comparison.cells` (non-empty), drawn in its equal-area CRS without axes."""
    fig, ax = _subplots(figsize=(6, 5))
    lim = float(np.abs(c["area_diff_km2"]).max()) or 1.0
    c.plot(
        column="area_diff_km2",
        cmap="PuOr",
        vmin=-lim,
        vmax=lim,
        ax=ax,
        legend=True,
        legend_kwds={"label": f"{ours_name} − {ref_name} (km²)"},
    )
    c[c["credible"]].boundary.plot(ax=ax, color="black", linewidth=1.2)
    ax.set_title("cell area difference (outlined: |diff| > combined uncertainty)", fontsize=9)
    ax.set_axis_off()
    return fig


def total_areas(
    glaciers: gpd.GeoDataFrame,
    ref_glaciers: gpd.GeoDataFrame,
    debris: gpd.GeoDataFrame | None = None,
    ref_debris: gpd.GeoDataFrame | None = None,
) -> dict[str, float]:
    """Total glacier (and debris) area of an inventory against a reference, km² on the ellipsoid.

    The quick whole-inventory check of a run against its truth polygons (the full per-glacier matching is
    :func:`compare_inventories`). Returns ``area_km2``, ``truth_area_km2``, ``area_rel_diff`` and, when the
    reference has debris, ``debris_km2`` and ``truth_debris_km2``.
    """
    out = {"area_km2": float(area_km2(glaciers).sum()), "truth_area_km2": float(area_km2(ref_glaciers).sum())}
    out["area_rel_diff"] = (out["area_km2"] - out["truth_area_km2"]) / out["truth_area_km2"]
    if ref_debris is not None:
        out["debris_km2"] = float(area_km2(debris).sum()) if debris is not None and len(debris) else 0.0
        out["truth_debris_km2"] = float(area_km2(ref_debris).sum()) if len(ref_debris) else 0.0
    return out
