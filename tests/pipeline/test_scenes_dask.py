"""Issue 11: several scenes → one mosaic; tile tasks on a Dask LocalCluster give the in-process result."""

from __future__ import annotations

import json

import numpy as np
import pytest

from glacierinv.config import config_from_dict, load_config
from glacierinv.geometry import area_km2
from glacierinv.io.raster import read_raster
from glacierinv.io.vector import read_vector
from glacierinv.pipeline import run_pipeline
from glacierinv.pipeline.scenes import plan_parts


def _baseline(cfg):
    return cfg.model_copy(update={"segment": cfg.segment.model_copy(update={"method": "baseline"})})


def test_dask_tiles_identical_to_in_process(tiny_scene, tiled_run, tmp_path):
    cfg = _baseline(load_config(tiny_scene / "config.toml"))
    cfg = cfg.model_copy(
        update={
            "runtime": cfg.runtime.model_copy(update={"tile_px": 160, "tile_overlap_px": 48, "workers": 2})
        }
    )
    result = run_pipeline(cfg, tmp_path / "run")
    assert result.summaries["segment"]["distributed"] is True
    a = read_raster(tiled_run.run_dir / "classes.tif", as_float=False)[0]
    b = read_raster(tmp_path / "run" / "classes.tif", as_float=False)[0]
    np.testing.assert_array_equal(a, b)


def _stages(run_json: dict) -> dict:
    return run_json["stages"] if "stages" in run_json else run_json


def _check_part_summaries(run_dir) -> dict:
    """run.json records each part's own stack and segment summary: sensor per scene, baseline rule per
    scene (red/NIR: the configured channels hold no SWIR)."""
    stages = _stages(json.loads((run_dir / "run.json").read_text()))
    stack = {p["scene"]: p for p in stages["stack"]["summary"]["parts"]}
    segment = {p["scene"]: p for p in stages["segment"]["summary"]["parts"]}
    assert set(stack) == set(segment) == {"primary", "s2-fill"}
    assert stack["s2-fill"]["sensors"]["primary"]["sensor"] == "sentinel2"
    assert stack["primary"]["sensors"]["primary"]["key"] in ("pan", "ms")  # the generic pan + MS pair
    assert segment["s2-fill"]["rule"] == segment["primary"]["rule"] == "red/nir"
    assert all(p["method"] == "baseline" and p["pixels_clean_ice"] > 0 for p in segment.values())
    assert all(p["part"] and p["status"] in ("ran", "skipped") for p in [*stack.values(), *segment.values()])
    return {"stack": stages["stack"]["summary"]["parts"], "segment": stages["segment"]["summary"]["parts"]}


def test_two_scenes_mosaic_primary_first(tiny_scene, baseline_run, tmp_path):
    """A primary (pan + MS) scene and a Sentinel-2-only scene: the primary wins where it is valid and
    cloud-free, Sentinel-2 fills its clouds; the inventory stays within 2 % of the single-scene run."""
    base = _baseline(load_config(tiny_scene / "config.toml"))
    data = base.model_dump(mode="json")
    data["scenes"] = [
        {
            "name": "s2-fill",
            "s2": "s2.tif",
            "s2_cloud_mask": "s2_cloud.tif",
            "landsat_mtl": "landsat/SYN_MTL.txt",
        },
        {"name": "primary", "pan": "pan.tif", "ms": "ms.tif", "landsat_mtl": "landsat/SYN_MTL.txt"},
    ]
    cfg = config_from_dict(data, base_dir=tiny_scene)
    parts = plan_parts(cfg)
    assert [p.scene for p in sorted(parts, key=lambda p: p.priority)] == ["primary", "s2-fill"]
    result = run_pipeline(cfg, tmp_path / "run")
    assert result.summaries["stack"]["n_parts"] == 2
    _check_part_summaries(tmp_path / "run")
    # a forced rerun finds both parts current (skipped): their summaries come from part.json, unchanged
    before = json.loads((tmp_path / "run" / "run.json").read_text())
    result = run_pipeline(cfg, tmp_path / "run", stages=("stack", "segment"), force=True)
    assert result.summaries["stack"]["n_ran"] == 0
    after = _check_part_summaries(tmp_path / "run")
    for stage in ("stack", "segment"):
        strip = lambda parts: [{k: v for k, v in p.items() if k != "status"} for p in parts]  # noqa: E731
        assert strip(after[stage]) == strip(_stages(before)[stage]["summary"]["parts"])
    one = read_vector(baseline_run.run_dir / "inventory.gpkg", layer="glaciers")
    many = read_vector(tmp_path / "run" / "inventory.gpkg", layer="glaciers")
    assert area_km2(many).sum() == pytest.approx(area_km2(one).sum(), rel=0.02)
