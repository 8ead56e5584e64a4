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

from glacierinv.attributes.compute import CALC_PREFIX, computed_column
from glacierinv.errors import InputError

__all__ = [
    "DECIMALS",
    "add_rgi7_ids",
    "decimals_of",
    "fill_glacier_types",
    "round_inventory",
    "to_export_crs",
]

#: Decimals per column family (see the module docstring).
DECIMALS = {"km2": 6, "m": 1, "deg": 1, "lonlat": 6, "frac": 4}
_LONLAT = {"cenlon", "cenlat", "termlon", "termlat"}
_FRACTIONS = {"debris_frac", "dem_cov", "aar", "snow_cov"}


def decimals_of(column: str) -> int | None:
    """Decimals of a column by its name (units in the names), None for columns left as they are. Our value
    of an attribute the input also had (``calc_cenlon``, see :func:`~glacierinv.attributes.compute.computed_column`)
    is rounded as the attribute."""
    column = column.removeprefix(CALC_PREFIX)
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
    ``*_m``, ``*_deg``, lon/lat, fractions); other columns (ids, codes, text) unchanged."""
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
    lon, lat = out[computed_column(out, "cenlon")], out[computed_column(out, "cenlat")]
    pts = gpd.GeoSeries(gpd.points_from_xy(lon, lat), crs=4326, index=out.index)
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


def fill_glacier_types(
    glaciers: gpd.GeoDataFrame,
    dem_path,
    snow_path,
    *,
    snow_threshold: float = 0.5,
    min_area_km2: float = 5.0,
    thresholds: tuple[float, float] = (0.3, 0.6),
) -> gpd.GeoDataFrame:
    """Fill ``aar`` and ``glac_type`` (seed types: Turkestan AAR ≤ t1 < Mustagh ≤ t2 < Alpine) of the
    glaciers ≥ ``min_area_km2`` from a snow / albedo raster, as the analyse stage's glacier types do
    (:func:`glacierinv.analysis.types.snowlines_from_raster`). Values the input already has are kept;
    smaller glaciers and glaciers without snow observations stay null."""
    from glacierinv.attributes.snowline import classify_aar, snowlines_from_raster

    out = glaciers.copy()
    for col in ("aar", "glac_type"):
        if col not in out.columns:
            out[col] = None
    aar = pd.to_numeric(out["aar"], errors="coerce")
    area = out[computed_column(out, "area_km2")].to_numpy(dtype="float64")
    todo = (area >= min_area_km2) & aar.isna().to_numpy()
    if not todo.any():
        return out
    sub = out[todo]
    lines = snowlines_from_raster(sub.assign(glac_id=sub["glac_id"].astype(str)), dem_path, snow_path,
                                  snow_threshold=snow_threshold)  # fmt: skip
    new_aar = lines["aar"].to_numpy(dtype="float64")
    out["aar"] = aar.astype("float64")
    out.loc[todo, "aar"] = new_aar
    kinds = classify_aar(new_aar, thresholds)
    have = out["glac_type"].astype("object")
    out["glac_type"] = have.where(have.notna(), None)
    idx = np.flatnonzero(todo)
    for i, k in zip(idx, kinds, strict=True):
        if out["glac_type"].iat[i] is None:
            out.iat[i, out.columns.get_loc("glac_type")] = k
    return out
