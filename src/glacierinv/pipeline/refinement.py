"""Manual refinement of a run folder: apply an analyst's edits and recompute what they change.

The edit algebra (reading, validating and diffing edited outlines, provenance) is
:mod:`glacierinv.outlines.refine`; this module runs it over a run folder and recomputes the glacier units,
attributes and uncertainties of the changed outlines with the same stage runners the pipeline uses
(:func:`glacierinv.units.runner.split_into_units`,
:func:`glacierinv.attributes.runner.attributes_with_uncertainty`), so a refined unit gets exactly the
attributes a fresh pipeline run would give it. The automated ``outlines.gpkg`` and ``inventory.gpkg`` are
never modified.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from glacierinv.attributes.runner import attributes_with_uncertainty, own_units
from glacierinv.errors import InputError
from glacierinv.io.atomic import atomic_path, refuse_overwrite
from glacierinv.io.vector import list_layers, read_vector, write_layers
from glacierinv.outlines.refine import RefinedOutlines, refine_outlines
from glacierinv.pipeline.runfolder import read_run_config
from glacierinv.units.runner import split_into_units

__all__ = ["RefineResult", "apply_edits", "recompute_changed_units"]

_INVENTORY_LAYERS = ("glaciers", "debris", "divides", "hypsometry", "centerlines")


@dataclass
class RefineResult:
    """What :func:`apply_edits` produced (also written to ``out_path`` and ``summary_path``)."""

    glaciers: gpd.GeoDataFrame
    debris: gpd.GeoDataFrame
    units: gpd.GeoDataFrame
    edits: gpd.GeoDataFrame
    repairs: pd.DataFrame
    summary: pd.DataFrame
    out_path: Path | None = None
    summary_path: Path | None = None
    recomputed: list[str] = field(default_factory=list)


def apply_edits(
    run_dir: str | Path,
    edited_path: str | Path,
    *,
    editor: str | None = None,
    out_name: str = "outlines_refined.gpkg",
    summary_name: str = "refine_summary.csv",
    force: bool = False,
    now: datetime | None = None,
) -> RefineResult:
    """Apply an analyst's edited outlines to a run folder.

    Parameters
    ----------
    run_dir
        A run folder with ``run.json``, ``outlines.gpkg``, ``classes.tif`` and ``inventory.gpkg``.
    edited_path
        GeoPackage with layers ``glaciers`` and ``debris`` (as written by
        :func:`glacierinv.outlines.refine.export_for_editing`), any CRS; optional ``reason`` per feature.
    editor
        Name recorded in the provenance (default: the login name).
    out_name, summary_name
        Output file names inside ``run_dir``; refused if they exist unless ``force``.
    now
        Timestamp to record (default: the current UTC time).

    Returns
    -------
    RefineResult
    """
    run = Path(run_dir)
    if not run.is_dir():
        raise InputError("run folder not found", run, "Give the folder written by `glacierinv run`")
    cfg = read_run_config(run)
    out_path, summary_path = run / out_name, run / summary_name
    for p in (out_path, summary_path):
        refuse_overwrite(p, force)
    previous = out_path if out_path.exists() else run / "outlines_refined.gpkg"
    refined = refine_outlines(
        run, edited_path, min_area_km2=cfg.outlines.min_area_km2, editor=editor,
        previous=previous if previous.exists() else None, now=now,
    )  # fmt: skip
    units_layers, recomputed = recompute_changed_units(cfg, run, refined)
    layers = {"glaciers": refined.glaciers, "debris": refined.debris, **units_layers,
              "edits": refined.edits, "repairs": refined.repairs}  # fmt: skip
    if refined.review is not None:
        layers["review"] = refined.review
    from glacierinv.outlines.styles import embed_styles

    with atomic_path(summary_path) as tmp_csv, atomic_path(out_path) as tmp:
        write_layers(tmp, layers)
        embed_styles(tmp)
        refined.summary.to_csv(tmp_csv, index=False, float_format="%.6f")
    return RefineResult(
        refined.glaciers, refined.debris, units_layers.get("units"), refined.edits, refined.repairs,
        refined.summary, out_path, summary_path, recomputed,
    )  # fmt: skip


def recompute_changed_units(cfg, run: Path, refined: RefinedOutlines) -> tuple[dict, list[str]]:
    """Inventory layers after the edits: unchanged outlines keep their units from ``inventory.gpkg``;
    changed outlines are split into units and their attributes and uncertainties recomputed with the
    units and attributes stage runners. Returns the layers (``units``, ``units_debris``, ``divides``,
    ``hypsometry``, ``centerlines``) and the recomputed unit ids."""
    gl, deb = refined.glaciers, refined.debris
    changed = set(gl["outline_id"][gl["action"] != "auto"].astype(str))
    affected = set(changed)
    for c in refined.changes:
        if c["action"] != "auto":
            affected.update(c["sources"])
    parts = _kept_inventory(run / "inventory.gpkg", affected)
    recomputed: list[str] = []
    todo = gl[gl["outline_id"].astype(str).isin(changed)]
    if len(todo):
        todo_deb = deb[deb["outline_id"].astype(str).isin(changed)]
        if cfg.units.enabled:
            units, units_debris, divides = split_into_units(cfg, todo[["outline_id", "geometry"]], todo_deb)
        else:
            units = todo[["outline_id", "geometry"]].assign(glac_id=todo["outline_id"].astype(str))
            units_debris = todo_deb.rename(columns={"outline_id": "glac_id"})
            divides = None
        attrs, hyps, lines, _ = attributes_with_uncertainty(
            cfg,
            own_units(units),
            units_debris,
            pixel_size_m=refined.pixel_size_m,
            id_column="glac_id",
            run_dir=run,
        )
        prov = dict(zip(gl["outline_id"].astype(str), gl["provenance"], strict=True))
        attrs["provenance"] = [prov.get(str(o), "edited") for o in attrs["outline_id"]]
        attrs["editor"] = refined.editor
        attrs["edit_time"] = refined.timestamp
        recomputed = list(attrs["glac_id"].astype(str))
        for name, frame in (("units", attrs), ("units_debris", units_debris), ("divides", divides),
                            ("hypsometry", hyps), ("centerlines", lines)):  # fmt: skip
            parts[name].append(frame)
    return _concat_layers(parts, gl.crs), recomputed


def _kept_inventory(inv_path: Path, affected: set[str]) -> dict[str, list]:
    """The automated inventory's rows whose outline no edit touched, per output layer."""
    inv = {}
    if inv_path.exists():
        names = list_layers(inv_path)
        for n in _INVENTORY_LAYERS:
            if n in names:
                if n == "hypsometry":
                    import pyogrio

                    inv[n] = pyogrio.read_dataframe(inv_path, layer=n, read_geometry=False)
                else:
                    inv[n] = read_vector(inv_path, layer=n, allow_empty=True, need_crs=False)
    units = inv.get("glaciers")
    kept_units, kept_ids = None, set()
    if units is not None:
        keep = (
            ~units["outline_id"].astype(str).isin(affected)
            if "outline_id" in units.columns
            else pd.Series(False, index=units.index)
        )
        kept_units = units[keep].copy()
        kept_ids = set(kept_units["glac_id"].astype(str)) if "glac_id" in kept_units else set()
        if "provenance" in kept_units.columns:
            kept_units["provenance"] = "auto"

    def keep_rows(name, cols):
        frame = inv.get(name)
        if frame is None:
            return None
        mask = np.ones(len(frame), bool)
        for c in cols:
            if c in frame.columns:
                mask &= frame[c].astype(str).isin(kept_ids).to_numpy()
        return frame[mask]

    return {"units": [kept_units], "units_debris": [keep_rows("debris", ["glac_id"])],
            "divides": [keep_rows("divides", ["glac_id_a", "glac_id_b"])],
            "hypsometry": [keep_rows("hypsometry", ["glac_id"])],
            "centerlines": [keep_rows("centerlines", ["glac_id"])]}  # fmt: skip


def _concat_layers(parts: dict[str, list], crs) -> dict:
    layers = {}
    for name, frames in parts.items():
        frames = [f for f in frames if f is not None]
        if not frames:
            continue
        frames = [f.to_crs(crs) if isinstance(f, gpd.GeoDataFrame) and f.crs is not None and f.crs != crs else f
                  for f in frames]  # fmt: skip
        nonempty = [f for f in frames if len(f)] or frames[:1]
        merged = pd.concat(nonempty, ignore_index=True)
        if isinstance(frames[0], gpd.GeoDataFrame):
            merged = gpd.GeoDataFrame(merged, geometry=frames[0].geometry.name, crs=crs)
        layers[name] = merged
    return layers
