"""The ``outlines`` stage: ``classes.tif`` → ``outlines.gpkg`` (glaciers, debris, review flags).

Reads the classes, and for the review flags the probabilities, masks, stack and DEM when present. When the
run folder holds an analyst's ``outlines_refined.gpkg`` it is read (never written) to list where the new
automated outlines conflict with the edits (``edit_conflicts.csv``); the analyst's file is deliberately not
an input of the stage's hash, so recording edits never re-runs the automation over them.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from glacierinv.io.atomic import atomic_path
from glacierinv.pipeline.runfolder import RunFolder
from glacierinv.pipeline.stage import Stage, config_inputs, existing, present_files, run_files

__all__ = ["STAGE", "map_outlines"]

log = logging.getLogger(__name__)

_REVIEW_EVIDENCE = (RunFolder.PROBA, RunFolder.UNCERTAINTY, RunFolder.MASKS, RunFolder.STACK)


def map_outlines(cfg, run, progress=None) -> dict[str, Any]:
    """Vectorise ``classes.tif``, flag outlines for review, write ``outlines.gpkg``; list edit conflicts."""
    from glacierinv.outlines.review import ReviewParams, flag_for_review
    from glacierinv.outlines.styles import embed_styles
    from glacierinv.outlines.vectorize import vectorize_classes, write_outlines

    glaciers, debris = vectorize_classes(
        run / RunFolder.CLASSES,
        min_area_km2=cfg.outlines.min_area_km2,
        fill_holes_below_km2=cfg.outlines.fill_holes_below_km2,
        simplify_px=cfg.outlines.simplify_px,
        block_px=cfg.runtime.block_px,
    )
    review = None
    if len(glaciers):
        review = flag_for_review(
            glaciers,
            debris,
            classes_path=run / RunFolder.CLASSES,
            proba_path=existing(run / RunFolder.PROBA),
            masks_path=existing(run / RunFolder.MASKS),
            uncertainty_path=existing(run / RunFolder.UNCERTAINTY),
            stack_path=existing(run / RunFolder.STACK),
            dem_path=cfg.input_path("dem"),
            params=ReviewParams(min_area_km2=cfg.outlines.min_area_km2),
            prior=_prior(cfg),
            other_dates=_other_dates(cfg),
        )
    write_outlines(run / RunFolder.OUTLINES, glaciers, debris, review=review)
    embed_styles(run / RunFolder.OUTLINES)
    return {
        "n_outlines": int(len(glaciers)),
        "n_debris": int(len(debris)),
        "n_review_flags": int(0 if review is None else len(review)),
    } | _check_manual_edits(run, glaciers)


def _check_manual_edits(run, glaciers) -> dict[str, Any]:
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


def _prior(cfg):
    """``[inputs] prior_outlines`` (RGI or an older inventory): seasonal-snow evidence, never copied."""
    path = cfg.input_path("prior_outlines", required=False)
    if path is None:
        return None
    from glacierinv.io.vector import read_vector

    return read_vector(path, polygons=True)


def _other_dates(cfg) -> list[Path]:
    """``[inputs] other_dates``: classes rasters of the same area on other dates (seasonal-snow evidence)."""
    from glacierinv.errors import InputError

    out = []
    for p in cfg.inputs.other_dates:
        path = cfg.resolve(p)
        if not path.exists():
            raise InputError("input 'other_dates' not found", path, "Fix the path in [inputs] other_dates")
        out.append(path)
    return out


def _reads(cfg, run) -> dict[str, Path]:
    out = run_files(run, (RunFolder.CLASSES,)) | {"inputs.dem": cfg.input_path("dem")}
    out |= config_inputs(cfg, ("prior_outlines",))
    out |= {f"inputs.other_dates.{i}": p for i, p in enumerate(_other_dates(cfg))}
    return out | present_files(run, _REVIEW_EVIDENCE)


def block_cache_mb(cfg, run) -> float:
    """The block cache the stage uses (MiB, :mod:`glacierinv.outlines.cache`): the vectorising windows read
    each block of ``classes.tif`` once; the review scan reads each glacier window in blocks of at most
    ``ReviewParams.block_px`` (+ margin) that overlap their neighbours by a few pixels, so two block rows
    across such a block of each raster it reads (classes, proba, uncertainty, masks, the stack's green and
    nir, the DEM) are read again."""
    from glacierinv.outlines.cache import strip_mib
    from glacierinv.outlines.review import ReviewParams

    p = ReviewParams()
    width = p.block_px + 2 * (p.ring_px + 2)
    rasters = [(run / RunFolder.CLASSES, 1), (run / RunFolder.PROBA, None), (run / RunFolder.UNCERTAINTY, 1),
               (run / RunFolder.MASKS, None), (run / RunFolder.STACK, 2), (cfg.input_path("dem", required=False), 1)]  # fmt: skip
    return strip_mib(rasters, width)


STAGE = Stage(
    name="outlines",
    description="vectorise, drop small patches, fill holes, flag for review",
    reads=_reads,
    config_sections=("outlines",),
    writes=lambda cfg: [RunFolder.OUTLINES],
    run=map_outlines,
    may_write=("edit_conflicts.csv",),
    block_cache_mb=block_cache_mb,
)
