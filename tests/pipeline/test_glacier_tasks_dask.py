"""Issue 25: units, attributes and analyse as per-glacier tasks on the run's one cluster give the outputs
of the in-process run, byte for byte."""

from __future__ import annotations

import shutil

import pyogrio
import pytest

from glacierinv.config import load_config
from glacierinv.pipeline import run_pipeline


def _layers(path):
    out = {}
    for name, _ in pyogrio.list_layers(path):
        if name == "layer_styles":  # the QGIS styles carry their write time
            continue
        df = pyogrio.read_dataframe(path, layer=name)
        geom = [g.wkb for g in df.geometry] if "geometry" in df.columns else None
        out[name] = (df.drop(columns="geometry", errors="ignore").to_dict("list"), geom)
    return out


@pytest.mark.slow
def test_per_glacier_stages_on_two_workers_equal_in_process(tiny_scene, baseline_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(baseline_run.run_dir, run)
    for f in ("units.gpkg", "inventory.gpkg", "inventory.csv", "albedo.tif"):
        (run / f).unlink(missing_ok=True)
    shutil.rmtree(run / "analysis")
    (run / "run.log").write_text("")
    cfg = load_config(tiny_scene / "config.toml")
    cfg = cfg.model_copy(update={"segment": cfg.segment.model_copy(update={"method": "baseline"}),
                                 "runtime": cfg.runtime.model_copy(update={"workers": 2, "threads_per_worker": 1})})  # fmt: skip
    run_pipeline(cfg, run, stages=("units", "attributes", "analyse"), force=True)
    base = baseline_run.run_dir
    for name in ("units.gpkg", "inventory.gpkg"):
        assert _layers(run / name) == _layers(base / name), name
    assert (run / "inventory.csv").read_bytes() == (base / "inventory.csv").read_bytes()
    csvs = sorted(p.name for p in (base / "analysis").glob("*.csv"))
    assert csvs and csvs == sorted(p.name for p in (run / "analysis").glob("*.csv"))
    for name in csvs:
        assert (run / "analysis" / name).read_bytes() == (base / "analysis" / name).read_bytes(), name
    log = (run / "run.log").read_text()
    assert log.count("dask: ") == 1  # one cluster for the three stages
    for task in ("units_in_task", "record_of_window", "glacier_histograms", "profile_in_window"):
        assert f"task {task}-00000: SUCCESS" in log  # each stage's per-glacier work ran as tasks on it
