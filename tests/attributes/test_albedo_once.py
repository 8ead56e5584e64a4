"""Issue 25: the stack's albedo is computed once per run and shared by the attributes and analyse stages."""

from __future__ import annotations

import numpy as np
import pytest
from rasterio.crs import CRS

from glacierinv.attributes.snowline import ALBEDO_STACK_TAG, albedo_of_run
from glacierinv.io.grid import Grid
from glacierinv.io.raster import open_raster, read_raster, write_raster
from glacierinv.pipeline.runfolder import file_digest
from glacierinv.preprocess.albedo import broadband_albedo

GRID = Grid.from_bounds(CRS.from_epsg(32643), (500000, 4000000, 500400, 4000300), 10.0)


def _stack(run, seed):
    rng = np.random.default_rng(seed)
    bands = rng.uniform(0.05, 0.9, (2, *GRID.shape)).astype("float32")
    write_raster(run / "stack.tif", bands, GRID, descriptions=["green", "nir"])
    return bands


def test_written_once_and_recomputed_only_for_a_new_stack(tmp_path, monkeypatch):
    import glacierinv.preprocess.albedo as albedo_module

    green, nir = _stack(tmp_path, 1)
    path = albedo_of_run(tmp_path, block_px=16)
    np.testing.assert_allclose(read_raster(path)[0][0], broadband_albedo(green, nir), rtol=1e-6)
    with open_raster(path) as ds:
        assert ds.tags()[ALBEDO_STACK_TAG] == file_digest(tmp_path / "stack.tif")

    def no_second_write(*args, **kwargs):
        raise AssertionError("albedo.tif was computed again for the same stack")

    monkeypatch.setattr(albedo_module, "write_albedo", no_second_write)
    assert albedo_of_run(tmp_path, block_px=16) == path  # the second stage reuses it
    monkeypatch.undo()

    green, nir = _stack(tmp_path, 2)  # the stack was rebuilt: its albedo is computed again
    albedo_of_run(tmp_path, block_px=16)
    np.testing.assert_allclose(read_raster(path)[0][0], broadband_albedo(green, nir), rtol=1e-6)


@pytest.mark.slow
def test_analyse_reuses_the_attributes_stage_albedo(baseline_run):
    """In a run, albedo.tif carries the digest of the run's stack (written by attributes, kept by analyse)."""
    run = baseline_run.run_dir
    with open_raster(run / "albedo.tif") as ds:
        assert ds.tags()[ALBEDO_STACK_TAG] == file_digest(run / "stack.tif")
