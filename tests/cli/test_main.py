"""CLI shell: help, config template/check, and the one-line exit-2 error contract."""

import tomllib

from typer.testing import CliRunner

from glacierinv.cli.main import app

runner = CliRunner()


def _one_line_error(result):
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("glacierinv: error:"), result.output
    assert "Traceback" not in result.output


def test_help_and_version():
    assert runner.invoke(app, ["--help"]).exit_code == 0
    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0 and "glacierinv" in res.output


def test_config_template_is_valid_toml_and_config():
    from glacierinv.config import config_from_dict

    res = runner.invoke(app, ["config", "template"])
    assert res.exit_code == 0
    cfg = config_from_dict(tomllib.loads(res.output), base_dir=".")
    assert cfg.outlines.min_area_km2 == 0.005 and cfg.stack.channels[-2:] == ["lst", "slope"]


def test_config_check_errors(tmp_path):
    _one_line_error(runner.invoke(app, ["config", "check", str(tmp_path / "missing.toml")]))
    bad = tmp_path / "bad.toml"
    bad.write_text("name = [")
    _one_line_error(runner.invoke(app, ["config", "check", str(bad)]))
    unknown = tmp_path / "unknown.toml"
    unknown.write_text('[inputs]\ndem = "dem.tif"\n[outlines]\nmin_area = 1\n')
    res = runner.invoke(app, ["config", "check", str(unknown)])
    _one_line_error(res)
    assert "outlines.min_area" in res.output
    missing_input = tmp_path / "mi.toml"
    missing_input.write_text('[inputs]\ndem = "nope.tif"\n')
    res = runner.invoke(app, ["config", "check", str(missing_input)])
    _one_line_error(res)
    assert "nope.tif" in res.output


def test_run_refuses_foreign_nonempty_folder(tmp_path):
    cfg = tmp_path / "c.toml"
    dem = tmp_path / "dem.tif"
    dem.write_text("not a raster")
    cfg.write_text('[inputs]\ndem = "dem.tif"\n')
    out = tmp_path / "out"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    _one_line_error(runner.invoke(app, ["run", str(cfg), "--out", str(out)]))
    assert (out / "precious.txt").read_text() == "keep me"
    assert sorted(p.name for p in out.iterdir()) == ["precious.txt"]


def test_stage_on_non_run_folder(tmp_path):
    _one_line_error(runner.invoke(app, ["stage", "outlines", str(tmp_path)]))


def test_run_batches_per_worker_option(tmp_path, monkeypatch):
    """`--batches-per-worker` sets [runtime] batches_per_worker (default from the config model); a bad
    value is one line and exit 2, before anything is written."""
    from glacierinv.config import RuntimeConfig

    seen = []  # the runtime settings each run would start with
    monkeypatch.setattr(
        "glacierinv.cli.run._run_with_progress", lambda fn, cfg, out, **kw: seen.append(cfg.runtime)
    )
    cfg = tmp_path / "c.toml"
    cfg.write_text('[inputs]\ndem = "dem.tif"\n[runtime]\nbatches_per_worker = 3\n')
    assert runner.invoke(app, ["run", str(cfg), "--out", str(tmp_path / "a")]).exit_code == 0
    assert (
        runner.invoke(
            app, ["run", str(cfg), "--out", str(tmp_path / "b"), "--batches-per-worker", "2"]
        ).exit_code
        == 0
    )
    assert [r.batches_per_worker for r in seen] == [3, 2]
    assert RuntimeConfig().batches_per_worker == RuntimeConfig.model_fields["batches_per_worker"].default
    res = runner.invoke(app, ["run", str(cfg), "--out", str(tmp_path / "c"), "--batches-per-worker", "0"])
    _one_line_error(res)
    assert "--batches-per-worker" in res.output and not (tmp_path / "c").exists()
