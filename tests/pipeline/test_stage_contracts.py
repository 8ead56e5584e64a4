"""The declared stage contracts: every file a stage reads is in its hash, so changing any input re-runs
exactly the stages that read it and those downstream of what they rewrite; the docs table matches them."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio

from glacierinv.config import load_config
from glacierinv.pipeline import STAGE_NAMES, all_stages, get_stage, run_pipeline
from glacierinv.pipeline.runfolder import RunFolder, file_digest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def scene_and_run(tiny_scene, baseline_run, tmp_path):
    """A private copy of the tiny scene and of its baseline run (inputs may be changed freely)."""
    scene = tmp_path / "scene"
    shutil.copytree(tiny_scene, scene)
    run = tmp_path / "run"
    shutil.copytree(baseline_run.run_dir, run)
    return scene, run


def _cfg(scene: Path, **updates):
    cfg = load_config(scene / "config.toml")
    cfg = cfg.model_copy(update={"segment": cfg.segment.model_copy(update={"method": "baseline"})})
    return cfg.model_copy(update=updates) if updates else cfg


def _bump_raster(path: Path) -> None:
    """Change a few cells of a raster in place (a new version of the same file)."""
    with rasterio.open(path, "r+") as ds:
        arr = ds.read(1)
        h, w = arr.shape
        win = (slice(h // 2 - 3, h // 2 + 3), slice(w // 2 - 3, w // 2 + 3))
        if np.issubdtype(arr.dtype, np.floating):
            arr[win] = arr[win] * 1.01 + 0.01
        else:
            arr[win] = np.where(arr[win] == 0, 1, 0)
        ds.write(arr, 1)


def _expected_reruns(cfg, run_dir: Path, before: dict[str, str], changed_label: str) -> set[str]:
    """Stages that read the changed input, plus those reading a run-folder file whose content changed."""
    run = RunFolder(run_dir)
    after = {p.relative_to(run_dir).as_posix(): file_digest(p) for p in run_dir.rglob("*") if p.is_file()}
    changed_files = {name for name, h in after.items() if before.get(name) != h}
    out = set()
    for stage in all_stages():
        reads = stage.reads(cfg, run)
        labels = set(reads)
        names = {
            Path(p).relative_to(run_dir).as_posix() for p in reads.values() if run_dir in Path(p).parents
        }
        if changed_label in labels or names & changed_files:
            out.add(stage.name)
    return out


def _digests(run_dir: Path) -> dict[str, str]:
    return {p.relative_to(run_dir).as_posix(): file_digest(p) for p in run_dir.rglob("*") if p.is_file()}


def test_unchanged_inputs_rerun_nothing(scene_and_run):
    scene, run = scene_and_run
    result = run_pipeline(_cfg(scene), run)
    assert set(result.stages.values()) == {"skipped"}


@pytest.mark.parametrize(
    ("input_key", "first_stage"),
    [("truth_classes", "assess"), ("dem", "stack")],
)
def test_changing_a_configured_input_reruns_its_readers_and_downstream(scene_and_run, input_key, first_stage):
    scene, run = scene_and_run
    cfg = _cfg(scene)
    before = _digests(run)
    _bump_raster(cfg.input_path(input_key))
    result = run_pipeline(cfg, run)
    ran = {name for name, status in result.stages.items() if status == "ran"}
    assert first_stage in ran
    assert ran == _expected_reruns(cfg, run, before, f"inputs.{input_key}")
    if input_key == "truth_classes":  # only the assessment and what shows it
        assert ran == {"assess", "report"}


def test_scene_imagery_is_hashed(scene_and_run):
    """A [[scenes]] entry's image is an input of the stack (it was not: only inputs.dem was hashed)."""
    scene, run = scene_and_run
    base = _cfg(scene)
    from glacierinv.preprocess.sensors import scene_keys

    scene_entry = {"name": "only"}
    for key in scene_keys():  # the scene brings the same imagery as [inputs] (keys of the sensor registry)
        value = getattr(base.inputs, key, None)
        if isinstance(value, Path):
            scene_entry[key] = str(base.resolve(value))
    data = base.model_dump(mode="json") | {"scenes": [scene_entry]}
    from glacierinv.config import config_from_dict

    cfg = config_from_dict(data, base.base_dir)
    run_pipeline(cfg, run)  # the multi-scene layout once
    assert "scenes.only.ms" in get_stage("stack").reads(cfg, RunFolder(run))
    _bump_raster(cfg.resolve(cfg.scenes[0].ms))
    result = run_pipeline(cfg, run)
    assert result.stages["stack"] == "ran"


def test_rewritten_intermediate_files_rerun_their_readers(scene_and_run):
    """source.tif (attributes) and proba.tif (outlines' review flags) are declared and hashed."""
    scene, run = scene_and_run
    cfg = _cfg(scene)
    _bump_raster(run / "source.tif")
    assert run_pipeline(cfg, run, stages=("attributes",)).stages["attributes"] == "ran"
    _bump_raster(run / "proba.tif")
    assert run_pipeline(cfg, run, stages=("outlines",)).stages["outlines"] == "ran"


def test_every_declared_output_exists_after_a_run(baseline_run):
    run = RunFolder(baseline_run.run_dir)
    from glacierinv.pipeline.runfolder import read_run_config

    cfg = read_run_config(run.path)
    for stage in all_stages():
        for name in stage.writes(cfg):
            assert (run.path / name).exists(), f"{stage.name} declares {name}"


def test_docs_run_folder_table_matches_the_contracts():
    """docs/pipeline.md's run-folder table lists each stage's declared outputs (generated by
    `python -m glacierinv.pipeline.stage_table`; this test fails when the two drift apart)."""
    from glacierinv.pipeline.stage_table import stage_table_markdown

    text = (ROOT / "docs" / "pipeline.md").read_text(encoding="utf-8")
    table = stage_table_markdown()
    assert table in text, "regenerate the table: python -m glacierinv.pipeline.stage_table"
    assert re.search(r"\| `stack` \|", table) and len(STAGE_NAMES) == 8
