"""Issue 11: the bad-input matrix. Each case → one clear line, exit code 2, no traceback,
no partial output, inputs untouched."""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio
from typer.testing import CliRunner

from glacierinv.cli.main import app
from glacierinv.pipeline.runfolder import file_digest

runner = CliRunner()


def _rewrite(path: Path, fn) -> None:
    """Rewrite a GeoTIFF through ``fn(array, profile) -> (array, profile)``."""
    with rasterio.open(path) as ds:
        arr, profile = ds.read(), ds.profile
        descriptions = ds.descriptions
    arr, profile = fn(arr, profile)
    path.unlink()
    with rasterio.open(path, "w", **profile) as out:
        out.write(arr)
        for i, d in enumerate(descriptions[: profile["count"]], start=1):
            if d:
                out.set_band_description(i, d)


def _truncated(scene):
    p = scene / "dem.tif"
    data = p.read_bytes()
    p.write_bytes(data[: int(len(data) * 0.6)])


def _text_as_tif(scene):
    (scene / "dem.tif").write_text("this is not a GeoTIFF\n")


def _no_crs(scene):
    _rewrite(scene / "dem.tif", lambda a, p: (a, {**p, "crs": None}))


def _no_overlap(scene):
    def shift(a, p):
        t = p["transform"]
        return a, {**p, "transform": rasterio.Affine(t.a, t.b, t.c + 1_000_000, t.d, t.e, t.f)}

    _rewrite(scene / "dem.tif", shift)


def _nan_only(scene):
    _rewrite(scene / "dem.tif", lambda a, p: (np.full_like(a, np.nan), p))


def _nodata_only(scene):
    _rewrite(scene / "dem.tif", lambda a, p: (np.full_like(a, -9999), {**p, "nodata": -9999}))


def _wrong_band_count(scene):
    _rewrite(scene / "ms.tif", lambda a, p: (a[:3], {**p, "count": 3}))


def _int_dn(scene):
    _rewrite(
        scene / "ms.tif",
        lambda a, p: ((np.nan_to_num(a) * 10000).astype("uint16"), {**p, "dtype": "uint16", "nodata": 0}),
    )


def _empty_vector(scene):
    import geopandas as gpd

    truth = scene / "truth" / "glaciers.gpkg"
    empty = gpd.read_file(truth, layer="glaciers").iloc[:0]
    truth.unlink()
    empty.to_file(truth, layer="glaciers", driver="GPKG")


def _invalid_vector(scene):
    (scene / "truth" / "glaciers.gpkg").write_text("not a geopackage")


def _missing_mtl_key(scene):
    mtl = next((scene / "landsat").glob("*MTL.txt"))
    lines = [ln for ln in mtl.read_text().splitlines() if "K1_CONSTANT_BAND_10" not in ln]
    mtl.write_text("\n".join(lines) + "\n")


class Evil:
    """Any pickled Python object: a checkpoint that is not weights-only."""


def _pickled_checkpoint(scene):
    import torch

    torch.save({"model": Evil()}, scene / "evil.pt")
    cfg = scene / "config.toml"
    text = cfg.read_text()
    section = '[segment]\nmethod = "unet"\ncheckpoint = "evil.pt"\n'
    if "[segment]" in text:
        text = text.replace("[segment]", section, 1)
    else:
        text += "\n" + section
    cfg.write_text(text)


def _missing_snow_raster(scene):
    cfg = scene / "config.toml"
    cfg.write_text(cfg.read_text().replace("[analysis]", '[analysis]\nsnow = "albedo_missing.tif"', 1))


CASES = {
    "truncated-geotiff": _truncated,
    "text-named-tif": _text_as_tif,
    "raster-without-crs": _no_crs,
    "no-overlap": _no_overlap,
    "nan-only-raster": _nan_only,
    "nodata-only-raster": _nodata_only,
    "wrong-band-count": _wrong_band_count,
    "int-dn-for-reflectance": _int_dn,
    "empty-vector": _empty_vector,
    "invalid-vector": _invalid_vector,
    "missing-mtl-key": _missing_mtl_key,
    "pickled-checkpoint": _pickled_checkpoint,
    "missing-snow-raster": _missing_snow_raster,
}


def _assert_clean_failure(result, run: Path, scene: Path, before: str) -> None:
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("glacierinv: error:"), result.output
    assert "Traceback" not in result.output
    assert not run.exists(), f"partial output left: {sorted(p.name for p in run.rglob('*'))}"
    assert file_digest(scene) == before, "an input was modified"


@pytest.fixture
def scene_copy(tiny_scene, tmp_path):
    dst = tmp_path / "scene"
    shutil.copytree(tiny_scene, dst)
    return dst


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input(case, scene_copy, tmp_path):
    CASES[case](scene_copy)
    before = file_digest(scene_copy)
    run = tmp_path / "run"
    result = runner.invoke(app, ["-q", "run", str(scene_copy / "config.toml"), "--out", str(run)])
    _assert_clean_failure(result, run, scene_copy, before)


def test_output_folder_not_writable(scene_copy, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    run = blocker / "run"  # parent is a file: cannot be created, even as root
    before = file_digest(scene_copy)
    result = runner.invoke(app, ["-q", "run", str(scene_copy / "config.toml"), "--out", str(run)])
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert blocker.read_text() == "x" and file_digest(scene_copy) == before


def test_disk_full(scene_copy, tmp_path, monkeypatch):
    import glacierinv.io.atomic as atomic

    def no_space(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "replace", no_space)
    before = file_digest(scene_copy)
    run = tmp_path / "run"
    result = runner.invoke(app, ["-q", "run", str(scene_copy / "config.toml"), "--out", str(run)])
    _assert_clean_failure(result, run, scene_copy, before)
    assert "No space left" in result.output
