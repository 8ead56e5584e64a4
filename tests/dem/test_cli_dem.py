import numpy as np
import pytest
import rasterio
from typer.testing import CliRunner

from glacierinv.cli.main import app
from tests.cli_checks import one_error_line as _one_error_line

from ._helpers import utm_grid, write_dem

runner = CliRunner()


def test_stereo_image_without_rpc(tmp_path):
    img = tmp_path / "plain.tif"
    with rasterio.open(img, "w", driver="GTiff", width=16, height=16, count=1, dtype="uint16") as ds:
        ds.write(np.ones((1, 16, 16), "uint16"))
    out = tmp_path / "dsm.tif"
    line = _one_error_line(
        runner.invoke(app, ["dem", "stereo", str(img), str(img), "--res", "1", "--out", str(out)])
    )
    assert "plain.tif" in line and "RPC" in line
    assert not out.exists()


def test_stereo_bad_roi(shared_data, tmp_path):
    d = shared_data / "s2p-stereo" / "input_pair"
    out = tmp_path / "dsm.tif"
    args = ["dem", "stereo", str(d / "img_01.tif"), str(d / "img_02.tif"), "--res", "0.5", "--out", str(out)]
    _one_error_line(runner.invoke(app, [*args, "--roi", "1,2,3"]))
    _one_error_line(runner.invoke(app, [*args, "--roi", "900,900,800,800"]))
    assert not out.exists()


def test_validate_non_hdf5(tmp_path):
    z = np.full((20, 20), 100.0)
    dem = write_dem(tmp_path / "dem.tif", z, utm_grid(20))
    bad = tmp_path / "atl06.h5"
    bad.write_text("plain text")
    line = _one_error_line(
        runner.invoke(
            app, ["dem", "validate", str(dem), "--altimetry", str(bad), "--out", str(tmp_path / "v")]
        )
    )
    assert "atl06.h5" in line and "HDF5" in line
    assert not (tmp_path / "v").exists()


def test_coreg_non_overlapping(tmp_path):
    z = np.random.default_rng(0).normal(size=(30, 30)) + 100
    a = write_dem(tmp_path / "a.tif", z, utm_grid(30))
    b = write_dem(tmp_path / "b.tif", z, utm_grid(30, x0=800000.0))
    out = tmp_path / "out.tif"
    line = _one_error_line(runner.invoke(app, ["dem", "coreg", str(a), "--ref", str(b), "--out", str(out)]))
    assert "overlap" in line
    assert not out.exists() and not list(tmp_path.glob(".*tmp*"))


def test_mosaic_refuses_overwrite(tmp_path):
    a = write_dem(tmp_path / "a.tif", np.ones((10, 10)), utm_grid(10))
    out = tmp_path / "m.tif"
    out.write_text("keep me")
    _one_error_line(runner.invoke(app, ["dem", "mosaic", str(a), "--out", str(out)]))
    assert out.read_text() == "keep me"
    assert runner.invoke(app, ["dem", "mosaic", str(a), "--out", str(out), "--force"]).exit_code == 0
    with rasterio.open(out) as ds:
        assert ds.count == 2


@pytest.mark.slow
def test_stereo_cli_end_to_end(shared_data, tmp_path):
    d = shared_data / "s2p-stereo" / "input_pair"
    out = tmp_path / "dsm.tif"
    result = runner.invoke(
        app,
        [
            "dem",
            "stereo",
            str(d / "img_01.tif"),
            str(d / "img_02.tif"),
            "--roi",
            "400,400,200,200",
            "--res",
            "0.5",
            "--crs",
            "32740",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    with rasterio.open(out) as ds:
        assert ds.count == 2 and ds.crs.to_epsg() == 32740
        assert ds.descriptions == ("dsm_m", "quality")


def test_fallback_cli(tmp_path):
    z = np.full((20, 20), 5.0)
    z[5:8, 5:8] = np.nan
    a = write_dem(tmp_path / "a.tif", z, utm_grid(20))
    b = write_dem(tmp_path / "b.tif", np.full((20, 20), 4.0), utm_grid(20))
    out = tmp_path / "dem.tif"
    result = runner.invoke(app, ["dem", "fallback", str(a), "--fallback", str(b), "--out", str(out)])
    assert result.exit_code == 0, result.output
    with rasterio.open(out) as ds:
        assert (ds.read(2)[5:8, 5:8] == 2).all()
    _one_error_line(
        runner.invoke(
            app,
            [
                "dem",
                "fallback",
                str(a),
                "--fallback",
                str(tmp_path / "x.tif"),
                "--out",
                str(tmp_path / "o.tif"),
            ],
        )
    )
