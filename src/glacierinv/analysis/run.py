"""Run the inventory analyses and write one tidy CSV + one PNG figure each, plus ``analysis.json``.

Analyses and what they need:

=================== ================================================================
``sizes``           the inventory (debris layer for debris patches)
``spatial``         the inventory
``aspect``          ``aspect_sec`` or ``aspect_deg`` (else a DEM)
``hypsometry``      a DEM
``slope``           a DEM
``types``           an AAR: ``--snow`` + DEM, ``--ela-column`` + DEM, or an ``aar`` column
``profiles``        a DEM (centerlines layer optional); per type when types ran
``dem_resolution``  a DEM and a coarse DEM; per type when types ran
``freezing``        a DEM
=================== ================================================================

When all analyses are asked for, those whose inputs are missing are skipped and the reason is recorded in
``analysis.json``; asking for one explicitly (``only``) whose inputs are missing is an error. The output
folder is written as a whole (temporary folder renamed into place), so a failure leaves nothing behind.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from glacierinv.config import AnalysisConfig, RuntimeConfig
from glacierinv.errors import ConfigError, GlacierInvError, InputError
from glacierinv.pipeline.runfolder import RunFolder

if TYPE_CHECKING:
    from glacierinv.analysis.inventory import Inventory
    from glacierinv.analysis.sampling import TerrainHistograms

__all__ = ["ANALYSES", "AnalysisOptions", "analyse_run", "run_analyses", "run_inputs"]

log = logging.getLogger(__name__)

ANALYSES = (
    "sizes",
    "spatial",
    "aspect",
    "hypsometry",
    "slope",
    "types",
    "profiles",
    "dem_resolution",
    "freezing",
)


_SECTION = {name: f.default for name, f in AnalysisConfig.model_fields.items()}


@dataclass
class AnalysisOptions:
    """Parameters of the analyses (defaults = the seed's choices)."""

    band_m: float = _SECTION["band_m"]  # hypsometry band (m); the defaults of [analysis] are its section's
    z_step_m: float = 10.0  # elevation histogram resolution (m); band_m must be a multiple
    slope_bin_deg: int = 5
    slope_thresholds_deg: tuple[int, ...] = (10, 15, 20, 25, 30)
    cell_km: float | None = None  # spatial grid cell; None = ~10 cells across the inventory
    min_type_area_km2: float = _SECTION["min_type_area_km2"]  # seed: types for glaciers > 5 km²
    aar_thresholds: tuple[float, float] = _SECTION["aar_thresholds"]  # Turkestan ≤ t1 < Mustagh ≤ t2 < Alpine
    snow_threshold: float = _SECTION["snow_threshold"]  # snow raster value counted as snow
    surge_min_code: int = 2  # surge_type ≥ this (2 probable, 3 observed) flags a surge-type glacier
    profile_bins: int = 20
    window_m: float = _SECTION["window_m"]  # roughness / relief window (seed: 90 m)
    n_boot: int = _SECTION["n_boot"]
    seed: int = RuntimeConfig.model_fields["seed"].default
    lapse_rate_k_per_km: float = _SECTION["lapse_rate_k_per_km"]
    warming_k: tuple[float, ...] = _SECTION["warming_k"]
    freezing_levels_m: tuple[float, ...] | None = None  # None = debris elevation quartiles
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_config(cls, section: AnalysisConfig, **more: Any) -> AnalysisOptions:
        """The options of an ``[analysis]`` section (the stage and ``glacierinv analyse`` alike)."""
        a = section
        return cls(band_m=a.band_m, min_type_area_km2=a.min_type_area_km2, aar_thresholds=a.aar_thresholds,
                   snow_threshold=a.snow_threshold, window_m=a.window_m, n_boot=a.n_boot,
                   lapse_rate_k_per_km=a.lapse_rate_k_per_km, warming_k=a.warming_k, **more)  # fmt: skip

    def __post_init__(self) -> None:
        problems = []
        k = self.band_m / self.z_step_m if self.z_step_m > 0 else float("nan")
        if not (self.z_step_m > 0 and self.band_m > 0 and abs(k - round(k)) < 1e-9):
            problems.append(
                f"band_m ({self.band_m}) must be a positive multiple of z_step_m ({self.z_step_m})"
            )
        if self.slope_bin_deg <= 0 or 90 % self.slope_bin_deg:
            problems.append(f"slope_bin_deg ({self.slope_bin_deg}) must divide 90")
        t1, t2 = self.aar_thresholds
        if not 0 <= t1 < t2 <= 1:
            problems.append(f"AAR thresholds must satisfy 0 ≤ t1 < t2 ≤ 1, got {self.aar_thresholds}")
        if self.cell_km is not None and not self.cell_km > 0:
            problems.append(f"cell_km must be > 0, got {self.cell_km}")
        if not self.window_m > 0:
            problems.append(f"window_m must be > 0, got {self.window_m}")
        if not self.lapse_rate_k_per_km > 0:
            problems.append(f"lapse_rate_k_per_km must be > 0, got {self.lapse_rate_k_per_km}")
        if self.profile_bins < 2:
            problems.append(f"profile_bins must be ≥ 2, got {self.profile_bins}")
        if self.n_boot < 0:
            problems.append(f"n_boot must be ≥ 0, got {self.n_boot}")
        if problems:
            raise ConfigError("analysis options: " + "; ".join(problems))


def _needs(name: str, dem, dem_coarse, aar_ok: bool, inv) -> str | None:
    """Why ``name`` cannot run (None when it can)."""
    if name in ("hypsometry", "slope", "profiles", "freezing") and dem is None:
        return "needs a DEM (--dem)"
    if name == "dem_resolution" and (dem is None or dem_coarse is None):
        return "needs a fine DEM (--dem) and a coarse DEM (--dem-coarse)"
    if name == "types" and not aar_ok:
        return "needs an AAR source: --snow RASTER with --dem, --ela-column COL with --dem, or an aar column"
    if name == "aspect" and not {"aspect_sec", "aspect_deg"} & set(inv.glaciers.columns) and dem is None:
        return "needs an aspect_sec or aspect_deg column, or a DEM (--dem)"
    return None


@dataclass
class _Job:
    """Everything the analyses of one call share: inputs, options, and what earlier analyses produced."""

    inv: Inventory
    opt: AnalysisOptions
    dem: str | Path | None
    dem_coarse: str | Path | None
    snow: str | Path | None
    ela_column: str | None
    surge_ids: set[str] | None
    hist: TerrainHistograms | None = None  # per-glacier terrain histograms (one DEM pass)
    groups: dict[str, np.ndarray] | None = None  # type groups, once ``types`` ran


def _wanted(only) -> list[str]:
    """The analyses asked for (all by default); unknown names are an error."""
    wanted = list(only) if only else list(ANALYSES)
    unknown = [w for w in wanted if w not in ANALYSES]
    if unknown:
        raise InputError(f"unknown analysis {', '.join(unknown)}; choose from {', '.join(ANALYSES)}")
    return wanted


def _read_inputs(inventory, layer, dem, dem_coarse, debris, snow) -> Inventory:
    """Open every raster, read the inventory, check that the DEMs cover it (refused otherwise, as in the
    attributes and units stages), and replace its debris layer by ``debris`` when given."""
    from glacierinv.analysis.inventory import load_inventory
    from glacierinv.io.raster import open_raster
    from glacierinv.io.vector import read_vector

    for p in (dem, dem_coarse, snow):
        if p is not None:
            open_raster(p).close()
    inv = load_inventory(inventory, layer=layer)
    if dem is not None or dem_coarse is not None:
        from glacierinv.dem.windows import check_dem_covers
        from glacierinv.io.dem import check_dem

        for p in (dem, dem_coarse):
            if p is not None:
                check_dem(p)
                check_dem_covers(inv.glaciers, p)
    if debris is not None:
        inv.debris = read_vector(debris, polygons=True, allow_empty=True)
    return inv


def _skipped_for_inputs(job: _Job, wanted: list[str], only, inventory) -> dict[str, dict]:
    """``{name: {"status": "skipped", "reason": ...}}`` for the analyses whose inputs are missing (an error
    when they were asked for by name)."""
    aar_ok = job.dem is not None and (job.snow is not None or job.ela_column is not None) or (
        "aar" in job.inv.glaciers.columns)  # fmt: skip
    out = {}
    for name in wanted:
        why = _needs(name, job.dem, job.dem_coarse, aar_ok, job.inv)
        if why and only:
            raise InputError(f"analysis '{name}' {why}", inventory)
        if why:
            out[name] = {"status": "skipped", "reason": why}
    return out


def _compute(name: str, job: _Job):
    """The :class:`~glacierinv.analysis.output.AnalysisResult` of one analysis."""
    from glacierinv.analysis import freezing, profiles, sizes, topography, types
    from glacierinv.analysis.demres import dem_resolution_effects

    inv, opt, hist = job.inv, job.opt, job.hist
    if name == "sizes":
        return sizes.size_structure(inv)
    if name == "spatial":
        return sizes.spatial_distribution(inv, opt.cell_km)
    if name == "aspect":
        return topography.aspect_distribution(inv, hist)
    if name == "hypsometry":
        return topography.hypsometry(hist, opt.band_m)
    if name == "slope":
        return topography.slope_distribution(hist, opt.slope_bin_deg, opt.slope_thresholds_deg)
    if name == "types":
        return types.glacier_types(
            inv, hist, dem_path=job.dem, snow_path=job.snow, snow_threshold=opt.snow_threshold,
            ela_column=job.ela_column, surge_ids=job.surge_ids, surge_min_code=opt.surge_min_code,
            min_area_km2=opt.min_type_area_km2, thresholds=opt.aar_thresholds, band_m=opt.band_m,
            slope_bin_deg=opt.slope_bin_deg)  # fmt: skip
    if name == "profiles":
        return profiles.mainline_profiles(
            inv.glaciers, job.dem, centerlines=inv.centerlines, groups=_groups(job.groups, inv, opt),
            n_bins=opt.profile_bins)  # fmt: skip
    if name == "dem_resolution":
        return dem_resolution_effects(
            inv.glaciers, job.dem, job.dem_coarse, groups=_groups(job.groups, inv, opt), window_m=opt.window_m,
            n_boot=opt.n_boot, seed=opt.seed)  # fmt: skip
    return freezing.freezing_level_exposure(
        hist, baseline_levels_m=opt.freezing_levels_m, warming_k=opt.warming_k,
        lapse_rate_k_per_km=opt.lapse_rate_k_per_km)  # fmt: skip


def _sample_terrain(job: _Job, todo: list[str], summary: dict) -> None:
    """One DEM pass for the histogram-based analyses (when any of them runs)."""
    from glacierinv.analysis.sampling import sample_terrain

    if job.dem is None or not {"hypsometry", "slope", "types", "freezing", "aspect"} & set(todo):
        return
    t0 = time.perf_counter()
    job.hist = sample_terrain(job.inv.glaciers, job.dem, debris=job.inv.debris, z_step_m=job.opt.z_step_m)
    summary["terrain_sampling_seconds"] = round(time.perf_counter() - t0, 3)


def _run_one(name: str, job: _Job, out: Path, only) -> dict:
    """Compute one analysis and write its files into ``out``; its record for ``analysis.json``.

    A :class:`GlacierInvError` skips the analysis (recorded with the reason), unless it was asked for by name.
    """
    from glacierinv.analysis import types

    t0 = time.perf_counter()
    try:
        res = _compute(name, job)
    except GlacierInvError as exc:
        if only:
            raise
        log.warning("analysis %s skipped: %s", name, exc)
        return {"status": "skipped", "reason": str(exc)}
    files = res.write(out)
    log.info("analysis %s: %s", name, ", ".join(f.name for f in files))
    if name == "types":
        job.groups = types.type_groups(res.tables[""], len(job.inv.glaciers))
    return {"status": "done", "files": sorted(f.name for f in files), "notes": res.notes,
            "seconds": round(time.perf_counter() - t0, 3)}  # fmt: skip


def run_analyses(
    inventory: str | Path,
    out_dir: str | Path,
    *,
    dem: str | Path | None = None,
    dem_coarse: str | Path | None = None,
    debris: str | Path | None = None,
    snow: str | Path | None = None,
    ela_column: str | None = None,
    surge_list: str | Path | None = None,
    layer: str | None = None,
    only: list[str] | tuple[str, ...] | None = None,
    options: AnalysisOptions | None = None,
    force: bool = False,
) -> dict:
    """Run the analyses on an inventory file and write ``out_dir`` (see the module docstring).

    Returns the summary written to ``out_dir/analysis.json``: per analysis ``status`` (done / skipped),
    ``reason``, ``files``, ``notes``, ``seconds``.
    """
    from glacierinv.analysis import types
    from glacierinv.io.atomic import atomic_path, refuse_overwrite

    opt = options or AnalysisOptions()
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        refuse_overwrite(out, force)
    wanted = _wanted(only)
    inv = _read_inputs(inventory, layer, dem, dem_coarse, debris, snow)
    surge_ids = types.read_surge_list(surge_list) if surge_list else None
    job = _Job(inv, opt, dem, dem_coarse, snow, ela_column, surge_ids)
    summary: dict = {"inventory": str(inventory), "n_glaciers": len(inv.glaciers),
                     "inputs": {"dem": str(dem) if dem else None, "dem_coarse": str(dem_coarse) if dem_coarse else None,
                                "debris": str(debris) if debris else None, "snow": str(snow) if snow else None,
                                "ela_column": ela_column, "surge_list": str(surge_list) if surge_list else None},
                     "options": {k: v for k, v in asdict(opt).items() if k != "extra"},
                     "analyses": _skipped_for_inputs(job, wanted, only, inventory)}  # fmt: skip
    todo = [w for w in wanted if w not in summary["analyses"]]
    with atomic_path(out) as tmp:
        tmp.mkdir(parents=True)
        _sample_terrain(job, todo, summary)
        for name in todo:
            summary["analyses"][name] = _run_one(name, job, tmp, only)
        (tmp / "analysis.json").write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
    return summary


def _groups(groups, inv, opt: AnalysisOptions) -> dict[str, np.ndarray]:
    """Type groups when types ran, else the glaciers ≥ the type size threshold as one group ``all``."""
    if groups is not None:
        return groups
    sel = inv.area_km2 >= opt.min_type_area_km2
    if not sel.any():
        sel = np.ones(len(inv.glaciers), dtype=bool)
    return {"all": sel}


def run_inputs(run_dir: str | Path) -> dict[str, Path | None]:
    """The DEMs a run used (``inputs.dem``, ``inputs.dem_coarse`` of ``run.json``, resolved), if they exist."""
    run = Path(run_dir)
    manifest_path = run / "run.json"
    if not manifest_path.exists():
        return {"dem": None, "dem_coarse": None}
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        raise InputError("run.json is not valid JSON", manifest_path, "Re-run the pipeline") from None
    base = Path(manifest.get("config_base_dir") or run)
    inputs = (manifest.get("config") or {}).get("inputs") or {}
    out: dict[str, Path | None] = {}
    for key in ("dem", "dem_coarse"):
        p = inputs.get(key)
        path = None if p is None else (Path(p) if Path(p).is_absolute() else base / p)
        out[key] = path if path is not None and path.exists() else None
    return out


def analyse_run(
    run_dir: str | Path, *, options: AnalysisOptions | None = None, force: bool = False, **kwargs
) -> dict:
    """Run the analyses of a run folder: ``RUN/inventory.gpkg`` → ``RUN/analysis/``, with the run's DEMs.

    Extra keyword arguments (``snow``, ``ela_column``, ``surge_list``, ``only`` …) go to :func:`run_analyses`.
    """
    run = Path(run_dir)
    if not (run / RunFolder.INVENTORY).exists():
        raise InputError("no inventory.gpkg in the run folder", run, "Run the attributes stage first")
    dems = run_inputs(run)
    kwargs.setdefault("dem", dems["dem"])
    kwargs.setdefault("dem_coarse", dems["dem_coarse"])
    return run_analyses(run / RunFolder.INVENTORY, run / "analysis", options=options, force=force, **kwargs)
