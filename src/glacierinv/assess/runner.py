"""The ``assess`` stage: accuracy of ``classes.tif`` against reference labels, uncertainty totals, and the
inventory's total areas against reference polygons → ``assessment.json``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from glacierinv.io.atomic import atomic_path
from glacierinv.pipeline.stage import Stage, config_files, config_inputs, run_files

__all__ = ["STAGE"]


def _run(cfg, run, progress) -> dict[str, Any]:
    assessment: dict[str, Any] = {}
    truth = cfg.input_path("truth_classes", required=False)
    if truth is not None:
        from glacierinv.assess.metrics import accuracy_from_rasters

        a = cfg.assess
        assessment["accuracy"] = accuracy_from_rasters(
            run / "classes.tif",
            truth,
            regions=cfg.resolve(a.regions),
            region_column=a.region_column,
            block_px=cfg.runtime.block_px,
            boot_block_px=a.boot_block_px,
            n_boot=a.n_boot,
            seed=cfg.runtime.seed,
            miou_exclude=(0,) if a.miou_exclude_background else (),
        )
    assessment["uncertainty"] = json.loads((run / "uncertainty.json").read_text())
    truth_glaciers = cfg.input_path("truth_glaciers", required=False)
    if truth_glaciers is not None:
        assessment["truth_areas"] = _truth_areas(run / "inventory.gpkg", truth_glaciers)
    with atomic_path(run / "assessment.json") as tmp:
        tmp.write_text(json.dumps(assessment, indent=2, default=float))
    acc = assessment.get("accuracy", {}).get("overall", assessment.get("accuracy", {}))
    return {k: acc[k] for k in ("oa", "miou") if k in acc} | assessment.get("truth_areas", {})


def _truth_areas(inventory: Path, truth_glaciers: Path) -> dict[str, float]:
    from glacierinv.assess.compare import total_areas
    from glacierinv.io.vector import list_layers, read_vector

    has_debris = "debris" in list_layers(truth_glaciers)
    return total_areas(
        read_vector(inventory, layer="glaciers", allow_empty=True),  # empty: no glacier was found
        read_vector(truth_glaciers, layer="glaciers"),
        read_vector(inventory, layer="debris", allow_empty=True) if has_debris else None,
        read_vector(truth_glaciers, layer="debris", allow_empty=True) if has_debris else None,
    )


def _reads(cfg, run) -> dict[str, Path]:
    return (
        run_files(run, ("classes.tif", "inventory.gpkg", "uncertainty.json"))
        | config_inputs(cfg, ("truth_classes", "truth_glaciers"))
        | config_files(cfg, "assess", ("regions",))
    )


def _check(cfg) -> None:
    """The reference data (preflight): readable, not truncated, not empty."""
    from glacierinv.io.raster import check_integrity, open_raster

    path = cfg.input_path("truth_classes", required=False)
    if path is not None:
        with open_raster(path) as ds:
            check_integrity(ds, "truth_classes")
    truth = cfg.input_path("truth_glaciers", required=False)
    if truth is not None:
        from glacierinv.io.vector import read_vector

        read_vector(truth, layer="glaciers" if truth.suffix == ".gpkg" else None, polygons=True)


STAGE = Stage(
    name="assess",
    description="accuracy against reference labels, uncertainty totals",
    reads=_reads,
    config_sections=("assess",),
    writes=lambda cfg: ["assessment.json"],
    run=_run,
    check=_check,
)
