"""Checked vector reading and atomic multi-layer GeoPackage writing (geopandas/pyogrio at the edge)."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pyogrio

from glacierinv.errors import InputError
from glacierinv.io.atomic import atomic_path

__all__ = ["ID_CANDIDATES", "guess_id_column", "list_layers", "read_vector", "write_layers"]

#: Id columns recognised by every command (``--id-column`` default): ours, RGI 7, RGI 5/6, GLIMS, others.
ID_CANDIDATES = ("glac_id", "rgi_id", "RGIId", "outline_id", "GLIMSId", "glims_id", "FCGI_ID", "id")


def guess_id_column(columns, given: str | None = None) -> str | None:
    """The id column: ``given`` when set, else the first of :data:`ID_CANDIDATES` in ``columns`` (None if none).

    One convention for every command (attributes, units, compare, assess): ``--id-column`` names it, and
    without it the first known id column present is used; when there is none, ids are created.
    """
    if given:
        return given
    return next((c for c in ID_CANDIDATES if c in columns), None)


def list_layers(path: str | Path) -> list[str]:
    """Names of the layers of a vector file."""
    try:
        return [str(name) for name, _ in pyogrio.list_layers(path)]
    except Exception:  # noqa: BLE001 - pyogrio raises several types for unreadable files
        raise InputError(
            "not a readable vector file", path, "Give a GeoPackage, shapefile or GeoJSON"
        ) from None


def read_vector(
    path: str | Path,
    layer: str | None = None,
    *,
    need_crs: bool = True,
    allow_empty: bool = False,
    polygons: bool = False,
    repair: bool = True,
) -> gpd.GeoDataFrame:
    """Read a vector layer with clear errors; invalid polygons are repaired with ``make_valid``.

    Parameters
    ----------
    path, layer
        Any vector format GDAL reads; ``layer`` defaults to the first.
    need_crs
        Refuse data without a CRS.
    allow_empty
        Accept a layer with no features.
    polygons
        Require (multi)polygon geometries.
    repair
        Repair invalid geometries (self-intersections) instead of failing.
    """
    p = Path(path)
    if not p.exists():
        raise InputError("file not found", p, "Check the path")
    if layer is not None and layer not in list_layers(p):
        raise InputError(f"layer '{layer}' not found; layers are: {', '.join(list_layers(p))}", p)
    try:
        gdf = gpd.read_file(p, layer=layer, engine="pyogrio")
    except Exception:  # noqa: BLE001
        raise InputError("not a readable vector file", p, "Give a GeoPackage, shapefile or GeoJSON") from None
    if need_crs and gdf.crs is None:
        raise InputError(
            "vector data has no CRS", p, "Assign one (e.g. in QGIS: Layer > Set CRS) and save again"
        )
    if not allow_empty and len(gdf) == 0:
        raise InputError("vector layer has no features", p, "Give a layer with at least one polygon")
    gdf = gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty].copy()
    if polygons:
        bad = ~gdf.geom_type.isin(["Polygon", "MultiPolygon"])
        if bad.any():
            raise InputError(
                f"expected polygons, found {', '.join(sorted(set(gdf.geom_type[bad])))}",
                p,
                "Give glacier polygons",
            )
    if repair and len(gdf):
        invalid = ~gdf.geometry.is_valid
        if invalid.any() and polygons:  # each repair logged with its id and area change
            from glacierinv.geometry import repair_polygons

            gdf, _ = repair_polygons(gdf, guess_id_column(gdf.columns), what=p)
        elif invalid.any():
            gdf.loc[invalid, gdf.geometry.name] = gdf.geometry[invalid].make_valid()
    return gdf


def write_layers(
    path: str | Path, layers: dict[str, gpd.GeoDataFrame], *, keep_other_layers: bool = False
) -> Path:
    """Write several layers to one GeoPackage atomically.

    With ``keep_other_layers`` the layers of an existing file that are not in ``layers`` are copied over.
    Non-spatial tables (plain DataFrames) are written as attribute-only layers.
    """
    target = Path(path)
    to_write = dict(layers)
    if keep_other_layers and target.exists():
        for name in list_layers(target):
            if name not in to_write:
                to_write[name] = gpd.read_file(target, layer=name, engine="pyogrio")
    with atomic_path(target) as tmp:
        for name, frame in to_write.items():
            if isinstance(frame, gpd.GeoDataFrame):
                frame.to_file(tmp, layer=name, driver="GPKG", engine="pyogrio")
            else:
                pyogrio.write_dataframe(frame, tmp, layer=name, driver="GPKG")
    return target
