"""Accuracy and runtime of ``glacierinv dem stereo`` on the real s2p test pair (Pléiades, La Réunion).

Compares our DSM with the reference DSM that s2p produced from the same images (0.5 m, EPSG:32740),
read from ../shared/data (AGPL test data: read in place, never copied). After removing the median
vertical offset: NMAD, RMSE, share within 1 m and 2 m, completeness vs the reference's valid cells
(matched cells only, and matched + filled). Also times the windowed writer against the in-memory run.

    $ .venv/bin/python benchmarks/dem_stereo_s2p.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
from rasterio.enums import Resampling

from glacierinv.dem.stats import nmad
from glacierinv.dem.stereo import dsm_from_stereo, stereo_to_file, write_dsm
from glacierinv.io.raster import read_on_grid, read_raster

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    args = ap.parse_args()
    base = args.data / "s2p-stereo"
    cfg = json.loads((base / "input_pair" / "config.json").read_text())
    roi = tuple(cfg["roi"][k] for k in ("x", "y", "w", "h"))
    images = [base / "input_pair" / im["img"] for im in cfg["images"]]
    res = float(cfg["dsm_resolution"])

    t0 = time.perf_counter()
    result = dsm_from_stereo(images, res, roi=roi, crs=32740)
    runtime = time.perf_counter() - t0

    ref, grid = read_raster(base / "expected_output" / "pair" / "dsm.tif", bands=1)
    with tempfile.TemporaryDirectory() as tmp:
        path = write_dsm(result, Path(tmp) / "dsm.tif")
        ours = read_on_grid(path, grid, bands=1, resampling=Resampling.nearest, require_overlap=False)
        quality = read_on_grid(path, grid, bands=2, resampling=Resampling.nearest, require_overlap=False)
    with tempfile.TemporaryDirectory() as tmp:
        t1 = time.perf_counter()
        stereo_to_file(images, Path(tmp) / "w.tif", res, roi=roi, crs=32740, block=256)
        runtime_windowed = time.perf_counter() - t1
    ref_valid = np.isfinite(ref)
    print(f"machine: {platform.node()} {platform.processor() or platform.machine()}, numpy {np.__version__}")
    print(f"ROI {roi} of {images[0].name}, {images[1].name}; res {res} m; reference cells {ref_valid.sum()}")
    print(f"points triangulated: {result.n_points}; pointing correction {result.pointing_correction_px} px")
    print(
        f"runtime: in memory {runtime:.1f} s; windowed to file (256-cell windows) {runtime_windowed:.1f} s "
        f"(ratio {runtime_windowed / runtime:.2f})"
    )
    for label, have in (("matched+filled", np.isfinite(ours)), ("matched only", quality == 1)):
        both = ref_valid & have
        dz = (ours - ref)[both]
        offset = float(np.median(dz))
        e = dz - offset
        print(
            f"{label:15s} offset {offset:+.3f} m  NMAD {nmad(e):.3f} m  RMSE {np.sqrt(np.mean(e**2)):.3f} m  "
            f"|dz|<=1m {np.mean(np.abs(e) <= 1):.1%}  |dz|<=2m {np.mean(np.abs(e) <= 2):.1%}  "
            f"completeness {both.sum() / ref_valid.sum():.1%}"
        )


if __name__ == "__main__":
    main()
