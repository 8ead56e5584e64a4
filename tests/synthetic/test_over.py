"""Rendering over real terrain: Hintereisferner (RGI5 outline, SRTM in EPSG:4326) from ../shared/data."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from shapely.geometry import box

from glacierinv.config import load_config
from glacierinv.errors import InputError
from glacierinv.geometry import area_km2
from glacierinv.synthetic import render_scene_over
from glacierinv.synthetic.over import MAX_RENDER_PIXELS
from tests.synthetic._helpers import toy_dem

HEF_AREA_KM2 = 8.036  # RGI5 area of Hintereisferner


@pytest.fixture(scope="module")
def hef(shared_data, tmp_path_factory):
    files = shared_data / "oggm-sample" / "test-files"
    out = tmp_path_factory.mktemp("hef") / "scene"
    info = render_scene_over(out, files / "hef_srtm.tif", files / "Hintereisferner_RGI5.shp", res_m=20.0)
    return out, info, files


def test_hef_geographic_dem_rendered_in_utm(hef):
    out, info, _ = hef
    with rasterio.open(out / "pan.tif") as pan:
        assert pan.crs.to_epsg() == 32632  # UTM 32N for the Ötztal Alps
        assert pan.res == (20.0, 20.0)
    with rasterio.open(out / "dem.tif") as dem:
        z = dem.read(1)
    assert 2000 < np.nanmin(z) and np.nanmax(z) < 4000  # Ötztal elevations, metres
    assert load_config(out / "config.toml").input_path("dem").is_file()


def test_hef_truth_is_the_outline(hef):
    out, info, _ = hef
    glaciers = gpd.read_file(out / "truth" / "glaciers.gpkg", layer="glaciers")
    assert len(glaciers) == 1
    # the outline itself is the truth (area on the ellipsoid, independent of the render CRS)
    assert glaciers["area_km2"].iloc[0] == pytest.approx(HEF_AREA_KM2, rel=2e-3)
    with rasterio.open(out / "truth" / "classes.tif") as ds:
        classes = ds.read(1)
    raster_km2 = (classes == 1).sum() * 20.0 * 20.0 / 1e6
    # rasterised at 20 m: the pixelisation error is about perimeter x half a pixel (~30 km x 10 m)
    assert raster_km2 == pytest.approx(glaciers.geometry.area.sum() / 1e6, abs=0.35)
    assert info.debris_area_km2 == 0.0 and not (classes == 2).any()


def test_hef_with_debris_and_a_finer_grid(shared_data, tmp_path):
    files = shared_data / "oggm-sample" / "test-files"
    outline = gpd.read_file(files / "Hintereisferner_RGI5.shp").to_crs(32632)
    tongue = outline.geometry.iloc[0].intersection(box(*outline.total_bounds).buffer(0).envelope)
    xmin, ymin, xmax, ymax = outline.total_bounds
    debris = gpd.GeoDataFrame(geometry=[tongue.intersection(box(xmax - 1500, ymin, xmax, ymax))], crs=32632)
    debris.to_file(tmp_path / "debris.gpkg")
    info = render_scene_over(tmp_path / "s", files / "hef_srtm.tif", files / "Hintereisferner_RGI5.shp",
                             tmp_path / "debris.gpkg", res_m=50.0, margin_m=500.0)  # fmt: skip
    assert info.debris_area_km2 == pytest.approx(float(area_km2(debris).sum()), rel=1e-3)
    layer = gpd.read_file(tmp_path / "s" / "truth" / "glaciers.gpkg", layer="debris")
    assert set(layer["glac_id"]) == set(
        gpd.read_file(tmp_path / "s" / "truth" / "glaciers.gpkg", layer="glaciers")["glac_id"]
    )
    with rasterio.open(tmp_path / "s" / "truth" / "classes.tif") as ds:
        assert (ds.read(1) == 2).any()


def test_refuses_huge_render(shared_data, tmp_path):
    files = shared_data / "oggm-sample" / "test-files"
    with pytest.raises(InputError, match="Mpx"):
        render_scene_over(tmp_path / "s", files / "hef_srtm.tif", files / "Hintereisferner_RGI5.shp",
                          res_m=1.0, margin_m=None)  # fmt: skip
    assert not (tmp_path / "s").exists()
    assert MAX_RENDER_PIXELS == 50_000_000


def test_toy_dem_refines_and_keeps_ids(tmp_path):
    toy_dem(tmp_path / "dem.tif")
    outlines = gpd.GeoDataFrame(
        {"rgi_id": ["RGI-A", "RGI-B"]},
        geometry=[box(500900, 4001500, 501500, 4002100), box(501500, 4001500, 502100, 4002100)],
        crs=32643,
    ).to_crs(4326)  # outlines in another CRS than the DEM
    outlines.to_file(tmp_path / "o.geojson")
    info = render_scene_over(tmp_path / "s", tmp_path / "dem.tif", tmp_path / "o.geojson", res_m=10.0)
    with rasterio.open(tmp_path / "s" / "pan.tif") as pan:
        assert pan.res == (10.0, 10.0) and pan.crs.to_epsg() == 32643
    glaciers = gpd.read_file(tmp_path / "s" / "truth" / "glaciers.gpkg", layer="glaciers")
    assert sorted(glaciers["glac_id"]) == ["RGI-A", "RGI-B"]
    divides = gpd.read_file(tmp_path / "s" / "truth" / "glaciers.gpkg", layer="divides")
    assert len(divides) == 1 and divides.geometry.iloc[0].length == pytest.approx(600.0, rel=0.01)
    assert info.n_glaciers == 2


def test_outlines_outside_the_dem(tmp_path):
    toy_dem(tmp_path / "dem.tif")
    far = gpd.GeoDataFrame(geometry=[box(600000, 4100000, 601000, 4101000)], crs=32643)
    far.to_file(tmp_path / "far.gpkg")
    with pytest.raises(InputError, match="overlap"):
        render_scene_over(tmp_path / "s", tmp_path / "dem.tif", tmp_path / "far.gpkg")
    assert not (tmp_path / "s").exists()


def test_default_resolution_is_the_dem_pixel_in_metres(shared_data, tmp_path):
    """SRTM at 3 arc-seconds (~64 m E-W x 93 m N-S at 46.8° N): the render grid takes the finer metric size."""
    files = shared_data / "oggm-sample" / "test-files"
    info = render_scene_over(tmp_path / "s", files / "hef_srtm.tif", files / "Hintereisferner_RGI5.shp",
                             margin_m=0.0)  # fmt: skip
    assert 55.0 < info.pixel_m < 95.0
