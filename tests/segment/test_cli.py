"""`glacierinv segment` / `train` through the CLI: outputs, one-line errors with exit code 2."""

from __future__ import annotations

from typer.testing import CliRunner

from glacierinv.cli.main import app
from tests.segment.conftest import toy_scene, write_stack

runner = CliRunner()


def _one_line_error(result, needle: str) -> None:
    assert result.exit_code == 2, result.output
    err = result.stderr.strip()
    assert err.count("\n") == 0 and "Traceback" not in err and needle in err, err


def test_segment_baseline_and_refuse_overwrite(tmp_path):
    bands, _ = toy_scene(size=64)
    stack = write_stack(tmp_path / "s.tif", bands)
    r = runner.invoke(app, ["segment", str(stack), "--out", str(tmp_path / "o"), "--method", "baseline"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "o" / "classes.tif").exists() and (tmp_path / "o" / "proba.tif").exists()
    r = runner.invoke(app, ["segment", str(stack), "--out", str(tmp_path / "o"), "--method", "baseline"])
    _one_line_error(r, "--force")
    r = runner.invoke(
        app,
        [
            "segment",
            str(stack),
            "--out",
            str(tmp_path / "o"),
            "--force",
            "--no-proba",
            "--method",
            "baseline",
        ],
    )
    assert r.exit_code == 0, r.output


def test_segment_unet_with_shipped_model(tmp_path):
    bands, _ = toy_scene(size=64)
    stack = write_stack(tmp_path / "s.tif", bands)
    r = runner.invoke(
        app,
        [
            "segment",
            str(stack),
            "--out",
            str(tmp_path / "u"),
            "--method",
            "unet",
            "--tile-px",
            "64",
            "--overlap-px",
            "16",
        ],
    )
    assert r.exit_code == 0, r.output
    assert (tmp_path / "u" / "classes.tif").exists() and (tmp_path / "u" / "uncertainty.tif").exists()
    args = ["segment", str(stack), "--out", str(tmp_path / "t"), "--method", "unet", "--tile-px", "64"]
    args += ["--overlap-px", "16"]
    r = runner.invoke(app, [*args, "--confidence", "tta", "--precision", "fp32"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "t" / "uncertainty.tif").exists()
    _one_line_error(
        runner.invoke(app, [*args, "--out", str(tmp_path / "x"), "--confidence", "sure"]), "confidence"
    )
    _one_line_error(
        runner.invoke(app, [*args, "--out", str(tmp_path / "y"), "--precision", "fp16"]), "precision"
    )


def test_segment_bad_inputs(tmp_path):
    bands, _ = toy_scene(size=64)
    stack = write_stack(tmp_path / "s.tif", {k: bands[k] for k in ("blue", "green", "red")})
    out = tmp_path / "o"
    _one_line_error(
        runner.invoke(app, ["segment", str(tmp_path / "none.tif"), "--out", str(out)]), "not found"
    )
    _one_line_error(runner.invoke(app, ["segment", str(stack), "--out", str(out)]), "nir")
    _one_line_error(
        runner.invoke(app, ["segment", str(stack), "--out", str(out), "--method", "cnn"]), "--method"
    )
    (tmp_path / "bad.pt").write_bytes(b"junk")
    r = runner.invoke(
        app,
        [
            "segment",
            str(stack),
            "--out",
            str(out),
            "--method",
            "unet",
            "--checkpoint",
            str(tmp_path / "bad.pt"),
        ],
    )
    _one_line_error(r, "checkpoint")
    (tmp_path / "text.tif").write_text("not a raster")
    _one_line_error(runner.invoke(app, ["segment", str(tmp_path / "text.tif"), "--out", str(out)]), "raster")
    assert not out.exists() or not any(out.iterdir())


def test_train_bad_config(tmp_path):
    _one_line_error(
        runner.invoke(app, ["train", str(tmp_path / "none.toml"), "--out", str(tmp_path / "t")]), "not found"
    )
    (tmp_path / "t.toml").write_text("[train]\ntile_px = 30\n")
    _one_line_error(
        runner.invoke(app, ["train", str(tmp_path / "t.toml"), "--out", str(tmp_path / "t")]), "invalid"
    )
