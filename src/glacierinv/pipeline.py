"""The stage graph: stack → segment → outlines → units → attributes → assess → analyse → report.

Each stage is a thin wrapper that reads the run folder's files, calls one library function of its stage
package and writes its outputs atomically. :func:`run_pipeline` skips stages whose input hashes and
parameters are unchanged (``run.json``), so an interrupted run resumes from the last finished stage and a
re-run is nearly free.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from glacierinv.config import RunConfig
from glacierinv.errors import ConfigError, GlacierInvError
from glacierinv.io.atomic import atomic_path, check_writable
from glacierinv.memory import limit_heap_growth, release_memory
from glacierinv.runfolder import RunFolder, file_digest, software_versions

__all__ = ["STAGES", "RunResult", "run_pipeline", "run_stage"]

log = logging.getLogger(__name__)

Progress = Callable[[float], None]


@dataclass(frozen=True)
class Stage:
    """One pipeline stage: what it reads (for hashing), its parameters, its outputs, and its function."""

    name: str
    inputs: Callable[[RunConfig, RunFolder], dict[str, Path]]
    params: Callable[[RunConfig], dict[str, Any]]
    outputs: Callable[[RunConfig], list[str]]
    func: Callable[[RunConfig, RunFolder, Progress], dict[str, Any]]
    description: str = ""


@dataclass
class RunResult:
    """What a run did: per-stage status ("ran" / "skipped") and summaries, and the run folder."""

    run_dir: Path
    stages: dict[str, str] = field(default_factory=dict)
    summaries: dict[str, dict[str, Any]] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------------------
# stage functions
# --------------------------------------------------------------------------------------------------------
def _config_inputs(cfg: RunConfig, keys: tuple[str, ...]) -> dict[str, Path]:
    out = {}
    for key in keys:
        p = cfg.input_path(key, required=False)
        if p is not None:
            out[f"inputs.{key}"] = p
    return out


def uses_parts(cfg: RunConfig) -> bool:
    """True when stack and segment run as scene/tile tasks (several scenes, tiling, or Dask)."""
    rt = cfg.runtime
    return bool(cfg.scenes) or rt.tile_px > 0 or rt.workers > 0 or bool(rt.scheduler)


def _run_parts(
    cfg: RunConfig, run: RunFolder, stage: str, mosaic: tuple[str, ...], progress: Progress
) -> dict[str, Any]:
    from functools import partial

    from glacierinv.distributed import TaskFailure, TaskRunner
    from glacierinv.scenes import mosaic_parts, plan_parts, process_part

    parts = plan_parts(cfg)
    with TaskRunner(cfg.runtime.workers, cfg.runtime.scheduler) as runner:
        results = runner.map(
            partial(process_part, run_dir=str(run.path), stage=stage),
            parts,
            keys=[p.key for p in parts],
            continue_on_error=cfg.runtime.continue_on_error,
            on_done=lambda n, total: progress(0.9 * n / total),
        )
    failed = [r.key for r in results if isinstance(r, TaskFailure)]
    ok = [p for p, r in zip(parts, results, strict=True) if not isinstance(r, TaskFailure)]
    mosaic_parts(ok, run.path, mosaic, block_px=cfg.runtime.block_px)
    return {
        "n_parts": len(parts),
        "n_ran": sum(1 for r in results if isinstance(r, dict) and r.get("status") == "ran"),
        "failed_parts": failed,
        "distributed": cfg.runtime.workers > 0 or bool(cfg.runtime.scheduler),
    }


def _stack(cfg: RunConfig, run: RunFolder, progress: Progress) -> dict[str, Any]:
    if uses_parts(cfg):
        return _run_parts(cfg, run, "stack", ("stack.tif", "masks.tif", "source.tif"), progress)
    from glacierinv.preprocess.stack import build_feature_stack

    result = build_feature_stack(cfg, run.path, block_px=cfg.runtime.block_px, progress=progress)
    return _summary_of(result)


def segment_stack(
    cfg: RunConfig, stack_path: Path, classes_path: Path, proba_path: Path | None
) -> dict[str, Any]:
    """Classify one feature stack with the configured method (baseline rules or the U-Net)."""
    proba = proba_path if cfg.segment.write_proba else None
    if cfg.segment.method == "baseline":
        from glacierinv.segment.baseline import classify_stack

        return classify_stack(stack_path, classes_path, proba, block_px=cfg.runtime.block_px)
    from glacierinv.segment.infer import predict_stack

    return predict_stack(
        stack_path,
        cfg.resolve(cfg.segment.checkpoint),
        classes_path,
        proba,
        tile_px=cfg.segment.tile_px,
        overlap_px=cfg.segment.overlap_px,
        device=cfg.segment.device,
        batch_size=cfg.segment.batch_size,
        precision=cfg.segment.precision,
        block_px=cfg.segment.strip_px,
    )


def _segment(cfg: RunConfig, run: RunFolder, progress: Progress) -> dict[str, Any]:
    if uses_parts(cfg):
        return _run_parts(cfg, run, "segment", ("classes.tif", "proba.tif"), progress)
    return segment_stack(cfg, run / "stack.tif", run / "classes.tif", run / "proba.tif")


def _outlines(cfg: RunConfig, run: RunFolder, progress: Progress) -> dict[str, Any]:
    from glacierinv.outlines.vectorize import vectorize_classes, write_outlines

    glaciers, debris = vectorize_classes(
        run / "classes.tif",
        min_area_km2=cfg.outlines.min_area_km2,
        fill_holes_below_km2=cfg.outlines.fill_holes_below_km2,
        simplify_px=cfg.outlines.simplify_px,
        block_px=cfg.runtime.block_px,
    )
    from glacierinv.outlines.review import ReviewParams, flag_for_review
    from glacierinv.outlines.styles import embed_styles

    review = None
    if len(glaciers):
        review = flag_for_review(
            glaciers,
            debris,
            classes_path=run / "classes.tif",
            proba_path=_existing(run / "proba.tif"),
            masks_path=_existing(run / "masks.tif"),
            stack_path=_existing(run / "stack.tif"),
            dem_path=cfg.input_path("dem"),
            params=ReviewParams(min_area_km2=cfg.outlines.min_area_km2),
            prior=_read_optional_vector(cfg.input_path("prior_outlines", required=False)),
            other_dates=_other_dates(cfg),
        )
    write_outlines(run / "outlines.gpkg", glaciers, debris, review=review)
    embed_styles(run / "outlines.gpkg")
    return {
        "n_outlines": int(len(glaciers)),
        "n_debris": int(len(debris)),
        "n_review_flags": int(0 if review is None else len(review)),
    } | _check_manual_edits(run, glaciers)


def _other_dates(cfg: RunConfig) -> list[Path]:
    """``[inputs] other_dates``: classes rasters of the same area on other dates (seasonal-snow evidence)."""
    from glacierinv.errors import InputError

    out = []
    for p in cfg.inputs.other_dates:
        path = cfg.resolve(p)
        if not path.exists():
            raise InputError("input 'other_dates' not found", path, "Fix the path in [inputs] other_dates")
        out.append(path)
    return out


def _check_manual_edits(run: RunFolder, glaciers) -> dict[str, Any]:
    """After new automated outlines: keep the analyst's edits (``outlines_refined.gpkg`` is never written by
    the pipeline) and list where the new automation conflicts with them in ``edit_conflicts.csv``."""
    refined = run / "outlines_refined.gpkg"
    if not refined.exists():
        return {}
    from glacierinv.io.vector import read_vector
    from glacierinv.outlines.refine import merge_with_edits

    edits = read_vector(refined, layer="edits", allow_empty=True)
    _, conflicts = merge_with_edits(glaciers, edits)
    with atomic_path(run / "edit_conflicts.csv") as tmp:
        conflicts.to_csv(tmp, index=False)
    if len(conflicts):
        log.warning(
            "%d manual edit(s) conflict with the new automated outlines (edit_conflicts.csv); the edits are "
            "kept in outlines_refined.gpkg — carry them over with `glacierinv refine rebase %s --out EDIT.gpkg`",
            len(conflicts), run.path,
        )  # fmt: skip
    return {"manual_edits": int(len(edits)), "edit_conflicts": int(len(conflicts))}


def _units(cfg: RunConfig, run: RunFolder, progress: Progress) -> dict[str, Any]:
    from glacierinv.io.vector import read_vector, write_layers

    glaciers = read_vector(run / "outlines.gpkg", layer="glaciers", allow_empty=True)
    debris = read_vector(run / "outlines.gpkg", layer="debris", allow_empty=True)
    if cfg.units.enabled and len(glaciers):
        from glacierinv.units import subdivide

        units, debris_units, divides = subdivide(
            glaciers,
            cfg.input_path("dem"),
            debris=debris,
            min_unit_area_km2=cfg.units.min_unit_area_km2,
            divides=_read_optional_vector(cfg.resolve(cfg.units.divides)),
        )
    else:
        import geopandas as gpd

        units, debris_units = glaciers, debris
        divides = gpd.GeoDataFrame({"divide_id": []}, geometry=[], crs=glaciers.crs)
    write_layers(run / "units.gpkg", {"glaciers": units, "debris": debris_units, "divides": divides})
    return {"n_units": int(len(units)), "n_complexes": int(len(glaciers)), "n_divides": int(len(divides))}


def _attributes(cfg: RunConfig, run: RunFolder, progress: Progress) -> dict[str, Any]:
    from glacierinv.assess.uncertainty import buffer_uncertainty
    from glacierinv.attributes import compute_attributes
    from glacierinv.io.raster import raster_grid
    from glacierinv.io.vector import read_vector, write_layers

    units = read_vector(run / "units.gpkg", layer="glaciers", allow_empty=True)
    debris = read_vector(run / "units.gpkg", layer="debris", allow_empty=True)
    divides = read_vector(run / "units.gpkg", layer="divides", allow_empty=True, need_crs=False)
    if len(units) == 0:
        raise GlacierInvError(
            f"{run / 'classes.tif'}: no glacier larger than {cfg.outlines.min_area_km2} km² was mapped"
        )
    glaciers, hypsometry, centerlines = compute_attributes(
        units,
        cfg.input_path("dem"),
        debris=debris,
        dem_source=cfg.inputs.dem_source,
        img_source=cfg.inputs.img_source,
        src_date=cfg.inputs.src_date,
        band_m=cfg.attributes.hypsometry_band_m,
        min_dem_coverage=cfg.attributes.min_dem_coverage,
        return_centerlines=True,
    )
    from glacierinv.attributes.terminus import terminus_types

    glaciers["term_type"], _ = terminus_types(
        glaciers,
        cfg.input_path("dem"),
        grid_path=run / "classes.tif",
        stack_path=_existing(run / "stack.tif"),
        masks_path=_existing(run / "masks.tif"),
    )
    if (run / "source.tif").exists():
        from glacierinv.attributes.sources import image_source_per_glacier

        glaciers["img_source"] = image_source_per_glacier(glaciers, run / "source.tif", cfg.inputs.img_source)
    pixel_m = raster_grid(run / "classes.tif").res[0]
    glaciers, totals = buffer_uncertainty(
        glaciers, debris, pixel_size_m=pixel_m, buffer_px=cfg.assess.buffer_px
    )
    layers = {
        "glaciers": glaciers,
        "debris": debris,
        "divides": divides,
        "hypsometry": hypsometry,
        "centerlines": centerlines,
    }
    write_layers(run / "inventory.gpkg", layers)
    from glacierinv.outlines.styles import embed_styles

    embed_styles(run / "inventory.gpkg")
    with atomic_path(run / "inventory.csv") as tmp:
        glaciers.drop(columns=glaciers.geometry.name).to_csv(tmp, index=False)
    with atomic_path(run / "uncertainty.json") as tmp:
        tmp.write_text(json.dumps(totals, indent=2, default=float))
    return {
        "n_glaciers": int(len(glaciers)),
        "area_km2": float(glaciers["area_km2"].sum()),
        "debris_km2": float(np.nansum(glaciers.get("debris_km2", np.zeros(len(glaciers))))),
        **{f"unc_{k}": v for k, v in totals.items() if isinstance(v, (int, float))},
    }


def _assess(cfg: RunConfig, run: RunFolder, progress: Progress) -> dict[str, Any]:
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
        assessment["truth_areas"] = _truth_area_comparison(run / "inventory.gpkg", truth_glaciers)
    with atomic_path(run / "assessment.json") as tmp:
        tmp.write_text(json.dumps(assessment, indent=2, default=float))
    acc = assessment.get("accuracy", {}).get("overall", assessment.get("accuracy", {}))
    return {k: acc[k] for k in ("oa", "miou") if k in acc} | assessment.get("truth_areas", {})


def _truth_area_comparison(inventory: Path, truth_glaciers: Path) -> dict[str, float]:
    """Total glacier and debris area of the inventory vs the truth polygons (km², ellipsoidal)."""
    from glacierinv.geometry import area_km2
    from glacierinv.io.vector import list_layers, read_vector

    ours = read_vector(inventory, layer="glaciers")
    ref = read_vector(truth_glaciers, layer="glaciers")
    out = {"area_km2": float(area_km2(ours).sum()), "truth_area_km2": float(area_km2(ref).sum())}
    out["area_rel_diff"] = (out["area_km2"] - out["truth_area_km2"]) / out["truth_area_km2"]
    if "debris" in list_layers(truth_glaciers):
        ref_debris = read_vector(truth_glaciers, layer="debris", allow_empty=True)
        our_debris = read_vector(inventory, layer="debris", allow_empty=True)
        out["debris_km2"] = float(area_km2(our_debris).sum()) if len(our_debris) else 0.0
        out["truth_debris_km2"] = float(area_km2(ref_debris).sum()) if len(ref_debris) else 0.0
    return out


def _analyse(cfg: RunConfig, run: RunFolder, progress: Progress) -> dict[str, Any]:
    from glacierinv.analysis import AnalysisOptions, run_analyses

    a = cfg.analysis
    if not a.enabled:
        return {"skipped": "analysis.enabled = false"}
    snow, snow_threshold = cfg.resolve(a.snow), a.snow_threshold
    if snow is None and a.ela_column is None and _has_bands(run.path / "stack.tif", ("green", "nir")):
        from glacierinv.preprocess.albedo import write_albedo

        snow = write_albedo(run.path / "stack.tif", run.path / "albedo.tif", block=cfg.runtime.block_px)
        snow_threshold = a.albedo_snow_min
    options = AnalysisOptions(
        band_m=a.band_m, min_type_area_km2=a.min_type_area_km2, aar_thresholds=a.aar_thresholds,
        snow_threshold=snow_threshold, window_m=a.window_m, n_boot=a.n_boot,
        lapse_rate_k_per_km=a.lapse_rate_k_per_km, warming_k=a.warming_k, seed=cfg.runtime.seed,
    )  # fmt: skip
    summary = run_analyses(
        run.path / "inventory.gpkg", run.path / "analysis", options=options, force=True,
        dem=cfg.input_path("dem", required=False), dem_coarse=cfg.input_path("dem_coarse", required=False),
        snow=snow, ela_column=a.ela_column, surge_list=cfg.resolve(a.surge_list),
    )  # fmt: skip
    return {name: rec["status"] for name, rec in summary["analyses"].items()}


def _has_bands(path: Path, names: tuple[str, ...]) -> bool:
    if not path.exists():
        return False
    from glacierinv.io.raster import open_raster

    with open_raster(path) as ds:
        have = {(d or "").lower() for d in ds.descriptions}
    return all(n in have for n in names)


def _report(cfg: RunConfig, run: RunFolder, progress: Progress) -> dict[str, Any]:
    from glacierinv.report import write_report

    path = write_report(run.path, title=cfg.name)
    return {"report": str(Path(path).relative_to(run.path))}


def _existing(p: Path) -> Path | None:
    return p if p.exists() else None


def _read_optional_vector(p: Path | None):
    if p is None:
        return None
    from glacierinv.io.vector import read_vector

    return read_vector(p)


def _summary_of(result: Any) -> dict[str, Any]:
    if isinstance(result, dict):
        return result
    if hasattr(result, "summary"):
        s = result.summary
        return s() if callable(s) else dict(s)
    if hasattr(result, "__dataclass_fields__"):
        return {k: v for k, v in vars(result).items() if isinstance(v, (int, float, str))}
    return {}


def _scene_inputs(cfg: RunConfig) -> dict[str, Path]:
    out = {}
    for scene in cfg.scenes:
        for key in ("pan", "ms", "s2", "s2_cloud_mask", "landsat_mtl", "dem", "primary_cloud_mask"):
            p = cfg.resolve(getattr(scene, key))
            if p is not None:
                out[f"scenes.{scene.name}.{key}"] = p
    return out


STAGES: tuple[Stage, ...] = (
    Stage(
        "stack",
        lambda cfg, run: _config_inputs(
            cfg, ("pan", "ms", "s2", "s2_cloud_mask", "landsat_mtl", "dem", "primary_cloud_mask")
        ),
        lambda cfg: {"stack": cfg.stack.model_dump(mode="json")},
        lambda cfg: ["stack.tif"],
        _stack,
        "align inputs on the primary grid: pan-sharpened bands, LST, slope",
    ),
    Stage(
        "segment",
        lambda cfg, run: (
            {"stack.tif": run / "stack.tif"}
            | ({"checkpoint": cfg.resolve(cfg.segment.checkpoint)} if cfg.segment.checkpoint else {})
        ),
        lambda cfg: {"segment": cfg.segment.model_dump(mode="json"), "tile_px": cfg.runtime.tile_px},
        lambda cfg: ["classes.tif"],
        _segment,
        "classify background / clean ice / debris-covered ice",
    ),
    Stage(
        "outlines",
        lambda cfg, run: (
            {"classes.tif": run / "classes.tif"}
            | _config_inputs(cfg, ("prior_outlines",))
            | {f"inputs.other_dates.{i}": p for i, p in enumerate(_other_dates(cfg))}
        ),
        lambda cfg: {"outlines": cfg.outlines.model_dump(mode="json")},
        lambda cfg: ["outlines.gpkg"],
        _outlines,
        "vectorise, drop small patches, fill holes, flag for review",
    ),
    Stage(
        "units",
        lambda cfg, run: {"outlines.gpkg": run / "outlines.gpkg"} | _config_inputs(cfg, ("dem",)),
        lambda cfg: {"units": cfg.units.model_dump(mode="json")},
        lambda cfg: ["units.gpkg"],
        _units,
        "split glacier complexes into units along drainage divides",
    ),
    Stage(
        "attributes",
        lambda cfg, run: {"units.gpkg": run / "units.gpkg"} | _config_inputs(cfg, ("dem",)),
        lambda cfg: {
            "attributes": cfg.attributes.model_dump(mode="json"),
            "buffer_px": cfg.assess.buffer_px,
            "sources": [cfg.inputs.dem_source, cfg.inputs.img_source, cfg.inputs.src_date],
        },
        lambda cfg: ["inventory.gpkg", "inventory.csv"],
        _attributes,
        "RGI-style attributes, hypsometry, buffer uncertainty",
    ),
    Stage(
        "assess",
        lambda cfg, run: (
            {"classes.tif": run / "classes.tif", "inventory.gpkg": run / "inventory.gpkg"}
            | _config_inputs(cfg, ("truth_classes", "truth_glaciers"))
            | ({"regions": cfg.resolve(cfg.assess.regions)} if cfg.assess.regions else {})
        ),
        lambda cfg: {"assess": cfg.assess.model_dump(mode="json")},
        lambda cfg: ["assessment.json"],
        _assess,
        "accuracy against reference labels, uncertainty totals",
    ),
    Stage(
        "analyse",
        lambda cfg, run: (
            {"inventory.gpkg": run / "inventory.gpkg"}
            | ({"stack.tif": run / "stack.tif"} if (run / "stack.tif").exists() else {})
            | _config_inputs(cfg, ("dem", "dem_coarse"))
            | {
                f"analysis.{k}": cfg.resolve(getattr(cfg.analysis, k))
                for k in ("snow", "surge_list")
                if getattr(cfg.analysis, k) is not None
            }
        ),  # fmt: skip
        lambda cfg: {"analysis": cfg.analysis.model_dump(mode="json"), "seed": cfg.runtime.seed},
        lambda cfg: ["analysis/analysis.json"] if cfg.analysis.enabled else [],
        _analyse,
        "size classes, hypsometry, slope, aspect, AAR types, profiles, DEM resolution, freezing level",
    ),
    Stage(
        "report",
        lambda cfg, run: (
            {
                "inventory.gpkg": run / "inventory.gpkg",
                "assessment.json": run / "assessment.json",
            }
            | ({"analysis.json": run / "analysis" / "analysis.json"} if cfg.analysis.enabled else {})
        ),
        lambda cfg: {"name": cfg.name},
        lambda cfg: ["report/index.html"],
        _report,
        "self-contained HTML report",
    ),
)

STAGE_NAMES = tuple(s.name for s in STAGES)


def _hash_inputs(paths: dict[str, Path]) -> dict[str, str]:
    return {label: file_digest(p) for label, p in sorted(paths.items()) if p is not None and Path(p).exists()}


def run_pipeline(
    cfg: RunConfig,
    run_dir: str | Path,
    *,
    stages: tuple[str, ...] | None = None,
    force: bool = False,
    progress_factory: Callable[[str, str], Progress] | None = None,
) -> RunResult:
    """Run (or resume) the pipeline in ``run_dir``.

    Parameters
    ----------
    cfg
        The run configuration.
    run_dir
        The run folder; created if missing. Finished stages with unchanged inputs and parameters are skipped.
    stages
        Run only these stages (their upstream outputs must exist); default all.
    force
        Re-run the selected stages even if they are current.
    progress_factory
        Called with (stage name, description) before each stage; returns a callable taking the finished
        fraction (0-1). The CLI passes rich progress bars; the library never prints.
    """
    selected = stages or STAGE_NAMES
    unknown = [s for s in selected if s not in STAGE_NAMES]
    if unknown:
        raise ConfigError(f"unknown stage(s) {', '.join(unknown)}; stages are: {', '.join(STAGE_NAMES)}")
    from glacierinv.preflight import check_inputs

    check_inputs(cfg)  # bad input fails here, before the run folder is touched
    check_writable(Path(run_dir).parent)
    fresh = not Path(run_dir).exists() or not any(Path(run_dir).iterdir())
    try:
        return _run_stages(cfg, run_dir, selected, force, progress_factory)
    except GlacierInvError:
        if fresh:  # leave no partial output behind: the folder was created by this call
            import shutil

            shutil.rmtree(run_dir, ignore_errors=True)
        raise


def _run_stages(cfg, run_dir, selected, force, progress_factory) -> RunResult:
    run = RunFolder(run_dir)
    result = RunResult(run.path)
    if cfg.runtime.heap_mmap_threshold_mb > 0:
        limit_heap_growth(int(cfg.runtime.heap_mmap_threshold_mb * 2**20))
    with run.locked(), run.logging_to_file():
        run.manifest.setdefault("created", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        run.manifest["config"] = cfg.model_dump(mode="json")
        run.manifest["config_base_dir"] = str(cfg.base_dir)
        run.manifest["versions"] = software_versions()
        run.save()
        log.info("run folder %s", run.path)
        for stage in STAGES:
            if stage.name not in selected:
                continue
            result.summaries[stage.name], result.stages[stage.name] = _run_one(
                stage, cfg, run, force, progress_factory
            )
    return result


def _run_one(stage: Stage, cfg: RunConfig, run: RunFolder, force: bool, progress_factory) -> tuple[dict, str]:
    missing = [label for label, p in stage.inputs(cfg, run).items() if p is not None and not Path(p).exists()]
    if missing:
        raise ConfigError(
            f"{run.path}: stage '{stage.name}' needs {', '.join(missing)}, which is missing. Run the earlier stages first "
            f"(`glacierinv run CONFIG --out {run.path}`)."
        )
    inputs = _hash_inputs(stage.inputs(cfg, run))
    params = stage.params(cfg)
    outputs = stage.outputs(cfg)
    if not force and run.is_current(stage.name, inputs, params, outputs):
        log.info("stage %s: up to date, skipped", stage.name)
        return run.stage(stage.name).get("summary", {}), "skipped"
    progress = progress_factory(stage.name, stage.description) if progress_factory else (lambda f: None)
    started = time.time()
    run.record(stage.name, status="running", started=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    log.info("stage %s: %s", stage.name, stage.description)
    try:
        import rasterio

        with rasterio.Env(GDAL_CACHEMAX=cfg.runtime.gdal_cache_mb):  # bounded block cache in every stage
            summary = stage.func(cfg, run, progress) or {}
    except BaseException as exc:
        run.record(stage.name, status="failed", error=f"{type(exc).__name__}: {exc}")
        raise
    progress(1.0)
    seconds = round(time.time() - started, 3)
    run.record(
        stage.name,
        status="done",
        inputs=inputs,
        params=params,
        outputs=outputs,
        seconds=seconds,
        finished=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        summary=summary,
        error=None,
    )
    log.info("stage %s: done in %.1f s", stage.name, seconds)
    release_memory()
    return summary, "ran"


def run_stage(
    cfg: RunConfig, run_dir: str | Path, name: str, *, force: bool = True, progress_factory=None
) -> RunResult:
    """Re-run one stage over an existing run folder (``glacierinv stage NAME RUN``)."""
    return run_pipeline(cfg, run_dir, stages=(name,), force=force, progress_factory=progress_factory)
