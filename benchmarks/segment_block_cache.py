"""Peak RSS of the segment stage's tile streaming with GDAL's block cache at ``[runtime] gdal_cache_mb``
(256 MiB) vs the segment stage's own cap (``segment.runner.block_cache_mb``, issue 24).

A described 6-band float32 stack of SIZE² px (256-px deflate tiles, band-interleaved, as the stack stage
writes it) is segmented by the U-Net tile streaming (``predict_with_model``: reader and writer threads,
strips of ``[segment] strip_px``) with a 1×1-convolution model, so the run measures the I/O path the cache
serves, not the network; each setting runs in a fresh process that reports its own ``VmHWM``.

    .venv/bin/python benchmarks/segment_block_cache.py --size 4096
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
import json, sys
import torch
from glacierinv.config import RunConfig
from glacierinv.memory import gdal_block_cache
from glacierinv.segment.checkpoint import ModelMeta
from glacierinv.segment.infer import predict_with_model
from glacierinv.segment.model import UNetSpec
from glacierinv.segment.runner import block_cache_mb
torch.set_num_threads(2)
def hwm():
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1]) / 1024
stack, out, mode = sys.argv[1], sys.argv[2], sys.argv[3]
cfg = RunConfig(inputs={"dem": "-"})
from pathlib import Path
cache = cfg.runtime.gdal_cache_mb if mode == "runtime" else max(16, int(block_cache_mb(cfg, Path(stack).parent)))
model = torch.nn.Conv2d(6, 3, 1)
meta = ModelMeta(spec=UNetSpec(), channels=["blue", "green", "red", "nir", "lst", "slope"], norm_mean=[0.0] * 6,
                 norm_std=[1.0] * 6)
before = hwm()
with gdal_block_cache(cache), torch.no_grad():
    predict_with_model(stack, model, meta, out + "/classes.tif", out + "/proba.tif", uncertainty_path=out + "/unc.tif",
                       block_px=cfg.segment.strip_px)
print(json.dumps({"mode": mode, "cache_mb": cache, "hwm_mb": hwm(), "hwm_before_mb": before}))
"""


def _stack(path: Path, size: int) -> None:
    code = r"""
import sys, numpy as np, rasterio
from rasterio.transform import from_origin
size = int(sys.argv[2]); rng = np.random.default_rng(0)
profile = dict(driver="GTiff", width=size, height=size, count=6, dtype="float32", crs="EPSG:32643",
               transform=from_origin(500000, 4000000, 2, 2), tiled=True, blockxsize=256, blockysize=256,
               compress="deflate", interleave="band")
yy, xx = np.mgrid[0:256, 0:size].astype("float32")
with rasterio.open(sys.argv[1], "w", **profile) as ds:
    ds.descriptions = ("blue", "green", "red", "nir", "lst", "slope")
    for b in range(6):
        for r0 in range(0, size, 256):
            band = np.sin((xx + b * 37) / 50) * np.cos((yy + r0) / 70) + 0.05 * rng.standard_normal(xx.shape, "float32")
            ds.write(band.astype("float32"), b + 1, window=((r0, r0 + 256), (0, size)))
"""
    subprocess.run([sys.executable, "-c", code, str(path), str(size)], check=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size", type=int, default=4096)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        stack = Path(tmp) / "stack.tif"
        _stack(stack, args.size)
        for mode in ("runtime", "stage"):
            out = Path(tmp) / mode
            out.mkdir()
            res = subprocess.run([sys.executable, "-c", CHILD, str(stack), str(out), mode],
                                 capture_output=True, text=True)  # fmt: skip
            if res.returncode:
                raise SystemExit(res.stderr[-3000:])
            fig = json.loads(res.stdout.strip().splitlines()[-1])
            print(
                f"{args.size}² stack, GDAL cache {fig['cache_mb']:4d} MiB ({mode:7s}): peak RSS "
                f"{fig['hwm_mb']:.0f} MB ({fig['hwm_mb'] - fig['hwm_before_mb']:.0f} MB above the loaded "
                f"interpreter); load {os.getloadavg()[0]:.1f}"
            )


if __name__ == "__main__":
    main()
