"""The report map's parts read or converted as tasks: the classes overlay (GDAL's exact nearest-neighbour warp,
read window by window) and the outlines' GeoJSON (per geometry)."""

from __future__ import annotations

import math
import shutil

import geopandas as gpd
import numpy as np
import rasterio
from affine import Affine
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT
from rasterio.warp import calculate_default_transform
from shapely.geometry import box

from glacierinv.io.grid import Grid
from glacierinv.io.raster import write_raster
from glacierinv.report import write_report
from glacierinv.report.overlay import classes_overlay, overlay_classes
from glacierinv.taskmap import using
from tests.shuffled_cluster import ShuffledCluster


def _classes(tmp_path, size=(300, 420)):
    """A class raster in UTM 43N (rotated against Web Mercator), with edges in every direction."""
    rng = np.random.default_rng(5)
    grid = Grid.from_bounds(32643, (500_000, 4_000_000, 500_000 + 2 * size[1], 4_000_000 + 2 * size[0]), 2.0)
    rows, cols = np.mgrid[: size[0], : size[1]]
    cls = np.where((rows - 150) ** 2 + (cols - 200) ** 2 < 120**2, 1, 0).astype(np.uint8)
    cls[(rows + cols) % 37 < 9] = 2
    cls[rng.random(size) < 0.02] = 255
    write_raster(tmp_path / "classes.tif", cls, grid, nodata=255)
    return tmp_path / "classes.tif"


def _gdal_exact(path, max_px):
    """GDAL's nearest warp onto the overlay grid with the exact transformer (error threshold ~0)."""
    with rasterio.open(path) as src:
        tr, w, h = calculate_default_transform(src.crs, "EPSG:3857", src.width, src.height, *src.bounds)
        scale = max(w / max_px, h / max_px, 1.0)
        w2, h2 = max(1, math.ceil(w / scale)), max(1, math.ceil(h / scale))
        tr2 = tr @ Affine.scale(w / w2, h / h2)
        with WarpedVRT(src, crs="EPSG:3857", transform=tr2, width=w2, height=h2, tolerance=1e-9,
                       resampling=Resampling.nearest, nodata=255) as vrt:  # fmt: skip
            return vrt.read(1), tr2


def test_overlay_is_gdals_exact_nearest_warp(tmp_path):
    path = _classes(tmp_path)
    for max_px in (1200, 97):  # full resolution and coarsened ~5x
        expected, tr = _gdal_exact(path, max_px)
        cls, tr2 = overlay_classes(path, max_px=max_px, block_px=64)
        assert tr2.almost_equals(tr)
        np.testing.assert_array_equal(cls, expected)
        assert {1, 2, 255} <= set(np.unique(cls).tolist())


def test_overlay_windows_as_tasks_give_the_same_png(tmp_path):
    path = _classes(tmp_path)
    one = classes_overlay(path, max_px=150, block_px=64)
    cluster = ShuffledCluster(slots=2, batches_per_slot=3)
    with using(cluster):
        tasks = classes_overlay(path, max_px=150, block_px=64)
    assert tasks == one
    assert sorted(cluster.keys) == [f"report_overlay-{b:05d}" for b in range(6)]
    for block_px in (37, 4096):  # the windows do not change the overlay
        assert classes_overlay(path, max_px=150, block_px=block_px) == one


def test_report_page_is_the_same_with_the_overlay_and_outlines_as_tasks(baseline_run, tmp_path):
    run = shutil.copytree(baseline_run.run_dir, tmp_path / "run")
    one = write_report(run, out_dir=tmp_path / "one", block_px=128).read_text()
    cluster = ShuffledCluster(slots=2)
    with using(cluster):
        tasks = write_report(run, out_dir=tmp_path / "tasks", block_px=128).read_text()
    assert '"classes":{"url":"data:image/png;base64,' in one
    assert tasks == one
    assert {k.rsplit("-", 1)[0] for k in cluster.keys} == {"report_overlay", "report_geojson", "report_areas"}


def test_geojson_of_geographic_outlines_as_tasks(tmp_path):
    """Outlines in lon/lat: reprojected to their UTM zone, simplified, back to lon/lat — per geometry, so the
    same features whatever the batches."""
    from glacierinv.report.html import _geojson

    squares = [box(75.0 + 0.01 * k, 35.0, 75.005 + 0.01 * k, 35.004 + 0.001 * k) for k in range(12)]
    gdf = gpd.GeoDataFrame({"glac_id": [f"G{k}" for k in range(12)]}, geometry=squares, crs=4326)
    gdf.loc[3, "geometry"] = None  # left out
    one = _geojson(gdf, ("glac_id",), 5.0)
    with using(ShuffledCluster(slots=2)):
        tasks = _geojson(gdf, ("glac_id",), 5.0)
    assert tasks == one
    assert [f["properties"]["glac_id"] for f in one["features"]] == [f"G{k}" for k in range(12) if k != 3]
    lon, lat = one["features"][0]["geometry"]["coordinates"][0][0]
    assert 75.0 <= lon <= 75.006 and 35.0 <= lat <= 35.005


def test_no_overlay_without_crs(tmp_path):
    with rasterio.open(tmp_path / "plain.tif", "w", driver="GTiff", width=8, height=8, count=1,
                       dtype="uint8") as ds:  # fmt: skip
        ds.write(np.ones((1, 8, 8), dtype=np.uint8))
    assert classes_overlay(tmp_path / "plain.tif") is None
