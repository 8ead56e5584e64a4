"""Review flags and vectorisation: time and traced peak memory per block size on a run folder.

Usage: python benchmarks/outlines_review.py [RUN]   (default: a fresh `glacierinv demo` run in a temp folder)
Prints seconds and tracemalloc peak (MiB, numpy buffers included) and the ratios between block sizes,
measured in the same process.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import geopandas as gpd


def _measure(fn):
    tracemalloc.start()
    t = time.perf_counter()
    out = fn()
    dt = time.perf_counter() - t
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return out, dt, peak / 2**20


def main() -> None:
    from glacierinv.outlines.review import ReviewParams, flag_for_review
    from glacierinv.outlines.vectorize import vectorize_classes

    if len(sys.argv) > 1:
        run = Path(sys.argv[1])
    else:
        run = Path(tempfile.mkdtemp()) / "demo"
        subprocess.run([sys.executable, "-m", "glacierinv", "demo", "--out", str(run)], check=True,
                       capture_output=True)  # fmt: skip
    import json

    cfg = json.loads((run / "run.json").read_text())
    dem = Path(cfg["config_base_dir"]) / cfg["config"]["inputs"]["dem"]
    gl = gpd.read_file(run / "outlines.gpkg", layer="glaciers")
    deb = gpd.read_file(run / "outlines.gpkg", layer="debris")
    res = {}
    for block in (128, 2048):
        res[("review", block)] = _measure(lambda b=block: flag_for_review(
            gl, deb, classes_path=run / "classes.tif", proba_path=run / "proba.tif", masks_path=run / "masks.tif",
            stack_path=run / "stack.tif", dem_path=dem, params=ReviewParams(block_px=b)))  # fmt: skip
    for block in (64, 1024):
        res[("vectorize", block)] = _measure(
            lambda b=block: vectorize_classes(run / "classes.tif", block_px=b)
        )
    for (what, block), (_, dt, peak) in res.items():
        print(f"{what:9s} block {block:5d} px: {dt:6.2f} s, peak {peak:7.1f} MiB")
    r_small, r_big = res[("review", 128)], res[("review", 2048)]
    print(f"review   128 vs 2048 px blocks: time ×{r_small[1] / r_big[1]:.2f}, peak memory ×{r_small[2] / r_big[2]:.2f}, "
          f"same flags: {len(r_small[0]) == len(r_big[0])}")  # fmt: skip
    v_small, v_big = res[("vectorize", 64)], res[("vectorize", 1024)]
    print(
        f"vectorize 64 vs 1024 px blocks: time ×{v_small[1] / v_big[1]:.2f}, peak memory ×{v_small[2] / v_big[2]:.2f}"
    )


if __name__ == "__main__":
    main()
