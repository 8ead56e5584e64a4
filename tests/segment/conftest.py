"""Tiny feature stacks built in code for the segment tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from affine import Affine

from glacierinv.io.grid import Grid
from glacierinv.io.raster import write_raster

CHANNELS = ("blue", "green", "red", "nir", "lst", "slope")
GRID_ORIGIN = (500000.0, 4000000.0)


def write_stack(path: Path, bands: dict[str, np.ndarray], pixel_m: float = 2.0) -> Path:
    """Write named float32 channels as a stack GeoTIFF (band descriptions = names), UTM 43N."""
    arr = np.stack([np.asarray(v, "float32") for v in bands.values()])
    grid = Grid("EPSG:32643", Affine(pixel_m, 0, GRID_ORIGIN[0], 0, -pixel_m, GRID_ORIGIN[1]), arr.shape[1:])
    return write_raster(path, arr, grid, nodata=float("nan"), descriptions=list(bands))


def toy_scene(size: int = 96, seed: int = 0) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """A toy scene with known classes: rock, a clean-ice body, a debris tongue below it, a cold flat
    dark patch far from ice (moraine-like: must stay background) and a nodata strip.

    Values follow the physics the classifier relies on: ice bright with red/NIR ≈ 1.2, rock and
    debris dark with red/NIR ≈ 0.85; debris cold (≈ 279 K) vs rock (≈ 296 K); debris flat.
    """
    rng = np.random.default_rng(seed)
    truth = np.zeros((size, size), "uint8")
    truth[10:50, 20:70] = 1
    truth[50:80, 30:60] = 2
    far = (slice(15, 35), slice(82, 94))  # cold, flat, dark but not connected to ice
    truth[:, :3] = 255
    red = np.where(truth == 1, 0.70, 0.22)
    nir = np.where(truth == 1, 0.58, 0.26)
    blue = np.where(truth == 1, 0.78, 0.18)
    green = np.where(truth == 1, 0.75, 0.20)
    lst = np.where(truth == 1, 273.0, np.where(truth == 2, 279.0, 296.0))
    slope = np.where(truth == 2, 8.0, np.where(truth == 1, 15.0, 32.0))
    lst[far], slope[far] = 279.0, 8.0
    bands = {"blue": blue, "green": green, "red": red, "nir": nir, "lst": lst, "slope": slope}
    for k, v in bands.items():
        noise = {"lst": 0.5, "slope": 1.0}.get(k, 0.005)
        v = (v + rng.normal(0, noise, v.shape)).astype("float32")
        v[truth == 255] = np.nan
        bands[k] = v
    return bands, truth


@pytest.fixture
def toy_stack(tmp_path) -> tuple[Path, np.ndarray]:
    """(stack path, truth classes) of :func:`toy_scene`."""
    bands, truth = toy_scene()
    return write_stack(tmp_path / "stack.tif", bands), truth
