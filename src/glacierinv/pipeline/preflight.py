"""Check every input of a run before anything is written, so bad input never leaves partial output.

The preflight is every stage's own :attr:`~glacierinv.pipeline.stage.Stage.check`, in pipeline order:
the stack checks the scenes' products, the segmentation its checkpoint, assess the reference data, analyse
its own inputs …; this module only runs them. Each check raises a
:class:`~glacierinv.errors.GlacierInvError` with one line: what is wrong, in which file, and what to do.
Checks are cheap: headers, the last block (catches truncated files) and a decimated read (catches
all-NaN / all-nodata rasters), never a whole-scene read.
"""

from __future__ import annotations

from glacierinv.config import RunConfig
from glacierinv.pipeline.registry import all_stages

__all__ = ["check_run"]


def check_run(cfg: RunConfig) -> None:
    """The whole preflight: every stage's check, in pipeline order. ``glacierinv run`` and ``config
    check`` call this (so they refuse the same inputs)."""
    for stage in all_stages():
        if stage.check is not None:
            stage.check(cfg)
