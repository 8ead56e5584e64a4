"""Scale benchmark (issue 11): peak RSS and per-stage throughput vs scene size; Dask 1 vs 2 workers.

Every figure printed comes from this run, on this machine:

    .venv/bin/python benchmarks/pipeline_scale.py --sizes 1024 4096 8192 --workers-size 2048

Sizes above the generator's cap (4096²) are an n × n tiling of a 4096² scene (``_tiled_scene.py``).
``--workers-size 0`` skips the workers comparison, which runs 1 and 2 Dask workers (one native thread each, so
the comparison is worker scaling, not thread count) interleaved ``--repeats`` times and compares the
tile tasks' wall time (``tasks_seconds`` of the stack and segment stages: submission of the first part to the
last result, without cluster start-up and mosaic) and the whole stage times. Each full run happens in a fresh subprocess that reports its own peak RSS (``VmHWM`` of /proc/self/status,
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
        capture_output=True, text=True,
    )  # fmt: skip
    if res.returncode != 0:
        raise RuntimeError(f"pipeline run {runtime} failed:\n{res.stderr[-3000:]}")
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
    ap.add_argument("--workers-tile", type=int, default=0, help="tile px of the workers test (0: size / 2)")
    ap.add_argument("--repeats", type=int, default=2, help="interleaved repeats of the workers test")
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
        tile = args.workers_tile or args.workers_size // 2
        import os

        print(f"workers test: {args.workers_size}² scene in {tile}-px tiles, 1 native thread per worker, "
              f"best of {args.repeats} interleaved; load before {os.getloadavg()}")  # fmt: skip
        best: dict = {}
        for rep in range(args.repeats):
            for workers in (1, 2):
                out = tmp / f"run_w{workers}_{rep}"
                t = time.perf_counter()
                fig = _run(scene, out, {"tile_px": tile, "workers": workers, "threads_per_worker": 1,
                                        "block_px": args.block})  # fmt: skip
                stages = json.loads((out / "run.json").read_text())["stages"]
                tasks = sum(stages[k]["summary"]["tasks_seconds"] for k in ("stack", "segment"))
                stage_s = sum(fig["stage_seconds"][k] for k in ("stack", "segment"))
                b = best.setdefault(workers, {"tasks": float("inf"), "stages": float("inf")})
                b["tasks"], b["stages"] = min(b["tasks"], tasks), min(b["stages"], stage_s)
                print(f"  workers={workers}: tile tasks {tasks:.1f} s, stack+segment stages {stage_s:.1f} s "
                      f"(wall {time.perf_counter() - t:.1f} s), load {os.getloadavg()[0]:.1f}")  # fmt: skip
        print(f"speed-up 2 vs 1 workers: tile tasks {best[1]['tasks'] / best[2]['tasks']:.2f}x, "
              f"stack+segment stages incl. cluster start-up and mosaic {best[1]['stages'] / best[2]['stages']:.2f}x; "
              f"load after {os.getloadavg()}")  # fmt: skip


if __name__ == "__main__":
    main()
