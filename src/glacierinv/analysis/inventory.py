"""Reading an inventory for the analyses: our GeoPackage or any RGI 5/6/7 file, with RGI 7 column names.

:func:`to_rgi7_columns` is the one column mapping (RGI 5/6 ``Area, Zmin, Zmax, Zmed, Slope, Aspect,
Lmax, RGIId, CenLon, CenLat, Surging, TermType`` and RGI 7 ``rgi_id`` → our names); RGI's numeric
"no data" sentinels (−9999 for elevations, −9 for slope/aspect/length) become NaN.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from glacierinv.errors import InputError
from glacierinv.geometry import area_km2

__all__ = ["RGI_COLUMNS", "Inventory", "load_inventory", "require_columns", "to_rgi7_columns"]

log = logging.getLogger(__name__)

#: RGI 5/6 (and RGI 7 id) column names → RGI 7 / glacierinv names.
RGI_COLUMNS: dict[str, str] = {
    "RGIId": "glac_id",
    "rgi_id": "glac_id",
    "CenLon": "cenlon",
    "CenLat": "cenlat",
    "Area": "area_km2",
    "Zmin": "zmin_m",
    "Zmax": "zmax_m",
    "Zmed": "zmed_m",
    "Slope": "slope_deg",
    "Aspect": "aspect_deg",
    "Lmax": "lmax_m",
    "Surging": "surge_type",
    "TermType": "term_type",
}
_SENTINEL = {"zmin_m": -9999, "zmax_m": -9999, "zmed_m": -9999, "zmean_m": -9999,
             "slope_deg": -9, "aspect_deg": -9, "lmax_m": -9}  # fmt: skip


def to_rgi7_columns(gdf: pd.DataFrame) -> pd.DataFrame:
    """Rename RGI 5/6 columns to RGI 7 names (where the RGI 7 name is not already there).

    Numeric RGI sentinels (≤ −9999 for elevations, ≤ −9 for slope, aspect and length) become NaN. Columns
    already in RGI 7 names are kept as they are.
    """
    rename = {old: new for old, new in RGI_COLUMNS.items() if old in gdf.columns and new not in gdf.columns}
    out = gdf.rename(columns=rename)
    for col, bad in _SENTINEL.items():
        if col in out.columns and pd.api.types.is_numeric_dtype(out[col]):
            vals = out[col].astype("float64")
            out[col] = vals.where(vals > bad)
    return out


@dataclass
class Inventory:
    """An inventory ready for the analyses (glaciers with RGI 7 column names, optional extra layers)."""

    glaciers: gpd.GeoDataFrame
    debris: gpd.GeoDataFrame | None = None
    centerlines: gpd.GeoDataFrame | None = None
    path: Path | None = None

    @property
    def area_km2(self) -> np.ndarray:
        return self.glaciers["area_km2"].to_numpy(dtype="float64")

    def debris_patch_area_km2(self) -> np.ndarray:
        """Areas (km², ellipsoidal) of the debris patches: each connected polygon counts once."""
        if self.debris is None or len(self.debris) == 0:
            return np.array([], dtype="float64")
        parts = self.debris.geometry.explode(index_parts=False)
        return area_km2(parts[~parts.is_empty])

    def debris_km2_per_glacier(self) -> np.ndarray | None:
        """Debris area per glacier: the ``debris_km2`` column, else the debris layer summed by ``glac_id``."""
        g = self.glaciers
        if "debris_km2" in g.columns:
            return g["debris_km2"].astype("float64").fillna(0.0).to_numpy()
        if self.debris is not None and "glac_id" in self.debris.columns:
            per = (
                pd.Series(area_km2(self.debris), index=self.debris["glac_id"].to_numpy())
                .groupby(level=0)
                .sum()
            )
            return g["glac_id"].map(per).fillna(0.0).to_numpy(dtype="float64")
        return None


def require_columns(
    gdf: pd.DataFrame, columns: list[str] | tuple[str, ...], analysis: str, path=None
) -> None:
    """Raise :class:`InputError` naming the analysis and the missing columns."""
    missing = [c for c in columns if c not in gdf.columns]
    if missing:
        raise InputError(
            f"analysis '{analysis}' needs column(s) {', '.join(missing)}, which the inventory lacks "
            f"(it has: {', '.join(c for c in gdf.columns if c != 'geometry')})",
            path,
            "Compute them with `glacierinv attributes` or give the option that replaces them",
        )


def load_inventory(path: str | Path, *, layer: str | None = None) -> Inventory:
    """Read an inventory: layer ``glaciers`` (or ``layer``, or the first) + optional ``debris``/``centerlines``.

    Works on our ``inventory.gpkg`` and on RGI shapefiles (columns mapped by :func:`to_rgi7_columns`). A
    missing ``glac_id`` is created from the row number; a missing ``area_km2`` is computed on the ellipsoid.
    """
    from glacierinv.io.vector import list_layers, read_vector

    p = Path(path)
    if not p.exists():
        raise InputError("inventory not found", p, "Check the path")
    layers = list_layers(p)
    if layer is None:
        layer = "glaciers" if "glaciers" in layers else layers[0]
    glaciers = to_rgi7_columns(read_vector(p, layer=layer, polygons=True))
    if "glac_id" not in glaciers.columns:
        log.info("%s: no glac_id/RGIId column; glaciers are numbered in file order", p)
        glaciers["glac_id"] = [f"G{i:06d}" for i in range(len(glaciers))]
    glaciers["glac_id"] = glaciers["glac_id"].astype(str)
    if glaciers["glac_id"].duplicated().any():
        dup = glaciers["glac_id"][glaciers["glac_id"].duplicated()].iloc[0]
        raise InputError(f"glac_id '{dup}' occurs more than once", p, "Give each glacier a unique id")
    if "area_km2" not in glaciers.columns or glaciers["area_km2"].isna().any():
        computed = area_km2(glaciers)
        glaciers["area_km2"] = (
            glaciers["area_km2"].astype("float64").fillna(pd.Series(computed, index=glaciers.index))
            if "area_km2" in glaciers.columns
            else computed
        )
    debris = read_vector(p, layer="debris", allow_empty=True, polygons=True) if "debris" in layers else None
    lines = read_vector(p, layer="centerlines", allow_empty=True) if "centerlines" in layers else None
    if lines is not None:
        lines = to_rgi7_columns(lines)
        if "glac_id" not in lines.columns or len(lines) == 0:
            lines = None
        else:
            lines["glac_id"] = lines["glac_id"].astype(str)
    if debris is not None and "glac_id" in debris.columns:
        debris["glac_id"] = debris["glac_id"].astype(str)
    return Inventory(glaciers.reset_index(drop=True), debris, lines, p)
