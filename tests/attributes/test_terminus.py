"""term_type from the imagery (attributes.terminus): RGI 7 codes on small exact geometries and a synthetic
scene with a proglacial lake."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from rasterio.transform import from_origin

from glacierinv.attributes.terminus import (
    TERM_LAKE,
    TERM_LAND,
    TERM_UNKNOWN,
    TerminusParams,
    terminus_type,
    terminus_types,
)
from glacierinv.taskmap import using
from tests.shuffled_cluster import ShuffledCluster

PIX = 2.0


def _tongue(h=60, w=40):
    """A glacier tongue (rows 10-39, cols 10-29) on a slope falling 2 m per row towards the south."""
    inside = np.zeros((h, w), bool)
    inside[10:40, 10:30] = True
    z = (1000.0 - 2.0 * np.arange(h))[:, None] * np.ones((1, w))
    return inside, z


def test_rgi7_codes():
    """RGI 7 term_type: 0 land, 1 marine, 2 lake, 3 shelf, 9 not assigned."""
    from glacierinv.attributes import terminus as t

    assert (t.TERM_LAND, t.TERM_MARINE, t.TERM_LAKE, t.TERM_SHELF, t.TERM_UNKNOWN) == (0, 1, 2, 3, 9)


def test_lake_at_the_front_is_lake_terminating():
    inside, z = _tongue()
    water = np.zeros_like(inside)
    water[40:55, 5:35] = True  # a lake right below the lowest edge
    code, ev = terminus_type(inside, z, water, PIX)
    assert code == TERM_LAKE, ev


def test_no_water_is_land_terminating():
    inside, z = _tongue()
    code, ev = terminus_type(inside, z, np.zeros_like(inside), PIX)
    assert code == TERM_LAND, ev


def test_lake_beside_the_upper_glacier_is_not_the_terminus():
    inside, z = _tongue()
    water = np.zeros_like(inside)
    water[10:20, 31:38] = True  # a lake against the upper side: not at the lowest part of the outline
    assert terminus_type(inside, z, water, PIX)[0] == TERM_LAND


def test_a_gap_wider_than_touch_distance_is_land():
    inside, z = _tongue()
    water = np.zeros_like(inside)
    water[46:55, 5:35] = True  # 6 px = 12 m below the front; touch distance 10 m
    assert terminus_type(inside, z, water, PIX)[0] == TERM_LAND
    # …but within a wider touch distance it is a lake terminus
    assert terminus_type(inside, z, water, PIX, params=TerminusParams(touch_m=14.0))[0] == TERM_LAKE


def test_a_pond_smaller_than_the_minimum_lake_is_ignored():
    inside, z = _tongue()
    water = np.zeros_like(inside)
    water[40:42, 18:21] = True  # 6 px = 24 m², below 1000 m²
    assert terminus_type(inside, z, water, PIX)[0] == TERM_LAND


def test_terminus_under_cloud_is_not_assigned():
    inside, z = _tongue()
    seen = np.ones_like(inside)
    seen[36:50, :] = False  # cloud over the tongue's end and its surroundings
    code, ev = terminus_type(inside, z, np.zeros_like(inside), PIX, seen=seen)
    assert code == TERM_UNKNOWN and "cloud" in ev
    # a lake seen through a gap in the cloud is still a lake
    water = np.zeros_like(inside)
    water[40:55, 5:35] = True
    seen2 = np.ones_like(inside)
    seen2[40:55, 25:40] = False
    assert terminus_type(inside, z, water, PIX, seen=seen2)[0] == TERM_LAKE
    # water under cloud never counts as water
    assert terminus_type(inside, z, water, PIX, seen=seen)[0] == TERM_UNKNOWN


def test_terminus_at_the_image_edge_is_not_assigned():
    inside, z = _tongue(h=41)
    in_image = np.ones_like(inside)
    in_image[-1] = False  # the image ends one row below the outline
    code, ev = terminus_type(inside, z, np.zeros_like(inside), PIX, in_image=in_image)
    assert code == TERM_UNKNOWN and "edge" in ev
    # the array edge alone is not the image edge
    assert terminus_type(inside, z, np.zeros_like(inside), PIX)[0] == TERM_LAND


def test_no_water_information_or_no_dem_is_not_assigned():
    inside, z = _tongue()
    assert terminus_type(inside, z, None, PIX)[0] == TERM_UNKNOWN
    assert terminus_type(inside, np.full_like(z, np.nan), np.zeros_like(inside), PIX)[0] == TERM_UNKNOWN
    assert terminus_type(np.zeros_like(inside), z, np.zeros_like(inside), PIX)[0] == TERM_UNKNOWN


def _write(path, arr, names, transform, crs="EPSG:32645", nodata=None):
    arr = np.asarray(arr)
    arr = arr[None] if arr.ndim == 2 else arr
    with rasterio.open(path, "w", driver="GTiff", width=arr.shape[2], height=arr.shape[1], count=arr.shape[0],
                       dtype=arr.dtype, crs=crs, transform=transform, nodata=nodata) as ds:  # fmt: skip
        ds.write(arr)
        for i, n in enumerate(names):
            ds.set_band_description(i + 1, n)
    return path


def test_runner_ndwi_from_stack_and_cloud_mask(tmp_path):
    """File runner: NDWI from a green/NIR stack, DEM on another grid, cloud from masks.tif, other CRS."""
    inside, z = _tongue(w=60)
    tr = from_origin(500000, 3000000, PIX, PIX)
    green = np.full(inside.shape, 0.2, "float32")
    nir = np.full(inside.shape, 0.2, "float32")
    green[40:55, 5:35], nir[40:55, 5:35] = 0.14, 0.05  # turbid lake: NDWI 0.47
    stack = _write(tmp_path / "stack.tif", np.stack([green, nir]), ["green", "nir"], tr)
    dem = _write(
        tmp_path / "dem.tif", z[::2, ::2].astype("float32"), ["z"], from_origin(500000, 3000000, 4, 4)
    )
    glac = shapely.box(500000 + 10 * PIX, 3000000 - 40 * PIX, 500000 + 30 * PIX, 3000000 - 10 * PIX)
    other = shapely.box(500000 + 32 * PIX, 3000000 - 20 * PIX, 500000 + 38 * PIX, 3000000 - 12 * PIX)
    gdf = gpd.GeoDataFrame({"id": [1, 2]}, geometry=[glac, other], crs="EPSG:32645").to_crs("EPSG:4326")
    codes, ev = terminus_types(gdf, dem, grid_path=stack, stack_path=stack)
    assert codes.tolist() == [TERM_LAKE, TERM_LAND], ev
    cloud = np.zeros(inside.shape, "uint8")
    cloud[36:58, :] = 1
    masks = _write(tmp_path / "masks.tif", np.stack([cloud, np.zeros_like(cloud)]), ["cloud", "shadow"], tr)
    codes, _ = terminus_types(gdf, dem, grid_path=stack, stack_path=stack, masks_path=masks)
    assert codes.tolist() == [TERM_UNKNOWN, TERM_LAND]
    # no green/NIR: the scene cannot tell
    nob = _write(tmp_path / "red.tif", green[None], ["red"], tr)
    codes, _ = terminus_types(gdf, dem, grid_path=nob, stack_path=nob)
    assert codes.tolist() == [TERM_UNKNOWN, TERM_UNKNOWN]
    # NaN in the stack below the tongue = outside the image
    g2 = green.copy()
    g2[41:, :] = np.nan
    st2 = _write(tmp_path / "stack2.tif", np.stack([g2, nir]), ["green", "nir"], tr)
    assert terminus_types(gdf, dem, grid_path=st2, stack_path=st2)[0][0] == TERM_UNKNOWN


def test_runner_as_tasks_gives_the_codes_of_one_process(tmp_path):
    """Each glacier's window read in a task (batches out of order, pickled): the same codes and evidence."""
    inside, z = _tongue(w=60)
    tr = from_origin(500000, 3000000, PIX, PIX)
    green = np.full(inside.shape, 0.2, "float32")
    nir = np.full(inside.shape, 0.2, "float32")
    green[40:55, 5:35], nir[40:55, 5:35] = 0.14, 0.05
    stack = _write(tmp_path / "stack.tif", np.stack([green, nir]), ["green", "nir"], tr)
    dem = _write(tmp_path / "dem.tif", z.astype("float32"), ["z"], tr)
    boxes = [shapely.box(500000 + c * PIX, 3000000 - r1 * PIX, 500000 + (c + 6) * PIX, 3000000 - r0 * PIX)
             for c in (2, 12, 22, 32, 42) for r0, r1 in ((5, 20), (20, 40))]  # fmt: skip
    gdf = gpd.GeoDataFrame(geometry=boxes, crs="EPSG:32645")
    one = terminus_types(gdf, dem, grid_path=stack, stack_path=stack)
    cluster = ShuffledCluster(slots=2)
    with using(cluster):
        tasks = terminus_types(gdf, dem, grid_path=stack, stack_path=stack)
    assert sorted(cluster.keys) == [f"terminus_type-{k:05d}" for k in range(10)]  # submitted heaviest first
    assert one[0].tolist() == tasks[0].tolist() and one[1] == tasks[1]
    assert len(set(one[0].tolist())) > 1  # not a trivial case: lake and land termini among them


def test_runner_rejects_geographic_grid(tmp_path):
    from glacierinv.errors import InputError

    g = _write(tmp_path / "g.tif", np.zeros((4, 4), "float32"), ["green"], from_origin(80, 30, 0.01, 0.01),
               crs="EPSG:4326")  # fmt: skip
    gdf = gpd.GeoDataFrame(geometry=[shapely.box(80, 29.99, 80.01, 30)], crs="EPSG:4326")
    with pytest.raises(InputError, match="metric"):
        terminus_types(gdf, g, grid_path=g)


def test_synthetic_proglacial_lake(tiny_scene, tmp_path):
    """The generator puts a lake in front of the lowest terminus: that glacier is lake-terminating."""
    with rasterio.open(tiny_scene / "truth" / "surface.tif") as ds:
        kind, prof = ds.read(1), ds.profile
    from glacierinv.synthetic.surface import SURFACE

    lake = kind == SURFACE["lake"]
    assert lake.any()
    prof.update(dtype="uint8", nodata=None)
    with rasterio.open(tmp_path / "water.tif", "w", **prof) as ds:
        ds.write(lake.astype("uint8"), 1)
    gl = gpd.read_file(tiny_scene / "truth" / "glaciers.gpkg", layer="glaciers")
    codes, ev = terminus_types(
        gl,
        tiny_scene / "dem.tif",
        grid_path=tiny_scene / "truth" / "classes.tif",
        water_path=tmp_path / "water.tif",
    )
    # the glacier whose outline touches the lake is lake-terminating; no other glacier is
    near = gl.geometry.distance(
        shapely.union_all(
            [shapely.geometry.shape(g) for g, v in rasterio.features.shapes(lake.astype("uint8"), mask=lake,
                                                                             transform=prof["transform"])]
        )
    ).to_numpy()  # fmt: skip
    assert (codes == TERM_LAKE).sum() == 1, ev
    assert near[codes == TERM_LAKE][0] <= 2 * PIX
    assert set(codes.tolist()) <= {TERM_LAND, TERM_LAKE, TERM_UNKNOWN}


def test_pipeline_writes_term_type(baseline_run):
    """Every run's inventory carries term_type from the imagery (RGI 7 codes only)."""
    gl = gpd.read_file(baseline_run.run_dir / "inventory.gpkg", layer="glaciers")
    assert set(gl["term_type"].astype(int)) <= {0, 2, 9}
    # the stack has green and NIR and the tiny scene's glaciers lie inside the image: the scene can tell
    assert (gl["term_type"] != TERM_UNKNOWN).any()


def test_dem_in_feet_gives_the_codes_and_evidence_of_metres(tmp_path):
    """The DEM's vertical unit ([dem] z_unit, here a DemPath in feet) converts it to metres first."""
    from glacierinv.config import dem_path

    inside, z = _tongue(w=60)
    tr = from_origin(500000, 3000000, PIX, PIX)
    green = np.full(inside.shape, 0.2, "float32")
    nir = np.full(inside.shape, 0.2, "float32")
    green[40:55, 5:35], nir[40:55, 5:35] = 0.14, 0.05
    stack = _write(tmp_path / "stack.tif", np.stack([green, nir]), ["green", "nir"], tr)
    metres = _write(tmp_path / "dem_m.tif", z.astype("float32"), ["z"], tr)
    feet = _write(tmp_path / "dem_ft.tif", (z / 0.3048).astype("float32"), ["z"], tr)
    glac = shapely.box(500000 + 10 * PIX, 3000000 - 40 * PIX, 500000 + 30 * PIX, 3000000 - 10 * PIX)
    gdf = gpd.GeoDataFrame(geometry=[glac], crs="EPSG:32645")
    want = terminus_types(gdf, metres, grid_path=stack, stack_path=stack)
    got = terminus_types(gdf, dem_path(feet, "ft"), grid_path=stack, stack_path=stack)
    assert got[0].tolist() == want[0].tolist() == [TERM_LAKE]
    assert got[1] == want[1] and "lowest margin 922 m" in want[1][0]
    raw = terminus_types(gdf, feet, grid_path=stack, stack_path=stack)  # no unit given: taken as metres
    assert raw[1] != want[1]


def test_lowest_margin_is_the_margin_band_above_its_lowest_pixel():
    """_lowest_margin: only margin pixels (not interior ones, however low) within the band count; the
    lowest margin elevation is returned with them, (None, NaN) without DEM on the margin."""
    from glacierinv.attributes.terminus import _lowest_margin

    inside = np.zeros((7, 7), bool)
    inside[1:6, 1:6] = True
    z = np.full((7, 7), 100.0)
    z[3, 3] = 0.0  # interior: not on the margin
    z[5, 1:6] = [50.0, 55.0, 61.0, 90.0, 52.0]  # bottom margin row
    terminus, zmin = _lowest_margin(inside, z, 10.0)
    assert zmin == 50.0
    assert sorted(zip(*np.nonzero(terminus), strict=True)) == [(5, 1), (5, 2), (5, 5)]
    assert _lowest_margin(inside, np.where(inside & (z > 1), np.nan, z), 10.0)[0] is None
