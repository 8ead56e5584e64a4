"""Issue 11: several scenes → one mosaic; tile tasks on a Dask LocalCluster give the in-process result."""

from __future__ import annotations

import numpy as np
import pytest

from glacierinv.config import config_from_dict, load_config
from glacierinv.geometry import area_km2
from glacierinv.io.raster import read_raster
from glacierinv.io.vector import read_vector
from glacierinv.pipeline import run_pipeline
from glacierinv.scenes import plan_parts


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
    one = read_vector(baseline_run.run_dir / "inventory.gpkg", layer="glaciers")
    many = read_vector(tmp_path / "run" / "inventory.gpkg", layer="glaciers")
    assert area_km2(many).sum() == pytest.approx(area_km2(one).sum(), rel=0.02)
