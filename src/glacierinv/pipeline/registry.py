"""The stages, in pipeline order: stage name → the runner module that declares it.

This table is the one place where a stage's name meets its package (``analyse`` is declared by
``glacierinv.analysis.runner``; every other stage by the package of its own name). A runner is imported
only when its stage is asked for (:func:`get_stage`), so the orchestration modules that need the list of
stages (the orchestrator, preflight, the parts of a run) load no stage's dependencies by importing this.
"""

from __future__ import annotations

import importlib

from glacierinv.errors import ConfigError
from glacierinv.pipeline.stage import Stage

__all__ = ["STAGE_NAMES", "STAGE_RUNNERS", "all_stages", "get_stage", "register_stage"]

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
    """Add (or move) a stage: ``module`` declares its :class:`~glacierinv.pipeline.stage.Stage` as ``STAGE``; it
    runs after the stage ``after`` (default: last). For stages outside the package (a plugin, a test);
    the package's own stages are the lines of :data:`STAGE_RUNNERS`. Read the order as
    ``registry.STAGE_NAMES`` (rebound here), not a copy imported before the registration."""
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
    """The declared :class:`~glacierinv.pipeline.stage.Stage` of ``name`` (its runner is imported on first use, so
    importing the pipeline does not load every stage's dependencies)."""
    stage = importlib.import_module(STAGE_RUNNERS[name]).STAGE
    if stage.name != name:
        raise RuntimeError(f"{STAGE_RUNNERS[name]}.STAGE is named {stage.name!r}, registered as {name!r}")
    return stage


def all_stages() -> tuple[Stage, ...]:
    """Every stage in pipeline order."""
    return tuple(get_stage(name) for name in STAGE_NAMES)
