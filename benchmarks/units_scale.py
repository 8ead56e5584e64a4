"""Units stage at scale: one large ice complex over real terrain split at 30 m, 10 m and 4 m.

The terrain is the Ötztal SRTM (``oggm-sample/test-workflow/srtm_oetztal.tif``) warped to UTM 32N at each
resolution (bilinear); the complex is the terrain above ``--z-ice`` m (2600) on slopes below 35°, in its largest connected
part, smoothed by a 150 m buffer, holes below 0.05 km² filled: one Karakoram-size complex (~600 km²). Each stage runs
in its own process; the script prints, per resolution, the complex window in Mpx, the units stage's time and
peak RSS, time and RSS per Mpx, the attributes stage's time on the same complex outline, and the ratio.

With ``--workers N`` each stage runs its per-glacier tasks on a LocalCluster of N workers (one native
thread each), as ``glacierinv run`` does with ``[runtime] workers``; the RSS column is then the largest
peak RSS of a worker process (sampled every 0.2 s: what one complex's task needs), the main process's
beside it.

Usage: ``nice -n 10 .venv/bin/python benchmarks/units_scale.py [--res 30 10 4] [--work /tmp/units_scale]
[--no-attributes] [--workers 1]``
(record ``uptime`` beside the figures: the machine is shared).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

DATA = Path(os.environ.get("GLACIERINV_SHARED_DATA", "/work/shared/data"))
SRTM = DATA / "oggm-sample" / "test-workflow" / "srtm_oetztal.tif"
UTM = "EPSG:32632"


def make_inputs(work: Path, res_list: list[float], z_ice: float) -> Path:
    """The DEMs (one per resolution) and the complex outline; returns the outline path."""
    import geopandas as gpd
    import numpy as np
    import rasterio
    import rasterio.features
    import shapely
    from rasterio.warp import Resampling, calculate_default_transform, reproject
    from scipy import ndimage
    from shapely.geometry import shape

    from glacierinv.dem.terrain import slope_deg

    work.mkdir(parents=True, exist_ok=True)
    outline = work / "complex.gpkg"
    with rasterio.open(SRTM) as src:
        for res in res_list:
            path = work / f"dem_{res:g}m.tif"
            if path.exists():
                continue
            tr, w, h = calculate_default_transform(
                src.crs, UTM, src.width, src.height, *src.bounds, resolution=res
            )
            dem = np.full((h, w), np.nan, "float32")
            reproject(rasterio.band(src, 1), dem, dst_transform=tr, dst_crs=UTM, dst_nodata=np.nan,
                      resampling=Resampling.bilinear)  # fmt: skip
            prof = {"driver": "GTiff", "dtype": "float32", "width": w, "height": h, "count": 1, "crs": UTM,
                    "transform": tr, "nodata": np.nan, "tiled": True, "blockxsize": 512, "blockysize": 512,
                    "compress": "deflate", "predictor": 3, "BIGTIFF": "IF_SAFER"}  # fmt: skip
            with rasterio.open(path, "w", **prof) as dst:
                dst.write(dem, 1)
            del dem
        if not outline.exists():
            coarse = work / f"dem_{max(res_list):g}m.tif"
            with rasterio.open(coarse) as ds:
                z = ds.read(1)
                res = ds.res[0]
                # ice: terrain above z_ice on slopes below 35° (steep walls and ridges stay rock, so the
                # complex has rock above its heads as a real one), opened by ~90 m, largest 8-connected part
                smooth = ndimage.gaussian_filter(np.nan_to_num(z, nan=0.0), 90.0 / res)
                ice = np.isfinite(z) & (z > z_ice) & (slope_deg(smooth, res) < 35.0)
                ice = ndimage.binary_opening(ice, iterations=max(1, round(90.0 / res)))
                lab, _ = ndimage.label(ice, structure=np.ones((3, 3), bool))
                ice = lab == np.argmax(np.bincount(lab.ravel())[1:]) + 1
                polys = [shape(g) for g, v in rasterio.features.shapes(ice.astype("uint8"), mask=ice,
                                                                       transform=ds.transform) if v]  # fmt: skip
            big = max(polys, key=lambda p: p.area).buffer(150).buffer(-150)
            big = max(getattr(big, "geoms", [big]), key=lambda p: p.area)
            holes = [r for r in big.interiors if shapely.Polygon(r).area >= 5e4]
            big = shapely.Polygon(big.exterior, holes).simplify(10)
            gpd.GeoDataFrame({"outline_id": ["BIG"]}, geometry=[big], crs=UTM).to_file(outline)
    return outline


def make_complexes(
    work: Path, res: float, z_ice: float, min_km2: float = 0.5, cell_km: float = 3.0
) -> tuple[Path, Path]:
    """Many complexes over the same real terrain: the ice mask of :func:`make_inputs` (terrain above
    ``z_ice`` on slopes below 35°, opened by ~90 m, smoothed by a 75 m buffer) cut by a grid of ``cell_km``
    cells (0: not cut), every part of at least ``min_km2``; returns (outlines path, DEM path at ``res``).
    The cut gives a mountain range's count of complexes (straight edges where the grid cut the ice)."""
    import geopandas as gpd
    import numpy as np
    import rasterio
    import rasterio.features
    from scipy import ndimage
    from shapely.geometry import shape

    from glacierinv.dem.terrain import slope_deg

    make_inputs(work, [res], z_ice)
    dem = work / f"dem_{res:g}m.tif"
    outlines = work / f"complexes_{res:g}m_{z_ice:g}_{cell_km:g}km.gpkg"
    if not outlines.exists():
        with rasterio.open(dem) as ds:
            z = ds.read(1)
            smooth = ndimage.gaussian_filter(np.nan_to_num(z, nan=0.0), 90.0 / res)
            ice = np.isfinite(z) & (z > z_ice) & (slope_deg(smooth, res) < 35.0)
            ice = ndimage.binary_opening(ice, iterations=max(1, round(90.0 / res)))
            polys = [shape(g) for g, v in rasterio.features.shapes(ice.astype("uint8"), mask=ice,
                                                                   transform=ds.transform) if v]  # fmt: skip
        import shapely

        smooth_polys = [p.buffer(75).buffer(-75).simplify(10) for p in polys if p.area >= min_km2 * 1e6]
        merged = shapely.union_all(smooth_polys)  # parts whose smoothed outlines touch are one complex
        if cell_km > 0:
            x0, y0, x1, y1 = merged.bounds
            step = cell_km * 1e3
            cells = [shapely.box(x, y, x + step, y + step) for x in np.arange(x0, x1, step)
                     for y in np.arange(y0, y1, step)]  # fmt: skip
            pieces = [merged.intersection(c).buffer(-15) for c in cells]  # 30 m apart: separate complexes
            merged = shapely.MultiPolygon([q for p in pieces for q in getattr(p, "geoms", [p])
                                           if q.geom_type == "Polygon" and not q.is_empty])  # fmt: skip
        parts = sorted(getattr(merged, "geoms", [merged]), key=lambda q: (-q.bounds[3], q.bounds[0]))
        parts = [q for q in parts if q.area >= min_km2 * 1e6]
        gdf = gpd.GeoDataFrame({"outline_id": [f"T{k + 1:04d}" for k in range(len(parts))]}, geometry=parts,
                               crs=UTM)  # fmt: skip
        gdf.to_file(outlines)
    return outlines, dem


def _child(stage: str, outline: str, dem: str, workers: int = 0) -> None:
    """Run one stage and print a JSON line with its time and peak RSS (of the largest worker with
    ``workers`` > 0)."""
    import contextlib
    import resource
    import threading

    import geopandas as gpd
    import psutil

    from glacierinv.pipeline.distributed import TaskRunner
    from glacierinv.taskmap import using

    peak: dict[int, float] = {}
    done = threading.Event()

    def sample() -> None:
        me = psutil.Process()
        while not done.is_set():
            for c in me.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    peak[c.pid] = max(peak.get(c.pid, 0.0), c.memory_info().rss / 2**20)
            time.sleep(0.2)

    gl = gpd.read_file(outline)
    threading.Thread(target=sample, daemon=True).start()
    with TaskRunner(workers, threads_per_worker=1) as runner, using(runner if workers else None):
        if workers:
            runner.slots  # noqa: B018 - start the cluster outside the timing
        t = time.perf_counter()
        if stage == "units":
            from glacierinv.units import subdivide

            units = subdivide(gl, dem)[0]
            extra = {"n_units": len(units)}
        else:
            from glacierinv.attributes import compute_attributes

            compute_attributes(gl, dem)
            extra = {}
        dt = time.perf_counter() - t
    done.set()
    # VmHWM: this process image's peak RSS (ru_maxrss would carry over the parent's across exec)
    with open("/proc/self/status") as f:
        hwm = [line for line in f if line.startswith("VmHWM")]
    rss_mb = (
        int(hwm[0].split()[1]) / 1024 if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    )
    if workers:
        extra |= {"main_rss_mb": rss_mb, "cpu_s": runner.task_cpu_seconds}
        rss_mb = max(peak.values())
    print(json.dumps({"stage": stage, "s": dt, "rss_mb": rss_mb, **extra}))


def _run(stage: str, outline: Path, dem: Path, workers: int = 0) -> dict:
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"))
    out = subprocess.run([sys.executable, __file__, "--child", stage, str(outline), str(dem), str(workers)],
                         capture_output=True, text=True, env=env, check=True)  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--res", type=float, nargs="+", default=[30.0, 10.0, 4.0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/units_scale"))
    ap.add_argument("--z-ice", type=float, default=2600.0)
    ap.add_argument("--child", nargs=4)
    ap.add_argument(
        "--workers", type=int, default=0, help="per-glacier tasks on N Dask workers (RSS per worker)"
    )
    ap.add_argument("--no-attributes", action="store_true", help="time the units stage only")
    a = ap.parse_args()
    if a.child:
        _child(*a.child[:3], int(a.child[3]))
        return
    import geopandas as gpd

    outline = make_inputs(a.work, a.res, a.z_ice)
    g = gpd.read_file(outline).geometry.iloc[0]
    left, bottom, right, top = g.bounds
    print(f"complex: {g.area / 1e6:.0f} km², bbox {(right - left) / 1e3:.1f} × {(top - bottom) / 1e3:.1f} km; "
          f"load {os.getloadavg()[0]:.2f}; {os.cpu_count()} CPUs")  # fmt: skip
    from glacierinv.units.subdivide import (
        DEFAULT_REACH_M,
        DEFAULT_SMOOTH_M,
        MAX_ROUTE_CELLS,
        routing_resolution_m,
    )

    print(
        "res_m  window_Mpx  route_m  routed_Mpx  units_s  units_rss_MB  s_per_routed_Mpx  MB_per_routed_Mpx"
        "  n_units" + ("" if a.no_attributes else "  attributes_s  units/attr")
    )
    for res in a.res:
        dem = a.work / f"dem_{res:g}m.tif"
        mpx = (right - left) * (top - bottom) / res**2 / 1e6
        pad = 2 * (3 * res + DEFAULT_REACH_M)  # the routing window's margin, as subdivide adds it
        route = routing_resolution_m((right - left + pad) * (top - bottom + pad) / res**2, res, MAX_ROUTE_CELLS,
                                     DEFAULT_SMOOTH_M)  # fmt: skip
        rmpx = (right - left + pad) * (top - bottom + pad) / route**2 / 1e6
        u = _run("units", outline, dem, a.workers)
        line = (f"{res:5g}  {mpx:10.1f}  {route:7g}  {rmpx:10.1f}  {u['s']:7.1f}  {u['rss_mb']:12.0f}  "
                f"{u['s'] / rmpx:16.2f}  {u['rss_mb'] / rmpx:17.1f}  {u['n_units']:7d}")  # fmt: skip
        if not a.no_attributes:
            at = _run("attributes", outline, dem, a.workers)
            line += f"  {at['s']:12.1f}  {u['s'] / at['s']:10.2f}"
        if a.workers:
            line += (
                f"  (worker peak RSS; main process {u['main_rss_mb']:.0f} MB; task CPU {u['cpu_s']:.1f} s)"
            )
        print(line + f"  (load {os.getloadavg()[0]:.2f})", flush=True)
    print(f"load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
