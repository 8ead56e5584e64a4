"""The per-glacier raster work of the outlines and attributes stages reads window by window (issue 24).

A glacier complex can cover the whole scene (the synthetic 4096² scene has one over 4096 × 4002 px), so a
"per-glacier window" read is a whole-scene read. These tests give one glacier almost the whole raster, log
every raster read (``DatasetReader.read`` and the warped DEM's ``WarpedVRT.read``) and fail when a read is
larger than the block the function was given: a stage that reads a glacier's whole window again fails here,
without measuring memory or time.
"""

from __future__ import annotations

import numpy as np
import pytest
import rasterio.io
import rasterio.vrt

from glacierinv.attributes.compute import horn_in_strips
from glacierinv.attributes.proba_range import probability_area_range
from glacierinv.attributes.terminus import terminus_types
from glacierinv.dem.terrain import gradient_horn
from glacierinv.outlines.review import ReviewParams, flag_for_review
from tests.outlines._scene import box_px, gdf, write

N = 600  # px; the big glacier covers rows and columns 10..590
BLOCK = 64


class ReadLog:
    """Every read's (file name, rows, columns), through the patched ``read`` methods."""

    def __init__(self, monkeypatch):
        self.reads: list[tuple[str, int, int]] = []
        for cls in (rasterio.io.DatasetReader, rasterio.vrt.WarpedVRT):
            monkeypatch.setattr(cls, "read", self._wrap(cls.read))

    def _wrap(self, read):
        log = self.reads

        def logged(ds, *args, window=None, **kwargs):
            h, w = (ds.height, ds.width) if window is None else (int(window.height), int(window.width))
            name = getattr(getattr(ds, "src_dataset", None), "name", None) or ds.name
            log.append((str(name).rsplit("/", 1)[-1], h, w))
            return read(ds, *args, window=window, **kwargs)

        return logged

    def largest(self, *names: str) -> tuple[int, int]:
        """The most rows and the most columns of one read of the named files."""
        sel = [(h, w) for n, h, w in self.reads if n in names]
        assert sel, f"no read of {names}: {sorted({n for n, _, _ in self.reads})}"
        return max(h for h, _ in sel), max(w for _, w in sel)


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    d = tmp_path_factory.mktemp("window_reads")
    classes = np.zeros((N, N), "uint8")
    classes[10:590, 10:590] = 1
    classes[200:260, 200:260] = 0  # a hole
    classes[500:590, 100:200] = 2
    proba = np.zeros((3, N, N), "uint8")
    proba[0] = 240
    ice = classes > 0
    proba[0][ice], proba[1][ice], proba[2][ice] = 10, 230, 15
    proba[:, 100:400, 590:594] = np.array([70, 150, 35], "uint8")[:, None, None]  # omitted ice east
    masks = np.zeros((2, N, N), "uint8")
    masks[0, 30:80, 30:300] = 1
    stack = np.zeros((6, N, N), "float32")
    stack[1], stack[3] = 0.3, 0.4
    stack[1, 590:600, 100:300], stack[3, 590:600, 100:300] = 0.5, 0.1  # lake at the front
    rows = np.arange(N, dtype="float32")[:, None] * np.ones((1, N), "float32")
    paths = {
        "classes_path": write(d / "classes.tif", classes, nodata=255),
        "proba_path": write(d / "proba.tif", proba, descriptions=["background", "clean_ice", "debris"]),
        "masks_path": write(d / "masks.tif", masks, nodata=255, descriptions=["cloud", "shadow"]),
        "stack_path": write(
            d / "stack.tif", stack, descriptions=["blue", "green", "red", "nir", "lst", "slope"]
        ),
        "dem_path": write(d / "dem.tif", 6000.0 - 2.0 * rows),
        "uncertainty_path": write(d / "uncertainty.tif", np.full((N, N), 0.1, "float32")),
    }
    big = box_px(10, 10, 590, 590).difference(box_px(200, 200, 260, 260))
    glaciers = gdf([{"outline_id": "G1", "geometry": big},
                    {"outline_id": "G2", "geometry": box_px(100, 594, 140, 600)}])  # fmt: skip
    debris = gdf([{"debris_id": "D1", "outline_id": "G1", "geometry": box_px(500, 100, 590, 200)}])
    return glaciers, debris, paths


def test_review_scan_reads_blocks_not_the_glacier_window(scene, monkeypatch):
    glaciers, debris, paths = scene
    log = ReadLog(monkeypatch)
    p = ReviewParams(block_px=BLOCK)
    flags = flag_for_review(glaciers, debris, **paths, params=p)
    assert {"boundary_omission", "internal_hole", "cloud_shadow"} <= set(flags["reason"])
    limit = BLOCK + 2 * (p.ring_px + 2)
    for name in ("classes.tif", "proba.tif", "masks.tif", "stack.tif", "uncertainty.tif", "dem.tif"):
        assert max(log.largest(name)) <= limit, (name, log.largest(name))


def test_probability_range_reads_blocks_and_does_not_depend_on_them(scene, monkeypatch):
    glaciers, _, paths = scene
    whole = probability_area_range(glaciers, paths["proba_path"], block_px=N)
    log = ReadLog(monkeypatch)
    blocks = probability_area_range(glaciers, paths["proba_path"], block_px=BLOCK)
    assert max(log.largest("proba.tif")) <= BLOCK
    assert whole[0].tolist() == blocks[0].tolist() and whole[1].tolist() == blocks[1].tolist()
    assert whole[0][0] > whole[1][0] > 0


def test_terminus_reads_the_stack_in_strips(scene, monkeypatch):
    glaciers, _, paths = scene
    log = ReadLog(monkeypatch)
    codes, _ = terminus_types(glaciers.iloc[:1], paths["dem_path"], grid_path=paths["classes_path"],
                              stack_path=paths["stack_path"])  # fmt: skip
    rows, _ = log.largest("stack.tif")
    assert rows <= 256 < N - 20  # the glacier's window has 580+ rows
    assert codes.tolist() == [2]  # the lake at its front


@pytest.mark.parametrize("nan_share", [0.0, 0.05])
def test_gradient_in_strips_is_the_whole_window_gradient(nan_share):
    rng = np.random.default_rng(7)
    z = rng.random((131, 47)) * 500.0 + np.arange(131)[:, None] * 3.0
    z[rng.random(z.shape) < nan_share] = np.nan
    for rows in (1, 2, 5, 64):
        for whole, strips in zip(gradient_horn(z, 4.0), horn_in_strips(z, 4.0, rows=rows), strict=True):
            assert whole.tobytes() == strips.tobytes()
