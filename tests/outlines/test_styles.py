"""QGIS styles embedded in GeoPackages."""

from __future__ import annotations

import sqlite3
import xml.dom.minidom

import geopandas as gpd
import pytest
import shapely

from glacierinv.errors import InputError
from glacierinv.io.vector import write_layers
from glacierinv.outlines.review import REASONS
from glacierinv.outlines.styles import LAYER_STYLES, embed_styles, style_qml
from tests.outlines._scene import CRS, box_px


@pytest.mark.parametrize("layer", sorted(LAYER_STYLES))
def test_qml_is_valid_xml(layer):
    doc = xml.dom.minidom.parseString(style_qml(layer))
    assert doc.documentElement.tagName == "qgis"


def test_review_style_has_a_category_per_reason():
    doc = xml.dom.minidom.parseString(style_qml("review"))
    values = {c.getAttribute("value") for c in doc.getElementsByTagName("category")}
    assert values == set(REASONS)


def test_embed_styles(tmp_path):
    path = tmp_path / "o.gpkg"
    poly = gpd.GeoDataFrame({"outline_id": ["G1"]}, geometry=[box_px(0, 0, 10, 10)], crs=CRS)
    lines = gpd.GeoDataFrame({"glac_id_a": ["a"]}, geometry=[shapely.LineString([(0, 0), (1, 1)])], crs=CRS)
    write_layers(path, {"glaciers": poly, "debris": poly, "divides": lines, "other": poly})
    assert embed_styles(path) == ["glaciers", "debris", "divides"]
    assert embed_styles(path) == ["glaciers", "debris", "divides"]  # idempotent: default replaced
    with sqlite3.connect(path) as con:
        rows = con.execute(
            "SELECT f_table_name, f_geometry_column, useAsDefault, styleQML FROM layer_styles ORDER BY id"
        ).fetchall()
    assert [r[0] for r in rows] == ["glaciers", "debris", "divides"]
    assert all(r[1] == "geom" and r[2] == 1 and r[3].lstrip().startswith("<!DOCTYPE qgis") for r in rows)
    assert len(gpd.read_file(path, layer="glaciers")) == 1  # still a readable GeoPackage


def test_embed_styles_missing_file(tmp_path):
    with pytest.raises(InputError):
        embed_styles(tmp_path / "none.gpkg")
