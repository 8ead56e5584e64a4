"""The assess stage with its windows as tasks: the same assessment.json as in one process."""

from __future__ import annotations

import shutil

from glacierinv.config import load_config
from glacierinv.pipeline import get_stage
from glacierinv.pipeline.runfolder import RunFolder
from glacierinv.taskmap import using
from tests.shuffled_cluster import ShuffledCluster


def test_assessment_json_is_identical_with_windows_as_tasks(tiny_scene, baseline_run, tmp_path):
    cfg = load_config(tiny_scene / "config.toml")
    cfg = cfg.model_copy(update={"runtime": cfg.runtime.model_copy(update={"block_px": 128})})
    stage = get_stage("assess")
    outputs = {}
    for name, cluster in (("one", None), ("tasks", ShuffledCluster(slots=2))):
        run = RunFolder(shutil.copytree(baseline_run.run_dir, tmp_path / "run"))  # same path: same "pred"
        (run / RunFolder.ASSESSMENT).unlink()
        with using(cluster):
            stage.run(cfg, run, lambda *_: None)
        outputs[name] = (run / RunFolder.ASSESSMENT).read_bytes()
        shutil.rmtree(run.path)
    assert b'"confusion_matrix"' in outputs["one"]
    assert outputs["tasks"] == outputs["one"]
    assert cluster.keys  # the windows of the 400² scene went through the cluster (128-px windows)
