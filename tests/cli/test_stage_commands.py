"""Issue 24: a stage command gives exactly what the stage gives in a run (same library function, same
configuration section): the same outlines through ``glacierinv attributes --run`` and through
``glacierinv run`` → identical inventory layers."""

from __future__ import annotations

import pandas as pd
import pyogrio
from typer.testing import CliRunner

from glacierinv.cli.main import app
from glacierinv.io.vector import read_vector

runner = CliRunner()


def _same_layer(a, b):
    assert list(a.columns) == list(b.columns)
    geom = a.geometry.name if hasattr(a, "geometry") else None
    if geom:
        assert a.geometry.geom_equals_exact(b.geometry, tolerance=0).all()
        a, b = a.drop(columns=geom), b.drop(columns=geom)
    pd.testing.assert_frame_equal(pd.DataFrame(a), pd.DataFrame(b))


def test_attributes_command_gives_the_stage_inventory(baseline_run, tmp_path):
    run = baseline_run.run_dir
    units = read_vector(run / "units.gpkg", layer="glaciers").drop(columns="area_km2")  # the outlines only
    debris = read_vector(run / "units.gpkg", layer="debris", allow_empty=True)
    units.to_file(tmp_path / "units.gpkg", layer="glaciers")
    debris.to_file(tmp_path / "debris.gpkg", layer="debris")
    out = tmp_path / "inv.gpkg"
    res = runner.invoke(app, ["attributes", "--outlines", str(tmp_path / "units.gpkg"), "--debris",
                              str(tmp_path / "debris.gpkg"), "--run", str(run), "--out", str(out)])  # fmt: skip
    assert res.exit_code == 0, res.output
    ours, stage = read_vector(out, layer="glaciers"), read_vector(run / "inventory.gpkg", layer="glaciers")
    assert len(stage) > 0 and {"area_unc_km2", "term_type", "glac_type", "area_p25_km2"} <= set(stage.columns)
    _same_layer(ours, stage)
    for layer in ("hypsometry", "centerlines"):
        read = pyogrio.read_dataframe
        _same_layer(read(out, layer=layer), read(run / "inventory.gpkg", layer=layer))


def test_attributes_command_settings_override_the_run(baseline_run, tmp_path):
    run = baseline_run.run_dir
    units = read_vector(run / "units.gpkg", layer="glaciers").drop(columns="area_km2")
    units.to_file(tmp_path / "units.gpkg", layer="glaciers")
    out = tmp_path / "inv.gpkg"
    res = runner.invoke(app, ["attributes", "--outlines", str(tmp_path / "units.gpkg"), "--run", str(run),
                              "--band-m", "100", "--dem-source", "mine", "--out", str(out)])  # fmt: skip
    assert res.exit_code == 0, res.output
    hyps = pyogrio.read_dataframe(out, layer="hypsometry", read_geometry=False)
    assert ((hyps["band_max_m"] - hyps["band_min_m"]) == 100).all()
    assert (read_vector(out, layer="glaciers")["dem_source"] == "mine").all()


def test_units_command_gives_the_stage_units(baseline_run, tmp_path):
    run = baseline_run.run_dir
    read_vector(run / "outlines.gpkg", layer="glaciers").to_file(tmp_path / "o.gpkg", layer="glaciers")
    read_vector(run / "outlines.gpkg", layer="debris", allow_empty=True).to_file(tmp_path / "d.gpkg")
    out = tmp_path / "units.gpkg"
    res = runner.invoke(app, ["units", "--outlines", str(tmp_path / "o.gpkg"), "--debris", str(tmp_path / "d.gpkg"),
                              "--run", str(run), "--out", str(out)])  # fmt: skip
    assert res.exit_code == 0, res.output
    for layer in ("glaciers", "debris", "divides"):
        ours = read_vector(out, layer=layer, allow_empty=True, need_crs=False)
        _same_layer(ours, read_vector(run / "units.gpkg", layer=layer, allow_empty=True, need_crs=False))


def test_segment_command_gives_the_stage_classes(baseline_run, tmp_path):
    import numpy as np
    import rasterio

    run = baseline_run.run_dir
    res = runner.invoke(app, ["segment", str(run / "stack.tif"), "--run", str(run), "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    for name in ("classes.tif", "proba.tif"):
        with rasterio.open(tmp_path / name) as a, rasterio.open(run / name) as b:
            assert np.array_equal(a.read(), b.read()) and a.transform == b.transform


def test_segment_command_tiles_as_the_stage():
    """`glacierinv segment` used to tile in 8192-px strips, the stage in [segment] strip_px = 4096."""
    from glacierinv.config import SegmentConfig
    from glacierinv.segment.infer import TileOptions

    seg, opt = SegmentConfig(), TileOptions()
    assert (opt.tile_px, opt.overlap_px, opt.block_px, opt.batch_size, opt.precision, opt.confidence) == (
        seg.tile_px, seg.overlap_px, seg.strip_px, seg.batch_size, seg.precision, seg.confidence)  # fmt: skip
