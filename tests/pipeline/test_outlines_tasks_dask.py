"""Issue 25: the outlines stage's windows and review scans as tasks on 2 workers give the outlines of the
in-process run, byte for byte (polygons crossing window borders included)."""

from __future__ import annotations

import shutil

import pytest

from glacierinv.config import load_config
from glacierinv.pipeline import run_pipeline
from tests.pipeline.test_glacier_tasks_dask import _layers


@pytest.mark.slow
def test_outlines_on_two_workers_equal_in_process(tiny_scene, baseline_run, tmp_path):
    cfg = load_config(tiny_scene / "config.toml")
    runs = {}
    for workers in (0, 2):
        run = tmp_path / f"run{workers}"
        shutil.copytree(baseline_run.run_dir, run)
        (run / "outlines.gpkg").unlink()
        (run / "run.log").write_text("")
        # 128-px windows: the 400² scene's glaciers cross window borders and are merged across them
        rt = {"workers": workers, "threads_per_worker": 1, "block_px": 128}
        c = cfg.model_copy(update={"segment": cfg.segment.model_copy(update={"method": "baseline"}),
                                   "runtime": cfg.runtime.model_copy(update=rt)})  # fmt: skip
        run_pipeline(c, run, stages=("outlines",), force=True)
        runs[workers] = run
    one, two = _layers(runs[0] / "outlines.gpkg"), _layers(runs[2] / "outlines.gpkg")
    assert set(one) >= {"glaciers", "debris", "review"}
    assert len(one["glaciers"][1]) > 0 and len(one["review"][1]) > 0
    assert one == two
    log = (runs[2] / "run.log").read_text()
    assert log.count("dask: ") == 1
    assert "task window_polygons-00001: SUCCESS" in log  # the 16 windows in several batches on the cluster
    assert "task review_scan-00000: SUCCESS" in log  # the glaciers' review scans too
    assert "task window_polygons" not in (runs[0] / "run.log").read_text()
