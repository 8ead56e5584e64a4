"""The ``analyse`` stage: ``inventory.gpkg`` (+ DEM, snow evidence) → ``analysis/`` (one CSV + PNG per analysis).

Snowlines for the AAR glacier types come from ``[analysis] snow`` (a snow raster), an ELA column, or — when
neither is given and the stack has green and NIR bands — the broadband albedo of the stack (Knap et al.
1999), ``albedo.tif``, written once by the attributes stage (its ``glac_type``/``aar``) and reused here
while the stack is unchanged (:func:`glacierinv.attributes.snowline.albedo_of_run`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from glacierinv.attributes.snowline import albedo_of_run, snow_source
from glacierinv.pipeline.runfolder import RunFolder
from glacierinv.pipeline.stage import Stage, config_files, config_inputs, present_files, run_files

__all__ = ["STAGE"]


def _run(cfg, run, progress) -> dict[str, Any]:
    from glacierinv.analysis import AnalysisOptions, run_analyses

    a = cfg.analysis
    if not a.enabled:
        return {"skipped": "analysis.enabled = false"}
    import pyogrio

    if (
        pyogrio.read_info(run / RunFolder.INVENTORY, layer="glaciers")["features"] == 0
    ):  # the no-glacier scene
        import json

        from glacierinv.io.atomic import atomic_path

        why = "no glacier in the inventory: nothing to analyse"
        (run / "analysis").mkdir(exist_ok=True)
        with atomic_path(run / "analysis" / "analysis.json") as tmp:
            tmp.write_text(json.dumps({"n_glaciers": 0, "skipped": why, "analyses": {}}, indent=2))
        return {"skipped": why}
    snow, snow_threshold = snow_source(cfg, run.path)  # the same evidence as the inventory's glac_type/aar
    if snow == run / RunFolder.STACK:  # the attributes stage's albedo.tif when the stack is unchanged
        snow = albedo_of_run(run.path, cfg.runtime.block_px)
    options = AnalysisOptions.from_config(a.model_copy(update={"snow_threshold": snow_threshold}),
                                          seed=cfg.runtime.seed)  # fmt: skip
    summary = run_analyses(
        run / RunFolder.INVENTORY, run / "analysis", options=options, force=True,
        dem=cfg.input_path("dem", required=False), dem_coarse=cfg.input_path("dem_coarse", required=False),
        snow=snow, ela_column=a.ela_column, surge_list=cfg.resolve(a.surge_list),
    )  # fmt: skip
    return {name: rec["status"] for name, rec in summary["analyses"].items()}


def _reads(cfg, run) -> dict[str, Path]:
    return {
        **run_files(run, (RunFolder.INVENTORY,)),
        **config_inputs(cfg, ("dem", "dem_coarse")),
        **present_files(run, (RunFolder.STACK,)),  # albedo snowlines
        **config_files(cfg, "analysis", ("snow", "surge_list")),
    }


def _writes(cfg) -> list[str]:
    return ["analysis/analysis.json"] if cfg.analysis.enabled else []


def _check(cfg) -> None:
    """The analyses' own inputs (preflight): fail before the run starts, not after segmentation."""
    from glacierinv.io.raster import check_integrity, open_raster

    for key, path in (("dem_coarse", cfg.input_path("dem_coarse", required=False)),
                      ("analysis.snow", cfg.resolve(cfg.analysis.snow))):  # fmt: skip
        if path is not None:
            with open_raster(path) as ds:
                check_integrity(ds, key)
    surge = cfg.resolve(cfg.analysis.surge_list)
    if surge is not None:
        from glacierinv.analysis.types import read_surge_list

        read_surge_list(surge)


STAGE = Stage(
    name="analyse",
    description="size classes, hypsometry, slope, aspect, AAR types, profiles, DEM resolution, freezing level",
    reads=_reads,
    config_sections=("analysis",),
    extra_params=lambda cfg: {"seed": cfg.runtime.seed},
    writes=_writes,
    run=_run,
    may_write=("albedo.tif",),
    check=_check,
)
