"""Training from an existing inventory: ignored edges, a test split by region, fine-tuning (--init),
held-out scores in the report, the `train --run` CLI; and the real Everest scene (skips without data)."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from typer.testing import CliRunner

from glacierinv.cli.main import app
from glacierinv.errors import CheckpointError, InputError
from glacierinv.segment.checkpoint import load_checkpoint
from glacierinv.segment.data import Tile, assign_test_region, label_raster, make_tiles
from glacierinv.segment.train import TrainConfig, glacier_scores, train, with_overrides
from tests.segment.conftest import GRID_ORIGIN, toy_scene, write_stack

X0, Y0 = GRID_ORIGIN
RES = 2.0


def _px_box(r0, c0, r1, c1):
    return shapely.box(X0 + c0 * RES, Y0 - r1 * RES, X0 + c1 * RES, Y0 - r0 * RES)


def _inventory(tmp_path, size=96, seed=0):
    """Toy stack + its glacier (ice + debris) and debris outlines as polygons (the 'RGI' of the region)."""
    bands, truth = toy_scene(size=size, seed=seed)
    stack = write_stack(tmp_path / f"stack{seed}.tif", bands)
    gpd.GeoDataFrame(
        geometry=[_px_box(10, 20, 50, 70).union(_px_box(50, 30, 80, 60))], crs="EPSG:32643"
    ).to_file(tmp_path / "glaciers.gpkg")
    gpd.GeoDataFrame(geometry=[_px_box(50, 30, 80, 60)], crs="EPSG:32643").to_file(tmp_path / "debris.gpkg")
    return stack, tmp_path / "glaciers.gpkg", tmp_path / "debris.gpkg"


def test_ignore_edge_px_masks_a_band_around_every_outline(tmp_path):
    stack, gl, de = _inventory(tmp_path)
    lab0 = rasterio.open(label_raster(stack, tmp_path / "l0.tif", glaciers=gl, debris=de)).read(1)
    lab2 = rasterio.open(
        label_raster(stack, tmp_path / "l2.tif", glaciers=gl, debris=de, ignore_edge_px=2)
    ).read(1)
    # pixel centres within 2 px (4 m) of an outline are ignored; deeper inside and far outside unchanged
    assert lab2[30, 40] == 1 and lab2[70, 45] == 2 and lab2[90, 90] == 0
    assert lab2[10, 40] == 255 and lab2[11, 40] == 255 and lab2[8, 40] == 255  # 0.5, 1.5, 1.5 px from y=10
    assert lab2[12, 40] == 1 and lab2[7, 40] == 0  # 2.5 px inside / outside: kept
    assert lab2[65, 30] == 255 and lab2[65, 32] == 2  # debris edge at x=30 px
    assert lab2[50, 45] == 255  # the glacier/debris boundary inside the glacier is an outline too
    changed = lab0 != lab2
    assert (lab2[changed] == 255).all()
    with pytest.raises(InputError, match="ignore_edge_px"):
        label_raster(stack, tmp_path / "lx.tif", glaciers=gl, ignore_edge_px=-1)


def test_assign_test_region_holds_out_whole_tiles():
    tiles = make_tiles([(128, 128)], tile_px=32, stride_px=32, split_block_px=64, fractions=(0.9, 0.1, 0.0))
    assert not any(t.split == "test" for t in tiles)
    tr = rasterio.Affine(RES, 0, X0, 0, -RES, Y0)
    region = _px_box(0, 64, 128, 128)  # the eastern half
    out = assign_test_region(tiles, [tr], region)
    test = [t for t in out if t.split == "test"]
    assert {t.col for t in test} == {64, 96} and len(test) == 8
    assert all(t.col + t.size <= 64 for t in out if t.split != "test")  # no training pixel in the region
    # a tile straddling the border is dropped
    straddle = assign_test_region([Tile(0, "train", 0, 48, 32)], [tr], region)
    assert straddle == []


def test_glacier_scores_from_confusion_matrix():
    cm = np.array([[80, 10, 10], [5, 40, 5], [5, 5, 40]])  # rows reference, columns prediction
    g = glacier_scores(cm)
    tp, fp, fn = 90, 20, 10
    assert g["precision"] == pytest.approx(tp / (tp + fp))
    assert g["recall"] == pytest.approx(tp / (tp + fn))
    assert g["f1"] == pytest.approx(2 * tp / (2 * tp + fp + fn))
    assert glacier_scores(np.zeros((3, 3)))["f1"] is None


def _cfg(tmp_path, **extra):
    stack, gl, de = _inventory(tmp_path)
    region = tmp_path / "heldout.gpkg"
    gpd.GeoDataFrame(geometry=[_px_box(0, 48, 96, 96)], crs="EPSG:32643").to_file(region)
    settings = {"tile_px": 32, "stride_px": 16, "split_block_px": 32, "base_width": 4, "depth": 2,
                "max_epochs": 2, "lr": 1e-3, "threads": 1, "device": "cpu", "drop_empty": False,
                "ignore_edge_px": 1, "test_region": region, **extra}  # fmt: skip
    return TrainConfig.model_validate(
        {"scenes": [{"stack": stack, "glaciers": gl, "debris": de}], **settings}
    )


def test_region_split_report_and_fine_tuning(tmp_path):
    a = train(_cfg(tmp_path), tmp_path / "scratch")
    assert a["tiles"]["test"] > 0 and a["test"]["glacier"]["f1"] is not None
    meta_a = load_checkpoint(tmp_path / "scratch" / "best.pt")[1]
    assert meta_a.train["test_split"] == "region" and meta_a.train["ignore_edge_px"] == 1
    report = (tmp_path / "scratch" / "report.md").read_text()
    assert "Held-out scores" in report and "Glacier (clean ice + debris) vs not" in report
    assert "test split by region" in report and "random (trained from scratch)" in report
    # fine-tune from that checkpoint: its architecture and normalisation are kept, weights start from it
    b = train(
        _cfg(tmp_path, init=tmp_path / "scratch" / "best.pt", base_width=8, max_epochs=1), tmp_path / "ft"
    )
    _, meta_b = load_checkpoint(tmp_path / "ft" / "best.pt")
    assert meta_b.spec.base_width == 4  # from the checkpoint, not the config
    assert meta_b.norm_mean == pytest.approx(meta_a.norm_mean)
    assert meta_b.train["init"].endswith("best.pt")
    assert (
        json.loads((tmp_path / "ft" / "test_metrics.json").read_text())["test"]["glacier"]
        == b["test"]["glacier"]
    )


def test_init_with_other_channels_names_both_lists(tmp_path):
    cfg = _cfg(tmp_path, channels=["red", "nir", "lst"], max_epochs=1)
    train(cfg, tmp_path / "three")
    init = tmp_path / "three" / "best.pt"
    # the stack has the model's channels (and more): fine-tuning uses the model's, in its order
    train(_cfg(tmp_path, init=init, max_epochs=1), tmp_path / "ok")
    assert load_checkpoint(tmp_path / "ok" / "best.pt")[1].channels == ["red", "nir", "lst"]
    # other channels asked for: one error naming both lists, nothing written
    with pytest.raises(CheckpointError) as err:
        train(_cfg(tmp_path, init=init, channels=["blue", "green", "red", "nir"]), tmp_path / "ft")
    msg = str(err.value)
    assert "red, nir, lst" in msg and "blue, green, red, nir" in msg
    assert not (tmp_path / "ft" / "best.pt").exists()


def test_test_region_outside_every_tile_is_a_clear_error(tmp_path):
    far = tmp_path / "far.gpkg"
    gpd.GeoDataFrame(geometry=[shapely.box(0, 0, 10, 10)], crs="EPSG:32643").to_file(far)
    with pytest.raises(InputError, match="test region"):
        train(_cfg(tmp_path, test_region=far), tmp_path / "x")


def test_with_overrides_validates():
    from glacierinv.errors import ConfigError

    cfg = TrainConfig.model_validate({"scenes": [{"stack": "s.tif", "labels": "l.tif"}]})
    assert with_overrides(cfg, tile_px=64).tile_px == 64
    with pytest.raises(ConfigError, match="tile_px"):
        with_overrides(cfg, tile_px=30)
    with pytest.raises(ConfigError, match="ignore_edge_px"):
        with_overrides(cfg, ignore_edge_px=-2)


runner = CliRunner()


def _one_line_error(result, needle):
    assert result.exit_code == 2, result.output
    err = result.stderr.strip()
    assert err.count("\n") == 0 and "Traceback" not in err and needle in err, err


def test_cli_train_from_run_folder(tmp_path):
    stack, gl, de = _inventory(tmp_path)
    run = tmp_path / "run"
    run.mkdir()
    (run / "stack.tif").write_bytes(stack.read_bytes())
    region = tmp_path / "heldout.gpkg"
    gpd.GeoDataFrame(geometry=[_px_box(0, 48, 96, 96)], crs="EPSG:32643").to_file(region)
    args = ["train", "--run", str(run), "--glaciers", str(gl), "--debris", str(de), "--tile-px", "32",
            "--ignore-edge-px", "1", "--test-region", str(region), "--max-epochs", "1", "--device", "cpu", "--loss", "dice_ce"]  # fmt: skip
    res = runner.invoke(app, [*args, "--out", str(tmp_path / "m")])
    assert res.exit_code == 0, res.output
    assert "test glacier F1" in res.output and (tmp_path / "m" / "report.md").exists()
    # --init with a checkpoint of other channels: one line naming both lists
    res = runner.invoke(app, [*args, "--init", "shipped", "--out", str(tmp_path / "m2")])
    assert res.exit_code == 0, res.output  # the toy stack has the shipped model's six channels
    _, meta = load_checkpoint(tmp_path / "m2" / "best.pt")
    assert meta.channels == ["blue", "green", "red", "nir", "lst", "slope"]
    with rasterio.open(stack) as ds:
        prof, arr = ds.profile, ds.read([1, 2, 3, 4])
    with rasterio.open(run / "stack.tif", "w", **{**prof, "count": 4}) as ds:
        ds.write(arr)
        for i, n in enumerate(["blue", "green", "red", "nir"]):
            ds.set_band_description(i + 1, n)
    _one_line_error(
        runner.invoke(app, [*args, "--init", "shipped", "--out", str(tmp_path / "m3")]), "lst, slope"
    )
    _one_line_error(
        runner.invoke(app, ["train", "--run", str(run), "--out", str(tmp_path / "m4")]), "--glaciers"
    )
    _one_line_error(runner.invoke(app, ["train", "--out", str(tmp_path / "m5")]), "--run")
    _one_line_error(runner.invoke(app, [*args, "--loss", "hinge", "--out", str(tmp_path / "m7")]), "loss")
    _one_line_error(
        runner.invoke(
            app, ["train", "--run", str(tmp_path), "--glaciers", str(gl), "--out", str(tmp_path / "m6")]
        ),
        "stack.tif",
    )


def test_everest_real_scene_region_split(shared_data, tmp_path):
    """The real Landsat 7 Everest scene: RGI 6 labels with an ignored edge, a held-out eastern third."""
    from benchmarks.new_region import everest_stack

    folder = shared_data / "everest-landsat7"
    stack = everest_stack(tmp_path / "ev.tif", folder)
    with rasterio.open(stack) as ds:
        assert list(ds.descriptions) == ["blue", "green", "red", "nir"] and ds.crs.to_epsg() == 32645
        tr, h, w = ds.transform, ds.height, ds.width
    rgi = folder / "15_rgi60_glacier_outlines.gpkg"
    lab = rasterio.open(label_raster(stack, tmp_path / "l.tif", glaciers=rgi, ignore_edge_px=1)).read(1)
    assert 0.40 < (lab == 1).mean() < 0.54  # 54 % glacier (SOURCE.md) less the ignored edge band
    assert (lab == 255).mean() > 0.05 and not (lab == 2).any()
    x0 = tr.c + int(w * 2 / 3) * tr.a
    tiles = make_tiles([(h, w)], tile_px=64, stride_px=32, split_block_px=128, fractions=(0.9, 0.1, 0.0))
    out = assign_test_region(tiles, [tr], shapely.box(x0, tr.f + h * tr.e, tr.c + w * tr.a, tr.f))
    assert any(t.split == "test" for t in out)
    assert all(tr.c + (t.col + t.size) * tr.a <= x0 for t in out if t.split != "test")


@pytest.mark.slow
def test_everest_train_smoke(shared_data, tmp_path):
    """A (blue, green, red, nir) model trained from scratch on the west of the Everest scene scores on the
    held-out east (2 epochs: a smoke run, the documented figures come from benchmarks/new_region.py)."""
    from benchmarks.new_region import everest_stack

    stack = everest_stack(tmp_path / "ev.tif", shared_data / "everest-landsat7")
    with rasterio.open(stack) as ds:
        tr, h, w = ds.transform, ds.height, ds.width
    region = tmp_path / "east.gpkg"
    x0 = tr.c + int(w * 2 / 3) * tr.a
    gpd.GeoDataFrame(
        geometry=[shapely.box(x0, tr.f + h * tr.e, tr.c + w * tr.a, tr.f)], crs="EPSG:32645"
    ).to_file(region)
    rgi = shared_data / "everest-landsat7" / "15_rgi60_glacier_outlines.gpkg"
    cfg = TrainConfig.model_validate(
        {
            "scenes": [{"stack": stack, "glaciers": rgi}],
            "tile_px": 64,
            "split_block_px": 128,
            "base_width": 8,
            "depth": 3,
            "max_epochs": 2,
            "lr": 1e-3,
            "threads": 1,
            "device": "cpu",
            "ignore_edge_px": 2,
            "test_region": region,
            "max_train_tiles": 64,
        }  # fmt: skip
    )
    s = train(cfg, tmp_path / "m")
    assert s["tiles"]["test"] > 0 and 0.0 < s["test"]["glacier"]["f1"] <= 1.0
