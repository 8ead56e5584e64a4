"""Orchestration: the stage registry, the run folder, and what runs the stages.

Submodules, from the base layer up (``tests/test_import_graph.py`` ranks each):

- :mod:`~glacierinv.pipeline.runfolder` — the run folder and its ``run.json`` (every stage reads it);
- :mod:`~glacierinv.pipeline.stage` — :class:`~glacierinv.pipeline.stage.Stage`, the contract each stage
  package's ``runner`` declares;
- :mod:`~glacierinv.pipeline.registry` — the stages in order (stage name → runner module), in one table;
- :mod:`~glacierinv.pipeline.preflight`, :mod:`~glacierinv.pipeline.scenes`,
  :mod:`~glacierinv.pipeline.distributed`, :mod:`~glacierinv.pipeline.refinement` — checking a run's inputs,
  running stages on scene/tile parts, the run's Dask cluster, applying outline edits to a run;
- :mod:`~glacierinv.pipeline.orchestrator` — :func:`run_pipeline`: orders, hashes, skips and schedules;
- :mod:`~glacierinv.pipeline.stage_table` — the docs' run-folder table, generated from the stages.

Every stage imports ``glacierinv.pipeline.stage`` / ``.runfolder``, which runs this file first: so it
imports no other module of the package. The public names below (``from glacierinv.pipeline import
run_pipeline``) are loaded from their submodule on access (PEP 562, :func:`glacierinv.lazy.lazy_exports`)
and not cached here, so ``STAGE_NAMES`` always reads the registry's current order.
"""

from __future__ import annotations

from glacierinv.lazy import lazy_exports

#: public name → the submodule that defines it
_LAZY: dict[str, str] = {
    "RunResult": "orchestrator",
    "check_run": "preflight",
    "run_pipeline": "orchestrator",
    "run_stage": "orchestrator",
    "uses_parts": "orchestrator",
    "STAGE_NAMES": "registry",
    "STAGE_RUNNERS": "registry",
    "all_stages": "registry",
    "get_stage": "registry",
    "register_stage": "registry",
}

__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
