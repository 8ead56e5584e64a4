"""Issue 24: adding a stage is one module (tests/pipeline/toy_stage.py) plus one registration line; the
pipeline then orders, hashes, skips and re-runs it like the package's own stages, and the CLI and the
docs' stage table know it."""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

from glacierinv import pipeline
from glacierinv.cli.main import app
from glacierinv.errors import ConfigError
from glacierinv.pipeline.runfolder import read_run_config


@pytest.fixture
def toy_registered():
    from glacierinv.pipeline import registry

    before = dict(registry.STAGE_RUNNERS)
    pipeline.register_stage("toy", "tests.pipeline.toy_stage", after="attributes")  # the registration line
    yield
    registry.STAGE_RUNNERS.clear()
    registry.STAGE_RUNNERS.update(before)
    registry.STAGE_NAMES = tuple(before)


def test_a_registered_stage_runs_is_skipped_when_current_and_reruns_on_change(
    toy_registered, baseline_run, tmp_path
):
    assert pipeline.STAGE_NAMES.index("toy") == pipeline.STAGE_NAMES.index("attributes") + 1
    run = tmp_path / "run"
    shutil.copytree(baseline_run.run_dir, run)
    cfg = read_run_config(run)
    res = pipeline.run_pipeline(cfg, run, stages=("toy",))
    assert res.stages["toy"] == "ran" and res.summaries["toy"]["n_glaciers"] > 0
    assert (run / "aspect_counts.csv").read_text().startswith("aspect_sec,n\n")
    recorded = json.loads((run / "run.json").read_text())["stages"]["toy"]
    assert recorded["status"] == "done" and "inventory.gpkg" in recorded["inputs"]
    assert pipeline.run_pipeline(cfg, run, stages=("toy",)).stages["toy"] == "skipped"
    changed = cfg.model_copy(update={"attributes": cfg.attributes.model_copy(update={"id_prefix": "x"})})
    assert pipeline.run_pipeline(changed, run, stages=("toy",)).stages["toy"] == "ran"  # its section changed
    res = CliRunner().invoke(app, ["stage", "toy", str(run)])
    assert res.exit_code == 0, res.output


def test_the_stage_table_lists_a_registered_stage(toy_registered):
    from glacierinv.pipeline.stage_table import stage_table_markdown

    assert "| `toy` | `inventory.gpkg` | `attributes` | `aspect_counts.csv` |" in stage_table_markdown()


def test_registering_after_an_unknown_stage_is_refused():
    with pytest.raises(ConfigError, match="unknown stage 'nope'"):
        pipeline.register_stage("toy", "tests.pipeline.toy_stage", after="nope")
