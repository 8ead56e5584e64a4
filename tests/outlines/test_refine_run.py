"""The refine round trip on a real run folder (the baseline pipeline on the tiny synthetic scene)."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from datetime import UTC, datetime

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from typer.testing import CliRunner

from glacierinv.cli.main import app
from glacierinv.io.vector import list_layers
from glacierinv.outlines.refine import export_for_editing
from glacierinv.pipeline.refinement import apply_edits

runner = CliRunner()
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.fixture
def run_dir(baseline_run, tmp_path):
    dst = tmp_path / "run"
    shutil.copytree(baseline_run.run_dir, dst)
    return dst


def _md5(p):
    return hashlib.md5(p.read_bytes()).hexdigest()


def _edit_file(run_dir, tmp_path):
    path = export_for_editing(run_dir, tmp_path / "edit.gpkg")
    gl = gpd.read_file(path, layer="glaciers")
    deb = gpd.read_file(path, layer="debris")
    return path, gl, deb


def _save(path, gl, deb):
    gl.to_file(path, layer="glaciers", driver="GPKG")
    deb.to_file(path, layer="debris", driver="GPKG")


def test_export_is_styled(run_dir, tmp_path):
    path, gl, deb = _edit_file(run_dir, tmp_path)
    assert {"glaciers", "debris", "review", "layer_styles"} <= set(list_layers(path))
    assert {"reason", "note"} <= set(gl.columns) and len(gl) > 0
    with sqlite3.connect(path) as con:
        styled = {r[0] for r in con.execute("SELECT f_table_name FROM layer_styles WHERE useAsDefault")}
    assert {"glaciers", "debris", "review"} <= styled


def _free_square(run_dir, gl, size_m=120.0):
    """A square inside the scene that touches no glacier (for an 'added' polygon)."""
    from glacierinv.io.raster import raster_grid

    left, bottom, right, top = raster_grid(run_dir / "classes.tif").bounds
    taken = shapely.union_all(gl.geometry.to_numpy()).buffer(10)
    for fx in (0.05, 0.5, 0.8):
        for fy in (0.05, 0.5, 0.8):
            x, y = left + fx * (right - left), bottom + fy * (top - bottom)
            sq = shapely.box(x, y, x + size_m, y + size_m)
            if not sq.intersects(taken):
                return sq
    pytest.skip("no free place for an added polygon in this scene")


def test_apply_edits_end_to_end(run_dir, tmp_path):
    hashes = {n: _md5(run_dir / n) for n in ("outlines.gpkg", "inventory.gpkg")}
    path, gl, deb = _edit_file(run_dir, tmp_path)
    gl = gl.sort_values("outline_id").reset_index(drop=True)
    first = gl["outline_id"].iloc[0]
    added = _free_square(run_dir, gl)
    gl.loc[0, "geometry"] = gl.geometry[0].buffer(6, join_style="mitre")  # moved vertices outwards
    gl.loc[0, "reason"] = "boundary_omission"
    new = gpd.GeoDataFrame(
        {"outline_id": [None], "reason": ["seasonal_snow"], "note": [None]}, geometry=[added], crs=gl.crs
    )
    gl = gpd.GeoDataFrame(pd.concat([gl, new], ignore_index=True), crs=gl.crs)
    _save(path, gl, deb)
    res = apply_edits(run_dir, path, editor="Tester", now=NOW)
    # originals untouched, outputs present
    assert {n: _md5(run_dir / n) for n in hashes} == hashes
    assert res.out_path.exists() and res.summary_path.exists()
    layers = set(list_layers(res.out_path))
    assert {"glaciers", "debris", "units", "edits", "repairs", "layer_styles"} <= layers
    # provenance
    edits = gpd.read_file(res.out_path, layer="edits")
    row = edits[edits["outline_id"] == first].iloc[0]
    assert (row["action"], row["editor"], row["timestamp"], row["reason"]) == (
        "edited", "Tester", "2026-01-02T03:04:05Z", "boundary_omission",
    )  # fmt: skip
    assert row["area_after_km2"] > row["area_before_km2"]
    add = edits[edits["action"] == "added"].iloc[0]
    assert (add["outline_id"], add["reason"], add["area_before_km2"]) == ("A00001", "seasonal_snow", 0.0)
    refined = gpd.read_file(res.out_path, layer="glaciers")
    prov = dict(zip(refined["outline_id"], refined["provenance"], strict=True))
    assert prov[first] == "edited" and prov["A00001"] == "added"
    assert all(v == "auto" for k, v in prov.items() if k not in (first, "A00001"))
    # attributes recomputed for the changed outlines only; other units copied from the inventory
    units = gpd.read_file(res.out_path, layer="units")
    inv = gpd.read_file(run_dir / "inventory.gpkg", layer="glaciers")
    changed = units["outline_id"].isin([first, "A00001"])
    assert set(res.recomputed) == set(units["glac_id"][changed])
    kept = units[~changed].set_index("glac_id").sort_index()
    ref = inv[~inv["outline_id"].isin([first])].set_index("glac_id").sort_index()
    pd.testing.assert_series_equal(kept["area_km2"], ref["area_km2"])
    assert (
        units[units["outline_id"] == first]["area_km2"].sum()
        > inv[inv["outline_id"] == first]["area_km2"].sum()
    )
    assert units[changed]["area_unc_km2"].notna().all() and units[changed]["zmed_m"].notna().all()
    assert set(units[units["outline_id"] == "A00001"]["provenance"]) == {"added"}
    # change summary (Tables S2-S3 style)
    summary = pd.read_csv(res.summary_path).set_index("reason")
    assert {"boundary_omission", "seasonal_snow", "all_edits", "inventory"} <= set(summary.index)
    assert summary.loc["seasonal_snow", "clean_ice_before_km2"] == 0
    assert summary.loc["seasonal_snow", "clean_ice_after_km2"] == pytest.approx(0.0144, rel=0.01)
    total = summary.loc["inventory"]
    assert total["clean_ice_after_km2"] + total["debris_after_km2"] == pytest.approx(
        refined["area_km2"].sum(), rel=1e-6
    )


def test_delete_everything(run_dir, tmp_path):
    path, gl, deb = _edit_file(run_dir, tmp_path)
    _save(path, gl.iloc[:0], deb.iloc[:0])
    res = apply_edits(run_dir, path, now=NOW)
    assert len(res.glaciers) == 0 and set(res.edits["action"]) == {"deleted"}
    summary = pd.read_csv(res.summary_path).set_index("reason")
    assert summary.loc["inventory", "clean_ice_after_km2"] == 0


def test_apply_refuses_overwrite_and_records_reprojection(run_dir, tmp_path):
    path, gl, deb = _edit_file(run_dir, tmp_path)
    _save(path, gl.to_crs(4326), deb.to_crs(4326))  # wrong CRS: reprojected back
    res = apply_edits(run_dir, path, now=NOW)
    assert "reprojected" in set(res.repairs["repair"])
    assert set(res.glaciers["provenance"]) == {"auto"}  # a round trip through EPSG:4326 changes nothing
    out = runner.invoke(app, ["refine", "apply", str(run_dir), "--edited", str(path)])
    assert out.exit_code == 2 and "--force" in out.output


def _bad(run_dir, tmp_path, frames):
    path = tmp_path / "bad.gpkg"
    for name, frame in frames.items():
        frame.to_file(path, layer=name, driver="GPKG")
    before = sorted(p.name for p in run_dir.iterdir())
    out = runner.invoke(app, ["refine", "apply", str(run_dir), "--edited", str(path)])
    assert out.exit_code == 2, out.output
    assert len(out.output.strip().splitlines()) == 1 and "Traceback" not in out.output
    assert sorted(p.name for p in run_dir.iterdir()) == before  # no partial output
    return out.output


def test_bad_input_missing_layer(run_dir, tmp_path):
    _, gl, _ = _edit_file(run_dir, tmp_path)
    assert "layer 'debris' missing" in _bad(run_dir, tmp_path, {"glaciers": gl})


def test_bad_input_no_crs(run_dir, tmp_path):
    _, gl, deb = _edit_file(run_dir, tmp_path)
    assert "no CRS" in _bad(
        run_dir, tmp_path, {"glaciers": gl.set_crs(None, allow_override=True), "debris": deb}
    )


def test_bad_input_not_a_run(tmp_path):
    out = runner.invoke(app, ["refine", "apply", str(tmp_path), "--edited", str(tmp_path / "x.gpkg")])
    assert out.exit_code == 2 and "run.json" in out.output


def test_cli_export_then_apply_with_split(run_dir, tmp_path):
    edit = tmp_path / "e.gpkg"
    out = runner.invoke(app, ["refine", "export", str(run_dir), "--out", str(edit)])
    assert out.exit_code == 0, out.output
    gl = gpd.read_file(edit, layer="glaciers")
    deb = gpd.read_file(edit, layer="debris")
    i = int(gl.geometry.area.idxmax())
    g = gl.geometry[i]
    cx = g.representative_point().x
    x0, y0, x1, y1 = g.bounds
    west = g.intersection(shapely.box(x0 - 1, y0 - 1, cx, y1 + 1))
    east = g.intersection(shapely.box(cx, y0 - 1, x1 + 1, y1 + 1))
    extra = gl.iloc[[i]].copy()
    gl.loc[i, "geometry"] = west
    extra["geometry"] = [east]
    gl = gpd.GeoDataFrame(pd.concat([gl, extra], ignore_index=True), crs=gl.crs)
    _save(edit, gl, deb)
    out = runner.invoke(app, ["refine", "apply", str(run_dir), "--edited", str(edit), "--editor", "Cli"])
    assert out.exit_code == 0, out.output
    assert "split" in out.output
    edits = gpd.read_file(run_dir / "outlines_refined.gpkg", layer="edits")
    assert (edits["action"] == "split").sum() >= 2 and set(edits["editor"]) == {"Cli"}


def test_rerun_keeps_edits_and_lists_conflicts(run_dir, tmp_path):
    from glacierinv.io.vector import write_layers

    path, gl, deb = _edit_file(run_dir, tmp_path)
    gl.loc[0, "geometry"] = gl.geometry[0].buffer(6, join_style="mitre")
    _save(path, gl, deb)
    apply_edits(run_dir, path, editor="Tester", now=NOW)
    # simulate a re-run of the pipeline whose automated outline moved under the edit
    auto = gpd.read_file(run_dir / "outlines.gpkg", layer="glaciers")
    auto_deb = gpd.read_file(run_dir / "outlines.gpkg", layer="debris")
    auto.loc[0, "geometry"] = auto.geometry[0].buffer(-4, join_style="mitre")
    write_layers(run_dir / "outlines.gpkg", {"glaciers": auto, "debris": auto_deb})
    out = runner.invoke(app, ["refine", "rebase", str(run_dir), "--out", str(tmp_path / "e2.gpkg")])
    assert out.exit_code == 0, out.output
    assert f"conflict: {auto['outline_id'][0]}" in out.output
    carried = gpd.read_file(tmp_path / "e2.gpkg", layer="glaciers")
    refined = gpd.read_file(run_dir / "outlines_refined.gpkg", layer="glaciers")
    edited_geom = refined.geometry[refined["outline_id"] == gl["outline_id"][0]].iloc[0]  # as validated
    row = carried[carried["outline_id"] == gl["outline_id"][0]]
    assert len(row) == 1 and shapely.symmetric_difference(row.geometry.iloc[0], edited_geom).area < 1.0
    assert len(gpd.read_file(tmp_path / "e2.gpkg", layer="conflicts")) == 1
    res = apply_edits(run_dir, tmp_path / "e2.gpkg", force=True, now=NOW)
    assert set(res.edits["action"]) == {"edited"}


def test_rebase_without_refined_output(run_dir, tmp_path):
    out = runner.invoke(app, ["refine", "rebase", str(run_dir), "--out", str(tmp_path / "e2.gpkg")])
    assert out.exit_code == 2 and "outlines_refined.gpkg" in out.output
    assert not (tmp_path / "e2.gpkg").exists()


def test_second_round_keeps_earlier_provenance(run_dir, tmp_path):
    path, gl, deb = _edit_file(run_dir, tmp_path)
    first = gl["outline_id"].iloc[0]
    gl.loc[0, "geometry"] = gl.geometry[0].buffer(6, join_style="mitre")
    gl.loc[0, "reason"] = "boundary_omission"
    _save(path, gl, deb)
    apply_edits(run_dir, path, editor="First", now=NOW)
    # round two: export the refined outlines, add a polygon, leave the earlier edit alone
    path2 = tmp_path / "r2.gpkg"
    export_for_editing(run_dir, path2)
    gl2 = gpd.read_file(path2, layer="glaciers")
    deb2 = gpd.read_file(path2, layer="debris")
    new = gpd.GeoDataFrame({"outline_id": [None], "reason": [None], "note": [None]},
                           geometry=[_free_square(run_dir, gl2)], crs=gl2.crs)  # fmt: skip
    _save(path2, gpd.GeoDataFrame(pd.concat([gl2, new], ignore_index=True), crs=gl2.crs), deb2)
    later = datetime(2026, 2, 1, tzinfo=UTC)
    res = apply_edits(run_dir, path2, editor="Second", now=later, force=True)
    e = res.edits.set_index("outline_id")
    assert (e.loc[first, "editor"], e.loc[first, "timestamp"], e.loc[first, "reason"]) == (
        "First", "2026-01-02T03:04:05Z", "boundary_omission",
    )  # fmt: skip
    assert (e.loc["A00001", "editor"], e.loc["A00001", "timestamp"]) == ("Second", "2026-02-01T00:00:00Z")


def test_pipeline_rerun_keeps_edits_and_writes_the_conflicts(run_dir, tmp_path, tiny_scene):
    """Re-running the automated outlines never touches the edits and lists where they now conflict."""
    from glacierinv.config import load_config
    from glacierinv.pipeline import run_stage

    path, gl, deb = _edit_file(run_dir, tmp_path)
    gl = gl.iloc[gl.geometry.area.argsort()[::-1]].reset_index(drop=True)  # the largest glacier first
    gl.loc[0, "geometry"] = gl.geometry[0].buffer(6, join_style="mitre")
    _save(path, gl, deb)
    apply_edits(run_dir, path, editor="Tester", now=NOW)
    refined_md5 = _md5(run_dir / "outlines_refined.gpkg")
    cfg = load_config(tiny_scene / "config.toml")
    cfg = cfg.model_copy(update={"segment": cfg.segment.model_copy(update={"method": "baseline"})})
    same = run_stage(cfg, run_dir, "outlines").summaries["outlines"]
    assert (same["manual_edits"], same["edit_conflicts"]) == (1, 0)  # same automation: nothing to review
    # coarser simplification moves the automated outline under the edit by more than the 2 m² tolerance
    cfg = cfg.model_copy(update={"outlines": cfg.outlines.model_copy(update={"simplify_px": 3.0})})
    moved = run_stage(cfg, run_dir, "outlines").summaries["outlines"]
    assert moved["edit_conflicts"] >= 1
    conflicts = pd.read_csv(run_dir / "edit_conflicts.csv")
    assert gl["outline_id"][0] in set(conflicts["outline_id"])
    assert _md5(run_dir / "outlines_refined.gpkg") == refined_md5  # the edits are never rewritten


def test_refine_recompute_equals_a_fresh_pipeline_run(run_dir, tmp_path):
    """Units and attributes recomputed after an edit equal what the pipeline's own units and attributes
    stages give for the same outlines (both go through the stage runners)."""
    from glacierinv.attributes.runner import attributes_with_uncertainty
    from glacierinv.io.raster import raster_grid
    from glacierinv.pipeline.runfolder import read_run_config
    from glacierinv.units.runner import split_into_units

    path, gl, deb = _edit_file(run_dir, tmp_path)
    gl = gl.sort_values("outline_id").reset_index(drop=True)
    edited_id = gl["outline_id"].iloc[0]
    gl.loc[0, "geometry"] = gl.geometry[0].buffer(-4, join_style="mitre")  # moved vertices inwards
    _save(path, gl, deb)
    res = apply_edits(run_dir, path, editor="Tester", now=NOW)
    ours = res.units[res.units["outline_id"].astype(str) == str(edited_id)]
    assert len(ours) >= 1

    cfg = read_run_config(run_dir)
    refined = res.glaciers[res.glaciers["outline_id"].astype(str) == str(edited_id)]
    refined_debris = res.debris[res.debris["outline_id"].astype(str) == str(edited_id)]
    units, units_debris, _ = split_into_units(cfg, refined[["outline_id", "geometry"]], refined_debris)
    fresh, _, _, _ = attributes_with_uncertainty(
        cfg,
        units,
        units_debris,
        pixel_size_m=raster_grid(run_dir / "classes.tif").res[0],
        id_column="glac_id",
        run_dir=run_dir,  # as the attributes stage: term_type (and img_source) from the run's imagery
    )
    cols = ["area_km2", "area_unc_km2", "zmin_m", "zmax_m", "zmed_m", "slope_deg", "aspect_deg", "lmax_m",
            "term_type", "img_source", "area_p25_km2", "area_p75_km2", "glac_type", "aar"]  # fmt: skip
    cols = [c for c in cols if c in fresh.columns]
    a = ours.sort_values("area_km2").reset_index(drop=True)[cols]
    b = fresh.sort_values("area_km2").reset_index(drop=True)[cols]
    pd.testing.assert_frame_equal(a, b, check_dtype=False)
