"""Issue 17: legitimate-but-empty scenes finish with valid outputs; bad input fails with one line (exit 2,
no traceback, inputs unchanged, no partial output). One case per observed real-world failure."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyogrio
import pytest
from typer.testing import CliRunner

from glacierinv.cli.main import app
from tests.cli_checks import one_error_line

runner = CliRunner()


def _snapshot(*paths: Path) -> dict:
    """Bytes of every file under ``paths`` (to assert that inputs are unchanged)."""
    out = {}
    for p in paths:
        for f in [p] if p.is_file() else sorted(p.rglob("*")):
            if f.is_file():
                out[str(f)] = f.read_bytes()
    return out


def _scene_copy(tiny_scene: Path, tmp_path: Path, extra_toml: str) -> Path:
    scene = tmp_path / "scene"
    shutil.copytree(tiny_scene, scene)
    cfg = scene / "config.toml"
    text = cfg.read_text().replace("[analysis]", extra_toml + "\n[analysis]", 1)
    cfg.write_text(text)
    return scene


def test_run_of_a_scene_without_glacier_finishes_empty(tiny_scene, tmp_path):
    """Issue 17.2: no glacier is a legitimate answer: exit 0, all inventory layers with zero rows, a warning
    in the summary, run.json and the report; nothing deleted."""
    scene = _scene_copy(
        tiny_scene, tmp_path, '[segment]\nmethod = "baseline"\n\n[outlines]\nmin_area_km2 = 1000.0\n'
    )
    out = tmp_path / "run"
    res = runner.invoke(app, ["run", str(scene / "config.toml"), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "Traceback" not in res.output and "no glacier" in res.output and "warning" in res.output
    for layer in ("glaciers", "debris", "divides", "hypsometry", "centerlines"):
        assert pyogrio.read_info(out / "inventory.gpkg", layer=layer)["features"] == 0, layer
    cols = (out / "inventory.csv").read_text().splitlines()
    assert len(cols) == 1 and "area_km2" in cols[0]  # header only
    manifest = json.loads((out / "run.json").read_text())
    assert any("no glacier" in w for w in manifest["stages"]["attributes"]["summary"]["warnings"])
    assert all(rec["status"] == "done" for rec in manifest["stages"].values())
    assert "No glacier was found in this scene" in (out / "report" / "index.html").read_text()
    assert (out / "classes.tif").exists()


# ------------------------------------------------------------------ 17.9: consistency a user notices
def _help(*cmd: str) -> str:
    res = runner.invoke(app, [*cmd, "--help"], terminal_width=200)
    assert res.exit_code == 0, res.output
    return res.output


def test_help_keeps_square_brackets_and_flags_take_no_value():
    """Before: '[inputs]' eaten by rich markup ('TOML run configuration (, ).', 'Override  max_epochs.'),
    a stray '[more]...' in mmd's usage and '<bool>' beside on/off flags."""
    stack = _help("stack")
    assert "(, )" not in stack and "[inputs]" in stack and "[runtime] block_px" in stack
    for cmd in (("train",), ("ablate",)):
        text = _help(*cmd)
        assert "(, )" not in text and "Override  " not in text, text
    mmd = _help("assess", "mmd")
    assert "[more]" not in mmd and "list[Path]" not in mmd
    for cmd in (("stack",), ("run",), ("attributes",), ("assess", "mmd"), ("compare",), ("dem", "validate")):
        assert "<bool>" not in _help(*cmd), cmd


def test_dem_validate_takes_several_altimetry_files(tmp_path):
    """The help's own example `--altimetry ATL06_*.h5` (several files after one flag) works."""
    import numpy as np

    from tests.dem._helpers import write_dem
    from tests.dem.test_validate import _dem, _points, _write_atl06

    rng = np.random.default_rng(1)
    z, grid = _dem()
    dem = write_dem(tmp_path / "dem.tif", z, grid)
    lon, lat, true = _points(z, grid, rng)
    half = len(lon) // 2
    for k, sl in enumerate((slice(0, half), slice(half, None))):
        _write_atl06(
            tmp_path / f"ATL06_{k}.h5", lon[sl], lat[sl], true[sl] - 3.0, np.zeros(true[sl].size, int)
        )
    res = runner.invoke(app, ["dem", "validate", str(dem), "--altimetry", str(tmp_path / "ATL06_0.h5"),
                              str(tmp_path / "ATL06_1.h5"), "--out", str(tmp_path / "val")])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "unexpected extra argument" not in res.output


def test_mmd_takes_several_digitisations_after_one_flag(tmp_path):
    import geopandas as gpd
    from shapely.geometry import box

    files = []
    for k, d in enumerate((0.0, 2.0, -2.0)):
        p = tmp_path / f"d{k}.gpkg"
        gpd.GeoDataFrame({"glac_id": ["A"]}, geometry=[box(d, 0, 1000 + d, 1000)], crs=32643).to_file(p)
        files.append(str(p))
    res = runner.invoke(app, ["assess", "mmd", "--auto", files[0], "--digitisations", files[1], files[2],
                              "--out", str(tmp_path / "mmd")])  # fmt: skip
    assert res.exit_code == 0, res.output


@pytest.mark.parametrize("cmd", ["compare", "accuracy"])
def test_folder_outputs_refuse_a_non_empty_folder(cmd, tiny_scene, tmp_path):
    """Before: compare and assess accuracy wrote into a non-empty folder without --force."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    truth = tiny_scene / "truth"
    args = (["compare", "--ours", str(truth / "glaciers.gpkg"), "--ref", str(truth / "glaciers.gpkg")]
            if cmd == "compare" else
            ["assess", "accuracy", "--pred", str(truth / "classes.tif"), "--ref", str(truth / "classes.tif"),
             "--n-boot", "0"])  # fmt: skip
    before = _snapshot(truth)
    one_error_line(runner.invoke(app, [*args, "--out", str(out)]), str(out), "--force")
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"] and _snapshot(truth) == before
    res = runner.invoke(app, [*args, "--out", str(out), "--force"])
    assert res.exit_code == 0, res.output
    assert (out / "notes.txt").read_text() == "mine"


def test_one_convention_for_defaults():
    """segment defaults to the shipped U-Net like run/demo; every --id-column defaults to the guessed one."""
    import typer.main

    cli = typer.main.get_command(app)
    ctx = cli.make_context("glacierinv", ["segment", "--help"], resilient_parsing=True)
    params = {p.name: p for p in cli.get_command(ctx, "segment").params}
    from glacierinv.config import SegmentConfig

    # the default is the [segment] section's, the one `run`/`demo` use (issue 24: one copy, in the model)
    assert params["method"].default is None and SegmentConfig().method == "unet"
    assert "[default: unet, from [segment] method]" in params["method"].help
    for name, key in (("attributes", "id_column"), ("units", "id_column"), ("compare", "ours_id"),
                      ("compare", "ref_id")):  # fmt: skip
        ids = {p.name: p for p in cli.get_command(ctx, name).params}[key]
        assert ids.default is None, name
    from glacierinv.io.vector import guess_id_column

    assert guess_id_column(["rgi_id", "outline_id"]) == "rgi_id"
    assert guess_id_column(["name"]) is None and guess_id_column(["rgi_id"], "mine") == "mine"


def test_quiet_demo_still_prints_the_summary(tmp_path):
    """Before: `glacierinv -q demo` printed nothing at all. Quiet silences progress, not the answer."""
    out = tmp_path / "demo"
    res = runner.invoke(app, ["-q", "demo", "--out", str(out), "--size", "256", "--method", "baseline"])
    assert res.exit_code == 0, res.output
    assert "glacier area (km²)" in res.output and "report/index.html" in res.output
    assert "INFO" not in res.output and "stage" not in res.output.split("inventory", 1)[0]


# ------------------------------------------------------------------ the bad-input matrix of issue 17
def _utm_plane(path: Path, scale: float = 1.0) -> Path:
    import numpy as np
    from rasterio.crs import CRS

    from glacierinv.io.grid import Grid
    from glacierinv.io.raster import write_raster

    grid = Grid.from_bounds(CRS.from_epsg(32632), (640000, 5200000, 642000, 5202000), 10.0)
    rows, cols = np.indices(grid.shape)
    xs, _ = grid.xy(rows, cols)
    return write_raster(path, ((3000.0 - 0.2 * (xs - 640000)) * scale).astype("float32"), grid)


def _outlines(path: Path, boxes: dict, crs: int = 32632) -> Path:
    import geopandas as gpd
    from shapely.geometry import box

    gpd.GeoDataFrame({"glac_id": list(boxes)}, geometry=[box(*b) for b in boxes.values()], crs=crs).to_file(
        path
    )
    return path


GLACIER = (640400, 5200400, 641600, 5201600)


def _case(name: str, d: Path):
    """(argv, inputs, output, needles) of one bad-input case, built in ``d``."""
    feet = _utm_plane(d / "dem_feet.tif", scale=1 / 0.3048)  # 3000 m written in feet: 9843 "m"
    dem = _utm_plane(d / "dem.tif")
    one = _outlines(d / "one.gpkg", {"A": GLACIER})
    if name == "duplicate_outlines":
        dup = _outlines(d / "dup.gpkg", {"A": GLACIER, "A-again": GLACIER})
        return (["attributes", "--outlines", str(dup), "--dem", str(dem), "--out", str(d / "o.gpkg")],
                [dup, dem], d / "o.gpkg", ["A & A-again", "--allow-overlaps"])  # fmt: skip
    if name in ("feet_attributes", "feet_units"):
        cmd = name.split("_")[1]
        return ([cmd, "--outlines", str(one), "--dem", str(feet), "--out", str(d / "o.gpkg")],
                [one, feet], d / "o.gpkg", [str(feet), "--z-unit ft"])  # fmt: skip
    if name == "feet_analyse":
        return (["analyse", str(one), "--dem", str(feet), "--out", str(d / "an")], [one, feet], d / "an",
                [str(feet), "--z-unit ft"])  # fmt: skip
    if name == "dem_not_covering_analyse":
        far = _outlines(d / "far.gpkg", {"F": (700000, 5200400, 701200, 5201600)})
        return (["analyse", str(far), "--dem", str(dem), "--out", str(d / "an")], [far, dem], d / "an",
                [str(dem), "does not cover", "Give a DEM"])  # fmt: skip
    if name == "unknown_z_unit":
        return (["attributes", "--outlines", str(one), "--dem", str(dem), "--z-unit", "furlong", "--out",
                 str(d / "o.gpkg")], [one, dem], d / "o.gpkg", ["furlong", "m, ft"])  # fmt: skip
    if name == "unknown_export_crs":
        return (["attributes", "--outlines", str(one), "--dem", str(dem), "--crs", "EPSG:999999", "--out",
                 str(d / "o.gpkg")], [one, dem], d / "o.gpkg", ["EPSG:999999", "EPSG:4326"])  # fmt: skip
    raise KeyError(name)


@pytest.mark.parametrize("name", ["duplicate_outlines", "feet_attributes", "feet_units", "feet_analyse",
                                  "dem_not_covering_analyse", "unknown_z_unit", "unknown_export_crs"])  # fmt: skip
def test_bad_input_matrix(name, tmp_path):
    """Each case: one line naming the file, the problem and the fix; exit 2; no traceback; inputs
    unchanged; no partial output."""
    argv, inputs, output, needles = _case(name, tmp_path)
    before = _snapshot(*inputs)
    one_error_line(runner.invoke(app, argv), *needles)
    assert _snapshot(*inputs) == before
    assert not output.exists()
    assert not list(tmp_path.glob("*.tmp*")) and not list(tmp_path.glob(".*tmp*"))


def test_analyse_of_a_clean_ice_inventory(tmp_path):
    """No debris is a legitimate answer: analyse finishes (exit 0), notes it, draws no empty debris panel."""
    import geopandas as gpd

    inv = tmp_path / "inv.gpkg"
    g = gpd.read_file(_outlines(tmp_path / "g.gpkg", {"A": GLACIER}))
    g.to_file(inv, layer="glaciers")
    g.iloc[:0].to_file(inv, layer="debris")
    out = tmp_path / "an"
    res = runner.invoke(app, ["analyse", str(inv), "--only", "sizes", "--out", str(out)])
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "analysis.json").read_text())
    assert any("n = 0" in n for n in summary["analyses"]["sizes"]["notes"])
