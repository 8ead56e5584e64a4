"""The ``report`` stage: the run's outputs → ``report/index.html`` (one offline page)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from glacierinv.pipeline.runfolder import RunFolder
from glacierinv.pipeline.stage import Stage, present_files, run_files

__all__ = ["STAGE"]


def _run(cfg, run, progress) -> dict[str, Any]:
    from glacierinv.report import write_report

    path = write_report(run.path, title=cfg.name, block_px=cfg.runtime.block_px)
    return {"report": str(Path(path).relative_to(run.path))}


def _reads(cfg, run) -> dict[str, Path]:
    out = run_files(run, (RunFolder.INVENTORY, RunFolder.ASSESSMENT))
    if cfg.analysis.enabled:
        out["analysis.json"] = run / "analysis" / "analysis.json"
    # drawn on the map when present: the classification overlay and the review flags
    return out | present_files(run, (RunFolder.CLASSES, RunFolder.OUTLINES))


STAGE = Stage(
    name="report",
    description="self-contained HTML report",
    reads=_reads,
    config_sections=(),
    extra_params=lambda cfg: {"name": cfg.name},
    writes=lambda cfg: ["report/index.html"],
    run=_run,
)
