"""The stage graph: stack → segment → outlines → units → attributes → assess → analyse → report.

Each stage package's ``runner`` module declares the stage's contract (:class:`glacierinv.stage.Stage`: the
files it reads, the config sections it depends on, the files it writes) and does its file I/O around the
package's pure library function. This module only orders, hashes, skips and schedules them:
:func:`run_pipeline` skips stages whose input hashes and parameters are unchanged (``run.json``), so an
interrupted run resumes from the last finished stage and a re-run is nearly free; stages that declare
``part_outputs`` run on scene/tile parts (:mod:`glacierinv.scenes`, Dask) when the run has several.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from glacierinv.config import RunConfig
from glacierinv.errors import ConfigError, GlacierInvError
from glacierinv.io.atomic import check_writable
from glacierinv.memory import gdal_block_cache, heap_growth_limited, release_memory
from glacierinv.runfolder import RunFolder, file_digest, software_versions
from glacierinv.stage import Progress, Stage

__all__ = [
    "STAGE_NAMES",
    "STAGE_RUNNERS",
    "RunResult",
    "all_stages",
    "check_run",
    "get_stage",
    "register_stage",
    "run_pipeline",
    "run_stage",
    "uses_parts",
]

log = logging.getLogger(__name__)


@dataclass
class RunResult:
    """What a run did: per-stage status ("ran" / "skipped") and summaries, and the run folder."""

    run_dir: Path
    stages: dict[str, str] = field(default_factory=dict)
    summaries: dict[str, dict[str, Any]] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------------------
# the stages, in order; each package's runner declares what it reads, depends on and writes
# --------------------------------------------------------------------------------------------------------
#: Stage name → the runner module that declares it (``STAGE``). Adding a stage: write its runner, add a line.
STAGE_RUNNERS: dict[str, str] = {
    "stack": "glacierinv.preprocess.runner",
    "segment": "glacierinv.segment.runner",
    "outlines": "glacierinv.outlines.runner",
    "units": "glacierinv.units.runner",
    "attributes": "glacierinv.attributes.runner",
    "assess": "glacierinv.assess.runner",
    "analyse": "glacierinv.analysis.runner",
    "report": "glacierinv.report.runner",
}
STAGE_NAMES: tuple[str, ...] = tuple(STAGE_RUNNERS)


def register_stage(name: str, module: str, *, after: str | None = None) -> None:
    """Add (or move) a stage: ``module`` declares its :class:`~glacierinv.stage.Stage` as ``STAGE``; it
    runs after the stage ``after`` (default: last). For stages outside the package (a plugin, a test);
    the package's own stages are the lines of :data:`STAGE_RUNNERS`."""
    global STAGE_NAMES
    if after is not None and after not in STAGE_RUNNERS:
        raise ConfigError(f"unknown stage '{after}'; stages are: {', '.join(STAGE_RUNNERS)}")
    items = [(k, v) for k, v in STAGE_RUNNERS.items() if k != name]
    at = len(items) if after is None else [k for k, _ in items].index(after) + 1
    items.insert(at, (name, module))
    STAGE_RUNNERS.clear()
    STAGE_RUNNERS.update(items)
    STAGE_NAMES = tuple(STAGE_RUNNERS)


def get_stage(name: str) -> Stage:
    """The declared :class:`~glacierinv.stage.Stage` of ``name`` (its runner is imported on first use, so
    importing the pipeline does not load every stage's dependencies)."""
    import importlib

    stage = importlib.import_module(STAGE_RUNNERS[name]).STAGE
    if stage.name != name:
        raise RuntimeError(f"{STAGE_RUNNERS[name]}.STAGE is named {stage.name!r}, registered as {name!r}")
    return stage


def all_stages() -> tuple[Stage, ...]:
    """Every stage in pipeline order."""
    return tuple(get_stage(name) for name in STAGE_NAMES)


def check_run(cfg: RunConfig) -> None:
    """The whole preflight: the scenes' inputs (:func:`glacierinv.preflight.check_inputs`), then every
    stage's own :attr:`~glacierinv.stage.Stage.check`. ``glacierinv run`` and ``config check`` call this."""
    from glacierinv.preflight import check_inputs

    check_inputs(cfg)
    for stage in all_stages():
        if stage.check is not None:
            stage.check(cfg)


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
    check_run(cfg)  # bad input fails here, before the run folder is touched
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
    heap = int(cfg.runtime.heap_mmap_threshold_mb * 2**20)
    with heap_growth_limited(heap), run.locked(), run.logging_to_file():  # undone when the run ends
        run.manifest.setdefault("created", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        run.manifest["config"] = cfg.model_dump(mode="json")
        run.manifest["config_base_dir"] = str(cfg.base_dir)
        run.manifest["versions"] = software_versions()
        run.save()
        log.info("run folder %s", run.path)
        for name in STAGE_NAMES:
            if name not in selected:
                continue
            result.summaries[name], result.stages[name] = _run_one(
                get_stage(name), cfg, run, force, progress_factory
            )
    return result


def uses_parts(cfg: RunConfig) -> bool:
    """True when stack and segment run as scene/tile tasks (several scenes, tiling, or Dask)."""
    rt = cfg.runtime
    return bool(cfg.scenes) or rt.tile_px > 0 or rt.workers > 0 or bool(rt.scheduler)


def _run_parts(cfg: RunConfig, run: RunFolder, stage: Stage, progress: Progress) -> dict[str, Any]:
    """Run ``stage`` on every scene/tile part (in-process or on Dask) and mosaic its part outputs."""
    from functools import partial

    from glacierinv.distributed import TaskFailure, TaskRunner
    from glacierinv.scenes import mosaic_parts, plan_parts, process_part

    parts = plan_parts(cfg)
    with TaskRunner(cfg.runtime.workers, cfg.runtime.scheduler, cfg.runtime.threads_per_worker) as runner:
        results = runner.map(
            partial(process_part, run_dir=str(run.path), stage=stage.name),
            parts,
            keys=[p.key for p in parts],
            continue_on_error=cfg.runtime.continue_on_error,
            on_done=lambda n, total: progress(0.9 * n / total),
        )
    failed = [r.key for r in results if isinstance(r, TaskFailure)]
    ok = [p for p, r in zip(parts, results, strict=True) if not isinstance(r, TaskFailure)]
    mosaic_parts(ok, run.path, stage.part_outputs, block_px=cfg.runtime.block_px)
    per_part = [
        {"part": p.key, "scene": p.scene, "status": "failed", "error": r.error}
        if isinstance(r, TaskFailure)
        else {
            "part": p.key,
            "scene": p.scene,
            "status": r.get("status"),
            **{k: v for k, v in (r.get("summary") or {}).items() if k not in ("part", "scene", "status")},
        }
        for p, r in zip(parts, results, strict=True)
    ]
    return {
        "n_parts": len(parts),
        "n_ran": sum(1 for r in results if isinstance(r, dict) and r.get("status") == "ran"),
        "failed_parts": failed,
        "distributed": cfg.runtime.workers > 0 or bool(cfg.runtime.scheduler),
        "tasks_seconds": runner.last_map_seconds,  # the parts' work, without cluster start-up and mosaic
        "parts": per_part,  # each part's own stage summary (sensor, calibration, rule or model …)
    }


def _run_one(stage: Stage, cfg: RunConfig, run: RunFolder, force: bool, progress_factory) -> tuple[dict, str]:
    reads = stage.reads(cfg, run)
    missing = [label for label, p in reads.items() if p is not None and not Path(p).exists()]
    if missing:
        raise ConfigError(
            f"{run.path}: stage '{stage.name}' needs {', '.join(missing)}, which is missing. Run the earlier stages first "
            f"(`glacierinv run CONFIG --out {run.path}`)."
        )
    inputs = _hash_inputs(reads)
    params = stage.params(cfg)
    outputs = stage.writes(cfg)
    if not force and run.is_current(stage.name, inputs, params, outputs):
        log.info("stage %s: up to date, skipped", stage.name)
        return run.stage(stage.name).get("summary", {}), "skipped"
    progress = progress_factory(stage.name, stage.description) if progress_factory else (lambda f: None)
    started = time.time()
    run.record(stage.name, status="running", started=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    log.info("stage %s: %s", stage.name, stage.description)
    try:
        with gdal_block_cache(stage.cache_mb(cfg, run)):  # bounded block cache in every stage
            if stage.part_outputs and uses_parts(cfg):
                summary = _run_parts(cfg, run, stage, progress)
            else:
                summary = stage.run(cfg, run, progress) or {}
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
