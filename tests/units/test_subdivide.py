"""Subdivision: two valleys sharing one ice body split at the divide; exact partition; user divides;
and the RGI 7 complex around Hintereisferner."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from rasterio.crs import CRS
from shapely.geometry import LineString, box

from glacierinv.errors import InputError
from glacierinv.geometry import area_km2
from glacierinv.io.grid import Grid
from glacierinv.io.raster import write_raster
from glacierinv.units import subdivide
from glacierinv.units.subdivide import routing_resolution_m
from tests.ridge import ridge_dem

UTM = CRS.from_epsg(32643)


@pytest.fixture
def two_valleys(tmp_path):
    """A ridge along x = 501000 on a south-facing slope (10 m DEM); the ice covers the ridge top and has two
    tongues (a notch of rock along the ridge in the south), so it leaves the complex in two places."""
    dem = ridge_dem(tmp_path / "dem.tif", 10.0)
    body = box(500300, 4000300, 501700, 4001700).difference(box(500900, 4000000, 501100, 4000900))
    ice = gpd.GeoDataFrame({"outline_id": ["G00001"]}, geometry=[body], crs=UTM)
    return dem, ice


def test_split_at_the_ridge(two_valleys):
    dem, ice = two_valleys
    debris = gpd.GeoDataFrame(
        geometry=[box(500400, 4000400, 501600, 4000500).intersection(ice.geometry.iloc[0])], crs=UTM
    )
    units, debris_units, divides = subdivide(ice, dem, debris=debris, min_unit_area_km2=0.1)
    assert len(units) == 2
    assert sorted(units.glac_id) == ["G00001-01", "G00001-02"]
    # exact partition: union equals the complex, no overlap
    assert shapely.union_all(units.geometry.to_numpy()).symmetric_difference(ice.geometry.iloc[0]).area < 1e-6
    assert units.geometry.area.sum() == pytest.approx(ice.geometry.area.sum(), rel=1e-9)
    # the divide follows the ridge x = 501000
    assert len(divides) == 1
    xs = shapely.get_coordinates(divides.geometry.iloc[0])[:, 0]
    assert np.all(np.abs(xs - 501000) <= 100)  # the ridge cells are ties; within the notch half-width
    # debris split with its units
    assert len(debris_units) == 2 and set(debris_units.glac_id) == set(units.glac_id)
    assert debris_units.area_km2.sum() == pytest.approx(area_km2(debris).sum(), rel=1e-6)


def test_small_basins_are_merged(two_valleys):
    dem, ice = two_valleys
    units = subdivide(ice, dem, min_unit_area_km2=1.5)[0]  # each half is ~0.9 km²: must merge into one
    assert len(units) == 1


def test_user_divides_override(two_valleys):
    dem, ice = two_valleys
    user = gpd.GeoDataFrame(geometry=[LineString([(500000, 4001000), (502000, 4001000)])], crs=UTM)
    units = subdivide(ice, dem, divides=user, min_unit_area_km2=0.1)[0]
    assert len(units) == 2
    ys = sorted(u.centroid.y for u in units.geometry)
    assert ys[0] < 4001000 < ys[1]  # split north/south along the user line, not at the ridge


@pytest.fixture
def tributary(tmp_path):
    """A trunk valley glacier falling east (axis y = 4000300) and a 1.2 km² tributary from the north whose
    ice leaves the complex at a rock step just above the trunk and falls onto the trunk's ice; the two
    are joined by a 100 m strip of ice at the step's west end. RGI practice: one glacier."""
    grid = Grid.from_bounds(UTM, (499000, 3998000, 505000, 4004000), 20.0)
    rows, cols = np.indices(grid.shape)
    xs, ys = grid.xy(rows, cols)
    z = 4000 - 0.15 * (xs - 500000) + 2e-4 * (ys - 4000300) ** 2
    z += np.where(ys > 4000600, 60.0, 0.0)  # the rock step at the tributary's mouth
    dem = write_raster(tmp_path / "dem.tif", z.astype("float32"), grid)
    trunk = box(500000, 4000000, 504000, 4000600)
    trib = box(501000, 4000680, 502000, 4001900)
    neck = box(501000, 4000600, 501100, 4000680)  # ice joins the two at the west end of the step
    ice = gpd.GeoDataFrame({"rgi_id": ["RGI-X"]}, geometry=[trunk.union(trib).union(neck)], crs=UTM)
    return dem, ice


def test_tributary_joins_the_glacier_it_flows_into(tributary):
    dem, ice = tributary
    units = subdivide(ice, dem)[0]
    assert len(units) == 1  # whatever the tributary's area, it is part of the trunk glacier
    assert list(units.glac_id) == ["RGI-X-01"] and list(units.outline_id) == ["RGI-X"]
    # without following the outflow off the ice (reach 0) the tributary's own outlet makes it a unit
    assert len(subdivide(ice, dem, reach_m=0)[0]) == 2


def test_ids_from_the_input_and_stable(two_valleys):
    dem, ice = two_valleys
    a = subdivide(ice.rename(columns={"outline_id": "rgi_id"}), dem)[0]
    b = subdivide(ice.rename(columns={"outline_id": "rgi_id"}), dem)[0]
    assert list(a.glac_id) == ["G00001-01", "G00001-02"] and list(a.glac_id) == list(b.glac_id)
    assert all(ga.equals_exact(gb, 1e-9) for ga, gb in zip(a.geometry, b.geometry, strict=True))
    custom = subdivide(ice.assign(name=["Baltoro"]), dem, complex_id_column="name")[0]
    assert set(custom.glac_id) == {"Baltoro-01", "Baltoro-02"}
    bare = subdivide(ice[["geometry"]], dem)[0]
    assert set(bare.glac_id) == {"C00001-01", "C00001-02"}


def test_duplicate_ids_and_bad_id_column(two_valleys):
    dem, ice = two_valleys
    twice = gpd.GeoDataFrame(
        {"glac_id": ["A", "A"]},
        geometry=[ice.geometry.iloc[0], box(500000, 4001800, 500100, 4001900)],
        crs=UTM,
    )
    ids = set(subdivide(twice, dem)[0].glac_id)
    assert {"A-01", "A-02", "A_2-01"} == ids
    with pytest.raises(InputError, match="id column 'nope'"):
        subdivide(ice, dem, complex_id_column="nope")


def test_partial_dem_warns_with_the_uncovered_share(tmp_path, caplog):
    grid = Grid.from_bounds(UTM, (500000, 4000000, 502000, 4002000), 10.0)
    rows, cols = np.indices(grid.shape)
    xs, ys = grid.xy(rows, cols)
    z = (5000.0 - 0.3 * np.abs(xs - 501000) + 0.1 * (ys - 4000000)).astype("float32")
    z[:, xs[0] > 501300] = np.nan  # the DEM stops at x = 501300
    dem = write_raster(tmp_path / "dem.tif", z, grid, nodata=np.nan)
    ice = gpd.GeoDataFrame({"outline_id": ["K1"]}, geometry=[box(500300, 4000300, 501700, 4001700)], crs=UTM)
    with caplog.at_level("WARNING"):
        units = subdivide(ice, dem)[0]
    msg = " ".join(r.getMessage() for r in caplog.records)
    assert "complex K1" in msg and "28.6 % uncovered" in msg  # 400 of 1400 m of the width
    assert units.geometry.area.sum() == pytest.approx(ice.geometry.area.sum(), rel=1e-9)


def test_large_window_is_routed_on_a_coarser_grid(two_valleys, caplog):
    """Memory bound: above max_route_cells the flow is routed on a grid coarsened by an integer factor;
    up to smooth_m/10 (20 m here) that is the rule (no warning), beyond it a warning. The units still
    partition the complex exactly and the ridge still divides it."""
    dem, ice = two_valleys  # 10 m DEM; the window with its reach margin is ~206 × 206 cells
    with caplog.at_level("INFO", logger="glacierinv.units.subdivide"):
        units = subdivide(ice, dem, max_route_cells=20_000)[0]  # factor 2: 20 m = 200 m / 10
    assert not [r for r in caplog.records if r.levelname == "WARNING"]
    assert "routed at 20 m" in " ".join(r.getMessage() for r in caplog.records)
    assert len(units) == 2
    assert units.geometry.area.sum() == pytest.approx(ice.geometry.area.sum(), rel=1e-9)
    caplog.clear()
    with caplog.at_level("WARNING"):
        units = subdivide(ice, dem, max_route_cells=5000)[0]  # factor 3: 30 m > 20 m
    msg = " ".join(r.getMessage() for r in caplog.records if r.levelname == "WARNING")
    assert "complex G00001" in msg and "routed at 30 m" in msg and "coarser than smooth_m/10" in msg
    assert len(units) == 2
    assert units.geometry.area.sum() == pytest.approx(ice.geometry.area.sum(), rel=1e-9)


def test_routing_resolution_rule():
    assert routing_resolution_m(1e6, 4.0, 24_000_000, 200.0) == 4.0  # fits: the DEM's own grid
    assert routing_resolution_m(60e6, 4.0, 24_000_000, 200.0) == 8.0  # 60 Mpx at 4 m: 2× (15 Mpx)
    assert routing_resolution_m(24_000_001, 2.0, 24_000_000, 200.0) == 4.0
    assert routing_resolution_m(96e6, 4.0, 24_000_000, 200.0) == 8.0  # exactly 24 M at 2×
    assert routing_resolution_m(400e6, 2.0, 24_000_000, 200.0) == 10.0


def test_bad_parameters(two_valleys):
    dem, ice = two_valleys
    for kw in ({"reach_m": -1}, {"smooth_m": -5}, {"min_unit_area_km2": -0.1}):
        with pytest.raises(InputError):
            subdivide(ice, dem, **kw)


def test_rgi7_hintereisferner_complex(shared_data):
    """RGI 7 complex around HEF with the Ötztal SRTM vs RGI 7's own 23 glaciers, default settings
    (measured: 26 units, 20/23 = 87 % matched with IoU >= 0.5, median IoU 0.81)."""
    d = shared_data / "oggm-sample"
    cplx = gpd.read_file(d / "test-files" / "rgi7" / "rgi7c_hef.shp")
    ref = gpd.read_file(d / "test-files" / "rgi7" / "rgi7g_hef_complex.shp").to_crs(32632)
    units = subdivide(cplx, d / "test-workflow" / "srtm_oetztal.tif")[0]
    assert units.glac_id.str.startswith("RGI2000-v7.0-C-11-02192-").all()
    assert units.is_valid.all()
    units = units.to_crs(32632)
    assert 23 * 0.7 <= len(units) <= 23 * 1.3
    assert units.area.sum() == pytest.approx(cplx.to_crs(32632).area.sum(), rel=1e-9)
    whole = shapely.union_all(cplx.to_crs(32632).geometry.to_numpy())
    assert shapely.union_all(units.geometry.to_numpy()).symmetric_difference(whole).area < 1.0  # m²
    geoms = units.geometry.to_numpy()
    i, j = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    overlap = sum(geoms[a].intersection(geoms[b]).area for a, b in zip(i, j, strict=True) if a < b)
    assert overlap < 1.0  # m² over a 77.6 km² complex: reprojection round-off only
    ious = np.array(
        [max(g.intersection(h).area / g.union(h).area for h in units.geometry) for g in ref.geometry]
    )
    assert (ious >= 0.5).mean() >= 0.85
    hef = ref[ref.geometry.area == ref.geometry.area.max()].geometry.iloc[0]
    best = max(hef.intersection(h).area / hef.union(h).area for h in units.geometry)
    assert best >= 0.5


def _best_ious(units, ref):
    return [max(g.intersection(h).area / g.union(h).area for h in units.geometry) for g in ref.geometry]


def test_hef_against_oggm_divides(shared_data):
    """HEF's RGI 5 outline split on hef_srtm vs OGGM's 3 divides (6.25, 1.33, 0.45 km²), default settings:
    measured 3 units, best IoU 0.97, 1.0, 0.70."""
    d = shared_data / "oggm-sample" / "test-files"
    hef = gpd.read_file(d / "Hintereisferner_RGI5.shp")
    units = subdivide(hef, d / "hef_srtm.tif")[0].to_crs(32632)
    oggm = gpd.read_file(d / "divides_hef.shp").to_crs(32632)
    assert len(units) == 3
    assert min(_best_ious(units, oggm)) >= 0.6


def test_chhota_shigri_against_oggm_divides(shared_data):
    """Independent check (Himalaya, 94 m DEM in a local TM): Chhota Shigri's RGI 5 outline vs OGGM's two
    divides (13.47, 3.31 km²), default settings: measured 2 units, best IoU 1.0 and 0.99."""
    d = shared_data / "oggm-sample" / "test-files"
    g = gpd.read_file(d / "RGI50-14.15990.shp")
    crs = g.estimate_utm_crs()
    units = subdivide(g, d / "dem_chhota_shigri.tif")[0].to_crs(crs)
    ref = gpd.read_file(d / "divides_RGI50-14.15990.shp").to_crs(crs)
    assert len(units) == 2
    assert min(_best_ious(units, ref)) >= 0.9


@pytest.mark.slow
def test_oetztal_glaciers_dissolved_and_resplit(shared_data):
    """Independent check: the 20 RGI 5 Ötztal glaciers dissolved into their 7 complexes and re-split with
    the defaults: measured 25 units, 19/20 matched with IoU >= 0.5 (median IoU 0.94)."""
    d = shared_data / "oggm-sample" / "test-workflow"
    rgi = gpd.read_file(d / "rgi" / "rgi_oetztal.shp").to_crs(32632)
    whole = rgi.union_all().buffer(0.01).buffer(-0.01)
    cplx = gpd.GeoDataFrame(geometry=list(whole.geoms), crs=32632)
    units = subdivide(cplx, d / "srtm_oetztal.tif")[0].to_crs(32632)
    assert 20 * 0.7 <= len(units) <= 20 * 1.3
    assert np.mean(np.array(_best_ious(units, rgi)) >= 0.5) >= 0.85


def _ridge_window(geom, res_m=10.0, margin_m=400.0):
    """The ridge terrain of tests/ridge.py as an in-memory window around ``geom`` (no file)."""
    import rasterio.features

    from glacierinv.dem.windows import GlacierWindow

    left, bottom, right, top = geom.bounds
    grid = Grid.from_bounds(
        UTM, (left - margin_m, bottom - margin_m, right + margin_m, top + margin_m), res_m
    )
    rows, cols = np.indices(grid.shape)
    xs, ys = grid.xy(rows, cols)
    z = (5000.0 - 0.3 * np.abs(xs - 501000) + 0.1 * (ys - 4000000)).astype("float32")
    mask = rasterio.features.geometry_mask([geom], grid.shape, grid.transform, invert=True)
    return GlacierWindow(z, mask, grid, geom)


def test_pure_core_from_arrays_matches_the_file_wrapper(two_valleys):
    """subdivide_windows (arrays and geometries in, no file) gives the units subdivide gives from the DEM file;
    split_complex alone gives the partition in the window's CRS."""
    from glacierinv.units import split_complex, subdivide_windows

    dem, ice = two_valleys
    geom = ice.geometry.iloc[0]
    units, debris_units, divides = subdivide_windows(ice, [_ridge_window(geom)])
    ref = subdivide(ice, dem)[0]
    assert list(units.glac_id) == list(ref.glac_id) == ["G00001-01", "G00001-02"]
    for a, b in zip(units.geometry, ref.geometry, strict=True):
        assert a.symmetric_difference(b).area < 0.01 * a.area
    assert len(divides) == 1 and len(debris_units) == 0
    parts = split_complex(_ridge_window(geom))
    assert len(parts) == 2
    assert shapely.union_all(parts).symmetric_difference(geom).area < 1e-6
    with pytest.raises(ValueError):  # one window per complex, in order
        subdivide_windows(ice, [])


def test_invalid_complex_polygon_is_repaired_and_logged(caplog):
    """A self-touching ring (bow-tie at x = 501000) is repaired with repair_polygons (warning naming the
    complex), and the units are valid and cover the repaired complex."""
    from glacierinv.units import subdivide_windows

    bowtie = shapely.Polygon(
        [(500300, 4000300), (501000, 4001000), (501700, 4000300), (501700, 4001700), (501000, 4001000),
         (500300, 4001700)]
    )  # fmt: skip
    assert not bowtie.is_valid
    ice = gpd.GeoDataFrame({"glac_id": ["BT"]}, geometry=[bowtie], crs=UTM)
    with caplog.at_level("WARNING"):
        units = subdivide_windows(ice, [_ridge_window(bowtie)])[0]
    assert "polygon BT was invalid" in " ".join(r.getMessage() for r in caplog.records)
    assert units.is_valid.all() and units.glac_id.str.startswith("BT-").all()
    assert units.area.sum() == pytest.approx(shapely.make_valid(bowtie).area, rel=1e-6)


def test_dem_window_on_the_routing_grid(two_valleys):
    """DemWindows.window(res_m=...) reads the window on a coarser metric grid (the routing grid): same
    footprint, same terrain; res_m at or below the DEM's keeps the DEM's own grid."""
    from glacierinv.dem.windows import DemWindows

    dem, ice = two_valleys
    with DemWindows(dem) as dems:
        ((g, crs),) = dems.metric_geometries(ice.geometry)
        w10 = dems.window(g, crs, margin_px=3)
        w20 = dems.window(g, crs, margin_px=3, res_m=20.0)
        same = dems.window(g, crs, margin_px=3, res_m=10.0)
    assert w10.res_m == 10.0 and same.res_m == 10.0 and w20.res_m == 20.0
    assert w20.mask.sum() * 400.0 == pytest.approx(w10.mask.sum() * 100.0, rel=0.03)
    assert np.nanmean(w20.dem_m[w20.mask]) == pytest.approx(np.nanmean(w10.dem_m[w10.mask]), abs=2.0)
    assert w20.grid.transform.c % 20.0 == 0.0  # the coarse grid is aligned on its own cell size
