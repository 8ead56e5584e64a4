"""The ``attributes`` stage: ``units.gpkg`` + DEM → ``inventory.gpkg``, ``inventory.csv``, ``uncertainty.json``.

RGI 7 attributes, hypsometry and centerlines per glacier unit (:func:`glacierinv.attributes.compute_attributes`),
the image source per glacier from ``source.tif`` when present, and the buffer uncertainty at the pixel
size of ``classes.tif`` (``uncertainty.json`` holds its totals for the assess stage).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np

from glacierinv.errors import GlacierInvError
from glacierinv.io.atomic import atomic_path
from glacierinv.stage import Stage

__all__ = ["STAGE", "attributes_with_uncertainty"]


def attributes_with_uncertainty(
    cfg,
    units: gpd.GeoDataFrame,
    debris: gpd.GeoDataFrame,
    *,
    pixel_size_m: float,
    source_tif: Path | None = None,
    id_column: str | None = None,
) -> tuple[gpd.GeoDataFrame, Any, Any, dict[str, Any]]:
    """Attributes, hypsometry, centerlines and buffer uncertainty of ``units`` with the run's settings.

    Returns ``(glaciers, hypsometry, centerlines, uncertainty_totals)``. Used by the stage and by the
    manual-edit workflow on changed units, so both compute the same attributes.
    """
    from glacierinv.attributes import compute_attributes
    from glacierinv.attributes.uncertainty import buffer_uncertainty

    kwargs = {"id_column": id_column} if id_column is not None else {}
    glaciers, hypsometry, centerlines = compute_attributes(
        units,
        cfg.input_path("dem"),
        debris=debris,
        dem_source=cfg.inputs.dem_source,
        img_source=cfg.inputs.img_source,
        src_date=cfg.inputs.src_date,
        band_m=cfg.attributes.hypsometry_band_m,
        min_dem_coverage=cfg.attributes.min_dem_coverage,
        return_centerlines=True,
        **kwargs,
    )
    if source_tif is not None:
        from glacierinv.attributes.sources import image_source_per_glacier

        glaciers["img_source"] = image_source_per_glacier(glaciers, source_tif, cfg.inputs.img_source)
    glaciers, totals = buffer_uncertainty(
        glaciers, debris, pixel_size_m=pixel_size_m, buffer_px=cfg.assess.buffer_px
    )
    return glaciers, hypsometry, centerlines, totals


def _run(cfg, run, progress) -> dict[str, Any]:
    from glacierinv.io.raster import raster_grid
    from glacierinv.io.vector import read_vector, write_layers
    from glacierinv.outlines.styles import embed_styles

    units = read_vector(run / "units.gpkg", layer="glaciers", allow_empty=True)
    debris = read_vector(run / "units.gpkg", layer="debris", allow_empty=True)
    divides = read_vector(run / "units.gpkg", layer="divides", allow_empty=True, need_crs=False)
    if len(units) == 0:
        raise GlacierInvError(
            f"{run / 'classes.tif'}: no glacier larger than {cfg.outlines.min_area_km2} km² was mapped"
        )
    source = run / "source.tif"
    glaciers, hypsometry, centerlines, totals = attributes_with_uncertainty(
        cfg,
        units,
        debris,
        pixel_size_m=raster_grid(run / "classes.tif").res[0],
        source_tif=source if source.exists() else None,
    )
    layers = {
        "glaciers": glaciers,
        "debris": debris,
        "divides": divides,
        "hypsometry": hypsometry,
        "centerlines": centerlines,
    }
    write_layers(run / "inventory.gpkg", layers)
    embed_styles(run / "inventory.gpkg")
    with atomic_path(run / "inventory.csv") as tmp:
        glaciers.drop(columns=glaciers.geometry.name).to_csv(tmp, index=False)
    with atomic_path(run / "uncertainty.json") as tmp:
        tmp.write_text(json.dumps(totals, indent=2, default=float))
    return {
        "n_glaciers": int(len(glaciers)),
        "area_km2": float(glaciers["area_km2"].sum()),
        "debris_km2": float(np.nansum(glaciers.get("debris_km2", np.zeros(len(glaciers))))),
        **{f"unc_{k}": v for k, v in totals.items() if isinstance(v, (int, float))},
    }


def _reads(cfg, run) -> dict[str, Path]:
    out = {
        "units.gpkg": run / "units.gpkg",
        "classes.tif": run / "classes.tif",  # its pixel size sets the buffer uncertainty
        "inputs.dem": cfg.input_path("dem"),
    }
    if (run / "source.tif").exists():
        out["source.tif"] = run / "source.tif"
    return out


STAGE = Stage(
    name="attributes",
    description="RGI-style attributes, hypsometry, buffer uncertainty",
    reads=_reads,
    config_sections=("attributes",),
    extra_params=lambda cfg: {
        "buffer_px": cfg.assess.buffer_px,
        "sources": [cfg.inputs.dem_source, cfg.inputs.img_source, cfg.inputs.src_date],
    },
    writes=lambda cfg: ["inventory.gpkg", "inventory.csv", "uncertainty.json"],
    run=_run,
)
