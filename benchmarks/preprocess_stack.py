"""Feature-stack benchmark (issue 5): throughput (megapixels/s) and peak RSS of ``build_feature_stack``
versus scene size, and the block size's effect on both. Every figure printed comes from this run:

    .venv/bin/python benchmarks/preprocess_stack.py --sizes 512 1024 2048 --block 512

Each build runs in a fresh subprocess that reports its own peak RSS (``VmHWM``); an import-only child
gives the baseline RSS of the interpreter + libraries, so "stack RSS" is what the build itself adds. The
synthetic scene is generated first (not measured). Memory should stay flat as the scene grows (windowed),
while time grows linearly with pixels.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
from glacierinv.config import load_config
from glacierinv.preprocess.stack import build_feature_stack
if sys.argv[1] != "-":
    cfg = load_config(sys.argv[1])
    cfg = cfg.model_copy(update={"stack": cfg.stack.model_copy(update={"pansharpen": sys.argv[4]})})
    t = time.perf_counter()
    r = build_feature_stack(cfg, sys.argv[2], block_px=int(sys.argv[3]))
    secs = time.perf_counter() - t
    px = r.shape[0] * r.shape[1]
else:
    secs, px = 0.0, 0
# VmHWM is this process image's own peak (ru_maxrss would inherit the parent's high-water mark at fork)
hwm = [ln for ln in open("/proc/self/status") if ln.startswith("VmHWM:")]
peak = int(hwm[0].split()[1]) / 1024 if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": secs, "mpx": px / 1e6, "peak_rss_mb": peak}))
"""


def _child(*args: str) -> dict:
    res = subprocess.run([sys.executable, "-c", CHILD, *args], capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", type=int, nargs="+", default=[512, 1024, 2048])
    ap.add_argument("--block", type=int, default=512)
    ap.add_argument("--method", default="brovey")
    args = ap.parse_args()
    from glacierinv.synthetic import generate_scene

    print(f"machine: {platform.machine()}, {platform.processor() or '?'}; python {platform.python_version()}")
    base = _child("-", "-", "0", "-")["peak_rss_mb"]
    print(f"import-only RSS: {base:.0f} MB; block {args.block} px; pan-sharpening {args.method}")
    print(f"{'size px':>8} {'Mpx':>6} {'seconds':>8} {'Mpx/s':>7} {'peak RSS MB':>12} {'stack RSS MB':>13}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            scene = Path(tmp) / f"scene{size}"
            generate_scene(scene, seed=3, size_px=size)
            f = _child(
                str(scene / "config.toml"), str(Path(tmp) / f"out{size}"), str(args.block), args.method
            )
            rate = f["mpx"] / f["seconds"]
            rows.append((size, f))
            print(
                f"{size:>8} {f['mpx']:>6.2f} {f['seconds']:>8.2f} {rate:>7.2f} "
                f"{f['peak_rss_mb']:>12.0f} {f['peak_rss_mb'] - base:>13.0f}"
            )
        if len(rows) > 1:
            (s0, f0), (s1, f1) = rows[0], rows[-1]
            print(
                f"ratio {s1}/{s0}: pixels x{f1['mpx'] / f0['mpx']:.1f}, time x{f1['seconds'] / f0['seconds']:.1f}, "
                f"added RSS x{max(f1['peak_rss_mb'] - base, 1) / max(f0['peak_rss_mb'] - base, 1):.2f}"
            )


if __name__ == "__main__":
    main()
