"""The contract of a pipeline stage: what it reads, which configuration it depends on, what it writes.

Each stage package (``preprocess``, ``segment``, ``outlines``, ``units``, ``attributes``, ``assess``,
``analysis``, ``report``) exports one :class:`Stage` from its ``runner`` module. The runner is the only
place where the stage touches the run folder: it reads the files it declares, calls the package's pure
library function, and writes the files it declares. :mod:`glacierinv.pipeline` only orders the stages,
hashes what they declare, skips the current ones and schedules them; :mod:`glacierinv.pipeline.scenes` runs the
same runners on scene/tile parts; the manual-edit workflow (:mod:`glacierinv.manual_edits`) calls the
units and attributes runners on changed outlines.

A stage's input hash covers every file returned by :attr:`Stage.reads` — run-folder files and configured
inputs alike — and its parameters are the configuration sections it names (:attr:`Stage.config_sections`)
plus any extra values (:attr:`Stage.extra_params`). Changing any of them re-runs the stage and, through
the files it rewrites, every stage downstream.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from glacierinv.config import RunConfig
    from glacierinv.pipeline.runfolder import RunFolder

__all__ = ["Progress", "Stage", "config_files", "config_inputs", "existing", "present_files", "run_files"]

#: Called with the finished fraction of a stage (0-1); the CLI draws progress bars with it.
Progress = Callable[[float], None]


@dataclass(frozen=True)
class Stage:
    """One pipeline stage and its declared contract.

    Attributes
    ----------
    name
        Stage name (``glacierinv stage NAME RUN``).
    description
        One line for progress bars and the docs.
    reads
        ``(cfg, run) -> {label: path}``: every file the stage reads. Run-folder files are labelled by their
        name in the folder (``"classes.tif"``); configured inputs by their config key (``"inputs.dem"``).
        Optional files are listed only when they exist or are configured.
    config_sections
        Names of the :class:`~glacierinv.config.RunConfig` sections whose values are the stage's parameters.
    writes
        ``cfg -> [name, ...]``: the run-folder files the stage writes (all of them).
    run
        ``(cfg, run, progress) -> summary``: reads, computes, writes; returns a JSON-able summary.
    extra_params
        ``cfg -> dict``: parameters from outside its sections (e.g. ``runtime.tile_px``).
    part_outputs
        For stages that can run on scene/tile parts (stack, segment): the files mosaicked from the parts.
    may_write
        Files written only in some runs, depending on the run folder's content (e.g. ``albedo.tif``).
    check
        ``cfg -> None``: the stage's part of the preflight (the inputs only it reads), raising one clear
        :class:`~glacierinv.errors.GlacierInvError` before anything is written
        (:func:`glacierinv.pipeline.preflight.check_run`: ``glacierinv run`` and ``config check``).
    block_cache_mb
        ``(cfg, run) -> MiB``: the GDAL block cache the stage can use (what it reads more than once),
        when that is less than ``[runtime] gdal_cache_mb``; the pipeline gives it the smaller of the two
        (at least 16 MiB), so a stage streaming a large scene does not hold blocks it never reads again.
    """

    name: str
    description: str
    reads: Callable[[RunConfig, RunFolder], dict[str, Path]]
    config_sections: tuple[str, ...]
    writes: Callable[[RunConfig], list[str]]
    run: Callable[[RunConfig, RunFolder, Progress], dict[str, Any]]
    extra_params: Callable[[RunConfig], dict[str, Any]] | None = None
    part_outputs: tuple[str, ...] = ()
    may_write: tuple[str, ...] = ()
    check: Callable[[RunConfig], None] | None = None
    block_cache_mb: Callable[[RunConfig, RunFolder], float] | None = None

    def cache_mb(self, cfg: RunConfig, run: RunFolder) -> int:
        """The GDAL block cache (MiB) the stage runs with: ``[runtime] gdal_cache_mb``, capped by the
        stage's :attr:`block_cache_mb` (never below 16 MiB)."""
        limit = cfg.runtime.gdal_cache_mb
        if self.block_cache_mb is None:
            return limit
        return int(min(limit, max(16, math.ceil(self.block_cache_mb(cfg, run)))))

    def params(self, cfg: RunConfig) -> dict[str, Any]:
        """The stage's parameters as recorded in ``run.json`` (JSON-able)."""
        out: dict[str, Any] = {sec: getattr(cfg, sec).model_dump(mode="json") for sec in self.config_sections}
        if self.extra_params is not None:
            out |= self.extra_params(cfg)
        return out


def config_inputs(cfg: RunConfig, keys: tuple[str, ...]) -> dict[str, Path]:
    """``{"inputs.KEY": path}`` for the configured (non-empty) input keys."""
    out = {}
    for key in keys:
        p = cfg.input_path(key, required=False)
        if p is not None:
            out[f"inputs.{key}"] = p
    return out


def config_files(cfg: RunConfig, section: str, keys: tuple[str, ...]) -> dict[str, Path]:
    """``{"SECTION.KEY": path}`` for the file options of ``[SECTION]`` that are set (resolved paths)."""
    options = getattr(cfg, section)
    return {f"{section}.{key}": cfg.resolve(getattr(options, key)) for key in keys if getattr(options, key)}


def run_files(run: RunFolder | Path, names: tuple[str, ...]) -> dict[str, Path]:
    """``{name: run / name}``: run-folder files a stage reads (they must exist when it runs)."""
    return {name: run / name for name in names}


def present_files(run: RunFolder | Path, names: tuple[str, ...]) -> dict[str, Path]:
    """:func:`run_files` of the optional files among ``names`` that exist (e.g. ``proba.tif``)."""
    return {name: run / name for name in names if (run / name).exists()}


def existing(path: Path) -> Path | None:
    """``path`` when it exists, else None (for optional run-folder files)."""
    return path if path.exists() else None
