"""Checked raster reading and atomic, tiled, windowed raster writing (rasterio at the edge).

Conventions: arrays are (bands, rows, cols) when multi-band, (rows, cols) for one band; nodata is
returned as NaN for float reads; windows are :class:`rasterio.windows.Window`. Nothing here loads a whole
raster unless the function says so and the size is under ``max_pixels``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.errors import RasterioIOError
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

from glacierinv.errors import InputError, NoOverlap
from glacierinv.io.atomic import atomic_path
from glacierinv.io.grid import Grid

__all__ = [
    "DEFAULT_BLOCK",
    "MAX_WHOLE_PIXELS",
    "CLASS_COLOURS",
    "RasterWriter",
    "class_writers",
    "write_category_names",
    "band_index",
    "check_integrity",
    "iter_windows",
    "open_on_grid",
    "open_raster",
    "read_on_grid",
    "read_raster",
    "read_window",
    "raster_grid",
    "warped_to_grid",
    "write_raster",
]

DEFAULT_BLOCK = 1024
# DEFLATE level of the large rasters the pipeline writes window by window (stack, classes, probabilities):
# level 1 costs ~3x less CPU than GDAL's default 6 for files ~5 % larger; pixel values are the same
FAST_ZLEVEL = 1
MAX_WHOLE_PIXELS = 64_000_000  # refuse whole-raster reads above this many pixels per band


def open_raster(path: str | Path, *, need_crs: bool = True) -> rasterio.DatasetReader:
    """Open a raster for reading with clear errors (missing, not a raster, no CRS, no transform)."""
    p = Path(path)
    if not p.exists():
        raise InputError("file not found", p, "Check the path")
    try:
        ds = rasterio.open(p)
    except RasterioIOError:
        raise InputError(
            "not a readable raster (GDAL cannot open it)", p, "Give a GeoTIFF or another GDAL raster"
        ) from None
    if need_crs and ds.crs is None:
        ds.close()
        raise InputError("raster has no CRS", p, "Assign one, e.g. `gdal_edit.py -a_srs EPSG:32643 FILE`")
    if need_crs and ds.transform.is_identity:
        ds.close()
        raise InputError("raster has no geotransform", p, "Georeference it first")
    return ds


def raster_grid(path: str | Path) -> Grid:
    """The :class:`Grid` of a raster file."""
    with open_raster(path) as ds:
        return Grid(ds.crs, ds.transform, (ds.height, ds.width))


def band_index(ds: rasterio.DatasetReader, name: str) -> int:
    """1-based index of the band whose description is ``name`` (case-insensitive)."""
    names = [(d or "").lower() for d in ds.descriptions]
    if name.lower() not in names:
        raise InputError(
            f"band '{name}' missing; bands are: {', '.join(d or '?' for d in ds.descriptions)}",
            ds.name,
            "Rebuild the stack with that channel or change the channel list in the config",
        )
    return names.index(name.lower()) + 1


def nodata_to_nan(arr: np.ndarray, nodata: float | None) -> np.ndarray:
    """``arr`` as float32 with cells equal to ``nodata`` set to NaN (no copy when already float32 and no nodata)."""
    out = arr.astype("float32", copy=False)
    if nodata is not None and not np.isnan(nodata):
        out = np.where(arr == nodata, np.float32(np.nan), out)
    return out


def _check_readable(ds: rasterio.DatasetReader, fn, *args, **kwargs) -> np.ndarray:
    try:
        return fn(*args, **kwargs)
    except RasterioIOError as exc:
        raise InputError(
            f"raster is corrupt or truncated ({exc})", ds.name, "Re-download or re-export it"
        ) from None


def read_window(
    path_or_ds: str | Path | rasterio.DatasetReader,
    window: Window | None = None,
    bands: Sequence[int] | int | None = None,
    *,
    as_float: bool = True,
    boundless: bool = False,
) -> np.ndarray:
    """Read a window (all bands by default); float32 with NaN for nodata when ``as_float``."""
    ctx = (
        open_raster(path_or_ds) if isinstance(path_or_ds, (str, Path)) else contextlib.nullcontext(path_or_ds)
    )
    with ctx as ds:
        arr = _check_readable(ds, ds.read, bands, window=window, boundless=boundless, fill_value=ds.nodata)
        return nodata_to_nan(arr, ds.nodata) if as_float else arr


def read_raster(
    path: str | Path,
    bands: Sequence[int] | int | None = None,
    *,
    as_float: bool = True,
    max_pixels: int = MAX_WHOLE_PIXELS,
) -> tuple[np.ndarray, Grid]:
    """Read a *whole* raster with its grid; refuses rasters larger than ``max_pixels`` per band."""
    with open_raster(path) as ds:
        if ds.width * ds.height > max_pixels:
            raise InputError(
                f"raster is {ds.width}x{ds.height} px, too large to read whole",
                path,
                "Use a windowed stage instead",
            )
        arr = read_window(ds, None, bands, as_float=as_float)
        return arr, Grid(ds.crs, ds.transform, (ds.height, ds.width))


def read_on_grid(
    path: str | Path,
    grid: Grid,
    window: Window | None = None,
    bands: Sequence[int] | int | None = None,
    resampling: Resampling = Resampling.bilinear,
    *,
    require_overlap: bool = True,
    src_nodata: float | None = None,
) -> np.ndarray:
    """Read ``path`` resampled onto ``grid`` (or a window of it): co-registration onto the primary grid.

    Reprojects on the fly through a WarpedVRT, so only the window is computed. Returns float32 with
    NaN outside the source or at its nodata (``src_nodata`` overrides the file's, e.g. 0 for Landsat L1
    DN files that do not declare their fill value).
    """
    with open_raster(path) as src:
        if require_overlap:
            check_overlap(src, grid, path)
        in_nodata = src_nodata if src_nodata is not None else src.nodata
        nodata = in_nodata if in_nodata is not None else np.nan
        with warped_to_grid(src, grid, resampling, src_nodata=in_nodata, nodata=nodata) as vrt:
            arr = _check_readable(src, vrt.read, bands, window=window)
            return nodata_to_nan(arr, nodata)


def warped_to_grid(
    src: rasterio.DatasetReader,
    grid: Grid,
    resampling: Resampling = Resampling.bilinear,
    *,
    src_nodata: float | None = None,
    nodata: float = np.nan,
) -> WarpedVRT:
    """A float32 WarpedVRT view of the open raster ``src`` on ``grid`` (reprojected on the fly, window by
    window); use it as a context manager. ``src_nodata`` defaults to the file's nodata; cells outside the
    source or at its nodata read as ``nodata``."""
    return WarpedVRT(
        src,
        crs=grid.crs,
        transform=grid.transform,
        width=grid.width,
        height=grid.height,
        resampling=resampling,
        src_nodata=src_nodata if src_nodata is not None else src.nodata,
        nodata=nodata,
        dtype="float32",
    )


def open_on_grid(
    stack: contextlib.ExitStack, path: str | Path, grid: Grid, resampling: Resampling = Resampling.bilinear
) -> WarpedVRT:
    """Open ``path`` as a float32 view on ``grid`` (NaN outside it or at its nodata), kept open by ``stack``."""
    ds = stack.enter_context(open_raster(path))
    return stack.enter_context(warped_to_grid(ds, grid, resampling))


def check_overlap(src: rasterio.DatasetReader, grid: Grid, path: str | Path) -> None:
    """Raise :class:`NoOverlap` if the raster's footprint does not intersect ``grid``."""
    from rasterio.warp import transform_bounds

    try:
        b = transform_bounds(src.crs, grid.crs, *src.bounds, densify_pts=21)
    except Exception:  # noqa: BLE001 - any PROJ failure means no usable overlap
        b = (np.inf, np.inf, -np.inf, -np.inf)
    g = grid.bounds
    if b[0] >= g[2] or b[2] <= g[0] or b[1] >= g[3] or b[3] <= g[1]:
        raise NoOverlap(
            f"does not overlap the primary grid (its bounds {tuple(round(v) for v in b)} vs grid {tuple(round(v) for v in g)} in {grid.crs})",
            path,
            "Check that the inputs cover the same area and carry the right CRS",
        )


def iter_windows(
    grid: Grid | tuple[int, int], block: int = DEFAULT_BLOCK, overlap: int = 0
) -> Iterator[tuple[Window, Window]]:
    """Yield (read_window, core_window) pairs covering the grid in blocks of ``block`` px.

    ``read_window`` is the core enlarged by ``overlap`` px on each side (clipped to the grid); the core
    windows tile the grid exactly once. Process the read window, keep the core.
    """
    height, width = grid.shape if isinstance(grid, Grid) else grid
    if block <= 0:
        raise ValueError("block must be positive")
    for row in range(0, height, block):
        for col in range(0, width, block):
            h = min(block, height - row)
            w = min(block, width - col)
            r0, c0 = max(0, row - overlap), max(0, col - overlap)
            r1, c1 = min(height, row + h + overlap), min(width, col + w + overlap)
            yield Window(c0, r0, c1 - c0, r1 - r0), Window(col, row, w, h)


def core_slice(read: Window, core: Window) -> tuple[slice, slice]:
    """Slices that cut the core window out of an array read over ``read``."""
    r = int(core.row_off - read.row_off)
    c = int(core.col_off - read.col_off)
    return slice(r, r + int(core.height)), slice(c, c + int(core.width))


def _profile(
    grid: Grid, count: int, dtype: str, nodata: float | None, block: int, zlevel: int | None = None
) -> dict:
    tiled = grid.width >= 256 and grid.height >= 256
    profile = {
        "driver": "GTiff",
        "width": grid.width,
        "height": grid.height,
        "count": count,
        "dtype": dtype,
        "crs": grid.crs,
        "transform": grid.transform,
        "nodata": nodata,
        "compress": "deflate",
        "tiled": tiled,
        "BIGTIFF": "IF_SAFER",
    }
    if tiled:
        profile.update(blockxsize=256, blockysize=256)
    if zlevel is not None:
        profile["zlevel"] = zlevel
    if count > 1:
        profile["interleave"] = "band"
    return profile


class RasterWriter:
    """Windowed, atomic GeoTIFF writer: ``with RasterWriter(path, grid, ...) as w: w.write(arr, window)``.

    The file appears under its final name only when the block exits without error. ``zlevel``: DEFLATE
    level (1 fastest … 12 smallest with libdeflate; None = GDAL's default, 6).
    """

    def __init__(
        self,
        path: str | Path,
        grid: Grid,
        count: int = 1,
        dtype: str = "float32",
        nodata: float | None = None,
        descriptions: Sequence[str] | None = None,
        tags: dict[str, str] | None = None,
        zlevel: int | None = None,
    ):
        self.path, self.grid, self.count, self.zlevel = Path(path), grid, count, zlevel
        self.dtype, self.nodata, self.descriptions, self.tags = dtype, nodata, descriptions, tags
        self._atomic = None
        self._ds = None

    def __enter__(self) -> RasterWriter:
        self._atomic = atomic_path(self.path)
        tmp = self._atomic.__enter__()
        if self.nodata is None and np.dtype(self.dtype).kind == "f":
            self.nodata = float("nan")
        self._ds = rasterio.open(
            tmp, "w", **_profile(self.grid, self.count, self.dtype, self.nodata, DEFAULT_BLOCK, self.zlevel)
        )
        if self.descriptions:
            if len(self.descriptions) != self.count:
                raise ValueError("one description per band is required")
            for i, d in enumerate(self.descriptions, start=1):
                self._ds.set_band_description(i, d)
        if self.tags:
            self._ds.update_tags(**self.tags)
        return self

    def write(self, array: np.ndarray, window: Window | None = None) -> None:
        arr = np.asarray(array)
        if arr.ndim == 2:
            arr = arr[None]
        if np.dtype(self.dtype).kind != "f" and self.nodata is not None and arr.dtype.kind == "f":
            arr = np.where(np.isnan(arr), self.nodata, arr)
        self._ds.write(arr.astype(self.dtype, copy=False), window=window)

    def __exit__(self, exc_type, exc, tb) -> None:
        self._ds.close()
        self._atomic.__exit__(exc_type, exc, tb)


@contextlib.contextmanager
def class_writers(
    classes_path, proba_path, grid: Grid, class_names: Sequence[str], zlevel: int | None = None
):
    """Open the writers of a segmentation: ``classes.tif`` (uint8, 255 nodata) and, when ``proba_path`` is
    given, ``proba.tif`` (one uint8 band per class, probability × 255). Yields the list of open writers;
    all are committed together, or none on error. ``zlevel``: DEFLATE level (see :class:`RasterWriter`)."""
    with contextlib.ExitStack() as stack:
        opened = [
            stack.enter_context(
                RasterWriter(classes_path, grid, 1, "uint8", 255, descriptions=["class"], zlevel=zlevel)
            )
        ]
        opened[0]._ds.write_colormap(1, CLASS_COLOURS)  # GIS shows the classes in their colours at once
        if proba_path is not None:
            opened.append(
                stack.enter_context(
                    RasterWriter(
                        proba_path,
                        grid,
                        len(class_names),
                        "uint8",
                        None,
                        descriptions=list(class_names),
                        zlevel=zlevel,
                    )  # fmt: skip
                )
            )
        yield opened
    write_category_names(classes_path, class_names)


#: Colour table of ``classes.tif`` (RGBA): background light grey, clean ice blue, debris orange (Okabe-Ito,
#: as in the report), nodata (255) transparent.
CLASS_COLOURS = {0: (230, 230, 230, 255), 1: (86, 180, 233, 255), 2: (230, 159, 0, 255), 255: (0, 0, 0, 0)}


def write_category_names(path: str | Path, names: Sequence[str], nodata_name: str = "nodata") -> Path:
    """Write the category names of a class raster's band 1 (value k → ``names[k]``, 255 → ``nodata_name``)
    into its GDAL PAM sidecar ``<path>.aux.xml``, which GDAL and QGIS read (``gdalinfo`` lists them as
    Categories; QGIS uses them as class labels with the colour table). Returns the sidecar's path."""
    from xml.sax.saxutils import escape

    cats = [escape(str(n)) for n in names] + [""] * (255 - len(names)) + [escape(nodata_name)]
    body = "".join(f"<Category>{c}</Category>" for c in cats)
    xml = (f'<PAMDataset>\n  <PAMRasterBand band="1">\n    <CategoryNames>{body}</CategoryNames>\n'
           "  </PAMRasterBand>\n</PAMDataset>\n")  # fmt: skip
    target = Path(f"{path}.aux.xml")
    with atomic_path(target) as tmp:
        tmp.write_text(xml, encoding="utf-8")
    return target


def write_raster(
    path: str | Path,
    array: np.ndarray,
    grid: Grid,
    *,
    nodata: float | None = None,
    dtype: str | None = None,
    descriptions: Sequence[str] | None = None,
    tags: dict[str, str] | None = None,
) -> Path:
    """Write a whole in-memory array atomically as a tiled, compressed GeoTIFF; returns the path."""
    arr = np.asarray(array)
    count = 1 if arr.ndim == 2 else arr.shape[0]
    if arr.shape[-2:] != grid.shape:
        raise ValueError(f"array shape {arr.shape[-2:]} does not match grid shape {grid.shape}")
    with RasterWriter(path, grid, count, dtype or str(arr.dtype), nodata, descriptions, tags) as w:
        w.write(arr)
    return Path(path)


_INTEGRITY_SAMPLE_PX = 128  # px of the decimated read of check_integrity


def check_integrity(ds: rasterio.DatasetReader, key: str) -> None:
    """Read the last block (truncation) and a decimated overview (all-NaN / all-nodata) of ``ds``;
    one clear error naming ``key`` (the input's config key or file name) otherwise."""
    h, w = ds.height, ds.width
    try:
        ds.read(1, window=Window(max(0, w - 1), max(0, h - 1), 1, 1))
        sample = ds.read(
            1,
            out_shape=(min(h, _INTEGRITY_SAMPLE_PX), min(w, _INTEGRITY_SAMPLE_PX)),
            resampling=Resampling.nearest,
            masked=True,
        )
    except RasterioIOError as exc:
        raise InputError(
            f"raster is corrupt or truncated ({str(exc).splitlines()[0]})",
            ds.name,
            "Re-export or re-download it",
        ) from None
    values = np.ma.masked_invalid(sample.astype("float64"))
    if values.count() == 0:
        raise InputError(
            f"input '{key}' holds no valid data (all nodata/NaN in band 1)",
            ds.name,
            "Check the file and its nodata value",
        )
