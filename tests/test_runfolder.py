import json
import os
import subprocess
import sys

import pytest

from glacierinv.config import RunConfig
from glacierinv.errors import OutputError
from glacierinv.pipeline.orchestrator import _run_one
from glacierinv.pipeline.runfolder import RunFolder, file_digest
from glacierinv.pipeline.stage import Stage

CFG = RunConfig.model_validate({"inputs": {"dem": "dem.tif"}})


def _stage(calls, tmp_path):
    src = tmp_path / "input.txt"

    def func(cfg, run, progress):
        calls.append(1)
        (run / "out.txt").write_text(src.read_text().upper())
        return {"n": len(calls)}

    stage = Stage(
        "demo",
        "a test stage",
        reads=lambda c, r: {"input": src},
        config_sections=(),
        extra_params=lambda c: {"k": 1},
        writes=lambda c: ["out.txt"],
        run=func,
    )
    return stage, src


def test_stage_skipped_when_inputs_and_params_unchanged(tmp_path):
    calls = []
    stage, src = _stage(calls, tmp_path)
    src.write_text("abc")
    run = RunFolder(tmp_path / "run")
    run.path.mkdir()
    assert _run_one(stage, CFG, run, False, None)[1] == "ran"
    assert _run_one(stage, CFG, run, False, None)[1] == "skipped"
    src.write_text("abd")  # changed input → runs again
    assert _run_one(stage, CFG, run, False, None)[1] == "ran"
    (run / "out.txt").unlink()  # missing output → runs again
    assert _run_one(stage, CFG, run, False, None)[1] == "ran"
    assert _run_one(stage, CFG, run, True, None)[1] == "ran"  # force
    rec = json.loads((run / "run.json").read_text())["stages"]["demo"]
    assert rec["status"] == "done" and rec["summary"] == {"n": 4} and rec["seconds"] >= 0


def test_failed_stage_is_recorded_and_rerun(tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("x")

    def boom(cfg, run, progress):
        raise RuntimeError("bug")

    stage = Stage(
        "s", "fails", reads=lambda c, r: {"i": src}, config_sections=(), writes=lambda c: [], run=boom
    )
    run = RunFolder(tmp_path / "run")
    run.path.mkdir()
    with pytest.raises(RuntimeError):
        _run_one(stage, CFG, run, False, None)
    assert RunFolder(run.path).stage("s")["status"] == "failed"


def test_lock_refuses_second_writer_and_takes_over_stale(tmp_path):
    run = RunFolder(tmp_path / "run")
    with run.locked():
        with pytest.raises(OutputError, match="another glacierinv process"), RunFolder(run.path).locked():
            pass
    # a lock left by a dead process is taken over
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    (run.path / ".glacierinv.lock").write_text(dead.stdout.strip())
    with run.locked():
        assert (run.path / ".glacierinv.lock").read_text() == str(os.getpid())
    assert not (run.path / ".glacierinv.lock").exists()


def test_digest_changes_with_content(tmp_path):
    a = tmp_path / "a"
    a.write_bytes(b"1")
    d1 = file_digest(a)
    a.write_bytes(b"2")
    assert file_digest(a) != d1
    assert file_digest(tmp_path) == file_digest(tmp_path)


def test_software_versions_are_the_imported_libraries_versions():
    """run.json's versions come from the installed distributions' metadata, without importing them: the
    same strings the libraries report (scikit-image is recorded under its import name)."""
    import numpy
    import rasterio
    import skimage
    import torch

    from glacierinv.pipeline.runfolder import software_versions

    versions = software_versions()
    for mod in (numpy, rasterio, skimage, torch):
        assert versions[mod.__name__] == mod.__version__
    assert versions["gdal"] == rasterio.__gdal_version__
