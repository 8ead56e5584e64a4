"""GIS-ready inventory tables: meaningful precision, the RGI 7 columns we can derive, RGI-like export CRS.

- :func:`round_inventory`: areas to 1e-6 km² (1 m²), elevations and lengths to 0.1 m, angles to 0.1°,
  lon/lat to 1e-6° (~0.1 m), fractions to 1e-4: the precision of the inputs, not of float64 noise.
- :func:`add_rgi7_ids`: ``o1region``/``o2region`` from RGI region polygons when given (the region holding
  the glacier's representative point ``cenlon/cenlat``), and an ``rgi_id``-style id
  ``<prefix>-G-<o1region>-<nnnnn>`` (``<prefix>-G-<nnnnn>`` without regions) when the input has none. These
  are *not* RGI ids: the prefix says whose they are.
- ``utm_zone``, ``termlon``/``termlat`` (the lowest point of the outline on the DEM) and ``cenlon/cenlat``
  are computed with the other attributes (:func:`glacierinv.attributes.compute_attributes`);
  ``glac_name`` is carried over when the input has it.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from glacierinv.errors import InputError

__all__ = ["DECIMALS", "add_rgi7_ids", "decimals_of", "round_inventory", "to_export_crs"]

#: Decimals per column family (see the module docstring).
DECIMALS = {"km2": 6, "m": 1, "deg": 1, "lonlat": 6, "frac": 4}
_LONLAT = {"cenlon", "cenlat", "termlon", "termlat"}
_FRACTIONS = {"debris_frac", "dem_cov", "aar", "snow_cov"}


def decimals_of(column: str) -> int | None:
    """Decimals of a column by its name (units in the names), None for columns left as they are."""
    if column in _LONLAT:
        return DECIMALS["lonlat"]
    if column in _FRACTIONS:
        return DECIMALS["frac"]
    if column.endswith("_km2"):
        return DECIMALS["km2"]
    if column.endswith("_deg"):
        return DECIMALS["deg"]
    if column.endswith("_m"):
        return DECIMALS["m"]
    return None


def round_inventory(table: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``table`` with float columns rounded to :data:`DECIMALS` by their names (``*_km2``,
    ``*_m``, ``*_deg``, lon/lat, fractions); other columns (ids, codes, text, ``*_input``) unchanged."""
    out = table.copy()
    for col in out.columns:
        d = decimals_of(col)
        if d is not None and pd.api.types.is_float_dtype(out[col]):
            out[col] = out[col].round(d)
    return out


def _code_column(regions: gpd.GeoDataFrame) -> str:
    for c in ("o2region", "o1region", "O2Region", "O1Region", "RGI_CODE", "RGI_Code", "rgi_code", "code"):
        if c in regions.columns:
            return c
    raise InputError(
        f"RGI regions: no region code column (looked for o1region, o2region, RGI_CODE); columns are "
        f"{', '.join(map(str, regions.columns))}",
        fix="Give the RGI 7 region or subregion polygons (RGI2000-v7.0-regions)",
    )


def _normalise_code(code) -> tuple[str | None, str | None]:
    """(o1region "11", o2region "11-01" or None) from an RGI code like 11, "11", "11-01", "11-1"."""
    if code is None or (isinstance(code, float) and not np.isfinite(code)):
        return None, None
    text = str(code).strip()
    if "-" in text:
        a, b = text.split("-", 1)
        o1 = f"{int(float(a)):02d}"
        return o1, f"{o1}-{int(float(b)):02d}"
    return f"{int(float(text)):02d}", None


def add_rgi7_ids(
    glaciers: gpd.GeoDataFrame,
    regions: list[gpd.GeoDataFrame] | gpd.GeoDataFrame | None = None,
    *,
    prefix: str = "glacierinv",
) -> gpd.GeoDataFrame:
    """Add ``o1region``/``o2region`` (from RGI region/subregion polygons) and an ``rgi_id``-style id.

    Parameters
    ----------
    glaciers
        Inventory with ``cenlon``/``cenlat`` (representative points, WGS84).
    regions
        RGI region and/or subregion polygons (one or several frames; a code with a dash, ``11-01``, is a
        subregion and also gives its region). Glaciers outside every region get null codes.
    prefix
        First part of the generated ids. Existing ``rgi_id`` values of the input are never replaced.
    """
    out = glaciers.copy()
    frames = [regions] if isinstance(regions, gpd.GeoDataFrame) else list(regions or [])
    pts = gpd.GeoSeries(gpd.points_from_xy(out["cenlon"], out["cenlat"]), crs=4326, index=out.index)
    o1 = pd.Series([None] * len(out), index=out.index, dtype="object")
    o2 = o1.copy()
    for reg in frames:
        col = _code_column(reg)
        codes = [_normalise_code(c) for c in reg[col]]
        joined = gpd.sjoin(gpd.GeoDataFrame(geometry=pts), reg[[reg.geometry.name]].to_crs(4326),
                           predicate="within", how="left")  # fmt: skip
        joined = joined[~joined.index.duplicated()]
        for i, j in zip(joined.index, joined["index_right"], strict=True):
            if pd.isna(j):
                continue
            a, b = codes[int(j)]
            o1[i] = o1[i] or a
            o2[i] = o2[i] or b
    if frames:
        if "o1region" not in out.columns:
            out["o1region"] = o1
        if "o2region" not in out.columns and o2.notna().any():
            out["o2region"] = o2
    if "rgi_id" not in out.columns:
        region = (
            out["o1region"] if "o1region" in out.columns else pd.Series([None] * len(out), index=out.index)
        )
        out["rgi_id"] = [
            f"{prefix}-G-{r}-{k + 1:05d}" if isinstance(r, str) and r else f"{prefix}-G-{k + 1:05d}"
            for k, r in enumerate(region)
        ]
    return out


def to_export_crs(layers: dict, crs) -> dict:
    """Every spatial layer of ``layers`` in ``crs`` (e.g. ``EPSG:4326`` like RGI's distribution)."""
    from pyproj import CRS

    try:
        target = CRS.from_user_input(crs)
    except Exception:  # noqa: BLE001
        raise InputError(f"unknown CRS '{crs}'", fix="Give e.g. EPSG:4326 or EPSG:32643") from None
    return {
        k: (v.to_crs(target) if isinstance(v, gpd.GeoDataFrame) and v.crs is not None else v)
        for k, v in layers.items()
    }
