"""The ``units`` stage: ``outlines.gpkg`` + DEM → ``units.gpkg`` (glacier units, their debris, divides)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd

from glacierinv.pipeline.stage import Stage, config_files, run_files

__all__ = ["STAGE", "split_into_units"]


def split_into_units(
    cfg, glaciers: gpd.GeoDataFrame, debris: gpd.GeoDataFrame, *, complex_id_column: str | None = None
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Glacier units, their debris and the divide lines of ``glaciers`` with the run's ``[units]`` settings.

    With units disabled (or nothing mapped) the outlines are the units and there are no divides. Used by
    the stage, by ``glacierinv units`` and by the manual-edit workflow on changed outlines, so all split the
    same way. ``complex_id_column``: see :func:`glacierinv.units.subdivide`.
    """
    if cfg.units.enabled and len(glaciers):
        from glacierinv.io.vector import read_vector
        from glacierinv.units import subdivide

        user_divides = cfg.resolve(cfg.units.divides)
        return subdivide(
            glaciers,
            cfg.input_path("dem"),
            debris=debris,
            min_unit_area_km2=cfg.units.min_unit_area_km2,
            reach_m=cfg.units.reach_m,
            smooth_m=cfg.units.smooth_m,
            divides=read_vector(user_divides) if user_divides is not None else None,
            complex_id_column=complex_id_column,
        )
    divides = gpd.GeoDataFrame({"divide_id": []}, geometry=[], crs=glaciers.crs)
    return glaciers, debris, divides


def _run(cfg, run, progress) -> dict[str, Any]:
    from glacierinv.io.vector import read_vector, write_layers

    glaciers = read_vector(run / "outlines.gpkg", layer="glaciers", allow_empty=True)
    debris = read_vector(run / "outlines.gpkg", layer="debris", allow_empty=True)
    units, debris_units, divides = split_into_units(cfg, glaciers, debris)
    write_layers(run / "units.gpkg", {"glaciers": units, "debris": debris_units, "divides": divides})
    return {"n_units": int(len(units)), "n_complexes": int(len(glaciers)), "n_divides": int(len(divides))}


def _reads(cfg, run) -> dict[str, Path]:
    return {
        **run_files(run, ("outlines.gpkg",)),
        "inputs.dem": cfg.input_path("dem"),
        **config_files(cfg, "units", ("divides",)),
    }


STAGE = Stage(
    name="units",
    description="split glacier complexes into units along drainage divides",
    reads=_reads,
    config_sections=("units",),
    writes=lambda cfg: ["units.gpkg"],
    run=_run,
)
