"""Writers of the assess outputs (JSON, CSV, GeoPackage, PNG) into an output folder, all or nothing.

:func:`output_folder` collects the files in a temporary folder and moves them into place only when every
file was written, so a failure leaves no partial output; existing files are refused unless ``force``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from glacierinv.io.atomic import atomic_path, check_writable, refuse_overwrite

__all__ = [
    "ACCURACY_FILES",
    "COMPARISON_FILES",
    "MMD_FILES",
    "accuracy_tables",
    "output_folder",
    "write_accuracy",
    "write_comparison",
    "write_mmd",
]

ACCURACY_FILES = ("accuracy.json", "confusion.csv", "regions.csv")
MMD_FILES = ("mmd.json", "mmd_glaciers.csv", "mmd_distances.csv")
COMPARISON_FILES = (
    "summary.json",
    "matches.csv",
    "groups.csv",
    "omissions.csv",
    "commissions.csv",
    "size_classes.csv",
    "cells.csv",
    "comparison.gpkg",
    "size_classes.png",
    "group_areas.png",
    "cells.png",
)


@contextlib.contextmanager
def output_folder(out: str | Path, names: Sequence[str], force: bool = False) -> Iterator[Path]:
    """Yield a temporary folder; on success its files are moved into ``out``.

    Refuses (:class:`~glacierinv.errors.OutputExists`) when one of ``names`` exists in ``out`` and
    ``force`` is false. Other files already in ``out`` are left alone.
    """
    out = Path(out)
    for name in names:
        refuse_overwrite(out / name, force)
    if not out.exists():
        check_writable(out.parent if str(out.parent) else Path("."))
        with atomic_path(out) as tmp:
            tmp.mkdir()
            yield tmp
        return
    check_writable(out)
    tmp = out / f".glacierinv-{uuid.uuid4().hex[:8]}.tmp"
    tmp.mkdir()
    try:
        yield tmp
        for f in sorted(tmp.iterdir()):
            os.replace(f, out / f.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, indent=2, allow_nan=False, default=_default))


def _default(o: Any) -> Any:
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


def accuracy_tables(result: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Long confusion table (region, reference, predicted, n_pixels) and the per-region score table."""
    names = result["class_names"]
    blocks = {"overall": result["overall"], **result["regions"]}
    conf, rows = [], []
    for region, res in blocks.items():
        if "confusion_matrix" not in res:
            continue
        for i, ref_name in enumerate(names):
            for j, pred_name in enumerate(names):
                conf.append((region, ref_name, pred_name, res["confusion_matrix"][i][j]))
        row = {
            "region": region,
            "n_pixels": res["n_pixels"],
            "area_km2": res["area_km2"],
            "oa": res["oa"],
            "miou": res["miou"],
        }
        ci = res.get("ci") or {}
        row["oa_ci_low"], row["oa_ci_high"] = ci.get("oa", [None, None])
        row["miou_ci_low"], row["miou_ci_high"] = ci.get("miou", [None, None])
        for name in names:
            pc = res["per_class"][name]
            row[f"f1_{name}"] = pc["f1"]
            row[f"iou_{name}"] = pc["iou"]
            lo_hi = ci.get(f"f1_{name}", [None, None])
            row[f"f1_{name}_ci_low"], row[f"f1_{name}_ci_high"] = lo_hi
        if "glacier" in res:
            row["f1_glacier"] = res["glacier"]["f1"]
            row["iou_glacier"] = res["glacier"]["iou"]
        rows.append(row)
    return (
        pd.DataFrame(conf, columns=["region", "reference", "predicted", "n_pixels"]),
        pd.DataFrame(rows),
    )


def write_accuracy(result: dict[str, Any], out: str | Path, force: bool = False) -> list[Path]:
    """Write ``accuracy.json``, ``confusion.csv`` and ``regions.csv`` into ``out``."""
    conf, regions = accuracy_tables(result)
    with output_folder(out, ACCURACY_FILES, force) as tmp:
        _json(tmp / "accuracy.json", result)
        conf.to_csv(tmp / "confusion.csv", index=False)
        regions.to_csv(tmp / "regions.csv", index=False)
    return [Path(out) / n for n in ACCURACY_FILES]


def write_mmd(
    per_glacier: pd.DataFrame,
    pairs: pd.DataFrame,
    summary: dict[str, Any],
    out: str | Path,
    force: bool = False,
) -> list[Path]:
    """Write ``mmd.json``, ``mmd_glaciers.csv`` and ``mmd_distances.csv`` into ``out``."""
    with output_folder(out, MMD_FILES, force) as tmp:
        _json(tmp / "mmd.json", summary)
        per_glacier.to_csv(tmp / "mmd_glaciers.csv", index=False)
        pairs.to_csv(tmp / "mmd_distances.csv", index=False)
    return [Path(out) / n for n in MMD_FILES]


def write_comparison(comp, out: str | Path, force: bool = False, figures: bool = True) -> list[Path]:
    """Write a :class:`~glacierinv.assess.compare.Comparison`: CSVs, ``comparison.gpkg``, PNG figures.

    GeoPackage layers: ``matches`` (matched glaciers of both inventories with ``match_id``),
    ``omissions``, ``commissions`` and ``cells`` (with a grid comparison).
    """
    from glacierinv.assess.compare import plot_comparison
    from glacierinv.io.vector import write_layers

    written = []
    with output_folder(out, COMPARISON_FILES, force) as tmp:
        _json(tmp / "summary.json", comp.summary)
        tables = {
            "matches.csv": comp.pairs,
            "groups.csv": comp.groups,
            "omissions.csv": pd.DataFrame(comp.omissions.drop(columns="geometry")),
            "commissions.csv": pd.DataFrame(comp.commissions.drop(columns="geometry")),
            "size_classes.csv": comp.size_classes,
        }
        if comp.cells is not None:
            tables["cells.csv"] = pd.DataFrame(comp.cells.drop(columns="geometry"))
        for name, frame in tables.items():
            frame.to_csv(tmp / name, index=False)
        layers = {"matches": comp.matches, "omissions": comp.omissions, "commissions": comp.commissions}
        if comp.cells is not None:
            layers["cells"] = comp.cells
        layers = {k: v for k, v in layers.items() if len(v)}  # GPKG cannot type an empty layer
        if layers:
            write_layers(tmp / "comparison.gpkg", layers)
        if figures:
            plot_comparison(comp, tmp, "ours", "ref")
        written = sorted(p.name for p in tmp.iterdir())
    return [Path(out) / n for n in written]
