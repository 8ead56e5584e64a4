"""Issue 17: legitimate-but-empty scenes finish with valid outputs; bad input fails with one line (exit 2,
no traceback, inputs unchanged, no partial output). One case per observed real-world failure."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyogrio
from typer.testing import CliRunner

from glacierinv.cli.main import app

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
