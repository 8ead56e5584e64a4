"""Throughput benchmark (issue 19): Mpx/s and peak RSS per stage, the bottleneck, the model's per-tile cost,
and a projection to the seed's Karakoram mosaic (~1.5e10 px at 2 m). Every figure comes from this run:

    .venv/bin/python benchmarks/pipeline_throughput.py --sizes 1024 4096 [8192] --work /tmp/tp

- Each size: a synthetic scene (seed 1; sizes above the generator's 4096² cap are an n × n tiling of the
  4096² scene), generated once into ``--work`` and reused by later runs (delete it to regenerate); then
  every stage of ``glacierinv run`` in its own fresh subprocess, so the peak RSS (``VmHWM``) printed per
  stage is that stage's own. Stage seconds come from ``run.json`` (the stage's own work: the subprocess's
  interpreter start and input checks are not counted). Runs are fresh each time.
- Model cost: the shipped U-Net's forward on one batch of 4 tiles of ``--tile`` px (default: its training
  tile, which the segment stage runs it on) (best of 3, after a
  warm-up) in ms per tile, and its FLOPs per tile (torch's FlopCounterMode). fp32 always; bf16 only where
  the CPU has it natively (``precision = "auto"`` picks it) or with ``--bf16`` (emulated bf16 is ~50× slower).
- Projection for ``--mosaic-px`` pixels (default 1.5e10), from the largest size run (per-stage seconds per
  Mpx × mosaic Mpx):

  * 2 cores: as measured on this machine.
  * ``--cores`` (16 and 64): the tile stages (stack, segment) as parts on cores/2 Dask workers × 2 threads,
    each worker at the efficiency measured for 2 workers (``--worker-speedup``, the 1 → 2 worker speed-up
    on tile tasks of ``benchmarks/pipeline_scale.py``, or measured here with ``--dask-size``):
    cores/2 × speed-up / 2. The per-glacier stages by Amdahl's law: the share ``p`` of a stage's CPU
    that runs in tasks (``--task-share``, measured by ``pipeline_scale.py --task-share 16``) on ``cores``
    workers × 1 thread at the efficiency of the 1 → 2 worker speed-up on per-glacier tasks
    (``--glacier-speedup``), the rest ``1 - p`` in the main process at the measured rate; a stage not named
    in ``--task-share`` counts as serial.
  * one GPU: an ESTIMATE, with a stated assumption (no GPU was used here). Model time = measured FLOPs per
    tile × tiles × forward passes per tile ÷ (``--gpu-tflops`` peak × ``--gpu-efficiency``); the segment
    stage's host work (its measured seconds minus the measured CPU model time of its tiles: read, normalise,
    blend, write) and the other stages stay on the host's 16 cores as above.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STAGE_CHILD = r"""
import json, sys
from glacierinv.config import load_config
from glacierinv.pipeline import run_pipeline
cfg = load_config(sys.argv[1])
rt = json.loads(sys.argv[4])
cfg = cfg.model_copy(update={"runtime": cfg.runtime.model_copy(update=rt)})
run_pipeline(cfg, sys.argv[2], stages=(sys.argv[3],))
line = next(ln for ln in open("/proc/self/status") if ln.startswith("VmHWM"))
print(json.dumps({"peak_rss_mb": int(line.split()[1]) / 1024}))
"""

TILE_STAGES = ("stack", "segment")


def _generate(out: Path, seed: int, size_px: int) -> None:
    """The synthetic scene, in a subprocess (the generator holds the scene in memory)."""
    code = (
        "import sys; from glacierinv.synthetic import generate_scene; "
        "generate_scene(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))"
    )
    subprocess.run(
        [sys.executable, "-c", code, str(out), str(seed), str(size_px)], check=True, capture_output=True
    )


def scene_for(work: Path, size: int) -> Path:
    """The scene folder of ``size``² px in ``work``, generated (or tiled) only when not there yet."""
    from _tiled_scene import tile_scene

    from glacierinv.synthetic.scene import MAX_SIZE_PX

    scene = work / f"scene{size}"
    if (scene / "config.toml").exists():
        return scene
    if size <= MAX_SIZE_PX:
        _generate(scene, 1, size)
        return scene
    if size % MAX_SIZE_PX:
        raise SystemExit(f"sizes above {MAX_SIZE_PX} must be multiples of it")
    tile_scene(scene_for(work, MAX_SIZE_PX), scene, size // MAX_SIZE_PX)
    return scene


def run_stages(config: Path, out: Path, runtime: dict) -> dict[str, dict]:
    """Every stage in its own subprocess: seconds (run.json), peak RSS (VmHWM) and summary per stage."""
    import shutil

    from glacierinv.pipeline import STAGE_NAMES

    shutil.rmtree(out, ignore_errors=True)
    rows = {}
    for name in STAGE_NAMES:
        res = subprocess.run(
            [sys.executable, "-c", STAGE_CHILD, str(config), str(out), name, json.dumps(runtime)],
            capture_output=True,
            text=True,
        )
        if res.returncode:
            raise SystemExit(f"stage {name} failed:\n{res.stderr[-3000:]}")
        rss = json.loads(res.stdout.strip().splitlines()[-1])["peak_rss_mb"]
        stage = json.loads((out / "run.json").read_text())["stages"][name]
        rows[name] = {
            "seconds": stage.get("seconds"),
            "peak_rss_mb": rss,
            "summary": stage.get("summary", {}),
        }
    return rows


def model_cost(tile: int, threads: int, bf16: bool) -> dict:
    """FLOPs per tile and CPU forward ms per tile (batch of 4, best of 3 after a warm-up)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from glacierinv.segment.checkpoint import load_checkpoint

    torch.set_num_threads(threads)
    model, meta = load_checkpoint(None, "cpu")
    x = torch.randn(4, len(meta.channels), tile, tile)
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        model(x[:1])
    out = {"gflop_per_tile": fc.get_total_flops() / 1e9}
    for prec in ("fp32", "bf16") if bf16 else ("fp32",):
        best = float("inf")
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=prec == "bf16"):
            model(x)
            for _ in range(3):
                t = time.perf_counter()
                model(x)
                best = min(best, time.perf_counter() - t)
        out[f"{prec}_ms_per_tile"] = 1000 * best / 4
        out[f"{prec}_mpx_s"] = 4 * tile * tile / 1e6 / best
    return out


def measure_worker_speedup(work: Path, size: int, repeats: int) -> float:
    """1 → 2 Dask worker speed-up on the tile tasks (pipeline_scale.py's test, run here)."""
    from pipeline_scale import _run

    scene = work / f"scene_workers{size}"
    if not (scene / "config.toml").exists():
        _generate(scene, 2, size)
    best = {1: float("inf"), 2: float("inf")}
    for rep in range(repeats):
        for workers in (1, 2):
            out = work / f"run_w{workers}_{rep}"
            import shutil

            shutil.rmtree(out, ignore_errors=True)
            _run(scene, out, {"tile_px": size // 2, "workers": workers, "threads_per_worker": 1})
            stages = json.loads((out / "run.json").read_text())["stages"]
            tasks = sum(stages[k]["summary"]["tasks_seconds"] for k in TILE_STAGES)
            best[workers] = min(best[workers], tasks)
            print(f"  dask workers={workers}: tile tasks {tasks:.1f} s (load {os.getloadavg()[0]:.1f})")
    return best[1] / best[2]


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:,.1f} h" if seconds < 96 * 3600 else f"{seconds / 86400:,.1f} d"


def print_size(size: int, rows: dict[str, dict], wall_s: float) -> None:
    mpx = size * size / 1e6
    print(f"\n{size}² ({mpx:.1f} Mpx), wall {wall_s:.0f} s, load average {os.getloadavg()}")
    print("  stage        seconds    Mpx/s   peak RSS MB")
    for name, r in rows.items():
        s = r["seconds"] or float("nan")
        print(f"  {name:<11} {s:8.1f} {mpx / s:8.3f} {r['peak_rss_mb']:12.0f}")
    total = sum(r["seconds"] or 0 for r in rows.values())
    slow = max(rows, key=lambda k: rows[k]["seconds"] or 0)
    print(
        f"  total {total:.0f} s ({mpx / total:.3f} Mpx/s); peak RSS {max(r['peak_rss_mb'] for r in rows.values()):.0f} MB"
    )
    print(
        f"  bottleneck: {slow} ({rows[slow]['seconds']:.0f} s of {total:.0f} s, {100 * rows[slow]['seconds'] / total:.0f} %)"
    )
    if "attributes" in rows and "analyse" in rows:
        print(f"  analyse / attributes: {rows['analyse']['seconds'] / rows['attributes']['seconds']:.2f}x")


def _cluster_seconds_per_mpx(per_mpx: dict, cores: int, speedup2: float, args) -> dict[str, float]:
    """Seconds per Mpx of each stage on ``cores`` cores (see the module docstring for the model)."""
    tile_speed = cores / 2 * speedup2 / 2
    glacier_workers = cores * args.glacier_speedup / 2
    out = {}
    for k, v in per_mpx.items():
        if k in TILE_STAGES:
            out[k] = v / tile_speed
        else:
            p = args.task_share.get(k, 0.0)
            out[k] = v * ((1 - p) + p / glacier_workers)
    return out


def _shares(text: str) -> dict[str, float]:
    """``"outlines=0.88,units=0.9"`` → ``{"outlines": 0.88, "units": 0.9}``."""
    return {k.strip(): float(v) for k, v in (kv.split("=") for kv in text.split(",") if kv.strip())}


def projection(size: int, rows: dict[str, dict], cost: dict, args, speedup2: float) -> None:
    mpx = size * size / 1e6
    big = args.mosaic_px / 1e6
    per_mpx = {k: (r["seconds"] or 0) / mpx for k, r in rows.items()}
    seg = rows["segment"]["summary"] or {}
    prec = seg.get("precision", "fp32")
    cpu_prec = prec if f"{prec}_ms_per_tile" in cost else "fp32"
    tile_px = seg.get("tile_px", args.tile)
    passes = seg.get("forward_passes_per_tile", 1)
    n_tiles = seg.get("tiles") or mpx * 1e6 / (tile_px * tile_px)
    scale = (tile_px / args.tile) ** 2  # cost per tile scales with its area
    model_s = n_tiles * passes * cost[f"{cpu_prec}_ms_per_tile"] / 1000 * scale
    speed16 = 8 * speedup2 / 2
    cpu2 = sum(per_mpx.values()) * big
    cluster = {cores: _cluster_seconds_per_mpx(per_mpx, cores, speedup2, args) for cores in args.cores}
    gpu_model_s_per_mpx = (
        n_tiles
        * passes
        / mpx
        * cost["gflop_per_tile"]
        * scale
        / (args.gpu_tflops * 1e3 * args.gpu_efficiency)
    )
    seg_host = max(per_mpx["segment"] - model_s / mpx, 0.0)
    gpu = (
        sum(v for k, v in _cluster_seconds_per_mpx(per_mpx, 16, speedup2, args).items() if k != "segment")
        + max(seg_host / speed16, gpu_model_s_per_mpx)
    ) * big
    print(
        f"\nprojection for {args.mosaic_px:.2e} px from the {size}² run (per-stage s/Mpx × {big:,.0f} Mpx):"
    )
    print(
        f"  segment stage at {size}²: CPU model forward {model_s:.0f} s ({prec}, {n_tiles} tiles × {passes} "
        f"pass) of {rows['segment']['seconds']:.0f} s; {cost['gflop_per_tile'] * scale:.1f} GFLOP per "
        f"{tile_px}² tile"
    )
    if model_s > rows["segment"]["seconds"]:
        print(
            "  (the model forward, timed apart, is slower than the whole segment stage: the load changed "
            "between the two; the segment stage's host work is taken as 0 for the GPU estimate)"
        )
    print(f"  2 CPU cores (this machine, as measured): {_hours(cpu2)}")
    shares = ", ".join(f"{k} {v:g}" for k, v in args.task_share.items())
    for cores, parts in cluster.items():
        print(
            f"  {cores} cores ({cores // 2} workers × 2 threads for tiles, × {cores // 2 * speedup2 / 2:.1f} from the "
            f"2-worker speed-up {speedup2:.2f}; {cores} × 1 for glaciers at efficiency {args.glacier_speedup / 2:.2f}, "
            f"task shares {shares}): {_hours(sum(parts.values()) * big)} — "
            + ", ".join(f"{k} {_hours(v * big)}" for k, v in parts.items())
        )
    print(
        f"  one GPU (ESTIMATE: {args.gpu_tflops:g} TFLOP/s peak × {args.gpu_efficiency:g} efficiency → model "
        f"{gpu_model_s_per_mpx * big / 3600:.2f} h; segment host work and other stages on 16 cores): {_hours(gpu)}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1024, 4096], help="scene sizes to run (px)")
    ap.add_argument(
        "--work", type=Path, default=None, help="scenes and runs here, reused (default: temporary)"
    )
    ap.add_argument(
        "--tile", type=int, default=None,
        help="tile px of the model-cost test (default: the shipped model's training tile, as the segment stage uses)",
    )  # fmt: skip
    ap.add_argument("--threads", type=int, default=2, help="torch threads of the model-cost test")
    ap.add_argument("--bf16", action="store_true", help="also time bf16 where it is emulated (slow)")
    ap.add_argument("--mosaic-px", type=float, default=1.5e10)
    ap.add_argument("--cores", type=int, nargs="+", default=[16, 64], help="cluster sizes to project for")
    ap.add_argument(
        "--task-share", type=_shares, default=_shares("outlines=0.88,units=0.90,attributes=0.96,assess=0.53,analyse=0.67,report=0.40"),
        help="share of each per-glacier stage's CPU in tasks (pipeline_scale.py --task-share 16; docs/pipeline.md)",
    )  # fmt: skip
    ap.add_argument(
        "--glacier-speedup", type=float, default=1.71,
        help="1 → 2 Dask worker speed-up on per-glacier tasks (pipeline_scale.py --glacier-tiles 5)",
    )  # fmt: skip
    ap.add_argument(
        "--worker-speedup", type=float, default=1.65,
        help="1 → 2 Dask worker speed-up on tile tasks (benchmarks/pipeline_scale.py; docs/pipeline.md)",
    )  # fmt: skip
    ap.add_argument(
        "--dask-size", type=int, default=0, help=">0: measure the speed-up here on this scene size"
    )
    ap.add_argument("--dask-repeats", type=int, default=2)
    ap.add_argument("--gpu-tflops", type=float, default=312.0, help="GPU bf16 dense peak (A100: 312)")
    ap.add_argument(
        "--gpu-efficiency", type=float, default=0.25, help="fraction of peak a small U-Net reaches"
    )
    args = ap.parse_args()
    from glacierinv.segment.infer import resolve_precision

    auto = resolve_precision("auto", "cpu")
    print(
        f"machine: {platform.machine()} {platform.processor()}, {os.cpu_count()} CPUs, python "
        f"{platform.python_version()}; segment precision auto -> {auto}; load average {os.getloadavg()}"
    )
    if args.tile is None:
        from glacierinv.segment.checkpoint import checkpoint_tile_px

        args.tile = checkpoint_tile_px(None)
    cost = model_cost(args.tile, args.threads, bf16=args.bf16 or auto == "bf16")
    print(
        f"model: {cost['gflop_per_tile']:.1f} GFLOP per {args.tile}² tile; CPU forward fp32 "
        f"{cost['fp32_ms_per_tile']:.0f} ms/tile ({cost['fp32_mpx_s']:.2f} Mpx/s)"
        + (
            f", bf16 {cost['bf16_ms_per_tile']:.0f} ms/tile ({cost['bf16_mpx_s']:.2f} Mpx/s)"
            if "bf16_ms_per_tile" in cost
            else " (bf16 not timed: emulated on this CPU; --bf16 to time it)"
        )
    )
    ctx = tempfile.TemporaryDirectory() if args.work is None else None
    work = Path(ctx.name) if ctx else args.work
    work.mkdir(parents=True, exist_ok=True)
    try:
        speedup2 = args.worker_speedup
        if args.dask_size:
            speedup2 = measure_worker_speedup(work, args.dask_size, args.dask_repeats)
            print(f"Dask 1 → 2 workers on tile tasks ({args.dask_size}² scene): {speedup2:.2f}x")
        results = {}
        for size in args.sizes:
            scene = scene_for(work, size)
            t0 = time.perf_counter()
            results[size] = run_stages(scene / "config.toml", work / f"run{size}", {})
            print_size(size, results[size], time.perf_counter() - t0)
        size = max(results)
        projection(size, results[size], cost, args, speedup2)
        print(f"load average at the end: {os.getloadavg()}")
    finally:
        if ctx:
            ctx.cleanup()


if __name__ == "__main__":
    main()
