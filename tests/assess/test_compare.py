"""Tests of inventory comparison: matching cases, size classes, cells with uncertainty, real RGI inventories."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from shapely.geometry import box

from glacierinv.assess.compare import (
    clip_above_elevation,
    compare_inventories,
    size_class_labels,
)
from glacierinv.errors import InputError
from glacierinv.geometry import area_km2
from glacierinv.io.grid import Grid
from glacierinv.io.raster import write_raster

X0, Y0 = 600_000.0, 5_200_000.0  # UTM 32N


def _b(x, y, w, h):
    return box(X0 + x, Y0 + y, X0 + x + w, Y0 + y + h)


def _inv(ids, geoms, col="glac_id", **extra):
    return gpd.GeoDataFrame({col: ids, **extra}, geometry=geoms, crs=32632)


@pytest.fixture()
def pair():
    """ours vs ref with each matching case once (sizes in m)."""
    ours = _inv(
        ["o11", "o1n", "oA", "oB", "ocom"],
        [
            _b(0, 0, 1000, 1000),  # 1:1 with r11 (ref slightly smaller)
            _b(3000, 0, 2000, 1000),  # one complex of ours = two reference glaciers (1:n)
            _b(7000, 0, 1000, 1000),  # oA + oB = one reference glacier (n:1)
            _b(8000, 0, 1000, 1000),
            _b(0, 5000, 200, 200),  # commission: ours only (a small glacier the reference omits)
        ],
    )
    ref = _inv(
        ["r11", "rX", "rY", "rAB", "romit"],
        [
            _b(0, 0, 1000, 900),
            _b(3000, 0, 1000, 1000),
            _b(4000, 0, 1000, 1000),
            _b(7000, 0, 2000, 1000),
            _b(5000, 5000, 800, 800),  # omission: reference only
        ],
        col="RGIId",
    )
    return ours, ref


def test_matching_cases(pair):
    ours, ref = pair
    comp = compare_inventories(ours, ref)
    g = comp.groups.set_index("ours_ids")
    assert g.loc["o11", "match_type"] == "1:1"
    assert g.loc["o1n", "match_type"] == "1:n"
    assert g.loc["o1n", "ref_ids"] == "rX;rY"
    assert g.loc["oA;oB", "match_type"] == "n:1"
    assert g.loc["oA;oB", "ref_ids"] == "rAB"
    a = area_km2(gpd.GeoSeries([_b(0, 0, 1000, 100)], crs=32632))[0]
    assert g.loc["o11", "area_diff_km2"] == pytest.approx(a, rel=1e-6)  # geodesic vs planar strip
    assert g.loc["o1n", "area_diff_km2"] == pytest.approx(0.0, abs=1e-9)  # same ice, split differently
    assert comp.omissions["id"].tolist() == ["romit"]
    assert comp.commissions["id"].tolist() == ["ocom"]
    assert comp.omissions["area_km2"].iloc[0] == pytest.approx(0.64 / 0.9996**2 * 1.0, rel=2e-3)
    assert comp.summary["match_types"] == {"1:1": 1, "1:n": 1, "n:1": 1, "n:m": 0}
    # matches.csv: one row per matched pair with both ids, both areas and their difference
    p = comp.pairs
    assert len(p) == 5
    assert set(zip(p["ours_id"], p["ref_id"], strict=True)) == {
        ("o11", "r11"),
        ("o1n", "rX"),
        ("o1n", "rY"),
        ("oA", "rAB"),
        ("oB", "rAB"),
    }
    np.testing.assert_allclose(p["area_diff_km2"], p["ours_area_km2"] - p["ref_area_km2"])
    assert comp.summary["ours_id_column"] == "glac_id" and comp.summary["ref_id_column"] == "RGIId"


def test_slivers_do_not_chain_neighbours():
    # ours is shifted 10 m east: each glacier overlaps its eastern neighbour's reference by a 1 % sliver
    ref = _inv(["a", "b"], [_b(0, 0, 1000, 1000), _b(1000, 0, 1000, 1000)])
    ours = _inv(["a", "b"], [_b(10, 0, 1000, 1000), _b(1010, 0, 1000, 1000)])
    comp = compare_inventories(ours, ref)
    assert comp.summary["match_types"]["1:1"] == 2
    loose = compare_inventories(ours, ref, min_overlap_frac=0.005)
    assert loose.summary["match_types"]["n:m"] == 1


def test_no_overlap_at_all_gives_only_omissions_and_commissions(tmp_path):
    # disjoint inventories (or overlaps all below min_overlap_frac): no edge, no group; was an IndexError
    from glacierinv.assess.compare import plot_comparison

    ours = _inv(["o1", "o2"], [_b(0, 0, 1000, 1000), _b(5000, 0, 500, 500)])
    ref = _inv(["r1"], [_b(2000, 0, 1000, 1000)])
    comp = compare_inventories(ours, ref, cell_km=1)
    assert len(comp.groups) == 0 and len(comp.pairs) == 0 and len(comp.matches) == 0
    assert comp.omissions["id"].tolist() == ["r1"]
    assert comp.commissions["id"].tolist() == ["o1", "o2"]  # largest first
    assert comp.summary["n_match_groups"] == 0 and comp.summary["matched_area_diff_km2"] == 0.0
    assert comp.size_classes["n_match_groups"].sum() == 0
    names = sorted(p.name for p in plot_comparison(comp, tmp_path))
    assert names == ["cells.png", "group_areas.png", "size_classes.png"]


def test_size_classes_and_totals(pair):
    ours, ref = pair
    comp = compare_inventories(ours, ref)
    sc = comp.size_classes.set_index("size_class_km2")
    assert (
        list(sc.index)
        == size_class_labels()
        == [
            "<0.1",
            "0.1-0.5",
            "0.5-1",
            "1-5",
            "5-10",
            "10-50",
            "50-100",
            ">100",
        ]
    )
    assert sc.loc["<0.1", "n_commission"] == 1  # 0.04 km²
    assert sc.loc["0.5-1", "n_omitted"] == 1  # 0.64 km²
    assert sc["n_ours"].sum() == 5 and sc["n_ref"].sum() == 5
    assert sc["ours_area_km2"].sum() == pytest.approx(comp.summary["ours_area_km2"])
    assert comp.summary["area_diff_km2"] == pytest.approx(
        comp.summary["matched_area_diff_km2"] + comp.summary["commission_km2"] - comp.summary["omitted_km2"]
    )


def test_grid_cells_and_credible_differences():
    # one 2 x 1 km glacier spanning two 1 km cells; ours 200 m longer in the east cell
    ref = _inv(["r"], [_b(0, 0, 2000, 1000)])
    ours = _inv(["o"], [_b(0, 0, 2200, 1000)])
    comp = compare_inventories(ours, ref, cell_km=1.0, ours_unc_rel=0.01, ref_unc_rel=0.01)
    c = comp.cells
    assert c["ours_area_km2"].sum() == pytest.approx(comp.summary["ours_area_km2"], rel=1e-9)
    assert c["ref_area_km2"].sum() == pytest.approx(comp.summary["ref_area_km2"], rel=1e-9)
    # combined = sqrt(u1² + u2²) per cell
    np.testing.assert_allclose(c["combined_unc_km2"], np.hypot(c["ours_unc_km2"], c["ref_unc_km2"]))
    assert (c["credible"] == (c["area_diff_km2"].abs() > c["combined_unc_km2"])).all()
    # a 0.2 km² difference against ~1 % uncertainties of ~1 km² per cell is credible somewhere
    assert c["credible"].any()
    assert c["area_diff_km2"].sum() == pytest.approx(0.2 / 0.9996**2, rel=1e-2)
    # with 50 % uncertainty, cells holding ice of both inventories show no credible difference; a cell
    # with ice of only one inventory stays credible (|a - 0| > 0.5 a)
    loose = compare_inventories(ours, ref, cell_km=1.0, ours_unc_rel=0.5, ref_unc_rel=0.5).cells
    both = (loose["ours_area_km2"] > 0) & (loose["ref_area_km2"] > 0)
    assert not loose.loc[both, "credible"].any()
    assert loose.loc[~both, "credible"].all()


def test_debris_difference_from_columns():
    ours = _inv(["o"], [_b(0, 0, 1000, 1000)], debris_km2=[0.3])
    ref = _inv(["r"], [_b(0, 0, 1000, 1000)], debris_km2=[0.1])
    comp = compare_inventories(ours, ref)
    assert comp.groups["debris_diff_km2"].iloc[0] == pytest.approx(0.2)
    assert comp.summary["debris_diff_km2"] == pytest.approx(0.2)


def test_bad_inventories(pair):
    ours, ref = pair
    with pytest.raises(InputError, match="no glaciers"):
        compare_inventories(ours.iloc[0:0], ref)
    with pytest.raises(InputError, match="no id column 'nope'"):
        compare_inventories(ours, ref, ours_id="nope")
    dup = ours.copy()
    dup.loc[1, "glac_id"] = "o11"
    with pytest.raises(InputError, match="more than once"):
        compare_inventories(dup, ref)
    missing = ours.copy()
    missing.loc[1, "glac_id"] = None
    with pytest.raises(InputError, match="have no id"):
        compare_inventories(missing, ref)
    # no id column at all: rows are numbered, comparison still works
    comp = compare_inventories(ours.drop(columns="glac_id"), ref)
    assert comp.summary["ours_id_column"] == "row"
    # another CRS: the reference is reprojected
    comp2 = compare_inventories(ours, ref.to_crs(4326))
    assert comp2.summary["match_types"] == {"1:1": 1, "1:n": 1, "n:1": 1, "n:m": 0}
    assert comp2.summary["ref_reprojected"].startswith("WGS 84")
    assert comp.summary["ref_reprojected"] is None


def test_clip_above_elevation(tmp_path):
    # DEM rising 1 m per metre eastwards from 0 at the glacier's west edge
    grid = Grid.from_bounds(32632, (X0 - 100, Y0 - 100, X0 + 2100, Y0 + 1100), 10.0)
    cols = np.arange(grid.width) * 10.0 + 5 - 100
    dem = np.tile(cols, (grid.height, 1)).astype("float32")
    write_raster(tmp_path / "dem.tif", dem, grid)
    g = _inv(["a"], [_b(0, 0, 2000, 1000)], area_km2=[2.0])
    hi = clip_above_elevation(g, tmp_path / "dem.tif", 1500.0)
    # kept: x > 1500 m → 500 x 1000 m, exact on the 10 m cell edges
    assert hi.geometry.iloc[0].area == pytest.approx(500 * 1000, rel=1e-9)
    assert hi["area_km2"].iloc[0] == pytest.approx(0.5 / 0.9996**2, rel=1e-2)
    assert len(clip_above_elevation(g, tmp_path / "dem.tif", 5000.0)) == 0
    with rasterio.open(tmp_path / "dem.tif") as ds:
        assert ds.crs.to_epsg() == 32632


# ------------------------------------------------------------------ real inventories


@pytest.fixture(scope="module")
def rgi(shared_data):
    d = shared_data / "oggm-sample" / "test-files"
    return {
        "rgi5": gpd.read_file(d / "Hintereisferner_RGI5.shp"),
        "rgi6": gpd.read_file(d / "Hintereisferner_RGI6.shp"),
        "rgi7": gpd.read_file(d / "rgi7" / "rgi7g_hef.shp"),
        "rgi7_complex": gpd.read_file(d / "rgi7" / "rgi7g_hef_complex.shp"),
        "oetztal": gpd.read_file(shared_data / "oggm-sample" / "test-workflow" / "rgi" / "rgi_oetztal.shp"),
    }


@pytest.mark.realdata
def test_hintereisferner_rgi5_rgi6_rgi7(rgi):
    c56 = compare_inventories(rgi["rgi6"], rgi["rgi5"])
    c76 = compare_inventories(rgi["rgi7"], rgi["rgi6"])
    # RGI-published area is 8.036 km² (RGI 6 'Area'); ours is geodesic, RGI's is in an equal-area
    # projection: agreement to 0.01 % is expected
    assert c56.summary["ref_area_km2"] == pytest.approx(8.036, rel=1e-4)
    assert c76.summary["ours_area_km2"] == pytest.approx(float(rgi["rgi7"]["area_km2"].iloc[0]), rel=1e-4)
    p = c76.pairs.iloc[0]
    assert (p["ours_id"], p["ref_id"]) == ("RGI2000-v7.0-G-11-03116", "RGI60-11.00897")
    assert p["iou"] > 0.99  # the same outline re-released, not re-mapped
    assert c56.summary["match_types"]["1:1"] == 1 and c76.summary["match_types"]["1:1"] == 1


@pytest.mark.realdata
def test_rgi7_vs_rgi5_oetztal(rgi):
    comp = compare_inventories(rgi["rgi7_complex"], rgi["oetztal"], cell_km=2)
    s = comp.summary
    assert s["n_ours"] == 23 and s["n_ref"] == 20
    # RGI50-11.00719 is split in two (_d01, _d02) in the OGGM test set: one RGI7 glacier matches both
    g = comp.groups
    split = g[g["ref_ids"].str.contains("RGI50-11.00719")]
    assert split["match_type"].tolist() == ["1:n"]
    assert s["area_diff_km2"] == pytest.approx(
        s["matched_area_diff_km2"] + s["commission_km2"] - s["omitted_km2"]
    )
    # RGI 7 re-released most RGI 5 outlines of this area: 8 of 11 groups agree within 0.01 %, the others
    # (re-mapped) within 2 %; no matched group differs credibly at 5 % uncertainty
    assert (g["area_diff_pct"].abs() < 0.01).sum() == 8
    assert (g["area_diff_pct"].abs() < 2).all()
    assert not g["credible"].any()
    assert comp.cells["ours_area_km2"].sum() == pytest.approx(s["ours_area_km2"], rel=1e-6)


def test_options_object_equals_the_flat_keywords():
    """CompareOptions / InventorySide group the options; the flat keywords still work and give the same."""
    import pandas as pd

    from glacierinv.assess.compare import CompareOptions, InventorySide

    ref = _inv(["r"], [_b(0, 0, 2000, 1000)])
    ours = _inv(["o"], [_b(0, 0, 2200, 1000)])
    opts = CompareOptions(
        cell_km=1.0,
        ours=InventorySide(unc_rel=0.01, name="mine"),
        ref=InventorySide(pixel_m=10.0, name="rgi"),
    )
    grouped = compare_inventories(ours, ref, opts)
    flat = compare_inventories(
        ours, ref, cell_km=1.0, ours_unc_rel=0.01, ref_pixel_m=10.0, ours_name="mine", ref_name="rgi"
    )
    pd.testing.assert_frame_equal(grouped.cells, flat.cells)
    assert grouped.summary == flat.summary and "mine_area_km2" in grouped.cells.columns
    # keywords refine an options object; the object itself is not changed (frozen)
    finer = compare_inventories(ours, ref, opts, cell_km=0.5)
    assert len(finer.cells) > len(grouped.cells) and opts.cell_km == 1.0
    with pytest.raises(TypeError, match="ours_unc\\b"):
        compare_inventories(ours, ref, ours_unc=0.01)
    with pytest.raises(InputError, match="no id column 'nope'"):
        compare_inventories(ours, ref, CompareOptions(ours=InventorySide(id_column="nope")))
    # unnamed sides are "ours" and "ref" by position; two sides of one name are refused
    unnamed = compare_inventories(ours, ref, CompareOptions(ref=InventorySide(unc_rel=0.05)))
    assert "ref_area_km2" in unnamed.summary and "ours_area_km2" in unnamed.summary
    with pytest.raises(InputError, match="same name"):
        compare_inventories(ours, ref, ours_name="a", ref_name="a")
