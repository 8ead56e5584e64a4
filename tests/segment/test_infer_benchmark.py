"""The accuracy check of benchmarks/segment_infer.py reads whole class rasters (issue 26: it read one row)."""

from __future__ import annotations

import numpy as np
import pytest

from glacierinv.io.raster import write_raster
from tests.segment.conftest import GRID_ORIGIN


def _grid(shape):
    from affine import Affine

    from glacierinv.io.grid import Grid

    return Grid("EPSG:32643", Affine(2.0, 0, GRID_ORIGIN[0], 0, -2.0, GRID_ORIGIN[1]), shape)


def test_read_classes_returns_the_whole_raster(tmp_path):
    from benchmarks.segment_infer import read_classes

    classes = np.zeros((40, 30), "uint8")
    classes[20:, :] = 1  # the first row alone would say "all background"
    classes[35:, 10:] = 2
    path = write_raster(tmp_path / "c.tif", classes[None], _grid(classes.shape), nodata=255)
    np.testing.assert_array_equal(read_classes(path), classes)


def test_bf16_check_scores_every_pixel():
    from benchmarks.segment_infer import bf16_check

    truth = np.zeros((40, 30), "uint8")
    truth[20:] = 1
    pred = truth.copy()
    pred[0] = 1  # one wrong row of 30 background pixels: IoU 570/600 and 600/630
    text = bf16_check(pred, pred.copy(), truth)
    expect = (570 / 600 + 600 / 630) / 2
    assert "agreement 100.000 % of 1200 px" in text and f"mIoU fp32 {expect:.4f}" in text
    with pytest.raises(ValueError, match="shape"):
        bf16_check(pred[0], pred[0], truth)
