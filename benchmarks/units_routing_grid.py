"""Units routed on coarser grids than the DEM's: the same divides? (the rule of ``routing_resolution_m``).

The RGI 7 complex around Hintereisferner (``rgi7c_hef``, 77.6 km²) on the Ötztal SRTM warped (bilinear) to a
4 m UTM 32N grid; the complex is split with flow routed at 4 m (the DEM's own grid), and at 8, 12 and 20 m
(≤ smooth_m/10 = 20 m: the rule), and at 40 m (beyond it), by lowering ``max_route_cells``. Printed per
routing grid: units, the share of the complex's area assigned to the same unit as at 4 m (each 4 m unit
matched to the unit it overlaps most), the smallest best IoU of a 4 m unit, and the time.

Usage: ``nice -n 10 .venv/bin/python benchmarks/units_routing_grid.py [--work /tmp/units_routing]``
(the 4 m DEM is a smooth interpolation of a 90 m DEM: on-ice relief below ~90 m is absent, as it is after
the 200 m smoothing of any DEM; off-ice rock relief at 4 m is not represented).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

DATA = Path(os.environ.get("GLACIERINV_SHARED_DATA", "/work/shared/data")) / "oggm-sample"


def make_dem(work: Path, res_m: float = 4.0) -> tuple[Path, Path]:
    import geopandas as gpd
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin
    from rasterio.warp import Resampling, reproject

    work.mkdir(parents=True, exist_ok=True)
    cplx = DATA / "test-files" / "rgi7" / "rgi7c_hef.shp"
    dem_path = work / f"hef_{res_m:g}m.tif"
    if not dem_path.exists():
        left, bottom, right, top = gpd.read_file(cplx).to_crs(32632).total_bounds
        pad = 2000.0
        left, top = np.floor((left - pad) / res_m) * res_m, np.ceil((top + pad) / res_m) * res_m
        w, h = int(np.ceil((right + pad - left) / res_m)), int(np.ceil((top - bottom + pad) / res_m))
        tr = from_origin(left, top, res_m, res_m)
        dem = np.full((h, w), np.nan, "float32")
        with rasterio.open(DATA / "test-workflow" / "srtm_oetztal.tif") as src:
            reproject(rasterio.band(src, 1), dem, dst_transform=tr, dst_crs="EPSG:32632", dst_nodata=np.nan,
                      resampling=Resampling.bilinear)  # fmt: skip
        prof = {"driver": "GTiff", "dtype": "float32", "width": w, "height": h, "count": 1, "crs": "EPSG:32632",
                "transform": tr, "nodata": np.nan, "tiled": True, "compress": "deflate"}  # fmt: skip
        with rasterio.open(dem_path, "w", **prof) as dst:
            dst.write(dem, 1)
    return cplx, dem_path


def main() -> None:
    import logging

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    import geopandas as gpd
    import numpy as np

    from glacierinv.units import subdivide
    from glacierinv.units.subdivide import DEFAULT_REACH_M

    ap = argparse.ArgumentParser()
    ap.add_argument("--work", type=Path, default=Path("/tmp/units_routing"))
    a = ap.parse_args()
    cplx_path, dem = make_dem(a.work)
    cplx = gpd.read_file(cplx_path)
    left, bottom, right, top = cplx.to_crs(32632).total_bounds
    pad = 2 * (3 * 4.0 + DEFAULT_REACH_M)
    cells = (right - left + pad) * (top - bottom + pad) / 16.0
    print(f"complex {cplx.to_crs(32632).area.sum() / 1e6:.1f} km², window {cells / 1e6:.1f} Mpx at 4 m; "
          f"load {os.getloadavg()[0]:.2f}")  # fmt: skip
    print("route_m  units  same_unit_area_%  min_best_IoU (its 4 m area km²)  median_best_IoU  s")
    ref = None
    for factor in (1, 2, 3, 5, 10):
        limit = int(cells) + 1 if factor == 1 else int(cells / factor**2) + 1
        t = time.perf_counter()
        u = subdivide(cplx, dem, max_route_cells=limit)[0].to_crs(32632)
        dt = time.perf_counter() - t
        if ref is None:
            ref = u
        inter = np.array([[g.intersection(h).area for h in u.geometry] for g in ref.geometry])
        union = np.array([[g.union(h).area for h in u.geometry] for g in ref.geometry])
        best = (inter / union).max(axis=1)
        same = inter.max(axis=1).sum() / ref.area.sum()
        worst = ref.area.iloc[int(np.argmin(best))] / 1e6
        print(f"{4 * factor:7g}  {len(u):5d}  {100 * same:16.2f}  {best.min():12.2f} ({worst:.2f})"
              f"  {np.median(best):15.3f}  {dt:5.1f}", flush=True)  # fmt: skip
    print(f"load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
