"""Seasonal-snow review flag: how its cost grows with the number of glaciers in a scene (issue 25).

Usage: python benchmarks/review_seasonal_snow.py [--cells 20 40]

For each ``cells`` value, a scene of ``cells × cells`` cells of 1.2 km (10 m pixels) is built in a temp
folder: every 10th cell holds a 0.64 km² glacier, the others a 0.01 km² clean-ice patch, on a DEM that falls
northwards; a one-polygon prior inventory far away makes every isolated patch a seasonal-snow candidate, so
each candidate runs the distance-to-a-larger-glacier and downslope-flow checks. ``flag_for_review`` runs
on it and the time spent in the seasonal-snow part is printed, per glacier and as the ratio between the two
sizes measured in the same run: ≈ the ratio of glacier counts means linear, its square quadratic.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
from rasterio.transform import from_origin
from shapely.geometry import box

CELL_PX = 120
PIXEL_M = 10.0
LARGE_PX = 80
SMALL_PX = 10


def _scene(cells: int, folder: Path) -> tuple[gpd.GeoDataFrame, Path, Path, gpd.GeoDataFrame]:
    """Glacier outlines, classes.tif and dem.tif of a ``cells × cells`` scene, and a far-away prior."""
    size = cells * CELL_PX
    transform = from_origin(500_000.0, 4_000_000.0, PIXEL_M, PIXEL_M)
    classes = np.zeros((size, size), np.uint8)
    geoms = []
    for k in range(cells * cells):
        r0, c0 = (k // cells) * CELL_PX + 10, (k % cells) * CELL_PX + 10
        side = LARGE_PX if k % 10 == 0 else SMALL_PX
        classes[r0 : r0 + side, c0 : c0 + side] = 1
        x0, y0 = transform * (c0, r0 + side)
        geoms.append(box(x0, y0, x0 + side * PIXEL_M, y0 + side * PIXEL_M))
    gl = gpd.GeoDataFrame({"outline_id": [f"G{k:06d}" for k in range(len(geoms))]}, geometry=geoms,
                          crs="EPSG:32643")  # fmt: skip
    rows = np.arange(size, dtype=np.float32)[:, None]
    dem = np.broadcast_to(6000.0 - 0.2 * PIXEL_M * (size - rows), (size, size)).astype(np.float32)
    profile = dict(driver="GTiff", height=size, width=size, count=1, crs="EPSG:32643", transform=transform,
                   tiled=True, blockxsize=256, blockysize=256)  # fmt: skip
    classes_path, dem_path = folder / "classes.tif", folder / "dem.tif"
    with rasterio.open(classes_path, "w", dtype="uint8", nodata=255, **profile) as ds:
        ds.write(classes, 1)
    with rasterio.open(dem_path, "w", dtype="float32", **profile) as ds:
        ds.write(dem, 1)
    prior = gpd.GeoDataFrame(geometry=[box(0.0, 0.0, 100.0, 100.0)], crs="EPSG:32643")
    return gl, classes_path, dem_path, prior


def main() -> None:
    from glacierinv.outlines import review

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, nargs="+", default=[20, 40])
    args = ap.parse_args()
    spent: list[float] = []
    snow_part = review._seasonal_snow

    def timed(*a, **k):
        t = time.perf_counter()
        out = snow_part(*a, **k)
        spent.append(time.perf_counter() - t)
        return out

    review._seasonal_snow = timed
    results = []
    for cells in args.cells:
        with tempfile.TemporaryDirectory() as tmp:
            gl, classes_path, dem_path, prior = _scene(cells, Path(tmp))
            t = time.perf_counter()
            flags = review.flag_for_review(
                gl, None, classes_path=classes_path, dem_path=dem_path, prior=prior
            )
            total = time.perf_counter() - t
        n_snow = int((flags["reason"] == "seasonal_snow").sum())
        results.append((len(gl), spent[-1], total, n_snow))
        print(f"{len(gl):6d} glaciers: seasonal snow {spent[-1]:7.2f} s ({1e3 * spent[-1] / len(gl):6.2f} ms per "
              f"glacier, {n_snow} flagged), whole review {total:7.2f} s")  # fmt: skip
    for (n0, s0, _, _), (n1, s1, _, _) in zip(results, results[1:], strict=False):
        print(f"{n0} -> {n1} glaciers (×{n1 / n0:.1f}): seasonal-snow time ×{s1 / s0:.1f} "
              f"(linear ×{n1 / n0:.1f}, quadratic ×{(n1 / n0) ** 2:.1f})")  # fmt: skip


if __name__ == "__main__":
    main()
