"""Scale benchmark (issue 11): peak RSS and per-stage throughput vs scene size; Dask 1 vs 2 workers.

Every figure printed comes from this run, on this machine:

    .venv/bin/python benchmarks/pipeline_scale.py --sizes 1024 4096 8192 --workers-size 2048

Sizes above the generator's cap (4096²) are an n × n tiling of a 4096² scene (``_tiled_scene.py``).
``--glacier-tiles N`` (0: skip) measures the per-glacier stages (units, attributes, analyse) as Dask tasks:
a ``--glacier-base``² scene (default 1024², 3 complexes) tiled N × N (5 → 5120², ~75 complexes), prepared
once (stack, baseline segmentation, outlines in process), then the three stages re-run with ``workers`` =
0 (in process), 1 and 2, interleaved ``--repeats`` times; printed: each stage's seconds, the tasks' wall
and CPU seconds, the serial rest, the cluster start-up, the workers' peak RSS (sampled), and whether the
inventory and analysis CSVs are byte-identical to the in-process run's.

``--task-share SLOTS`` runs the outlines, units, attributes, assess, analyse and report stages of that scene
(``--glacier-base`` tiled ``--glacier-tiles`` times; ``--share-stages`` picks some of them, the stages before
the first one picked are prepared once) in one process with their work cut into the batches a cluster of
SLOTS workers gets, and meters the CPU seconds inside the tasks (and pickling the tasks' inputs and results)
against the stage's whole CPU time: the share ``p`` that workers can take over (CPU time, so a loaded
machine measures it as well as an idle one). ``--share-run RUN`` measures an existing run folder instead
(e.g. the ``run4096`` of ``pipeline_throughput.py --work``; its config is ``RUN/config.toml`` or
``--share-config``), leaving its files as they were: the stages run on a copy.

``--terrain-complexes`` does the same on real terrain without the raster stages: every complex of the
Ötztal SRTM ice mask of ``units_scale.make_complexes`` (``--terrain-res`` 30 m, ``--terrain-z-ice`` m),
split into units, their attributes, terrain histograms and mainline profiles (the per-glacier work of
units, attributes and analyse), in process and on 1 and 2 workers, interleaved ``--repeats`` times.

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


GLACIER_CHILD = r"""
import json, sys, threading, time
import psutil
from glacierinv.config import load_config
from glacierinv.pipeline import run_pipeline
cfg = load_config(sys.argv[1])
upd = json.loads(sys.argv[3])
cfg = cfg.model_copy(update={k: getattr(cfg, k).model_copy(update=v) for k, v in upd.items()})
peak = {}
def sample():  # the peak RSS of every worker process (children of this one), every 0.2 s
    me = psutil.Process()
    while not done.is_set():
        for c in me.children(recursive=True):
            try:
                peak[c.pid] = max(peak.get(c.pid, 0), c.memory_info().rss / 2**20)
            except psutil.Error:
                pass
        time.sleep(0.2)
done = threading.Event()
threading.Thread(target=sample, daemon=True).start()
t = time.perf_counter()
run_pipeline(cfg, sys.argv[2], stages=tuple(json.loads(sys.argv[4])), force=True)
done.set()
line = next(ln for ln in open("/proc/self/status") if ln.startswith("VmHWM"))
print(json.dumps({"seconds": time.perf_counter() - t, "worker_peak_rss_mb": sorted(peak.values())[-4:],
                  "main_peak_rss_mb": int(line.split()[1]) / 1024}))
"""

GLACIER_STAGES = ("units", "attributes", "analyse")

TASK_SHARE_CHILD = r"""
import json, pickle, sys, time
from glacierinv.config import load_config
from glacierinv.pipeline import get_stage
from glacierinv.pipeline.runfolder import RunFolder
from glacierinv.taskmap import using
cfg = load_config(sys.argv[1])
cfg = cfg.model_copy(update={"segment": cfg.segment.model_copy(update={"method": "baseline"})})
run = RunFolder(sys.argv[2])
import importlib  # the stages' modules first: their import is a fixed cost, not part of a stage's work
for m in ("glacierinv.outlines.review", "glacierinv.outlines.vectorize", "glacierinv.units",
          "glacierinv.attributes", "glacierinv.analysis", "scipy.ndimage", "glacierinv.assess.metrics",
          "glacierinv.assess.compare", "glacierinv.report.html", "matplotlib.pyplot", "pyproj"):
    importlib.import_module(m)
class Meter:  # the run's cluster as seen by a stage: batches for `slots` workers, run here, CPU metered
    def __init__(self, slots):
        self.slots, self.tasks_cpu, self.io_cpu, self.n = slots, 0.0, 0.0, 0
        self.batches_per_slot = cfg.runtime.batches_per_worker
    def map(self, func, items, *, keys=None):
        out = []
        for item in items:
            c0 = time.process_time()
            item = pickle.loads(pickle.dumps(item))  # what the client and the worker do with it
            c1 = time.process_time()
            r = func(item)
            c2 = time.process_time()
            out.append(pickle.loads(pickle.dumps(r)))
            self.io_cpu += (c1 - c0) + time.process_time() - c2
            self.tasks_cpu += c2 - c1
            self.n += 1
        return out
out = {}
for name in json.loads(sys.argv[4]):
    meter = Meter(int(sys.argv[3]))
    stage = get_stage(name)
    c0, t0 = time.process_time(), time.perf_counter()
    with using(meter):
        stage.run(cfg, run, lambda f: None)
    cpu = time.process_time() - c0
    out[name] = {"cpu_s": cpu, "wall_s": time.perf_counter() - t0, "tasks_cpu_s": meter.tasks_cpu,
                 "pickle_cpu_s": meter.io_cpu, "tasks": meter.n}
print(json.dumps(out))
"""
SHARE_STAGES = ("outlines", "units", "attributes", "assess", "analyse", "report")  # the pipeline's order

TERRAIN_CHILD = r"""
import hashlib, json, sys, time
import geopandas as gpd
from glacierinv.pipeline.distributed import TaskRunner
from glacierinv.taskmap import using
from glacierinv.units import subdivide
from glacierinv.attributes import compute_attributes
from glacierinv.analysis.sampling import sample_terrain
from glacierinv.analysis.profiles import mainline_profiles
outlines, dem, workers = sys.argv[1], sys.argv[2], int(sys.argv[3])
ice = gpd.read_file(outlines)
out, h = {}, hashlib.sha256()
with TaskRunner(workers, threads_per_worker=1) as runner, using(runner if workers else None):
    start = time.perf_counter()
    if workers:
        runner.slots  # the cluster starts here, outside the steps' timing
    out["startup_s"] = time.perf_counter() - start
    def step(name, f):
        w0, m0, c0, t0 = runner.map_seconds, runner.task_cpu_seconds, time.process_time(), time.perf_counter()
        value = f()
        out[name] = {"s": time.perf_counter() - t0, "tasks_s": runner.map_seconds - w0,
                     "tasks_cpu_s": runner.task_cpu_seconds - m0, "main_cpu_s": time.process_time() - c0}
        return value
    units, debris, divides = step("units", lambda: subdivide(ice, dem))
    attrs, hyps, lines = step("attributes", lambda: compute_attributes(units, dem, return_centerlines=True))
    hist = step("terrain", lambda: sample_terrain(attrs, dem))
    prof = step("profiles", lambda: mainline_profiles(attrs, dem, centerlines=lines))
h.update(b"".join(g.wkb for g in units.geometry))
h.update(attrs.drop(columns="geometry").to_csv().encode() + hyps.to_csv().encode())
h.update(hist.table.to_csv().encode() + b"".join(a.tobytes() for a in hist.z_glacier))
h.update(prof.tables[next(iter(prof.tables))].to_csv().encode())
out |= {"n_complexes": len(ice), "n_units": len(units), "digest": h.hexdigest()[:16]}
print(json.dumps(out))
"""
TERRAIN_STEPS = ("units", "attributes", "terrain", "profiles")


def task_share(tmp: Path, base_px: int, tiles: int, slots: int, repeats: int, stages=SHARE_STAGES) -> None:
    """CPU seconds of each per-glacier stage inside its tasks and in the main process (see the docstring)."""
    import pyogrio
    from _tiled_scene import tile_scene

    base, scene, run = tmp / "sbase", tmp / "sscene", tmp / "srun"
    if tiles <= 1:
        scene = base
    order = ("stack", "segment", *SHARE_STAGES)
    prep = order[: min(order.index(s) for s in stages)]
    done = json.loads((run / "run.json").read_text())["stages"] if (run / "run.json").exists() else {}
    if not all(s in done for s in prep):  # prepared once (a --work folder keeps it)
        if not (scene / "config.toml").exists():
            _generate(base, seed=1, size_px=base_px)
            if tiles > 1:
                tile_scene(base, scene, tiles)
        _run_stages(scene, run, {"segment": {"method": "baseline"}}, prep)
    n = pyogrio.read_info(run / "outlines.gpkg", layer="glaciers")["features"]
    _share_runs(scene / "config.toml", run, (base_px * tiles) ** 2 / 1e6, n, slots, repeats, stages)


def share_of_run(run: Path, config: Path | None, tmp: Path, slots: int, repeats: int, stages) -> None:
    """:func:`task_share` on a copy of an existing run folder (its scene's size from classes.tif)."""
    import shutil

    import pyogrio
    import rasterio

    with rasterio.open(run / "classes.tif") as ds:
        mpx = ds.width * ds.height / 1e6
    n = pyogrio.read_info(run / "outlines.gpkg", layer="glaciers")["features"]
    copy = tmp / "share_run"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns("stack.tif", "source.tif", "masks.tif"))
    _share_runs(config or run / "config.toml", copy, mpx, n, slots, repeats, stages)


def _share_runs(config: Path, run: Path, mpx: float, n: int, slots: int, repeats: int, stages) -> None:
    import os

    print(f"task share: {mpx:.1f} Mpx scene, {n} complexes, batches for {slots} workers, every stage in one "
          f"process; load {os.getloadavg()}", flush=True)  # fmt: skip
    best: dict = {}
    for _rep in range(repeats):
        res = subprocess.run([sys.executable, "-c", TASK_SHARE_CHILD, str(config), str(run),
                              str(slots), json.dumps(list(stages))], capture_output=True, text=True)  # fmt: skip
        if res.returncode != 0:
            raise RuntimeError(res.stderr[-3000:])
        f = json.loads(res.stdout.strip().splitlines()[-1])
        for k, v in f.items():
            if k not in best or v["cpu_s"] < best[k]["cpu_s"]:
                best[k] = v
        print(f"  run {_rep + 1}: " + ", ".join(f"{k} {v['cpu_s']:.1f} CPU s ({v['wall_s']:.1f} s wall)"
                                                for k, v in f.items())
              + f"; load {os.getloadavg()[0]:.1f}", flush=True)  # fmt: skip
    total = {"cpu_s": 0.0, "tasks_cpu_s": 0.0}
    for k, v in best.items():
        main = v["cpu_s"] - v["tasks_cpu_s"]
        total["cpu_s"] += v["cpu_s"]
        total["tasks_cpu_s"] += v["tasks_cpu_s"]
        print(f"  {k:<10} {v['cpu_s']:7.1f} CPU s ({v['cpu_s'] / mpx:.4f} s/Mpx): in {v['tasks']} tasks "
              f"{v['tasks_cpu_s']:.2f} s ({v['tasks_cpu_s'] / mpx:.4f} s/Mpx), main process {main:.2f} s "
              f"({main / mpx:.4f} s/Mpx; of which pickling {v['pickle_cpu_s']:.2f} s)"
              f" → task share p = {v['tasks_cpu_s'] / v['cpu_s']:.3f}")  # fmt: skip
    print(f"  all {len(best)}: {total['cpu_s']:.1f} CPU s, p = {total['tasks_cpu_s'] / total['cpu_s']:.3f} "
          f"(best of {repeats} per stage); load after {os.getloadavg()}")  # fmt: skip


def terrain_complexes(res: float, z_ice: float, repeats: int) -> None:
    """1 vs 2 workers on the per-glacier work over real-terrain complexes (see the module docstring)."""
    import os

    from units_scale import make_complexes

    outlines, dem = make_complexes(Path("/tmp/glacierinv_terrain"), res, z_ice)
    best: dict = {}
    reference = None
    print(f"terrain complexes: {outlines} on {dem}; load {os.getloadavg()}")
    for _rep in range(repeats):
        for workers in (0, 1, 2):
            cpu0 = os.times()
            res_ = subprocess.run([sys.executable, "-c", TERRAIN_CHILD, str(outlines), str(dem), str(workers)],
                                  capture_output=True, text=True)  # fmt: skip
            if res_.returncode != 0:
                raise RuntimeError(res_.stderr[-3000:])
            cpu = os.times()
            f = json.loads(res_.stdout.strip().splitlines()[-1])
            reference = reference or f["digest"]
            total = sum(f[k]["s"] for k in TERRAIN_STEPS)
            tasks = sum(f[k]["tasks_s"] for k in TERRAIN_STEPS)
            tcpu = sum(f[k]["tasks_cpu_s"] for k in TERRAIN_STEPS)
            main = sum(f[k]["main_cpu_s"] for k in TERRAIN_STEPS)
            b = best.setdefault(workers, {"total": float("inf"), "tasks": float("inf")})
            b["total"], b["tasks"] = min(b["total"], total), min(b["tasks"], tasks)
            children = (cpu.children_user + cpu.children_system) - (cpu0.children_user + cpu0.children_system)
            print(f"  workers={workers}: {f['n_complexes']} complexes → {f['n_units']} units; "
                  + ", ".join(f"{k} {f[k]['s']:.1f} s" for k in TERRAIN_STEPS)
                  + f" = {total:.1f} s; tasks wall {tasks:.1f} s, tasks CPU {tcpu:.1f} s, main-process CPU "
                  f"{main:.1f} s (in process: everything), cluster start-up {f['startup_s']:.1f} s, CPU of "
                  f"all processes {children:.1f} s; results {'identical' if f['digest'] == reference else 'DIFFER'}"
                  f"; load {os.getloadavg()[0]:.1f}", flush=True)  # fmt: skip
    print(f"speed-up 2 vs 1 workers: tasks {best[1]['tasks'] / best[2]['tasks']:.2f}x, steps incl. the main "
          f"process's part {best[1]['total'] / best[2]['total']:.2f}x; 2 workers vs in process "
          f"{best[0]['total'] / best[2]['total']:.2f}x; load after {os.getloadavg()}")  # fmt: skip


def _run_stages(scene: Path, out: Path, update: dict, stages) -> dict:
    res = subprocess.run(
        [sys.executable, "-c", GLACIER_CHILD, str(scene / "config.toml"), str(out), json.dumps(update),
         json.dumps(list(stages))], capture_output=True, text=True,
    )  # fmt: skip
    if res.returncode != 0:
        raise RuntimeError(f"pipeline run {update} failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def _outputs_digest(run: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    for f in [run / "inventory.csv", *sorted((run / "analysis").glob("*.csv"))]:
        h.update(f.name.encode() + f.read_bytes())
    return h.hexdigest()[:16]


def glacier_stages(tmp: Path, base_px: int, tiles: int, repeats: int) -> None:
    """1 vs 2 workers on the per-glacier stages (see the module docstring)."""
    import os
    import re

    import pyogrio
    from _tiled_scene import tile_scene

    base, scene, run = tmp / "gbase", tmp / "gscene", tmp / "grun"
    _generate(base, seed=1, size_px=base_px)
    if tiles > 1:
        tile_scene(base, scene, tiles)
    else:
        scene = base
    t = time.perf_counter()
    _run_stages(scene, run, {"segment": {"method": "baseline"}}, ("stack", "segment", "outlines"))
    n = pyogrio.read_info(run / "outlines.gpkg", layer="glaciers")["features"]
    mpx = (base_px * tiles) ** 2 / 1e6
    print(f"per-glacier stages: {base_px * tiles}² scene ({mpx:.1f} Mpx), {n} complexes; prepared in "
          f"{time.perf_counter() - t:.0f} s; load {os.getloadavg()}")  # fmt: skip
    reference = None
    best: dict = {}
    for _rep in range(repeats):
        for workers in (0, 1, 2):
            upd = {
                "segment": {"method": "baseline"},
                "runtime": {"workers": workers, "threads_per_worker": 1},
            }
            (run / "run.log").write_text("")
            cpu0 = os.times()
            fig = _run_stages(scene, run, upd, GLACIER_STAGES)
            cpu = os.times()
            stages = json.loads((run / "run.json").read_text())["stages"]
            sec = {k: stages[k]["seconds"] for k in GLACIER_STAGES}
            tasks = sum(stages[k]["summary"].get("tasks_seconds", 0.0) for k in GLACIER_STAGES)
            tcpu = sum(stages[k]["summary"].get("tasks_cpu_seconds", 0.0) for k in GLACIER_STAGES)
            log = (run / "run.log").read_text()
            startup = [float(x) for x in re.findall(r"started in ([0-9.]+) s", log)]
            per_task = [
                (float(a), float(b))
                for a, b in re.findall(r"SUCCESS in ([0-9.]+) s \(([0-9.]+) s CPU\)", log)
            ]
            digest = _outputs_digest(run)
            reference = reference or digest
            total = sum(sec.values())
            b = best.setdefault(workers, {"total": float("inf"), "tasks": float("inf"), "rest": float("inf")})
            b["total"] = min(b["total"], total)
            b["tasks"] = min(b["tasks"], tasks) if workers else b["tasks"]
            b["rest"] = min(b["rest"], total - tasks - sum(startup))
            b["cpu"] = tcpu
            b["rss"] = max(fig["worker_peak_rss_mb"] or [0])
            children_cpu = (cpu.children_user + cpu.children_system) - (
                cpu0.children_user + cpu0.children_system
            )
            print(f"  workers={workers}: " + ", ".join(f"{k} {v:.1f} s" for k, v in sec.items())
                  + f" = {total:.1f} s; tasks wall {tasks:.1f} s, tasks CPU {tcpu:.1f} s in {len(per_task)} tasks"
                  + (f" (largest task {max(per_task)[0]:.1f} s wall / {max(per_task, key=lambda x: x[1])[1]:.1f} s CPU)" if per_task else "")
                  + f", cluster start-up {sum(startup):.1f} s, serial rest {total - tasks - sum(startup):.1f} s; "
                  f"worker peak RSS {b['rss']:.0f} MB, main {fig['main_peak_rss_mb']:.0f} MB; CPU of the run "
                  f"{children_cpu:.1f} s; outputs {'identical' if digest == reference else 'DIFFER'}; "
                  f"load {os.getloadavg()[0]:.1f}", flush=True)  # fmt: skip
    print(f"speed-up 2 vs 1 workers: tasks {best[1]['tasks'] / best[2]['tasks']:.2f}x, the three stages incl. "
          f"start-up and serial parts {best[1]['total'] / best[2]['total']:.2f}x; 2 workers vs in process "
          f"{best[0]['total'] / best[2]['total']:.2f}x; load after {os.getloadavg()}")  # fmt: skip


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
    ap.add_argument("--sizes", type=int, nargs="*", default=[1024, 2048, 4096], help="none: skip")
    ap.add_argument(
        "--workers-size", type=int, default=2048, help="scene size for the 1 vs 2 workers test (0: skip)"
    )
    ap.add_argument("--block", type=int, default=1024)
    ap.add_argument("--workers-tile", type=int, default=0, help="tile px of the workers test (0: size / 2)")
    ap.add_argument("--repeats", type=int, default=2, help="interleaved repeats of the workers tests")
    ap.add_argument(
        "--glacier-tiles", type=int, default=0, help="per-glacier stages test: N × N tiling (0: skip)"
    )
    ap.add_argument(
        "--glacier-base", type=int, default=1024, help="scene size tiled for the per-glacier test"
    )
    ap.add_argument(
        "--task-share", type=int, default=0, metavar="SLOTS",
        help="CPU share of the per-glacier stages inside tasks batched for SLOTS workers (0: skip)",
    )  # fmt: skip
    ap.add_argument(
        "--work", type=Path, help="keep the --task-share scene and run here (reused when present)"
    )
    ap.add_argument("--share-stages", nargs="+", default=list(SHARE_STAGES), choices=SHARE_STAGES,
                    help="the stages --task-share measures")  # fmt: skip
    ap.add_argument("--share-run", type=Path, help="--task-share on (a copy of) this existing run folder")
    ap.add_argument("--share-config", type=Path, help="config of --share-run (default RUN/config.toml)")
    ap.add_argument("--terrain-complexes", action="store_true", help="per-glacier work on real terrain")
    ap.add_argument("--terrain-res", type=float, default=30.0)
    ap.add_argument("--terrain-z-ice", type=float, default=2600.0)
    args = ap.parse_args()
    if args.terrain_complexes:
        terrain_complexes(args.terrain_res, args.terrain_z_ice, args.repeats)
    from _tiled_scene import tile_scene

    from glacierinv.synthetic.scene import MAX_SIZE_PX

    print(f"machine: {platform.machine()} {platform.processor()} python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.task_share:
            work = args.work or tmp
            work.mkdir(parents=True, exist_ok=True)
            stages = [s for s in SHARE_STAGES if s in args.share_stages]
            if args.share_run:
                share_of_run(args.share_run, args.share_config, work, args.task_share, args.repeats, stages)
            else:
                task_share(work, args.glacier_base, max(1, args.glacier_tiles), args.task_share, args.repeats,
                           stages)  # fmt: skip
        elif args.glacier_tiles:
            glacier_stages(tmp, args.glacier_base, args.glacier_tiles, args.repeats)
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
        base = rows[0][2]["peak_rss_mb"] if rows else None
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
