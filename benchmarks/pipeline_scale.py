"""Scale benchmark (issue 11): peak RSS and per-stage throughput vs scene size; Dask 1 vs 2 workers.

Every figure printed comes from this run, on this machine:

    .venv/bin/python benchmarks/pipeline_scale.py --sizes 1024 4096 8192 --workers-size 2048

Sizes above the generator's cap (4096²) are an n × n tiling of a 4096² scene (``_tiled_scene.py``).
``--workers-size 0`` skips the workers comparison. Each full run happens in a fresh subprocess that reports its own peak RSS (``VmHWM`` of /proc/self/status,
after each stage; not ``ru_maxrss``, which Linux carries over from the parent's RSS at fork + exec), so runs
do not share memory; scenes are generated in their own subprocesses too. The synthetic scene is generated first (its generator is not part of the measurement).
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, sys, time
from glacierinv.config import load_config
from glacierinv.pipeline import STAGE_NAMES, run_pipeline
cfg = load_config(sys.argv[1])
rt = json.loads(sys.argv[3])
cfg = cfg.model_copy(update={"runtime": cfg.runtime.model_copy(update=rt)})
t = time.perf_counter()
def vm_hwm_mb():  # this process's own peak RSS; ru_maxrss would include the parent's RSS at fork time
    line = next(ln for ln in open("/proc/self/status") if ln.startswith("VmHWM"))
    return int(line.split()[1]) / 1024
rss = {}
for name in STAGE_NAMES:  # one stage at a time: the peak RSS (monotonic) after each shows which stage set it
    run_pipeline(cfg, sys.argv[2], stages=(name,))
    rss[name] = vm_hwm_mb()
print(json.dumps({"seconds": time.perf_counter() - t, "peak_rss_mb": max(rss.values()), "rss_after_mb": rss}))
"""


def _run(scene: Path, out: Path, runtime: dict) -> dict:
    res = subprocess.run(
        [sys.executable, "-c", CHILD, str(scene / "config.toml"), str(out), json.dumps(runtime)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    figures = json.loads(res.stdout.strip().splitlines()[-1])
    stages = json.loads((out / "run.json").read_text())["stages"]
    figures["stage_seconds"] = {k: v.get("seconds") for k, v in stages.items()}
    return figures


def _generate(out: Path, seed: int, size_px: int) -> None:
    """The synthetic scene, generated in a subprocess so that this process stays small."""
    code = "import sys; from glacierinv.synthetic import generate_scene; generate_scene(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))"
    subprocess.run(
        [sys.executable, "-c", code, str(out), str(seed), str(size_px)], check=True, capture_output=True
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048, 4096])
    ap.add_argument(
        "--workers-size", type=int, default=2048, help="scene size for the 1 vs 2 workers test (0: skip)"
    )
    ap.add_argument("--block", type=int, default=1024)
    args = ap.parse_args()
    from _tiled_scene import tile_scene

    from glacierinv.synthetic.scene import MAX_SIZE_PX

    print(f"machine: {platform.machine()} {platform.processor()} python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        rows = []
        for size in args.sizes:
            scene = tmp / f"scene{size}"
            if size <= MAX_SIZE_PX:
                _generate(scene, seed=1, size_px=size)
            else:  # the generator holds a scene in memory: repeat a cap-size scene n × n times
                if size % MAX_SIZE_PX:
                    raise SystemExit(f"sizes above {MAX_SIZE_PX} must be multiples of it")
                base = tmp / f"scene{MAX_SIZE_PX}"
                if not base.exists():
                    _generate(base, seed=1, size_px=MAX_SIZE_PX)
                tile_scene(base, scene, size // MAX_SIZE_PX)
            fig = _run(scene, tmp / f"run{size}", {"block_px": args.block})
            mpx = size * size / 1e6
            rows.append((size, mpx, fig))
            per_stage = ", ".join(
                f"{k} {mpx / s:.2f} Mpx/s"
                for k, s in fig["stage_seconds"].items()
                if s and k in ("stack", "segment", "outlines")
            )
            print(
                f"{size:>6}² px  total {fig['seconds']:7.1f} s  peak RSS {fig['peak_rss_mb']:7.0f} MB  {per_stage}"
            )
            print("        peak RSS after each stage (MB): "
                  + ", ".join(f"{k} {v:.0f}" for k, v in fig["rss_after_mb"].items()))  # fmt: skip
        base = rows[0][2]["peak_rss_mb"]
        for size, _, fig in rows[1:]:
            print(f"peak RSS {size}² / {rows[0][0]}²: {fig['peak_rss_mb'] / base:.2f}x")

        if not args.workers_size:
            return
        scene = tmp / "scene_workers"
        _generate(scene, seed=2, size_px=args.workers_size)
        tile = args.workers_size // 2
        timings = {}
        for workers in (0, 1, 2):
            t = time.perf_counter()
            fig = _run(
                scene, tmp / f"run_w{workers}", {"tile_px": tile, "workers": workers, "block_px": args.block}
            )
            timings[workers] = sum(fig["stage_seconds"][k] for k in ("stack", "segment"))
            print(
                f"tiles {tile}px, workers={workers}: stack+segment {timings[workers]:.1f} s (wall {time.perf_counter() - t:.1f} s)"
            )
        print(f"speed-up 2 vs 1 workers (stack+segment): {timings[1] / timings[2]:.2f}x")


if __name__ == "__main__":
    main()
