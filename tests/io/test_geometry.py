import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import box

from glacierinv.geometry import area_km2, in_crs


def test_square_same_area_in_utm_and_geographic():
    # 1 km x 1 km square in UTM 43N (Karakoram) → 1.000 km² (UTM scale distortion < 0.1 %)
    sq = gpd.GeoSeries([box(500000, 4000000, 501000, 4001000)], crs=32643)
    a_utm = area_km2(sq)[0]
    a_geo = area_km2(sq.to_crs(4326))[0]
    assert a_utm == pytest.approx(a_geo, rel=1e-6)
    # Central meridian scale factor k0 = 0.9996 → true area = (1/k0)² km²
    assert a_utm == pytest.approx(1 / 0.9996**2, rel=2e-4)


def test_degree_square_area_shrinks_with_latitude():
    eq = gpd.GeoSeries([box(0, 0, 0.01, 0.01), box(0, 60, 0.01, 60.01)], crs=4326)
    a = area_km2(eq)
    # spherical ratio is cos(lat); on WGS84 the meridian radius M grows by (1-e²sin²φ)^-1.5 ≈ 1.0075 and
    # the prime-vertical radius N by (1-e²sin²φ)^-0.5 ≈ 1.0025 at 60°, so the ratio is cos(lat)·1.0100
    ratio = a[1] / a[0]
    assert ratio == pytest.approx(np.cos(np.radians(60.005)) * 1.0101, rel=2e-3)


def test_no_crs_is_an_error():
    with pytest.raises(ValueError):
        area_km2(gpd.GeoSeries([box(0, 0, 1, 1)]))


# --- polygon repair in one place --------------------------------------------------------------------
def test_polygon_parts_and_valid_polygonal():
    import shapely
    from shapely.geometry import GeometryCollection, LineString, MultiPolygon, Point, Polygon

    from glacierinv.geometry import polygon_parts, valid_polygonal

    a, b = box(0, 0, 1, 1), box(2, 0, 3, 1)
    nested = GeometryCollection([MultiPolygon([a, b]), LineString([(0, 0), (5, 5)]), Point(9, 9)])
    assert [p.bounds for p in polygon_parts(nested)] == [a.bounds, b.bounds]
    assert polygon_parts(None) == [] and polygon_parts(Polygon()) == []
    assert valid_polygonal(a) is a  # a valid polygon is returned as it is
    bowtie = Polygon([(0, 0), (2, 2), (2, 0), (0, 2)])
    fixed = valid_polygonal(bowtie)
    assert fixed.is_valid and len(polygon_parts(fixed)) == 2 and fixed.area == pytest.approx(2.0)
    collapsed = Polygon([(0, 0), (1, 1), (2, 2), (1, 1)])  # a ring with no area: nothing polygonal left
    assert valid_polygonal(collapsed).is_empty and isinstance(valid_polygonal(collapsed), Polygon)
    assert shapely.get_num_geometries(valid_polygonal(nested)) == 2


def test_repair_polygons_reports_what_changed(caplog):
    import logging

    from shapely.geometry import Polygon

    from glacierinv.geometry import repair_polygons

    x0, y0 = 500000.0, 4000000.0
    bowtie = Polygon([(x0, y0), (x0 + 100, y0 + 100), (x0 + 100, y0), (x0, y0 + 100)])
    gdf = gpd.GeoDataFrame(
        {"glac_id": ["A", "B"]}, geometry=[box(x0, y0, x0 + 50, y0 + 50), bowtie], crs=32643
    )
    with caplog.at_level(logging.DEBUG, logger="glacierinv.geometry"):
        fixed, report = repair_polygons(gdf, "glac_id", log_level=logging.DEBUG)
    assert gdf.geometry.iloc[1].equals(bowtie)  # the input is not modified
    assert fixed.geometry.is_valid.all() and fixed.geometry.iloc[0].equals(gdf.geometry.iloc[0])
    (rec,) = report
    assert rec["id"] == "B" and rec["row"] == 1 and "Self-intersection" in rec["reason"]
    assert rec["made_valid_type"] == "MultiPolygon"
    # the two triangles: 2 × ½ · 100 m · 50 m = 5000 m²; the bow-tie's signed shoelace area cancels to 0
    assert rec["area_after_km2"] == pytest.approx(0.005, rel=1e-3) and rec["area_before_km2"] < 1e-6
    assert [r.levelno for r in caplog.records] == [logging.DEBUG] and "polygon B" in caplog.text


def test_in_crs_reprojects_only_when_needed():
    gdf = gpd.GeoDataFrame({"v": [1]}, geometry=[box(600000, 5200000, 601000, 5201000)], crs=32632)
    assert in_crs(gdf, "EPSG:32632") is gdf  # same CRS: no copy
    lonlat = in_crs(gdf, 4326)
    assert lonlat.crs.to_epsg() == 4326 and gdf.crs.to_epsg() == 32632
    # 100 km east of 9° E at ≈ 46.9° N: 100 / (111.32 · cos 46.9°) ≈ 1.316° of longitude
    assert lonlat.geometry.iloc[0].bounds[0] == pytest.approx(10.316, abs=0.005)
    assert in_crs(lonlat, 32632).geometry.iloc[0].equals_exact(gdf.geometry.iloc[0], 1e-6)
