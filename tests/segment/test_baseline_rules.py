"""The baseline picks red/SWIR + NDSI (Paul et al. 2002) when a SWIR band exists, red/NIR otherwise."""

from __future__ import annotations

import numpy as np
import pytest
from affine import Affine
from rasterio.crs import CRS

from glacierinv.io.grid import Grid
from glacierinv.io.raster import read_raster, write_raster
from glacierinv.segment.baseline import classify_arrays, classify_stack, select_rule


def _bands():
    """Column 0: clean ice; 1: dirty ice whose red/NIR (1.0) fails the VNIR rule; 2: rock; 3: cloud."""
    red = np.array([[0.50, 0.30, 0.22, 0.79]], "float32")
    nir = np.array([[0.36, 0.30, 0.26, 0.77]], "float32")
    green = np.array([[0.56, 0.33, 0.19, 0.78]], "float32")
    blue = np.array([[0.60, 0.35, 0.17, 0.78]], "float32")
    swir1 = np.array([[0.04, 0.05, 0.30, 0.52]], "float32")  # ice absorbs at 1.6 µm; cloud does not
    return {"blue": blue, "green": green, "red": red, "nir": nir, "swir1": swir1}


def test_rule_selection():
    assert select_rule(["blue", "green", "red", "nir", "lst", "slope"]) == "red/nir"
    assert select_rule(["blue", "green", "red", "nir", "swir1"]) == "red/swir1"
    assert select_rule(["blue", "green", "red", "nir", "SWIR"]) == "red/swir1"


def test_red_swir_maps_dirty_ice_and_rejects_bright_cloud():
    b = _bands()
    with_swir, _ = classify_arrays(b, 30.0)
    vnir_only, _ = classify_arrays({k: v for k, v in b.items() if k != "swir1"}, 30.0)
    assert with_swir[0].tolist() == [1, 1, 0, 0]
    assert vnir_only[0].tolist()[:3] == [1, 0, 0]  # red/NIR misses the dirty ice


@pytest.mark.parametrize("names, rule", [(["blue", "green", "red", "nir", "swir1"], "red/swir1"),
                                         (["blue", "green", "red", "nir"], "red/nir")])  # fmt: skip
def test_stack_records_the_rule(tmp_path, names, rule):
    b = _bands()
    grid = Grid(CRS.from_epsg(32643), Affine(30, 0, 0, 0, -30, 120), (1, 4))
    write_raster(tmp_path / "s.tif", np.stack([b[n] for n in names]), grid, descriptions=names)
    out = classify_stack(tmp_path / "s.tif", tmp_path / "c.tif")
    assert out["rule"] == rule
    assert ("Paul" in out["rule_description"]) == (rule == "red/swir1")
    assert read_raster(tmp_path / "c.tif", as_float=False)[0][0][0, 0] == 1
