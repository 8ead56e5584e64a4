"""End-to-end: the baseline pipeline on the synthetic scene, asserted against the scene's truth."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from glacierinv.config import load_config
from glacierinv.geometry import area_km2
from glacierinv.io.raster import read_raster
from glacierinv.io.vector import list_layers, read_vector
from glacierinv.pipeline import STAGE_NAMES, run_pipeline

ATTRIBUTE_COLUMNS = [
    "glac_id", "cenlon", "cenlat", "area_km2", "area_unc_km2", "debris_km2", "debris_frac",
    "zmin_m", "zmax_m", "zmed_m", "zmean_m", "slope_deg", "aspect_deg", "aspect_sec", "dem_source",
]  # fmt: skip


def test_all_stages_ran_and_outputs_exist(baseline_run):
    run = baseline_run.run_dir
    assert list(baseline_run.stages) == list(STAGE_NAMES)
    assert set(baseline_run.stages.values()) == {"ran"}
    for name in ("run.json", "run.log", "stack.tif", "classes.tif", "outlines.gpkg", "inventory.gpkg",
                 "inventory.csv", "assessment.json", "report/index.html"):  # fmt: skip
        assert (run / name).exists(), name
    manifest = json.loads((run / "run.json").read_text())
    for name in STAGE_NAMES:
        rec = manifest["stages"][name]
        assert rec["status"] == "done" and rec["seconds"] >= 0 and rec["inputs"], name
    assert "rasterio" in manifest["versions"]
    assert not list(run.rglob("*.tmp*")), "temporary files left behind"


def test_baseline_matches_truth(baseline_run, tiny_scene):
    """Issue 3: baseline glacier area within 5 % of the truth and mIoU >= 0.70."""
    assessment = json.loads((baseline_run.run_dir / "assessment.json").read_text())
    acc = assessment["accuracy"].get("overall", assessment["accuracy"])
    assert acc["miou"] >= 0.70
    truth = read_vector(tiny_scene / "truth" / "glaciers.gpkg", layer="glaciers")
    ours = read_vector(baseline_run.run_dir / "inventory.gpkg", layer="glaciers")
    assert area_km2(ours).sum() == pytest.approx(area_km2(truth).sum(), rel=0.05)


def test_inventory_has_rgi_attributes(baseline_run):
    run = baseline_run.run_dir
    assert {"glaciers", "debris", "divides", "hypsometry"} <= set(list_layers(run / "inventory.gpkg"))
    glaciers = read_vector(run / "inventory.gpkg", layer="glaciers")
    missing = [c for c in ATTRIBUTE_COLUMNS if c not in glaciers.columns]
    assert not missing, missing
    assert glaciers["glac_id"].is_unique
    np.testing.assert_allclose(glaciers["area_km2"], area_km2(glaciers), rtol=1e-6)
    assert (glaciers["area_km2"] >= 0.005 - 1e-9).all()  # seed: patches < 0.005 km² dropped
    assert ((glaciers["zmin_m"] <= glaciers["zmed_m"]) & (glaciers["zmed_m"] <= glaciers["zmax_m"])).all()
    assert glaciers["aspect_sec"].between(1, 9).all()
    assert (glaciers["area_unc_km2"] > 0).all()
    assert (glaciers["debris_km2"] <= glaciers["area_km2"] + 1e-9).all()
    # units never overlap
    metric = glaciers.to_crs(glaciers.estimate_utm_crs())
    overlap = metric.geometry.union_all().area
    assert overlap == pytest.approx(metric.geometry.area.sum(), rel=1e-6)


def test_rerun_skips_everything(baseline_run, tiny_scene):
    cfg = load_config(tiny_scene / "config.toml")
    cfg = cfg.model_copy(update={"segment": cfg.segment.model_copy(update={"method": "baseline"})})
    again = run_pipeline(cfg, baseline_run.run_dir)
    assert set(again.stages.values()) == {"skipped"}


def test_classes_raster_contract(baseline_run):
    classes, grid = read_raster(baseline_run.run_dir / "classes.tif", as_float=False)
    assert classes.dtype == np.uint8 and set(np.unique(classes)) <= {0, 1, 2, 255}
    stack_grid = read_raster(baseline_run.run_dir / "stack.tif")[1]
    assert grid == stack_grid


def test_tiled_run_matches_untiled(baseline_run, tiled_run):
    """Issue 11: a scene split into overlapping parts gives the same glaciers and areas (within 0.5 %)."""
    assert tiled_run.summaries["stack"]["n_parts"] > 1
    one = read_vector(baseline_run.run_dir / "inventory.gpkg", layer="glaciers")
    many = read_vector(tiled_run.run_dir / "inventory.gpkg", layer="glaciers")
    assert len(many) == len(one)
    assert area_km2(many).sum() == pytest.approx(area_km2(one).sum(), rel=0.005)
    a = read_raster(baseline_run.run_dir / "classes.tif", as_float=False)[0]
    b = read_raster(tiled_run.run_dir / "classes.tif", as_float=False)[0]
    assert a.shape == b.shape
    assert np.mean(a != b) < 0.005


def test_img_source_per_glacier(baseline_run):
    glaciers = read_vector(baseline_run.run_dir / "inventory.gpkg", layer="glaciers")
    assert set(glaciers["img_source"].dropna()) <= {"synthetic", "sentinel2"}
    assert glaciers["img_source"].notna().all()


def test_unet_default_matches_truth(unet_run, tiny_scene):
    """Issue 4: the default method (shipped U-Net+CBAM) through the whole pipeline."""
    assert unet_run.summaries["segment"].get("method", "unet") != "baseline"
    acc = json.loads((unet_run.run_dir / "assessment.json").read_text())["accuracy"]["overall"]
    assert acc["miou"] >= 0.80
    truth = read_vector(tiny_scene / "truth" / "glaciers.gpkg", layer="glaciers")
    ours = read_vector(unet_run.run_dir / "inventory.gpkg", layer="glaciers")
    assert area_km2(ours).sum() == pytest.approx(area_km2(truth).sum(), rel=0.05)


def test_analyse_stage_types_glaciers_with_the_albedo_snowline(baseline_run, tiny_scene):
    """Snowlines from the image's own albedo land on the scene's ELA; every analysis wrote CSV + PNG."""
    summary = json.loads((baseline_run.run_dir / "analysis" / "analysis.json").read_text())
    done = {k for k, v in summary["analyses"].items() if v["status"] == "done"}
    assert {
        "sizes",
        "spatial",
        "aspect",
        "hypsometry",
        "slope",
        "profiles",
        "dem_resolution",
        "freezing",
    } <= done
    for rec in summary["analyses"].values():
        if rec["status"] == "done":
            assert any(f.endswith(".csv") for f in rec["files"]) and any(
                f.endswith(".png") for f in rec["files"]
            )
    ela = json.loads((tiny_scene / "scene.json").read_text())["ela_m"]
    assert "types" in done  # the tiny scene has a glacier above the config's 0.1 km²
    types = pd.read_csv(baseline_run.run_dir / "analysis" / "glacier_types.csv")
    lines = types["snowline_m"].dropna()
    # the synthetic local ELA varies by ±0.08·relief with radiation; on a 400-px scene that is tens of m
    assert len(lines) and np.all(np.abs(lines - ela) < 60.0)
