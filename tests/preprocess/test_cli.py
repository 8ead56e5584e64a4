"""CLI: glacierinv pansharpen / lst / stack, including bad input (one line, exit 2, no output left)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.crs import CRS
from typer.testing import CliRunner

from glacierinv.cli.main import app
from glacierinv.io.grid import Grid
from glacierinv.io.raster import write_raster

runner = CliRunner()


def _one_line_error(result, *needles):
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("glacierinv: error:"), result.output
    assert "Traceback" not in result.output
    for n in needles:
        assert n in lines[0], lines[0]


def _ms_pan(tmp_path):
    crs = CRS.from_epsg(32643)
    rng = np.random.default_rng(2)
    pan = rng.uniform(0.1, 0.5, (96, 96)).astype("float32")
    write_raster(tmp_path / "pan.tif", pan, Grid(crs, Affine(2, 0, 1000, 0, -2, 2000), (96, 96)))
    ms = np.stack([pan.reshape(24, 4, 24, 4).mean((1, 3)) * k for k in (0.9, 1.0, 1.1, 1.3)])
    write_raster(tmp_path / "ms.tif", ms, Grid(crs, Affine(8, 0, 1000, 0, -8, 2000), (24, 24)))
    return tmp_path / "ms.tif", tmp_path / "pan.tif"


def test_pansharpen_cli(tmp_path):
    ms, pan = _ms_pan(tmp_path)
    out = tmp_path / "sharp.tif"
    res = runner.invoke(
        app, ["pansharpen", str(ms), str(pan), "--out", str(out), "--method", "gram_schmidt", "--quality"]
    )
    assert res.exit_code == 0, res.output
    assert "ERGAS" in res.output and "SAM" in res.output
    with rasterio.open(out) as ds:
        assert ds.shape == (96, 96) and ds.count == 4
    _one_line_error(runner.invoke(app, ["pansharpen", str(ms), str(pan), "--out", str(out)]), "--force")
    res = runner.invoke(
        app, ["pansharpen", str(ms), str(pan), "--out", str(out), "--force", "--method", "hpf"]
    )
    assert res.exit_code == 0, res.output
    _one_line_error(
        runner.invoke(
            app, ["pansharpen", str(ms), str(pan), "--out", str(tmp_path / "x.tif"), "--method", "ihs"]
        ),
        "ihs",
    )
    assert not (tmp_path / "x.tif").exists()


def test_pansharpen_bad_rasters(tmp_path):
    ms, pan = _ms_pan(tmp_path)
    fake = tmp_path / "fake.tif"
    fake.write_text("this is text, not a GeoTIFF")
    out = tmp_path / "o.tif"
    _one_line_error(runner.invoke(app, ["pansharpen", str(fake), str(pan), "--out", str(out)]), "fake.tif")
    with rasterio.open(
        tmp_path / "nocrs.tif", "w", driver="GTiff", width=4, height=4, count=1, dtype="float32",
        transform=Affine(2, 0, 1000, 0, -2, 2000),
    ) as ds:  # fmt: skip
        ds.write(np.ones((1, 4, 4), "float32"))
    _one_line_error(
        runner.invoke(app, ["pansharpen", str(ms), str(tmp_path / "nocrs.tif"), "--out", str(out)]), "CRS"
    )
    far = tmp_path / "far.tif"
    write_raster(
        far, np.ones((4, 3, 3), "float32"), Grid(CRS.from_epsg(32643), Affine(8, 0, 9e5, 0, -8, 9e5), (3, 3))
    )
    _one_line_error(runner.invoke(app, ["pansharpen", str(far), str(pan), "--out", str(out)]), "overlap")
    assert not out.exists()
    assert not list(tmp_path.glob(".o.*"))  # no temporary left either


def test_lst_cli(lc08_mtl, tmp_path):
    out, bt = tmp_path / "lst.tif", tmp_path / "bt.tif"
    res = runner.invoke(app, ["lst", "--mtl", str(lc08_mtl), "--out", str(out), "--bt-out", str(bt)])
    assert res.exit_code == 0, res.output
    with rasterio.open(bt) as ds:
        assert ds.read(1).ravel()[49] == pytest.approx(304.2516, abs=0.01)
    _one_line_error(runner.invoke(app, ["lst", "--mtl", str(lc08_mtl), "--out", str(out)]), "--force")


def test_lst_cli_missing_mtl_key(landsat_dir, lc08_mtl, tmp_path):
    for f in landsat_dir.glob("LC08*"):
        shutil.copy(f, tmp_path / f.name)
    mtl = tmp_path / lc08_mtl.name
    text = mtl.read_text().splitlines()
    mtl.write_text("\n".join(ln for ln in text if "K2_CONSTANT_BAND_10" not in ln))
    out = tmp_path / "lst.tif"
    _one_line_error(runner.invoke(app, ["lst", "--mtl", str(mtl), "--out", str(out)]), "K2_CONSTANT_BAND_10")
    assert not out.exists()
    notmtl = tmp_path / "notes.txt"
    notmtl.write_text("hello")
    _one_line_error(runner.invoke(app, ["lst", "--mtl", str(notmtl), "--out", str(out)]), "MTL")


def test_stack_cli(tiny_scene, tmp_path):
    out = tmp_path / "stack"
    res = runner.invoke(app, ["stack", str(tiny_scene / "config.toml"), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert {p.name for p in out.iterdir()} == {"stack.tif", "source.tif", "masks.tif"}
    _one_line_error(
        runner.invoke(app, ["stack", str(tiny_scene / "config.toml"), "--out", str(out)]), "--force"
    )


def test_stack_cli_bad_channel(tiny_scene, tmp_path):
    shutil.copytree(tiny_scene, tmp_path / "scene")
    cfg = tmp_path / "scene" / "bad.toml"
    cfg.write_text(
        (tiny_scene / "config.toml").read_text() + '\n[stack]\nchannels = ["red", "temperature"]\n'
    )
    _one_line_error(
        runner.invoke(app, ["stack", str(cfg), "--out", str(tmp_path / "o")]), "temperature", "slope"
    )
    assert not (tmp_path / "o").exists()


def test_stack_cli_with_safe_folder(tiny_scene, tmp_path):
    """`glacierinv stack` accepts Sentinel-2 as a SAFE folder of integer bands (scaled by its reader)."""
    from glacierinv.io.raster import read_raster

    scene = tmp_path / "scene"
    shutil.copytree(tiny_scene, scene)
    s2, grid = read_raster(scene / "s2.tif")
    img = scene / "S2A_MSIL2A_X.SAFE" / "GRANULE" / "L2A_X" / "IMG_DATA" / "R10m"
    for i, name in enumerate(("B02", "B03", "B04", "B08", "B11")):
        write_raster(
            img / f"X_{name}_10m.tif", np.round(np.nan_to_num(s2[i]) * 1e4).astype("uint16"), grid, nodata=0
        )
    cfg = scene / "safe.toml"
    cfg.write_text((scene / "config.toml").read_text().replace('s2 = "s2.tif"', 's2 = "S2A_MSIL2A_X.SAFE"'))
    res = runner.invoke(app, ["stack", str(cfg), "--out", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    assert "Sentinel-2 fill" in res.output
