"""Training: outputs, reproducibility, resume, config errors (tiny CPU runs on toy scenes)."""

from __future__ import annotations

import csv

import pytest
import rasterio

from glacierinv.errors import ConfigError, OutputExists
from glacierinv.io.grid import Grid
from glacierinv.io.raster import write_raster
from glacierinv.segment.checkpoint import load_checkpoint
from glacierinv.segment.train import load_train_config, train
from tests.segment.conftest import toy_scene, write_stack


def _toml(tmp_path, n_scenes: int = 3, **train) -> object:
    lines = ["[train]"]
    settings = {"tile_px": 32, "base_width": 4, "depth": 2, "max_epochs": 2, "lr": 1e-3, "split_block_px": 32,
                "stride_px": 32, "threads": 1, "device": "cpu", **train}  # fmt: skip
    lines += [
        f"{k} = {v!r}".replace("'", '"').replace("True", "true").replace("False", "false")
        for k, v in settings.items()
    ]
    for s in range(n_scenes):
        bands, truth = toy_scene(size=96, seed=s)
        stack = write_stack(tmp_path / f"s{s}.tif", bands)
        with rasterio.open(stack) as ds:
            grid = Grid(ds.crs, ds.transform, (ds.height, ds.width))
        write_raster(tmp_path / f"l{s}.tif", truth, grid, nodata=255)
        lines += ["[[scenes]]", f'stack = "s{s}.tif"', f'labels = "l{s}.tif"']
    path = tmp_path / "train.toml"
    path.write_text("\n".join(lines) + "\n")
    return load_train_config(path)


def _metrics(folder):
    with open(folder / "metrics.csv") as fh:
        return list(csv.DictReader(fh))


def test_train_writes_outputs_and_is_reproducible(tmp_path):
    cfg = _toml(tmp_path)
    a = train(cfg, tmp_path / "a")
    for name in ("best.pt", "last.pt", "metrics.csv", "curves.png", "test_metrics.json"):
        assert (tmp_path / "a" / name).exists(), name
    rows = _metrics(tmp_path / "a")
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert a["tiles"]["train"] > 0 and a["tiles"]["val"] > 0
    model, meta = load_checkpoint(tmp_path / "a" / "best.pt")
    assert meta.channels == ["blue", "green", "red", "nir", "lst", "slope"] and meta.tile_px == 32
    assert meta.norm_mean[4] == pytest.approx(290, abs=10)  # LST statistics of the training tiles (K)
    train(cfg, tmp_path / "b")
    assert [r["train_loss"] for r in _metrics(tmp_path / "b")] == [r["train_loss"] for r in rows]


def test_resume_continues_and_refuses_without_flag(tmp_path):
    cfg = _toml(tmp_path, max_epochs=1)
    train(cfg, tmp_path / "r")
    with pytest.raises(OutputExists):
        train(cfg, tmp_path / "r")
    train(cfg.model_copy(update={"max_epochs": 2}), tmp_path / "r", resume=True)
    resumed = _metrics(tmp_path / "r")
    train(cfg.model_copy(update={"max_epochs": 2}), tmp_path / "full")
    straight = _metrics(tmp_path / "full")
    assert [r["epoch"] for r in resumed] == ["1", "2"]
    assert resumed[1]["train_loss"] == straight[1]["train_loss"]  # same sequence as uninterrupted


def test_channel_subset_and_bad_config(tmp_path):
    cfg = _toml(tmp_path, channels=["red", "nir", "lst"], max_epochs=1)
    train(cfg, tmp_path / "sub")
    assert load_checkpoint(tmp_path / "sub" / "best.pt")[1].channels == ["red", "nir", "lst"]
    (tmp_path / "bad.toml").write_text(
        '[train]\nloss = "hinge"\n[[scenes]]\nstack = "s0.tif"\nlabels = "l0.tif"\n'
    )
    with pytest.raises(ConfigError, match="loss"):
        load_train_config(tmp_path / "bad.toml")
    (tmp_path / "bad2.toml").write_text('[[scenes]]\nstack = "s0.tif"\n')
    with pytest.raises(ConfigError, match="labels"):
        load_train_config(tmp_path / "bad2.toml")


def test_epoch_parts_are_timed(tmp_path):
    from glacierinv.segment.train import EPOCH_PHASES, step_share

    cfg = _toml(tmp_path, max_epochs=1)
    train(cfg, tmp_path / "t")
    (row,) = _metrics(tmp_path / "t")
    parts = {k: float(row[k]) for k in EPOCH_PHASES}
    assert all(v >= 0 for v in parts.values()) and parts["forward_s"] > 0 and parts["backward_s"] > 0
    assert float(row["seconds"]) == pytest.approx(sum(parts.values()), abs=0.02)
    assert int(row["tiles"]) > 0
    assert 0 < step_share({k: float(row[k]) for k in EPOCH_PHASES}) < 1


def test_time_budget_stops_after_an_epoch_and_resume_finishes_the_same_run(tmp_path):
    cfg = _toml(tmp_path, max_epochs=3)
    cut = train(cfg.model_copy(update={"max_minutes": 1e-6}), tmp_path / "cut")  # one epoch, then out of time
    assert cut["epochs_run"] == 1 and cut["finished"] is False
    assert (tmp_path / "cut" / "best.pt").exists()  # usable (calibrated, tested) after every session
    done = train(cfg, tmp_path / "cut", resume=True)
    assert done["epochs_run"] == 3 and done["finished"] is True
    train(cfg, tmp_path / "straight")
    resumed, straight = _metrics(tmp_path / "cut"), _metrics(tmp_path / "straight")
    assert [r["epoch"] for r in resumed] == ["1", "2", "3"]
    assert [r["train_loss"] for r in resumed] == [r["train_loss"] for r in straight]
    assert [r["val_miou"] for r in resumed] == [r["val_miou"] for r in straight]


def test_cli_time_budget_then_resume(tmp_path):
    from typer.testing import CliRunner

    from glacierinv.cli.main import app
    from tests.segment.test_cli import _one_line_error

    runner = CliRunner()
    _toml(tmp_path, max_epochs=2)  # writes train.toml and the scenes
    toml, out = str(tmp_path / "train.toml"), str(tmp_path / "m")
    r = runner.invoke(app, ["train", toml, "--out", out, "--max-minutes", "0.000001", "--precision", "fp32"])
    assert r.exit_code == 0, r.output
    assert "continue with --resume" in r.output and len(_metrics(tmp_path / "m")) == 1
    r = runner.invoke(app, ["train", toml, "--out", out, "--resume", "--precision", "fp32", "--threads", "1"])
    assert r.exit_code == 0, r.output
    assert [row["epoch"] for row in _metrics(tmp_path / "m")] == ["1", "2"] and "--resume" not in r.output
    r = runner.invoke(app, ["train", toml, "--out", str(tmp_path / "x"), "--precision", "fp16"])
    _one_line_error(r, "precision")
    assert not (tmp_path / "x").exists()


def test_early_stop_and_finished_agree():
    from glacierinv.segment.train import TrainConfig, _finished, _patience_spent, _RunState

    cfg = TrainConfig.model_construct(max_epochs=50, patience=3)
    state = _RunState(history=[{"epoch": e} for e in range(1, 8)], best=0.8, best_epoch=4)
    assert not _patience_spent(cfg, state, 7) and _patience_spent(cfg, state, 8)
    assert _finished(cfg, state)  # epoch 7 was the last one the loop runs: 8 - 4 > 3
    state.history.pop()
    assert not _finished(cfg, state)  # after epoch 6 a budget cut it short: epoch 7 would still run
