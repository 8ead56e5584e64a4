"""Per-glacier DEM windows on a local metric grid, and the glacier mask on it.

Every statistic is computed on a metric grid: the DEM's own grid when it is projected, else a local UTM
grid at the DEM's resolution in metres (slope from a lat/lon DEM in degrees is the classic bug). Only a
window around each glacier is read.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import rasterio.features
from affine import Affine
from pyproj import CRS
from rasterio.enums import Resampling
from rasterio.windows import Window
from shapely.geometry.base import BaseGeometry

from glacierinv.errors import InputError, NoOverlap
from glacierinv.geometry import box_areas, utm_epsg
from glacierinv.io.dem import check_elevations_m, metric_grid, z_factor
from glacierinv.io.grid import Grid
from glacierinv.io.raster import nodata_to_nan, open_raster, read_on_grid, warped_to_grid
from glacierinv.taskmap import map_batched

log = logging.getLogger(__name__)

__all__ = [
    "DemWindows",
    "GlacierWindow",
    "array_windows",
    "check_dem_covers",
    "dem_resolution_m",
    "glacier_window",
    "complex_groups",
    "map_glacier_windows",
]


@dataclass
class GlacierWindow:
    """A glacier's DEM window: elevation (m, NaN nodata), the glacier mask, the grid and the geometry in it."""

    dem_m: np.ndarray
    mask: np.ndarray
    grid: Grid
    geometry: BaseGeometry  # the glacier in grid.crs

    @property
    def res_m(self) -> float:
        return self.grid.res[0]


def dem_resolution_m(dem_path: str | Path) -> tuple[float, CRS | None]:
    """(ground pixel size in metres, the DEM's CRS when its grid is metric, else None).

    None (the grid is warped per glacier to UTM) for geographic DEMs and for projected DEMs that are not
    in metres or whose scale factor is not ≈ 1 (Web Mercator): see :func:`glacierinv.io.dem.metric_grid`.
    """
    with open_raster(dem_path) as ds:
        ok, res_m = metric_grid(ds)
        if ok:
            return float(abs(ds.transform.a)), CRS.from_user_input(ds.crs)
        if ds.crs.is_projected:
            log.info("%s: %s is not a ground-metric grid (scale factor ≠ 1 or not metres): warped per "
                     "glacier to UTM at %.1f m", dem_path, ds.crs.to_string(), res_m)  # fmt: skip
        return res_m, None


def glacier_window(
    geometry: BaseGeometry,
    crs,
    dem_path: str | Path,
    *,
    res_m: float,
    dem_crs: CRS | None,
    margin_px: int = 2,
) -> GlacierWindow:
    """Warp the DEM around ``geometry`` (given in ``crs``) onto a metric grid and rasterise the glacier."""
    geo = gpd.GeoSeries([geometry], crs=crs)
    metric = dem_crs if dem_crs is not None else geo.estimate_utm_crs()
    g = geo.to_crs(metric).iloc[0]
    left, bottom, right, top = g.bounds
    pad = margin_px * res_m
    left = np.floor((left - pad) / res_m) * res_m
    top = np.ceil((top + pad) / res_m) * res_m
    right = np.ceil((right + pad) / res_m) * res_m
    bottom = np.floor((bottom - pad) / res_m) * res_m
    grid = Grid.from_bounds(metric, (left, bottom, right, top), res_m)
    dem = read_on_grid(dem_path, grid, bands=1, resampling=Resampling.bilinear, require_overlap=False)
    mask = rasterio.features.geometry_mask([g], grid.shape, grid.transform, invert=True)
    if not mask.any():  # a glacier smaller than a cell: take the cell holding its representative point
        p = g.representative_point()
        col, row = ~grid.transform * (p.x, p.y)
        mask[min(int(row), grid.height - 1), min(int(col), grid.width - 1)] = True
    return GlacierWindow(dem, mask, grid, g)


class DemWindows:
    """The DEM opened once, cutting per-glacier windows on a metric grid (the fast path of the stage).

    Projected DEMs are read as plain windows of their own grid (no resampling, cells outside the DEM are
    NaN); geographic DEMs are warped (bilinear) to the glacier's UTM zone at the DEM's ground resolution.
    Use as a context manager. A glacier whose window would exceed ``max_cells`` (default 5·10⁷ cells,
    ~200 MB per float32 array; the stage holds a few such arrays) is warped to a grid coarsened by an integer
    factor, with a warning, so memory stays bounded whatever the glacier size.
    """

    def __init__(self, dem_path: str | Path, max_cells: int = 50_000_000):
        self.res_m, self.dem_crs = dem_resolution_m(dem_path)
        self.max_cells = max_cells
        self.path = dem_path
        self.ds = open_raster(dem_path)
        # metres per DEM unit (a DemPath's z_unit, the band unit, a compound CRS's vertical unit, else 1)
        self.z_factor, self._z_how = z_factor(self.ds, getattr(dem_path, "z_unit", None))

    def _metres(self, z: np.ndarray) -> np.ndarray:
        """DEM values in metres; implausible glacier elevations are refused (feet, undeclared nodata)."""
        if self.z_factor != 1.0:
            z = z * np.float32(self.z_factor)
        if np.isfinite(z).any():
            check_elevations_m(float(np.nanmin(z)), float(np.nanmax(z)), self.path, self._z_how)
        return z

    def __enter__(self) -> DemWindows:
        return self

    def __exit__(self, *exc) -> None:
        self.ds.close()

    def metric_geometries(self, geoms: gpd.GeoSeries) -> list[tuple[BaseGeometry, CRS]]:
        """Each geometry in its metric CRS (the DEM's, or its UTM zone), transformed in batches."""
        if self.dem_crs is not None:
            return [(g, self.dem_crs) for g in geoms.to_crs(self.dem_crs)]
        pts = geoms.representative_point().to_crs(4326)
        epsg = np.array([utm_epsg(p.x, p.y) for p in pts])
        out: list = [None] * len(geoms)
        for code in np.unique(epsg):
            idx = np.flatnonzero(epsg == code)
            crs = CRS.from_epsg(int(code))
            for i, g in zip(idx, geoms.iloc[idx].to_crs(crs), strict=True):
                out[i] = (g, crs)
        return out

    def window(
        self, g: BaseGeometry, crs: CRS, margin_px: int = 2, res_m: float | None = None
    ) -> GlacierWindow:
        """The :class:`GlacierWindow` of ``g`` (given in the metric ``crs`` from :meth:`metric_geometries`).

        ``res_m``: read on a grid of this cell size (m, coarser than the DEM's; bilinear) instead of the
        DEM's own grid; ``margin_px`` is then in cells of that grid.
        """
        if res_m is not None and res_m > self.res_m:
            return self._warped(g, crs, margin_px, res_m=res_m)
        left, bottom, right, top = g.bounds
        cells = (right - left) * (top - bottom) / self.res_m**2
        if cells > self.max_cells:  # bounded memory: a coarser grid for a huge glacier
            factor = float(np.ceil(np.sqrt(cells / self.max_cells)))
            log.warning("glacier window of %.0f cells > %d: computed at %.0f× coarser resolution",
                        cells, self.max_cells, factor)  # fmt: skip
            return self._warped(g, crs, margin_px, res_m=self.res_m * factor)
        if self.dem_crs is None:
            return self._warped(g, crs, margin_px)
        ds = self.ds
        dem, transform = _cut(
            lambda win: nodata_to_nan(ds.read(1, window=win), ds.nodata), ds.transform, ds.shape, g, margin_px
        )
        grid = Grid(crs, transform, dem.shape)
        return GlacierWindow(self._metres(dem), _mask(g, grid), grid, g)

    def _warped(self, g: BaseGeometry, crs: CRS, margin_px: int, res_m: float | None = None) -> GlacierWindow:
        res_m = res_m or self.res_m
        left, bottom, right, top = g.bounds
        pad = margin_px * res_m
        bounds = (
            np.floor((left - pad) / res_m) * res_m,
            np.floor((bottom - pad) / res_m) * res_m,
            np.ceil((right + pad) / res_m) * res_m,
            np.ceil((top + pad) / res_m) * res_m,
        )
        grid = Grid.from_bounds(crs, bounds, res_m)
        nodata = self.ds.nodata if self.ds.nodata is not None else np.nan
        with warped_to_grid(self.ds, grid, Resampling.bilinear, nodata=nodata) as vrt:
            dem = nodata_to_nan(vrt.read(1), nodata)
        return GlacierWindow(self._metres(dem), _mask(g, grid), grid, g)


def array_windows(
    dem_m: np.ndarray, grid: Grid, geoms: gpd.GeoSeries, margin_px: int = 2
) -> Iterator[GlacierWindow]:
    """The :class:`GlacierWindow` of each geometry, cut from a DEM array in memory (pure counterpart of
    :class:`DemWindows` for a projected DEM).

    Parameters
    ----------
    dem_m : (rows, cols) float array
        Elevations in metres (NaN = no data) on ``grid``, which must be metric (projected, metres).
    grid : Grid
        Georeferencing of ``dem_m``.
    geoms : GeoSeries
        Glacier geometries in any CRS (transformed to ``grid.crs``).
    margin_px : int
        Cells added around each glacier's bounds; cells outside ``dem_m`` are NaN.
    """
    if not grid.is_metric:
        raise InputError("the DEM grid must be projected in metres to cut glacier windows from it")
    dem_m = np.asarray(dem_m, "float32")
    crs = CRS.from_user_input(grid.crs)
    for g in geoms.to_crs(crs):
        dem, transform = _cut(lambda win: dem_m[win.toslices()], grid.transform, dem_m.shape, g, margin_px)
        wgrid = Grid(crs, transform, dem.shape)
        yield GlacierWindow(dem, _mask(g, wgrid), wgrid, g)


def _cut(read, transform: Affine, shape: tuple[int, int], g: BaseGeometry, margin_px: int):
    """(DEM window around ``g`` with ``margin_px`` cells, NaN outside the raster; its transform).

    ``read(window)`` returns the float32 values of a rasterio window that lies inside the raster.
    """
    height, width = shape
    inv = ~transform
    left, bottom, right, top = g.bounds
    cs, rs = zip(inv @ (left, top), inv @ (right, bottom), strict=True)
    c0, c1 = int(np.floor(min(cs))) - margin_px, int(np.ceil(max(cs))) + margin_px
    r0, r1 = int(np.floor(min(rs))) - margin_px, int(np.ceil(max(rs))) + margin_px
    dem = np.full((r1 - r0, c1 - c0), np.nan, "float32")
    rr0, rr1 = max(r0, 0), min(r1, height)
    cc0, cc1 = max(c0, 0), min(c1, width)
    if rr1 > rr0 and cc1 > cc0:
        win = Window(cc0, rr0, cc1 - cc0, rr1 - rr0)
        dem[rr0 - r0 : rr1 - r0, cc0 - c0 : cc1 - c0] = read(win)
    return dem, transform @ Affine.translation(c0, r0)


def _mask(g: BaseGeometry, grid: Grid) -> np.ndarray:
    mask = rasterio.features.geometry_mask([g], grid.shape, grid.transform, invert=True)
    if not mask.any():  # a glacier smaller than a cell: take the cell holding its representative point
        p = g.representative_point()
        col, row = ~grid.transform * (p.x, p.y)
        mask[min(max(int(row), 0), grid.height - 1), min(max(int(col), 0), grid.width - 1)] = True
    return mask


def check_dem_covers(gdf: gpd.GeoDataFrame, dem_path: str | Path) -> None:
    """Raise :class:`~glacierinv.errors.NoOverlap` when the DEM's footprint misses the outlines' extent."""
    from rasterio.warp import transform_bounds

    with open_raster(dem_path) as ds:
        b = transform_bounds(ds.crs, gdf.crs, *ds.bounds, densify_pts=21)
    g = gdf.total_bounds
    if b[0] >= g[2] or b[2] <= g[0] or b[1] >= g[3] or b[3] <= g[1]:
        raise NoOverlap("DEM does not cover the glacier outlines", dem_path, "Give a DEM over the same area")


#: ``func(dems, geometry, crs, extra)`` of :func:`map_glacier_windows`: one glacier's result, computed on
#: the DEM opened in the task (``geometry`` in its metric ``crs``, as from :meth:`DemWindows.metric_geometries`)
GlacierFunc = Callable[["DemWindows", BaseGeometry, CRS, Any], Any]


@dataclass(frozen=True)
class _WindowSpec:
    """What every task of :func:`map_glacier_windows` computes, on which DEM."""

    func: GlacierFunc
    dem: str
    z_unit: str | None  # a DemPath's vertical unit (a Path subclass loses its attributes when pickled)
    crs: Any  # the CRS of the glaciers' geometries (the caller's)
    max_cells: int


def _window_batch(spec: _WindowSpec, batch: list) -> list:
    """Run ``spec.func`` on each (geometry, extra) of the batch, the DEM opened once, window by window."""
    from glacierinv.config import dem_path

    geoms = gpd.GeoSeries([g for g, _ in batch], crs=spec.crs)
    with DemWindows(dem_path(spec.dem, spec.z_unit), max_cells=spec.max_cells) as dems:
        return [
            spec.func(dems, g, crs, extra)
            for (g, crs), (_, extra) in zip(dems.metric_geometries(geoms), batch, strict=True)
        ]


def complex_groups(glaciers: gpd.GeoDataFrame) -> list[str] | None:
    """The complex of each glacier unit (``outline_id``, written by the units stage), or None without it:
    the units of one complex are computed in one task."""
    return list(glaciers["outline_id"].astype(str)) if "outline_id" in glaciers.columns else None


def map_glacier_windows(
    func: GlacierFunc,
    geoms: gpd.GeoSeries,
    dem_path: str | Path,
    *,
    extras: Sequence[Any] | None = None,
    groups: Sequence[Hashable] | None = None,
    max_cells: int = 50_000_000,
) -> list:
    """``[func(dems, g, crs, extra) for each glacier]`` in order, as tasks over batches of glaciers.

    Each task opens the DEM once (:class:`DemWindows`) and reads only its glaciers' windows, so a worker
    holds one glacier's window at a time and nothing raster-sized travels between processes. The batches
    run on the run's cluster when the pipeline set one (:mod:`glacierinv.taskmap`), else here in one batch;
    results are identical either way (each glacier's result depends on its own window only).

    Parameters
    ----------
    func
        Module-level function (picklable; ``functools.partial`` of one for options) of the opened
        :class:`DemWindows`, the glacier in its metric CRS, that CRS and the glacier's ``extra``; it cuts
        its own window (``dems.window(g, crs, …)``) and returns a small, picklable result.
    geoms
        Glacier geometries in any CRS.
    dem_path
        The DEM (a :class:`~glacierinv.config.DemPath` keeps its vertical unit in the tasks).
    extras
        One value per glacier passed to ``func`` (ids, per-glacier inputs); default None for each.
    groups
        Group of each glacier (its complex id): a group's glaciers are computed in one task.
    max_cells
        See :class:`DemWindows`.
    """
    n = len(geoms)
    extras = list(extras) if extras is not None else [None] * n
    if n == 0:
        return []
    spec = _WindowSpec(func, str(dem_path), getattr(dem_path, "z_unit", None), geoms.crs, max_cells)
    name = getattr(func, "func", func).__name__.strip("_")
    return map_batched(
        partial(_window_batch, spec),
        list(zip(geoms.geometry.values, extras, strict=True)),
        box_areas(geoms.geometry.values),
        name=name,
        groups=groups,
    )
