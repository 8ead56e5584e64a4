"""Speed of the assess stage, as ratios measured in the same run (no timed assertions in tests).

- accuracy_from_rasters (windowed, from files) vs confusion_matrix on in-memory arrays; bootstrap cost;
- buffer_uncertainty per glacier for complexes of adjacent units vs isolated glaciers;
- compare_inventories per glacier.

$ .venv/bin/python benchmarks/assess_speed.py [--size 4096] [--n 400]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
from shapely.geometry import box

from glacierinv.assess import accuracy_from_rasters, buffer_uncertainty, confusion_matrix
from glacierinv.assess.compare import compare_inventories
from glacierinv.io.grid import Grid
from glacierinv.io.raster import RasterWriter, iter_windows, read_raster


def _t(fn, *a, **k):
    t0 = time.perf_counter()
    out = fn(*a, **k)
    return time.perf_counter() - t0, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=4096, help="raster side, px")
    ap.add_argument("--n", type=int, default=400, help="number of glaciers")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        grid = Grid.from_bounds(
            32643, (500_000, 4_000_000, 500_000 + 2 * args.size, 4_000_000 + 2 * args.size), 2
        )
        # written window by window so that the windowed run's peak memory is measured before any
        # whole-raster array exists in this process
        with (
            RasterWriter(tmp / "p.tif", grid, dtype="uint8", nodata=255) as wp,
            RasterWriter(tmp / "r.tif", grid, dtype="uint8", nodata=255) as wr,
        ):
            for _, win in iter_windows(grid, 1024):
                shape = (int(win.height), int(win.width))
                r = rng.integers(0, 3, shape, dtype=np.uint8)
                wr.write(r, win)
                flip = rng.random(shape) < 0.1
                wp.write(np.where(flip, rng.integers(0, 3, shape, dtype=np.uint8), r), win)
        mpx = grid.width * grid.height / 1e6
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        t_file, _ = _t(accuracy_from_rasters, tmp / "p.tif", tmp / "r.tif", n_boot=0)
        t_boot, res = _t(accuracy_from_rasters, tmp / "p.tif", tmp / "r.tif", n_boot=200)
        rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        pred, _ = read_raster(tmp / "p.tif", as_float=False)
        ref, _ = read_raster(tmp / "r.tif", as_float=False)
        t_mem, _ = _t(confusion_matrix, pred, ref)
        rss2 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"accuracy on {mpx:.1f} Mpx: in-memory confusion_matrix {mpx / t_mem:.1f} Mpx/s; "
            f"windowed from files {mpx / t_file:.1f} Mpx/s (ratio {t_file / t_mem:.2f}); "
            f"+200 bootstrap replicates over {res['overall']['n_blocks']} blocks: x{t_boot / t_file:.2f}; "
            f"peak RSS {rss0:.0f} MiB before, {rss1:.0f} after the windowed runs, {rss2:.0f} after in-memory"
        )

    side = int(np.sqrt(args.n))
    units = [
        box(500_000 + 1000 * i, 4_000_000 + 1000 * j, 500_000 + 1000 * (i + 1), 4_000_000 + 1000 * (j + 1))
        for i in range(side)
        for j in range(side)
    ]
    isolated = [g.buffer(-100) for g in units]
    n = len(units)
    t_cplx, (_, tot) = _t(buffer_uncertainty, gpd.GeoDataFrame(geometry=units, crs=32643), pixel_size_m=2)
    t_iso, _ = _t(buffer_uncertainty, gpd.GeoDataFrame(geometry=isolated, crs=32643), pixel_size_m=2)
    print(
        f"buffer_uncertainty: {n} units in one complex {1e3 * t_cplx / n:.2f} ms/glacier, {n} isolated "
        f"{1e3 * t_iso / n:.2f} ms/glacier (ratio {t_cplx / t_iso:.2f}); complex ±{tot['glacier_unc_pct']:.3f} %"
    )

    jitter = rng.normal(0, 20, (n, 2))
    ours = gpd.GeoDataFrame(
        {"glac_id": [f"o{k}" for k in range(n)]}, geometry=[shp.buffer(0) for shp in isolated], crs=32643
    )
    from shapely.affinity import translate

    ref = gpd.GeoDataFrame(
        {"glac_id": [f"r{k}" for k in range(n)]},
        geometry=[translate(g, *d) for g, d in zip(isolated, jitter, strict=True)],
        crs=32643,
    )
    t_cmp, comp = _t(compare_inventories, ours, ref, cell_km=5)
    print(
        f"compare_inventories: {n} vs {n} glaciers with 5 km cells {1e3 * t_cmp / n:.2f} ms/glacier "
        f"({comp.summary['match_types']['1:1']} 1:1 matches)"
    )


if __name__ == "__main__":
    main()
