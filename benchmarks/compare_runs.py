"""Compare two run folders output by output: every raster pixel, every GeoPackage layer (attributes and
exact geometry), every CSV and JSON (ignoring paths, timings, timestamps and versions).

    .venv/bin/python benchmarks/compare_runs.py /tmp/demo-before /tmp/demo-after

Used to show that a refactoring leaves ``glacierinv demo`` identical. Prints one line per file and exits 1
when anything differs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

_VOLATILE = ("seconds", "time", "started", "finished", "created", "path", "dir", "versions", "config_base_dir",
             "tasks_seconds", "checkpoint", "run_dir", "out", "file", "generated")  # fmt: skip


def _volatile(key: str) -> bool:
    k = key.lower()
    return any(v in k for v in _VOLATILE)


def _clean(obj, a_root: str, b_root: str):
    if isinstance(obj, dict):
        if (
            "inputs" in obj and "params" in obj
        ):  # a stage record of run.json: its inputs are file digests, and
            obj = {
                k: v for k, v in obj.items() if k != "inputs"
            }  # GeoPackages embed write times; compared here
        return {k: _clean(v, a_root, b_root) for k, v in obj.items() if not _volatile(str(k))}
    if isinstance(obj, list):
        return [_clean(v, a_root, b_root) for v in obj]
    if isinstance(obj, str):
        return obj.replace(a_root, "<RUN>").replace(b_root, "<RUN>")
    return obj


def _raster(a: Path, b: Path) -> str | None:
    import rasterio

    with rasterio.open(a) as x, rasterio.open(b) as y:
        if (x.count, x.shape, x.transform, x.crs, x.dtypes) != (
            y.count,
            y.shape,
            y.transform,
            y.crs,
            y.dtypes,
        ):
            return "grid/dtype differs"
        xa, ya = x.read(), y.read()
    same = np.array_equal(xa, ya, equal_nan=np.issubdtype(xa.dtype, np.floating))
    return None if same else f"{int((xa != ya).sum())} pixels differ"


def _gpkg(a: Path, b: Path) -> str | None:
    import pyogrio

    la, lb = [n for n, _ in pyogrio.list_layers(a)], [n for n, _ in pyogrio.list_layers(b)]
    if la != lb:
        return f"layers {la} vs {lb}"
    for layer in la:
        x, y = pyogrio.read_dataframe(a, layer=layer), pyogrio.read_dataframe(b, layer=layer)
        if layer == "layer_styles":  # QGIS styles: the time they were written
            x, y = (
                x.drop(columns=["update_time"], errors="ignore"),
                y.drop(columns=["update_time"], errors="ignore"),
            )
        if list(x.columns) != list(y.columns) or len(x) != len(y):
            return f"layer {layer}: columns/rows differ"
        geom = getattr(x, "geometry", None)
        if geom is not None and hasattr(x, "crs"):
            if not all((g1 is None and g2 is None) or (g1 is not None and g1.equals_exact(g2, 0))
                       for g1, g2 in zip(x.geometry, y.geometry, strict=True)):  # fmt: skip
                return f"layer {layer}: geometry differs"
            x, y = x.drop(columns=x.geometry.name), y.drop(columns=y.geometry.name)
        if not x.equals(y):
            return f"layer {layer}: attributes differ"
    return None


def _text(a: Path, b: Path, roots) -> str | None:
    if a.suffix == ".json":
        x, y = (_clean(json.loads(p.read_text()), *roots) for p in (a, b))
        return None if x == y else "JSON differs"
    x, y = (p.read_text().replace(roots[0], "<RUN>").replace(roots[1], "<RUN>") for p in (a, b))
    return None if x == y else "text differs"


def compare(a_dir: Path, b_dir: Path) -> int:
    roots = (str(a_dir), str(b_dir))
    files_a = {p.relative_to(a_dir) for p in a_dir.rglob("*") if p.is_file()}
    files_b = {p.relative_to(b_dir) for p in b_dir.rglob("*") if p.is_file()}
    bad = 0
    for rel in sorted(files_a ^ files_b):
        if rel.name not in ("run.log", ".glacierinv.lock"):
            print(f"ONLY IN ONE  {rel}")
            bad += 1
    for rel in sorted(files_a & files_b):
        a, b = a_dir / rel, b_dir / rel
        if rel.suffix == ".tif":
            why = _raster(a, b)
        elif rel.suffix == ".gpkg":
            why = _gpkg(a, b)
        elif rel.suffix in (".csv", ".json", ".toml"):
            why = _text(a, b, roots)
        elif rel.suffix in (".log", ".html") or rel.name.startswith("."):  # timings and paths in prose
            print(f"not compared {rel}")
            continue
        else:
            why = None if a.read_bytes() == b.read_bytes() else "bytes differ"
        print(f"{'DIFFERS' if why else 'same':12s} {rel}{': ' + why if why else ''}")
        bad += bool(why)
    print(f"{bad} difference(s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(compare(Path(sys.argv[1]), Path(sys.argv[2])))
