"""The stage graph: stack → segment → outlines → units → attributes → assess → analyse → report.

Each stage package's ``runner`` module declares the stage's contract
(:class:`glacierinv.pipeline.stage.Stage`: the files it reads, the config sections it depends on, the files
it writes) and does its file I/O around the package's pure library function;
:mod:`glacierinv.pipeline.registry` lists the stages in order. This module only hashes, skips and schedules
them: :func:`run_pipeline` skips stages whose input hashes and parameters are unchanged (``run.json``), so an
interrupted run resumes from the last finished stage and a re-run is nearly free; stages that declare
``part_outputs`` run on scene/tile parts (:mod:`glacierinv.pipeline.scenes`, Dask) when the run has several.
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
from glacierinv.pipeline import registry
from glacierinv.pipeline.preflight import check_run
from glacierinv.pipeline.registry import get_stage
from glacierinv.pipeline.runfolder import RunFolder, file_digest, software_versions
from glacierinv.pipeline.stage import Progress, Stage

__all__ = [
    "RunResult",
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
    names = registry.STAGE_NAMES  # read now: a stage registered after import is included
    selected = stages or names
    unknown = [s for s in selected if s not in names]
    if unknown:
        raise ConfigError(f"unknown stage(s) {', '.join(unknown)}; stages are: {', '.join(names)}")
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
    from glacierinv.pipeline.distributed import TaskRunner
    from glacierinv.taskmap import using

    run = RunFolder(run_dir)
    result = RunResult(run.path)
    rt = cfg.runtime
    heap = int(rt.heap_mmap_threshold_mb * 2**20)
    # one cluster for the whole run (a LocalCluster, started with the first task, or the user's scheduler),
    # used by the part stages and by the per-glacier tasks of units, attributes and analyse
    runner = TaskRunner(
        rt.workers, rt.scheduler, rt.threads_per_worker, batches_per_worker=rt.batches_per_worker
    )
    with heap_growth_limited(heap), run.locked(), run.logging_to_file(), runner:  # undone when the run ends
        run.manifest.setdefault("created", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        run.manifest["config"] = cfg.model_dump(mode="json")
        run.manifest["config_base_dir"] = str(cfg.base_dir)
        run.manifest["versions"] = software_versions()
        run.save()
        log.info("run folder %s", run.path)
        for name in registry.STAGE_NAMES:
            if name not in selected:
                continue
            with using(runner if runner.distributed else None):
                result.summaries[name], result.stages[name] = _run_one(
                    get_stage(name), cfg, run, force, progress_factory, runner
                )
    return result


def uses_parts(cfg: RunConfig) -> bool:
    """True when stack and segment run as scene/tile tasks (several scenes, tiling, or Dask)."""
    rt = cfg.runtime
    return bool(cfg.scenes) or rt.tile_px > 0 or rt.workers > 0 or bool(rt.scheduler)


def _run_parts(cfg: RunConfig, run: RunFolder, stage: Stage, progress: Progress, runner) -> dict[str, Any]:
    """Run ``stage`` on every scene/tile part (in-process or on the run's cluster) and mosaic its part outputs."""
    from functools import partial

    from glacierinv.pipeline.distributed import TaskFailure
    from glacierinv.pipeline.scenes import mosaic_parts, plan_parts, process_part

    parts = plan_parts(cfg)
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


def _run_one(
    stage: Stage, cfg: RunConfig, run: RunFolder, force: bool, progress_factory, runner=None
) -> tuple[dict, str]:
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
            if stage.part_outputs and uses_parts(cfg) and runner is None:  # a stage run on its own
                from glacierinv.pipeline.distributed import TaskRunner

                rt = cfg.runtime
                with TaskRunner(
                    rt.workers, rt.scheduler, rt.threads_per_worker, batches_per_worker=rt.batches_per_worker
                ) as own:
                    summary = _run_parts(cfg, run, stage, progress, own)
            elif stage.part_outputs and uses_parts(cfg):
                summary = _run_parts(cfg, run, stage, progress, runner)
            else:
                before = (runner.map_seconds, runner.task_cpu_seconds) if runner is not None else None
                summary = stage.run(cfg, run, progress) or {}
                if before is not None and runner.distributed and runner.map_seconds > before[0]:
                    # the stage's per-glacier tasks on the cluster: wall time of their maps, CPU inside them
                    summary |= {"tasks_seconds": round(runner.map_seconds - before[0], 3),
                                "tasks_cpu_seconds": round(runner.task_cpu_seconds - before[1], 3)}  # fmt: skip
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
