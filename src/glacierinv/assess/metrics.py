"""Pixel accuracy of a class map against a reference: confusion matrix, OA, F1, IoU, mIoU (seed Eqs. 4-6).

Conventions
-----------
- Classes are integers ``0 .. n_classes-1`` (default 0 background, 1 clean ice, 2 debris-covered ice);
  ``nodata`` (default 255) in either map excludes the pixel.
- The confusion matrix ``cm[i, j]`` counts pixels of *reference* class ``i`` predicted as class ``j``
  (rows = reference, columns = prediction).
- Overall accuracy (seed Eq. 4, multi-class form) is ``trace(cm) / cm.sum()``.
- Per class ``k`` (one-vs-rest): precision = TP/(TP+FP), recall = TP/(TP+FN),
  F1 = 2PR/(P+R) = 2TP/(2TP+FP+FN) (seed Eq. 5), IoU = TP/(TP+FP+FN) (seed Eq. 6).
- mIoU (seed Eq. 6) averages the IoU over **all classes including background** by default, as is usual
  for semantic segmentation; ``miou_exclude`` drops classes (e.g. background) from the mean. A class
  absent from both maps has an undefined IoU and is left out of the mean.
- Undefined ratios (0/0) are ``None`` in the dictionaries, so the output is strict JSON.
- ``glacier`` scores merge all non-background classes into one "glacier" class (binary ice vs not ice).

Confidence intervals come from a block bootstrap (Efron & Tibshirani 1993; Lahiri 2003): the map is cut
into square spatial blocks, one confusion matrix per block; blocks are resampled with replacement and the
scores recomputed; the percentile interval of the replicates is reported. Blocks larger than the spatial
autocorrelation of errors give honest intervals; pixels are never resampled individually.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from glacierinv.classes import NODATA
from glacierinv.confusion import (
    DEFAULT_CLASS_NAMES,
    confusion_matrix,
    default_class_names,
    scores,
    scores_batch,
)
from glacierinv.errors import InputError
from glacierinv.taskmap import map_batched

__all__ = [
    "DEFAULT_CLASS_NAMES",
    "accuracy_from_rasters",
    "confusion_matrix",
    "scores",
    "scores_batch",
]  # the pixel scores themselves live in glacierinv.confusion (shared with training validation)

log = logging.getLogger(__name__)


def _same_grid(a, b) -> bool:
    return a.shape == b.shape and a.crs == b.crs and a.transform.almost_equals(b.transform, precision=1e-9)


def _read_reference_polygons(path: Path, layers: tuple[str, str] | None, crs):
    """Reference polygons → list of (GeoDataFrame, class value) in the prediction's CRS."""
    from glacierinv.io.vector import list_layers, read_vector

    try:
        names = list_layers(path)
    except InputError:
        raise InputError(
            "reference is neither a readable raster nor a vector file",
            path,
            "Give a class GeoTIFF (0/1/2, 255 nodata) or glacier polygons (GeoPackage, shapefile)",
        ) from None
    glacier_layer, debris_layer = layers or ("glaciers", "debris")
    if glacier_layer not in names:
        if layers is not None:
            raise InputError(f"layer '{glacier_layer}' not found; layers are: {', '.join(names)}", path)
        glacier_layer = names[0]
    out = [(read_vector(path, glacier_layer, polygons=True).to_crs(crs), 1)]
    if debris_layer in names and debris_layer != glacier_layer:
        debris = read_vector(path, debris_layer, polygons=True, allow_empty=True)
        if len(debris):
            out.append((debris.to_crs(crs), 2))
    return out


def _read_regions(regions, region_column: str, crs):
    import geopandas as gpd

    from glacierinv.io.vector import read_vector

    gdf = regions if isinstance(regions, gpd.GeoDataFrame) else read_vector(regions, polygons=True)
    src = regions if not isinstance(regions, gpd.GeoDataFrame) else None
    if gdf.crs is None:
        raise InputError("regions have no CRS", src, "Assign one and save again")
    if region_column not in gdf.columns:
        raise InputError(
            f"regions have no column '{region_column}'; columns are: "
            f"{', '.join(c for c in gdf.columns if c != gdf.geometry.name)}",
            src,
            "Pass --region-column with the name column",
        )
    if gdf[region_column].isna().any():
        raise InputError(f"some regions have no '{region_column}'", src, "Name every region polygon")
    gdf = gdf.to_crs(crs)
    # one label per region name (several polygons may share a name)
    names = list(dict.fromkeys(str(v) for v in gdf[region_column]))
    labels = np.array([names.index(str(v)) + 1 for v in gdf[region_column]], dtype="int32")
    return gdf, labels, names


def _burn(layers, labels_list, grid, dtype="uint8"):
    """Rasterise (GeoDataFrame, value-or-array) pairs in order onto a window grid (later ones on top)."""
    from rasterio.features import rasterize
    from shapely.geometry import box

    out = np.zeros(grid.shape, dtype=dtype)
    bbox = box(*grid.bounds)
    for gdf, values in zip(layers, labels_list, strict=True):
        idx = gdf.sindex.query(bbox, predicate="intersects")
        if len(idx) == 0:
            continue
        vals = np.broadcast_to(np.asarray(values), (len(gdf),))[idx]
        shapes = [(g, int(v)) for g, v in zip(gdf.geometry.values[idx], vals, strict=True)]
        rasterize(shapes, out=out, transform=grid.transform, all_touched=False)
    return out


def accuracy_from_rasters(
    pred_path: str | Path,
    ref_path: str | Path,
    *,
    regions: Any = None,
    region_column: str = "name",
    block_px: int = 1024,
    boot_block_px: int = 128,
    n_boot: int = 200,
    seed: int = 0,
    ci: float = 0.95,
    n_classes: int = 3,
    nodata: int = NODATA,
    class_names: Sequence[str] | None = None,
    miou_exclude: Sequence[int | str] = (),
    ref_layers: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """Accuracy of a class raster against a reference, overall and per region, with bootstrap CIs.

    Confusion matrices are counted per window (memory bounded by ``block_px``²) in tasks on the run's cluster
    when one is set (:mod:`glacierinv.taskmap`) and summed here: the same result for any number of workers.

    Parameters
    ----------
    pred_path
        Predicted class GeoTIFF (``0 .. n_classes-1``, ``nodata``); its grid is the evaluation grid.
    ref_path
        Reference: a class raster (any grid/CRS; resampled onto the prediction grid by nearest neighbour
        when the grids differ; pixels outside it are nodata) or a vector file of polygons, rasterised
        per window (pixel centres): layer ``glaciers`` (or the first layer) → class 1, layer ``debris``
        → class 2, everything else → class 0. ``ref_layers`` = (glacier layer, debris layer) overrides.
    regions
        Optional polygons (path or GeoDataFrame) with a name column ``region_column`` (e.g. west /
        central / east as seed Table 2). Scores are reported per region name and overall (the whole
        valid prediction, inside a region or not). Where regions overlap, the later row wins.
    block_px
        Read window size in pixels (rounded up to a multiple of ``boot_block_px``).
    boot_block_px
        Side of the square spatial blocks resampled by the bootstrap, in pixels.
    n_boot, seed, ci
        Bootstrap replicates (0 disables), random seed, confidence level of the percentile interval.
    class_names, miou_exclude
        See :func:`scores`.

    Returns
    -------
    dict
        JSON-serialisable: ``pred``, ``ref``, ``ref_kind``, ``class_names``, ``pixel_area_m2``,
        ``bootstrap`` (settings), ``overall`` and ``regions`` (name → scores as :func:`scores`, plus
        ``area_km2`` evaluated and ``ci`` = {metric: [low, high]}, with ``n_blocks``).
    """
    _check_settings(block_px, boot_block_px, ci)
    names = list(class_names) if class_names is not None else default_class_names(n_classes)
    spec, region_names = _BlockSpec.build(
        pred_path, ref_path, ref_layers, (regions, region_column), int(boot_block_px), n_classes, nodata
    )
    cms = _block_confusion_matrices(spec, block_px=block_px)
    settings = {"n_boot": n_boot, "block_px": spec.boot_block_px, "seed": seed, "ci": ci}
    return _assessment(cms, region_names, settings, names, miou_exclude, spec.head(names))


def _check_settings(block_px: int, boot_block_px: int, ci: float) -> None:
    if boot_block_px <= 0 or block_px <= 0:
        raise ValueError("block sizes must be positive")
    if not 0 < ci < 1:
        raise ValueError("ci must be in (0, 1)")


def _assessment(
    cms: np.ndarray, region_names: list[str], settings: dict, names: list[str],
    miou_exclude: Sequence[int | str], head: dict[str, Any],
) -> dict[str, Any]:  # fmt: skip
    """The result of :func:`accuracy_from_rasters` from the block confusion matrices
    ``(blocks, 1 + regions, n, n)``: scores and percentile bootstrap CIs (``settings``: n_boot, block_px,
    seed, ci) overall and per region, after ``head``."""
    rng = np.random.default_rng(settings["seed"])
    pix_m2 = head["pixel_area_m2"]

    def summarise(block_cms: np.ndarray) -> dict[str, Any]:
        nonempty = block_cms.reshape(len(block_cms), -1).sum(axis=1) > 0
        bcms = block_cms[nonempty]
        total = bcms.sum(axis=0)
        res = scores(total, names, miou_exclude=miou_exclude)
        res["area_km2"] = total.sum() * pix_m2 / 1e6 if pix_m2 else None
        res["n_blocks"] = int(len(bcms))
        n_boot = settings["n_boot"]
        res["ci"] = (
            _bootstrap_ci(bcms, n_boot, rng, settings["ci"], names, miou_exclude) if n_boot > 0 else None
        )
        return res

    out: dict[str, Any] = head | {
        "miou_averages": "all classes incl. background"
        if not miou_exclude
        else f"all classes except {list(miou_exclude)}",
        "bootstrap": settings | {"method": "percentile"},
        "overall": summarise(cms.sum(axis=1)),
        "regions": {},
    }
    for k, name in enumerate(region_names, start=1):
        sub = cms[:, k]
        if sub.sum() == 0:
            log.warning("region '%s' holds no valid pixel of the prediction", name)
            out["regions"][name] = {"n_pixels": 0}
            continue
        out["regions"][name] = summarise(sub)
    return out


class _Reference:
    """The reference of an accuracy assessment, read per window of the prediction grid: a class raster on
    the same grid, a class raster on another grid (nearest neighbour), or polygons (rasterised)."""

    def __init__(self, path: Path, grid, layers: tuple[str, str] | None, nodata: int):
        import rasterio

        from glacierinv.io.raster import check_overlap, open_raster, raster_grid

        if not path.exists():
            raise InputError("file not found", path, "Check the path")
        try:
            with rasterio.open(path) as ds:
                is_raster = ds.count >= 1
        except rasterio.errors.RasterioIOError:
            is_raster = False
        self.path, self.grid, self.nodata = path, grid, nodata
        self.polygons = None
        self.same_grid = is_raster and _same_grid(grid, raster_grid(path))
        if not is_raster:
            self.polygons = _read_reference_polygons(path, layers, grid.crs)
            self.kind = "polygons"
        elif self.same_grid:
            self.kind = "raster"
        else:
            self.kind = "raster (resampled, nearest)"
            log.info("reference %s is on another grid: resampled onto the prediction grid", path)
            with open_raster(path) as ds:
                check_overlap(ds, grid, path)

    @contextlib.contextmanager
    def opened(self):
        from glacierinv.io.raster import open_raster

        if self.same_grid:
            with open_raster(self.path) as ds:
                yield ds
        else:
            yield None

    def window(self, ds, win) -> np.ndarray:
        """Reference classes of one window (``nodata`` where there is none)."""
        from rasterio.enums import Resampling

        from glacierinv.io.raster import read_on_grid, read_window

        if self.same_grid:
            ref = read_window(ds, win, 1, as_float=False)
            if ds.nodata is not None and ds.nodata != self.nodata:
                ref = np.where(ref == ds.nodata, self.nodata, ref)
            return ref
        if self.polygons is None:
            ref_f = read_on_grid(
                self.path, self.grid, win, 1, resampling=Resampling.nearest, require_overlap=False
            )
            return np.where(np.isnan(ref_f), self.nodata, ref_f).astype("int64")
        wgrid = self.grid.window_grid(win)
        return _burn([g for g, _ in self.polygons], [v for _, v in self.polygons], wgrid)


def _check_class_values(values: np.ndarray, what: str, path: Path, n_classes: int, nodata: int) -> None:
    if values.min() < 0 or values.max() >= n_classes:
        bad = np.unique(values[(values < 0) | (values >= n_classes)])[:5].tolist()
        raise InputError(
            f"{what} holds class values {bad} outside 0..{n_classes - 1} (nodata {nodata})",
            path,
            "Give a class raster (0 background, 1 clean ice, 2 debris, 255 nodata)",
        )


@dataclass(frozen=True)
class _BlockSpec:
    """What every task of :func:`_block_confusion_matrices` needs (picklable: paths, the reference, the
    region polygons and their labels 1.., sizes). ``n_reg`` counts label 0 (outside every region)."""

    pred_path: str
    reference: _Reference
    region_gdf: Any
    region_labels: np.ndarray | None
    n_reg: int
    boot_block_px: int
    nb_cols: int
    n_classes: int
    nodata: int

    @classmethod
    def build(
        cls, pred_path: str | Path, ref_path: str | Path, ref_layers, regions: tuple, boot_block_px: int,
        n_classes: int, nodata: int,
    ) -> tuple[_BlockSpec, list[str]]:  # fmt: skip
        """The spec of an assessment of ``pred_path`` (its grid is the evaluation grid) and the region
        names; ``regions`` is (polygons or None, name column)."""
        from glacierinv.io.raster import raster_grid

        pred_path, ref_path = Path(pred_path), Path(ref_path)
        grid = raster_grid(pred_path)
        reference = _Reference(ref_path, grid, ref_layers, nodata)
        region_gdf = region_labels = None
        names: list[str] = []
        if regions[0] is not None:
            region_gdf, region_labels, names = _read_regions(regions[0], regions[1], grid.crs)
        n_cols = int(np.ceil(grid.width / boot_block_px))
        spec = cls(str(pred_path), reference, region_gdf, region_labels, len(names) + 1, boot_block_px, n_cols,
                   n_classes, nodata)  # fmt: skip
        return spec, names

    def head(self, class_names: list[str]) -> dict[str, Any]:
        """The first entries of :func:`accuracy_from_rasters`'s result: what was assessed against what."""
        return {"pred": self.pred_path, "ref": str(self.reference.path), "ref_kind": self.reference.kind,
                "class_names": class_names, "n_classes": self.n_classes, "nodata": self.nodata,
                "pixel_area_m2": self.pixel_area_m2}  # fmt: skip

    @property
    def grid(self):
        """The evaluation grid (the prediction's)."""
        return self.reference.grid

    @property
    def pixel_area_m2(self) -> float | None:
        """Area of a pixel of the evaluation grid in m² (None unless the grid is metric)."""
        return self.grid.pixel_area_m2 if self.grid.is_metric else None

    @property
    def count_dtype(self) -> str:
        """Counts of one bootstrap block: int32 unless a block could hold 2³¹ pixels."""
        return "int32" if self.boot_block_px**2 < 2**31 else "int64"


def _block_confusion_matrices(spec: _BlockSpec, *, block_px: int) -> np.ndarray:
    """One confusion matrix per non-empty bootstrap block and region label, counted window by window.

    The windows of ``block_px`` rounded up to a multiple of the bootstrap block (no block spans two) are
    counted as tasks over batches of windows (:func:`glacierinv.taskmap.map_batched`: on the run's cluster
    when one is set, else here in one batch); each task reads its own windows and returns each window's
    blocks and their small matrices, summed here (integers: the same result for any batching). Returns an
    int64 array ``(blocks, n_reg, n_classes, n_classes)`` in row-major block order; raises when no pixel
    is valid in both maps.
    """
    from glacierinv.io.raster import iter_windows

    grid = spec.grid
    nb_rows = int(np.ceil(grid.height / spec.boot_block_px))
    n = spec.n_classes
    # one confusion matrix per bootstrap block and region: (blocks, n_reg, n, n), 36 bytes x n_reg per block
    cms = np.zeros((nb_rows * spec.nb_cols, spec.n_reg, n, n), dtype=spec.count_dtype)
    bb = spec.boot_block_px
    windows = [win for _, win in iter_windows(grid, int(np.ceil(block_px / bb) * bb), 0)]
    per_window = map_batched(
        partial(_windows_counts, spec), windows, [int(w.width) * int(w.height) for w in windows],
        name="assess_blocks",
    )  # fmt: skip
    for ids, counts in (c for c in per_window if c is not None):
        cms[ids] += counts  # each block lies in one window only
    nonempty = cms.reshape(len(cms), -1).any(axis=1)
    if not nonempty.any():
        raise InputError(
            "no pixel is valid in both the prediction and the reference",
            Path(spec.pred_path),
            f"Check that {spec.reference.path.name} covers the prediction and that nodata is {spec.nodata}",
        )
    return cms[nonempty].astype("int64")


def _windows_counts(spec: _BlockSpec, windows: list) -> list[tuple[np.ndarray, np.ndarray] | None]:
    """A task of :func:`_block_confusion_matrices`: per window, (bootstrap block ids, their confusion
    matrices ``(len(ids), n_reg, n, n)``), or None when no pixel of the window is valid in both maps; the
    prediction and the reference opened once for the batch."""
    from glacierinv.io.raster import open_raster

    with open_raster(spec.pred_path) as pred_ds, spec.reference.opened() as ref_ds:
        return [_window_counts(spec, pred_ds, ref_ds, win) for win in windows]


def _window_counts(spec: _BlockSpec, pred_ds, ref_ds, win) -> tuple[np.ndarray, np.ndarray] | None:
    """One window's bootstrap blocks and their confusion matrices per region label (see
    :func:`_windows_counts`)."""
    from glacierinv.io.raster import read_window

    nodata, n, reference = spec.nodata, spec.n_classes, spec.reference
    pred = read_window(pred_ds, win, 1, as_float=False)
    ref = reference.window(ref_ds, win)
    if pred_ds.nodata is not None and pred_ds.nodata != nodata:
        pred = np.where(pred == pred_ds.nodata, nodata, pred)
    valid = (pred != nodata) & (ref != nodata)
    if not valid.any():
        return None
    if spec.region_gdf is not None:
        wgrid = spec.grid.window_grid(win)
        reg = _burn([spec.region_gdf], [spec.region_labels], wgrid, dtype="int32")[valid]
    else:
        reg = 0
    p = pred[valid].astype("int64")
    r = ref[valid].astype("int64")
    _check_class_values(p, "prediction", Path(spec.pred_path), n, nodata)
    _check_class_values(r, "reference", reference.path, n, nodata)
    # bootstrap block of each pixel, numbered inside the window (its corner lies on the block grid): no sort
    bb = spec.boot_block_px
    nbh, nbw = -(-int(win.height) // bb), -(-int(win.width) // bb)
    local = ((np.arange(int(win.height)) // bb)[:, None] * nbw + np.arange(int(win.width)) // bb)[valid]
    key = (local * spec.n_reg + reg) * (n * n) + r * n + p
    counts = np.bincount(key, minlength=nbh * nbw * spec.n_reg * n * n).reshape(nbh * nbw, spec.n_reg, n, n)
    keep = counts.reshape(nbh * nbw, -1).any(axis=1)  # the blocks holding a valid pixel
    block_row, block_col = np.divmod(np.arange(nbh * nbw), nbw)
    ids = (int(win.row_off) // bb + block_row) * spec.nb_cols + int(win.col_off) // bb + block_col
    return ids[keep], counts[keep].astype(spec.count_dtype)


def _bootstrap_ci(
    bcms: np.ndarray,
    n_boot: int,
    rng: np.random.Generator,
    ci: float,
    names: Sequence[str],
    miou_exclude: Sequence[int | str],
) -> dict[str, list[float | None]]:
    """Percentile CIs of the scores over ``n_boot`` resamplings (with replacement) of block matrices."""
    n_blocks = len(bcms)
    n = bcms.shape[-1]
    flat = bcms.reshape(n_blocks, -1).astype("float64")
    reps = np.empty((n_boot, n * n))
    chunk = max(1, 4_000_000 // n_blocks)  # bounds the (replicates x blocks) weight matrix
    for start in range(0, n_boot, chunk):
        k = min(chunk, n_boot - start)
        weights = rng.multinomial(n_blocks, np.full(n_blocks, 1.0 / n_blocks), size=k)  # (k, B)
        reps[start : start + k] = weights @ flat
    reps = reps.reshape(n_boot, n, n)
    exclude = [list(names).index(c) if isinstance(c, str) else int(c) for c in miou_exclude]
    s = scores_batch(reps, exclude)
    lo_q, hi_q = 100 * (1 - ci) / 2, 100 * (1 + ci) / 2

    def interval(values: np.ndarray) -> list[float | None]:
        v = values[~np.isnan(values)]
        if v.size == 0:
            return [None, None]
        return [float(np.percentile(v, lo_q)), float(np.percentile(v, hi_q))]

    out = {"oa": interval(s["oa"]), "miou": interval(s["miou"])}
    for k, name in enumerate(names):
        for metric in ("f1", "iou", "precision", "recall"):
            out[f"{metric}_{name}"] = interval(s[metric][:, k])
    if "glacier_f1" in s:
        out["f1_glacier"] = interval(s["glacier_f1"])
        out["iou_glacier"] = interval(s["glacier_iou"])
    return out
