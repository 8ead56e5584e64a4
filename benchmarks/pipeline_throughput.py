"""Throughput benchmark (issue 19): Mpx/s and peak RSS per stage, the bottleneck, the model's per-tile cost,
and a projection to the seed's Karakoram mosaic (~1.5e10 px at 2 m). Every figure comes from this run:

    .venv/bin/python benchmarks/pipeline_throughput.py --sizes 1024 4096 [8192]

- Each size: a synthetic scene (seed 1; sizes above the generator's 4096² cap are an n × n tiling of the
  4096² scene), then every stage of ``glacierinv run`` in its own fresh subprocess, so the peak RSS
  (``VmHWM``) printed per stage is that stage's own. Stage seconds come from ``run.json``.
- Model cost: the shipped U-Net's forward on batches of 4 tiles of ``--tile`` px (best of 3, after a
  warm-up), fp32 and bf16, in ms per tile and Mpx/s, plus its FLOPs per tile (torch's FlopCounterMode).
- Projection for ``--mosaic-px`` pixels (default 1.5e10): per stage, seconds per Mpx at the largest size
  run × mosaic Mpx.
  * 2 cores: as measured (this machine).
  * 16 cores: the tile stages (stack, segment) as parts on 8 Dask workers × 2 threads, scaled by the
    2-worker efficiency measured by ``benchmarks/pipeline_scale.py`` (``--worker-efficiency``, default
    0.85 = 1.7x / 2); the per-glacier stages (outlines … report) run in one process today, so they are
    projected at the 2-core rate (not parallelised: that is the limit the projection shows).
  * one GPU: an ESTIMATE, no GPU was available. Model time = FLOPs per tile ÷ (``--gpu-tflops`` peak ×
    ``--gpu-efficiency``); the segment stage's non-model work (read, normalise, blend, write: segment
    seconds minus model seconds, measured here) and the other stages stay on the host's 16 cores as above.
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


def _generate(out: Path, seed: int, size_px: int) -> None:
    code = (
        "import sys; from glacierinv.synthetic import generate_scene; "
        "generate_scene(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))"
    )
    subprocess.run([sys.executable, "-c", code, str(out), str(seed), str(size_px)], check=True)


def run_stages(config: Path, out: Path, runtime: dict) -> dict[str, dict]:
    from glacierinv.pipeline import STAGE_NAMES

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


def model_cost(tile: int, threads: int) -> dict:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from glacierinv.segment.checkpoint import load_checkpoint

    torch.set_num_threads(threads)
    model, meta = load_checkpoint(None, "cpu")
    x = torch.randn(4, len(meta.channels), tile, tile)
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        model(x[:1])
    out = {"gflop_per_tile": fc.get_total_flops() / 1e9}
    for prec in ("fp32", "bf16"):
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


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:,.1f} h" if seconds < 96 * 3600 else f"{seconds / 86400:,.1f} d"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1024, 4096])
    ap.add_argument("--tile", type=int, default=512)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--mosaic-px", type=float, default=1.5e10)
    ap.add_argument("--worker-efficiency", type=float, default=0.85)
    ap.add_argument("--gpu-tflops", type=float, default=312.0, help="GPU bf16 dense peak (A100: 312)")
    ap.add_argument(
        "--gpu-efficiency", type=float, default=0.25, help="fraction of peak a small U-Net reaches"
    )
    ap.add_argument("--keep", type=Path, default=None, help="keep the scenes and runs in this folder")
    args = ap.parse_args()
    from _tiled_scene import tile_scene

    from glacierinv.segment.infer import resolve_precision
    from glacierinv.synthetic.scene import MAX_SIZE_PX

    print(
        f"machine: {platform.machine()} {platform.processor()}, {os.cpu_count()} CPUs, python "
        f"{platform.python_version()}; segment precision auto -> {resolve_precision('auto', 'cpu')}; "
        f"load average {os.getloadavg()}"
    )
    cost = model_cost(args.tile, args.threads)
    print(
        f"model: {cost['gflop_per_tile']:.1f} GFLOP per {args.tile}² tile; CPU forward fp32 "
        f"{cost['fp32_ms_per_tile']:.0f} ms/tile ({cost['fp32_mpx_s']:.2f} Mpx/s), bf16 "
        f"{cost['bf16_ms_per_tile']:.0f} ms/tile ({cost['bf16_mpx_s']:.2f} Mpx/s)"
    )
    ctx = tempfile.TemporaryDirectory() if args.keep is None else None
    tmp = Path(ctx.name) if ctx else args.keep
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        results = {}
        for size in args.sizes:
            scene = tmp / f"scene{size}"
            if not (scene / "config.toml").exists():
                if size <= MAX_SIZE_PX:
                    _generate(scene, 1, size)
                else:
                    if size % MAX_SIZE_PX:
                        raise SystemExit(f"sizes above {MAX_SIZE_PX} must be multiples of it")
                    base = tmp / f"scene{MAX_SIZE_PX}"
                    if not (base / "config.toml").exists():
                        _generate(base, 1, MAX_SIZE_PX)
                    tile_scene(base, scene, size // MAX_SIZE_PX)
            t0 = time.perf_counter()
            rows = run_stages(scene / "config.toml", tmp / f"run{size}", {})
            mpx = size * size / 1e6
            print(f"\n{size}² ({mpx:.1f} Mpx), wall {time.perf_counter() - t0:.0f} s, load {os.getloadavg()}")
            print("  stage        seconds    Mpx/s   peak RSS MB")
            for name, r in rows.items():
                s = r["seconds"] or float("nan")
                print(f"  {name:<11} {s:8.1f} {mpx / s:8.3f} {r['peak_rss_mb']:12.0f}")
            slow = max(rows, key=lambda k: rows[k]["seconds"] or 0)
            print(
                f"  bottleneck: {slow} ({rows[slow]['seconds']:.0f} s of {sum(r['seconds'] or 0 for r in rows.values()):.0f} s)"
            )
            results[size] = rows
        size = max(results)
        rows, mpx = results[size], size * size / 1e6
        big = args.mosaic_px / 1e6
        per_mpx = {k: (r["seconds"] or 0) / mpx for k, r in rows.items()}
        seg = rows["segment"]["summary"] or {}
        prec = seg.get("precision", "fp32")
        tile_px = seg.get("tile_px", args.tile)
        n_tiles = seg.get("tiles") or mpx * 1e6 / (tile_px * tile_px)
        model_s = n_tiles * cost[f"{prec}_ms_per_tile"] / 1000 * (tile_px / args.tile) ** 2
        tile_stages = ("stack", "segment")
        cpu2 = sum(per_mpx.values()) * big
        speed16 = 8 * args.worker_efficiency
        cpu16 = sum(v / (speed16 if k in tile_stages else 1) for k, v in per_mpx.items()) * big
        gpu_model_s_per_mpx = (
            (n_tiles / mpx)
            * cost["gflop_per_tile"]
            * (tile_px / args.tile) ** 2
            / (args.gpu_tflops * 1e3 * args.gpu_efficiency)
        )
        seg_host = max(per_mpx["segment"] - model_s / mpx, 0.0)
        gpu = (
            sum(v / (speed16 if k == "stack" else 1) for k, v in per_mpx.items() if k != "segment")
            + max(seg_host / speed16, gpu_model_s_per_mpx)
        ) * big
        print(
            f"\nprojection for {args.mosaic_px:.2e} px from the {size}² run (per-stage s/Mpx × {big:,.0f} Mpx):"
        )
        print(f"  2 CPU cores (this machine, as measured): {_hours(cpu2)}")
        print(
            f"  16 cores (8 workers × 2 threads, tile stages × {speed16:.1f}, per-glacier stages serial): "
            f"{_hours(cpu16)}; per-glacier stages alone {_hours(sum(v for k, v in per_mpx.items() if k not in tile_stages) * big)}"
        )
        print(
            f"  one GPU (ESTIMATE: {args.gpu_tflops:g} TFLOP/s peak × {args.gpu_efficiency:g}, model "
            f"{gpu_model_s_per_mpx * big / 3600:.2f} h; host work on 16 cores): {_hours(gpu)}"
        )
        print(
            f"  segment stage at {size}²: model forward {model_s:.0f} s of {rows['segment']['seconds']:.0f} s "
            f"({prec}, {n_tiles} tiles)"
        )
        print(f"load average at the end: {os.getloadavg()}")
    finally:
        if ctx:
            ctx.cleanup()


if __name__ == "__main__":
    main()
