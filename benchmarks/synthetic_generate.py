"""Benchmark: synthetic scene generation time and peak memory vs scene size (one process per size).

Prints seconds and peak RSS per size, and the time ratio between sizes measured in the same run
(generation is O(pixels) apart from the cast-shadow march, which grows with relief / pixel).

$ .venv/bin/python benchmarks/synthetic_generate.py [--sizes 256 512 1024] [--over]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
from glacierinv.synthetic import generate_scene, render_scene_over
size, out, over = int(sys.argv[1]), sys.argv[2], sys.argv[3]
t = time.perf_counter()
if over != "-":
    info = render_scene_over(out, over + "/hef_srtm.tif", over + "/Hintereisferner_RGI5.shp", res_m=size)
else:
    info = generate_scene(out, seed=0, size_px=size)
dt = time.perf_counter() - t
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"size": size, "seconds": dt, "peak_rss_mib": rss, "n_glaciers": info.n_glaciers}))
"""


def run(size: int, over: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
        res = subprocess.run(
            [sys.executable, "-c", CHILD, str(size), str(Path(tmp) / "scene"), over],
            capture_output=True, text=True, check=True, env=env,
        )  # fmt: skip
        return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024])
    ap.add_argument("--over", action="store_true", help="also render over Hintereisferner at 20 m and 10 m")
    args = ap.parse_args()
    run(128, "-")  # warm-up: numba JIT of pyflwdir, imports
    rows = [run(s, "-") for s in args.sizes]
    print(f"{'size_px':>8} {'Mpx':>6} {'seconds':>8} {'peak_MiB':>9} {'glaciers':>8}")
    for r in rows:
        print(
            f"{r['size']:>8} {r['size'] ** 2 / 1e6:>6.2f} {r['seconds']:>8.2f} {r['peak_rss_mib']:>9.0f} {r['n_glaciers']:>8}"
        )
    base = rows[0]
    for r in rows[1:]:
        px_ratio = (r["size"] / base["size"]) ** 2
        print(
            f"{r['size']} vs {base['size']}: {px_ratio:.0f}x pixels, {r['seconds'] / base['seconds']:.1f}x time"
        )
    if args.over:
        data = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "oggm-sample" / "test-files"
        for res in (20, 10):
            r = run(res, str(data))
            print(f"over Hintereisferner at {res} m: {r['seconds']:.2f} s, peak {r['peak_rss_mib']:.0f} MiB")


if __name__ == "__main__":
    main()
