"""QGIS layer styles (QML) embedded in GeoPackages so glaciers, debris, review flags and divides open styled.

QGIS reads a GeoPackage table ``layer_styles`` (columns f_table_catalog, f_table_schema, f_table_name,
f_geometry_column, styleName, styleQML, styleSLD, useAsDefault, description, owner, ui, update_time) and
applies the row with ``useAsDefault`` when a layer is opened. :func:`embed_styles` writes one such row per
styled layer present in the file.
"""

from __future__ import annotations

import shutil
import sqlite3
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

from glacierinv.errors import InputError
from glacierinv.io.atomic import atomic_path

__all__ = ["LAYER_STYLES", "embed_styles", "style_qml"]

#: layer name → QML file in this package
LAYER_STYLES: dict[str, str] = {
    "glaciers": "glaciers.qml",
    "units": "glaciers.qml",
    "debris": "debris.qml",
    "units_debris": "debris.qml",
    "review": "review.qml",
    "divides": "divides.qml",
}

_CREATE = """CREATE TABLE IF NOT EXISTS layer_styles (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    f_table_catalog TEXT(256), f_table_schema TEXT(256), f_table_name TEXT(256),
    f_geometry_column TEXT(256), styleName TEXT(30), styleQML TEXT, styleSLD TEXT,
    useAsDefault BOOLEAN, description TEXT, owner TEXT(30), ui TEXT(30), update_time DATETIME
)"""


def style_qml(layer: str) -> str:
    """The QML text for ``layer`` (see :data:`LAYER_STYLES`)."""
    return resources.files(__package__).joinpath(LAYER_STYLES[layer]).read_text(encoding="utf-8")


def embed_styles(gpkg_path: str | Path, layers: dict[str, str] | None = None) -> list[str]:
    """Embed default QGIS styles for the known layers of a GeoPackage (atomic: copy, edit, rename).

    Parameters
    ----------
    gpkg_path
        An existing GeoPackage. Layers not in ``layers`` are left unstyled; existing default styles of
        styled layers are replaced.
    layers
        Layer name → QML file name; defaults to :data:`LAYER_STYLES`.

    Returns
    -------
    list of str
        The layers that were styled.
    """
    path = Path(gpkg_path)
    if not path.exists():
        raise InputError("GeoPackage not found", path, "Write the layers first")
    mapping = LAYER_STYLES if layers is None else layers
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    styled: list[str] = []
    with atomic_path(path) as tmp:
        shutil.copyfile(path, tmp)
        con = sqlite3.connect(tmp)
        try:
            geom_cols = dict(
                con.execute("SELECT table_name, column_name FROM gpkg_geometry_columns").fetchall()
            )
            con.execute(_CREATE)
            for layer, qml_file in mapping.items():
                if layer not in geom_cols:
                    continue
                qml = resources.files(__package__).joinpath(qml_file).read_text(encoding="utf-8")
                con.execute("DELETE FROM layer_styles WHERE f_table_name = ? AND useAsDefault = 1", (layer,))
                con.execute(
                    "INSERT INTO layer_styles (f_table_catalog, f_table_schema, f_table_name, f_geometry_column,"
                    " styleName, styleQML, styleSLD, useAsDefault, description, owner, ui, update_time)"
                    " VALUES ('', '', ?, ?, ?, ?, '', 1, ?, 'glacierinv', NULL, ?)",
                    (
                        layer,
                        geom_cols[layer],
                        f"glacierinv {layer}",
                        qml,
                        f"glacierinv default style: {layer}",
                        now,
                    ),
                )
                styled.append(layer)
            # QGIS lists layer_styles as an attribute table in gpkg_contents
            con.execute(
                "INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, last_change)"
                " VALUES ('layer_styles', 'attributes', 'layer_styles', ?)",
                (now,),
            )
            con.commit()
        finally:
            con.close()
    return styled
