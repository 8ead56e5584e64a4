"""The ``attributes`` stage: ``units.gpkg`` + DEM → ``inventory.gpkg``, ``inventory.csv``, ``uncertainty.json``.

RGI 7 attributes, hypsometry and centerlines per glacier unit (:func:`glacierinv.attributes.compute_attributes`),
the image source per glacier from ``source.tif`` when present, ``term_type`` from the scene's water, cloud
and the DEM (:mod:`glacierinv.attributes.terminus`), and the buffer uncertainty at the pixel size of
``classes.tif`` (``uncertainty.json`` holds its totals for the assess stage).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np

from glacierinv.attributes.snowline import albedo_of_run, snow_source
from glacierinv.io.atomic import atomic_path
from glacierinv.pipeline.runfolder import RunFolder
from glacierinv.pipeline.stage import Stage, existing, present_files, run_files

__all__ = ["STAGE", "attributes_with_uncertainty", "inventory_layers", "own_units"]

log = logging.getLogger(__name__)

#: Columns of the units stage's ``units.gpkg`` that are our own earlier values, computed again here. They
#: are dropped before the attributes, so they are not taken for an input inventory's columns (which are
#: kept beside ours, see :func:`glacierinv.attributes.compute.computed_column`).
OWN_UNIT_COLUMNS = ("area_km2",)


def own_units(units: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Glacier units written by the units stage without the values the attributes recompute."""
    return units.drop(columns=[c for c in OWN_UNIT_COLUMNS if c in units.columns])


def attributes_with_uncertainty(
    cfg,
    units: gpd.GeoDataFrame,
    debris: gpd.GeoDataFrame,
    *,
    pixel_size_m: float | None,
    id_column: str | None = None,
    run_dir: Path | None = None,
    allow_overlaps: bool = False,
) -> tuple[gpd.GeoDataFrame, Any, Any, dict[str, Any]]:
    """Attributes, hypsometry, centerlines and buffer uncertainty of ``units`` with the run's settings.

    ``pixel_size_m``: pixel size of the classes the outlines come from (the buffer uncertainty is ±
    ``[assess] buffer_px`` of them); None: no ``area_unc_km2`` / ``debris_unc_km2`` (outlines of unknown
    origin). ``allow_overlaps``: see :func:`glacierinv.attributes.compute_attributes`.

    With ``run_dir`` (a run folder with ``classes.tif`` and, when present, ``stack.tif``, ``masks.tif``,
    ``source.tif``, ``proba.tif``): ``term_type`` from the imagery (else 9, not assigned), ``img_source`` per
    glacier from ``source.tif``, the per-glacier area range ``area_p25_km2`` / ``area_p75_km2`` from the
    class probabilities (:mod:`glacierinv.attributes.proba_range`) beside ``area_unc_km2``, and
    ``glac_type`` / ``aar`` from the snow evidence of ``[analysis]``.

    Returns ``(glaciers, hypsometry, centerlines, uncertainty_totals)``. Used by the stage and by the
    manual-edit workflow on changed units, so both compute the same attributes.
    """
    from glacierinv.attributes.uncertainty import buffer_uncertainty

    glaciers, hypsometry, centerlines = _dem_attributes(cfg, units, debris, id_column, allow_overlaps)
    run_dir = Path(run_dir) if run_dir is not None else None
    source_tif = existing(run_dir / RunFolder.SOURCE) if run_dir is not None else None
    proba_tif = existing(run_dir / RunFolder.PROBA) if run_dir is not None else None
    if run_dir is not None and len(glaciers):
        glaciers["term_type"] = _term_types(cfg, glaciers, run_dir)
    if source_tif is not None:
        from glacierinv.attributes.sources import image_source_per_glacier

        glaciers["img_source"] = image_source_per_glacier(glaciers, source_tif, cfg.inputs.img_source)
    totals: dict[str, Any] = {}
    if pixel_size_m is not None:
        glaciers, totals = buffer_uncertainty(
            glaciers, debris, pixel_size_m=pixel_size_m, buffer_px=cfg.assess.buffer_px
        )
    if proba_tif is not None:
        _insert_probability_range(cfg, glaciers, proba_tif)
    if run_dir is not None:
        glaciers = _glacier_types(cfg, run_dir, glaciers)
    return glaciers, hypsometry, centerlines, totals


def _dem_attributes(cfg, units: gpd.GeoDataFrame, debris: gpd.GeoDataFrame, id_column: str | None,
                    allow_overlaps: bool) -> tuple[gpd.GeoDataFrame, Any, Any]:  # fmt: skip
    """(glaciers, hypsometry, centerlines) of ``units`` on the run's DEM with the run's settings."""
    from glacierinv.attributes import compute_attributes

    kwargs = {"id_column": id_column} if id_column is not None else {}
    if allow_overlaps:
        kwargs["allow_overlaps"] = True
    return compute_attributes(
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


def _term_types(cfg, glaciers: gpd.GeoDataFrame, run_dir: Path) -> np.ndarray:
    """RGI 7 ``term_type`` codes of the glaciers from the run's classes grid, stack and masks (if present)."""
    from glacierinv.attributes.terminus import terminus_types

    codes, _ = terminus_types(
        glaciers,
        cfg.input_path("dem"),
        grid_path=run_dir / RunFolder.CLASSES,
        stack_path=_if_exists(run_dir / RunFolder.STACK),
        masks_path=_if_exists(run_dir / RunFolder.MASKS),
    )
    return codes


def _insert_probability_range(cfg, glaciers: gpd.GeoDataFrame, proba_tif: Path) -> None:
    """``area_p25_km2`` / ``area_p75_km2`` (km²) from the class probabilities, after ``area_unc_km2``
    (in place)."""
    from glacierinv.attributes.proba_range import probability_area_range
    from glacierinv.attributes.uncertainty import _insert_after

    a25, a75 = probability_area_range(glaciers, proba_tif, block_px=cfg.runtime.block_px)
    _insert_after(glaciers, "area_p75_km2", a75, "area_unc_km2")
    _insert_after(glaciers, "area_p25_km2", a25, "area_unc_km2")


def _if_exists(path: Path) -> Path | None:
    return path if path.exists() else None


def _run(cfg, run, progress) -> dict[str, Any]:
    from glacierinv.io.raster import raster_grid
    from glacierinv.io.vector import read_vector, write_layers
    from glacierinv.outlines.styles import embed_styles

    units = read_vector(run / RunFolder.UNITS, layer="glaciers", allow_empty=True)
    debris = read_vector(run / RunFolder.UNITS, layer="debris", allow_empty=True)
    divides = read_vector(run / RunFolder.UNITS, layer="divides", allow_empty=True, need_crs=False)
    warnings = []
    if len(units) == 0:  # a legitimate answer (lowland, snow-free scene): an empty but valid inventory
        warnings.append(
            f"no glacier larger than {cfg.outlines.min_area_km2} km² was mapped in {run / RunFolder.CLASSES}: "
            "the inventory is empty"
        )
        log.warning(warnings[-1])
    glaciers, hypsometry, centerlines, totals = attributes_with_uncertainty(
        cfg,
        own_units(units),
        debris,
        pixel_size_m=raster_grid(run / RunFolder.CLASSES).res[0],
        run_dir=run.path,
    )
    from glacierinv.attributes.export import round_inventory

    layers = inventory_layers(cfg, glaciers, hypsometry, centerlines, debris=debris, divides=divides)
    glaciers = layers["glaciers"]
    write_layers(run / RunFolder.INVENTORY, layers)
    embed_styles(run / RunFolder.INVENTORY)
    with atomic_path(run / "inventory.csv") as tmp:
        round_inventory(glaciers.drop(columns=glaciers.geometry.name)).to_csv(tmp, index=False)
    with atomic_path(run / RunFolder.UNCERTAINTY_JSON) as tmp:
        tmp.write_text(json.dumps(totals, indent=2, default=float))
    return {
        "n_glaciers": int(len(glaciers)),
        "area_km2": float(glaciers["area_km2"].sum()),
        "debris_km2": float(np.nansum(glaciers.get("debris_km2", np.zeros(len(glaciers))))),
        **{f"unc_{k}": v for k, v in totals.items() if isinstance(v, (int, float))},
    } | ({"warnings": warnings} if warnings else {})


def inventory_layers(cfg, glaciers, hypsometry, centerlines, *, debris=None, divides=None) -> dict[str, Any]:
    """The inventory's layers as the stage writes them: ``rgi_id``-style ids and regions
    (``[attributes] rgi_regions``, ``id_prefix``), in the ``[attributes] crs`` when set."""
    from glacierinv.attributes.export import add_rgi7_ids, to_export_crs
    from glacierinv.io.vector import read_vector

    a = cfg.attributes
    regions = [read_vector(cfg.resolve(p), polygons=True) for p in a.rgi_regions]
    layers = {"glaciers": add_rgi7_ids(glaciers, regions, prefix=a.id_prefix), "debris": debris,
              "divides": divides, "hypsometry": hypsometry, "centerlines": centerlines}  # fmt: skip
    layers = {k: v for k, v in layers.items() if v is not None}
    return to_export_crs(layers, a.crs) if a.crs else layers


def _glacier_types(cfg, run, glaciers):
    """``aar`` and ``glac_type`` in the inventory, from the snow source the analyse stage uses
    (``[analysis] snow``, else the albedo of the stack's green/nir bands); left null without one."""
    snow, threshold = snow_source(cfg, run)
    if not len(glaciers) or snow is None:
        return glaciers
    from glacierinv.attributes.export import fill_glacier_types

    a = cfg.analysis
    if snow == run / RunFolder.STACK:  # written once, shared with the analyse stage
        snow = albedo_of_run(run, cfg.runtime.block_px)
    return fill_glacier_types(glaciers, cfg.input_path("dem"), snow, snow_threshold=threshold,
                              min_area_km2=a.min_type_area_km2, thresholds=a.aar_thresholds)  # fmt: skip


def _reads(cfg, run) -> dict[str, Path]:
    # classes.tif: its pixel size sets the buffer uncertainty
    out = run_files(run, (RunFolder.UNITS, RunFolder.CLASSES)) | {"inputs.dem": cfg.input_path("dem")}
    out |= present_files(
        run, (RunFolder.SOURCE, RunFolder.STACK, RunFolder.MASKS)
    )  # stack/masks: water, cloud (term_type)
    snow, _ = snow_source(cfg, run)  # glac_type/aar come from the snow raster or the stack's albedo
    if snow is not None:
        out["snow" if snow != run / RunFolder.STACK else RunFolder.STACK] = snow
    for k, p in enumerate(cfg.attributes.rgi_regions):  # o1region/o2region
        out[f"attributes.rgi_regions[{k}]"] = cfg.resolve(p)
    return out | present_files(run, (RunFolder.PROBA,))  # per-glacier area range from the class probabilities


def block_cache_mb(cfg, run) -> float:
    """The block cache the stage uses (MiB, :mod:`glacierinv.outlines.cache`): the DEM, stack, masks,
    probabilities, sources and albedo are read glacier window by glacier window, one raster at a time, so
    a block is read again only where one read continues the previous one: two block rows across the
    widest of them. Glacier windows of one complex overlap, but caching them would mean caching the
    complex (up to the whole scene)."""
    from glacierinv.outlines.cache import strip_mib

    rasters = [(cfg.input_path("dem", required=False), 1), (run / RunFolder.STACK, 2),
               (run / RunFolder.MASKS, None), (run / RunFolder.PROBA, None), (run / RunFolder.SOURCE, 1)]  # fmt: skip
    return max(strip_mib([r]) for r in rasters)


STAGE = Stage(
    name="attributes",
    description="RGI-style attributes, hypsometry, buffer uncertainty",
    reads=_reads,
    config_sections=("attributes", "analysis"),  # [analysis] snow / types thresholds set glac_type, aar
    extra_params=lambda cfg: {
        "buffer_px": cfg.assess.buffer_px,
        "sources": [cfg.inputs.dem_source, cfg.inputs.img_source, cfg.inputs.src_date],
    },
    writes=lambda cfg: [RunFolder.INVENTORY, "inventory.csv", RunFolder.UNCERTAINTY_JSON],
    run=_run,
    may_write=("albedo.tif",),  # the stack's albedo for glac_type/aar, reused by the analyse stage
    block_cache_mb=block_cache_mb,
)
