"""The report's classes overlay vs scene size: the former one-process ``WarpedVRT`` read against the
window-by-window read as tasks (``glacierinv.report.overlay``), each in its own subprocess, best of
``--repeats`` interleaved. Every figure comes from this run:

    .venv/bin/python benchmarks/report_overlay.py RUN/classes.tif BIG/classes8192.tif ...

Printed per raster and variant: wall and CPU seconds; for the tasks variant the CPU inside the tasks (run
here, one after another, cut into the batches of ``--slots`` workers) and in the main process, per Mpx;
the child's peak RSS (``VmHWM``) above its RSS after the imports; and how many overlay pixels differ
between the two variants (the warp uses GDAL's 0.125-px approximation of the transform, the tasks the
exact transform).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

CHILD = r"""
import json, math, sys, time
import numpy as np, rasterio, pyproj, matplotlib.image
from glacierinv.report.overlay import overlay_classes
from glacierinv.taskmap import using
def rss():
    return {k: int(v.split()[0]) / 1024 for k, v in (ln.split(":", 1) for ln in open("/proc/self/status"))
            if k in ("VmRSS", "VmHWM")}
path, variant, slots = sys.argv[1], sys.argv[2], int(sys.argv[3])
class Meter:
    def __init__(self):
        self.slots, self.batches_per_slot, self.cpu, self.n = slots, 6, 0.0, 0
    def map(self, func, items, *, keys=None):
        out = []
        for item in items:
            c = time.process_time()
            out.append(func(item))
            self.cpu += time.process_time() - c
            self.n += 1
        return out
def warp():  # the overlay's read before issue 25: WarpedVRT onto the overlay grid, nearest
    from affine import Affine
    from rasterio.enums import Resampling
    from rasterio.vrt import WarpedVRT
    from rasterio.warp import calculate_default_transform
    with rasterio.open(path) as src:
        tr, w, h = calculate_default_transform(src.crs, "EPSG:3857", src.width, src.height, *src.bounds)
        scale = max(w / 1200, h / 1200, 1.0)
        w2, h2 = max(1, int(math.ceil(w / scale))), max(1, int(math.ceil(h / scale)))
        tr2 = tr @ Affine.scale(w / w2, h / h2)
        with WarpedVRT(src, crs="EPSG:3857", transform=tr2, width=w2, height=h2,
                       resampling=Resampling.nearest, nodata=255) as vrt:
            return vrt.read(1)
pyproj.Transformer.from_crs("EPSG:3857", "EPSG:32643", always_xy=True)  # the PROJ database, once
base = rss()["VmRSS"]
meter = Meter()
c0, t0 = time.process_time(), time.perf_counter()
if variant == "warp":
    cls = warp()
else:
    with using(meter):
        cls, _ = overlay_classes(path)
out = {"cpu_s": time.process_time() - c0, "wall_s": time.perf_counter() - t0, "tasks_cpu_s": meter.cpu,
       "tasks": meter.n, "peak_above_imports_mb": rss()["VmHWM"] - base}
np.save(sys.argv[4], cls)
print(json.dumps(out))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("rasters", type=Path, nargs="+", help="class rasters (uint8, 255 nodata)")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--slots", type=int, default=16, help="workers the tasks' batches are cut for")
    args = ap.parse_args()
    import tempfile

    import numpy as np
    import rasterio

    print(f"load average {os.getloadavg()}, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp:
        for path in args.rasters:
            with rasterio.open(path) as ds:
                mpx = ds.width * ds.height / 1e6
            best: dict = {}
            for _ in range(args.repeats):
                for variant in ("warp", "tasks"):
                    res = subprocess.run([sys.executable, "-c", CHILD, str(path), variant, str(args.slots),
                                          f"{tmp}/{variant}.npy"], capture_output=True, text=True)  # fmt: skip
                    if res.returncode:
                        raise SystemExit(res.stderr[-3000:])
                    f = json.loads(res.stdout.strip().splitlines()[-1])
                    if variant not in best or f["cpu_s"] < best[variant]["cpu_s"]:
                        best[variant] = f
            a, b = np.load(f"{tmp}/warp.npy"), np.load(f"{tmp}/tasks.npy")
            coloured = (np.where(np.isin(a, (1, 2)), a, 0) != np.where(np.isin(b, (1, 2)), b, 0)).sum()
            print(f"{path} ({mpx:.1f} Mpx), overlay {a.shape[1]}x{a.shape[0]} px; {coloured} overlay px "
                  f"coloured differently ({100 * coloured / a.size:.4f} %)")  # fmt: skip
            for variant, f in best.items():
                main = f["cpu_s"] - f["tasks_cpu_s"]
                print(f"  {variant:<5}: {f['wall_s']:6.2f} s wall, {f['cpu_s']:6.2f} CPU s; in {f['tasks']} tasks "
                      f"{f['tasks_cpu_s']:.2f} s ({f['tasks_cpu_s'] / mpx:.5f} s/Mpx), main process {main:.2f} s "
                      f"({main / mpx:.5f} s/Mpx); peak RSS above the imports "
                      f"{f['peak_above_imports_mb']:.0f} MB")  # fmt: skip
    print(f"load average after {os.getloadavg()}")


if __name__ == "__main__":
    main()
