import math

import pytest

from glacierinv.errors import ConfigError
from glacierinv.pipeline.distributed import TaskFailure, TaskRunner


def test_in_process_map_keeps_order_and_reports_progress():
    seen = []
    with TaskRunner() as runner:
        assert not runner.distributed
        out = runner.map(math.sqrt, [4, 9, 16], on_done=lambda n, t: seen.append((n, t)))
    assert out == [2, 3, 4] and seen[-1] == (3, 3)


def test_failure_raises_or_is_recorded():
    with TaskRunner() as runner:
        with pytest.raises(TypeError):
            runner.map(abs, [1, "x", 3])
        out = runner.map(abs, [1, "x", -3], keys=["a", "b", "c"], continue_on_error=True)
    assert out[0] == 1 and out[2] == 3
    assert isinstance(out[1], TaskFailure) and out[1].key == "b" and "TypeError" in out[1].error


def test_negative_workers_is_config_error():
    with pytest.raises(ConfigError):
        TaskRunner(workers=-1)


def test_local_cluster_gives_same_results_as_in_process():
    items = list(range(-5, 6))
    with TaskRunner() as local:
        expected = local.map(abs, items)
    with TaskRunner(workers=2) as cluster:
        assert cluster.distributed
        assert cluster.map(abs, items) == expected
        out = cluster.map(abs, [1, "x"], continue_on_error=True)
        assert out[0] == 1 and isinstance(out[1], TaskFailure)


def _start_time(_item):
    import time

    time.sleep(0.05)
    return time.monotonic()  # system-wide clock: comparable between the worker and this process


def test_tasks_start_in_the_order_they_are_given():
    # map_batched puts the heaviest batch first (glacierinv.taskmap.submission_order); keys sorted the
    # other way round, so the order cannot come from the keys
    items = list(range(8))
    with TaskRunner(workers=1, threads_per_worker=1) as cluster:
        started = cluster.map(_start_time, items, keys=[f"k{9 - i}" for i in items])
    assert started == sorted(started)


def _native_threads(_):
    import torch

    return torch.get_num_threads()


def test_workers_do_not_oversubscribe_the_cpus():
    from glacierinv.pipeline.distributed import default_threads_per_worker

    assert default_threads_per_worker(2, cpus=2) == 1
    assert default_threads_per_worker(4, cpus=16) == 4
    assert default_threads_per_worker(3, cpus=2) == 1
    with TaskRunner(workers=2, threads_per_worker=1) as cluster:
        assert cluster.map(_native_threads, [0, 1, 2]) == [1, 1, 1]
        assert cluster.last_map_seconds is not None and cluster.last_map_seconds >= 0
    with pytest.raises(ConfigError):
        TaskRunner(workers=2, threads_per_worker=0)


def _imported(names):
    import sys

    return [name in sys.modules for name in names]


def test_workers_import_the_task_modules_at_start_up():
    """The tasks' modules are imported when a worker starts, not inside the first task of each worker."""
    from glacierinv.pipeline.distributed import TASK_MODULES

    with TaskRunner(workers=1, threads_per_worker=1) as cluster:
        assert cluster.map(_imported, [TASK_MODULES]) == [[True] * len(TASK_MODULES)]
    with TaskRunner(workers=1, threads_per_worker=1, preload=()) as cluster:
        assert cluster.map(_imported, [("glacierinv.segment.infer",)]) == [[False]]


# ------------------------------------------------------------------------------------------------------
# per-glacier tasks (units, attributes) on a cluster: the in-process result, and a lost worker
# ------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ridge_complexes(tmp_path_factory):
    """Eight complexes on the ridge terrain of tests/ridge.py; the largest splits in two at the ridge."""
    import geopandas as gpd
    from shapely.geometry import box

    from tests.ridge import UTM, ridge_dem

    dem = ridge_dem(tmp_path_factory.mktemp("ridge") / "dem.tif", 10.0)
    # the two-tongued complex of tests/units (split at the ridge) and seven small ones around it
    body = box(500300, 4000300, 501700, 4001700).difference(box(500900, 4000000, 501100, 4000900))
    boxes = [body] + [box(*b) for b in (
        (500020, 4000050, 500250, 4000600), (500020, 4000700, 500250, 4001300), (500020, 4001400, 500250, 4001980),
        (500400, 4001750, 500900, 4001980), (501000, 4001750, 501500, 4001980), (501750, 4000050, 501980, 4000900),
        (501750, 4001000, 501980, 4001980))]  # fmt: skip
    return dem, gpd.GeoDataFrame({"outline_id": [f"C{k:02d}" for k in range(8)]}, geometry=boxes, crs=UTM)


def _same_frames(a, b):
    import pandas as pd

    assert list(a.columns) == list(b.columns) and len(a) == len(b)
    if hasattr(a, "geometry"):
        assert [g.wkb for g in a.geometry] == [g.wkb for g in b.geometry]  # exact coordinates
        a, b = a.drop(columns=a.geometry.name), b.drop(columns=b.geometry.name)
    pd.testing.assert_frame_equal(pd.DataFrame(a), pd.DataFrame(b), check_exact=True)


class _Flaky:
    """Runs ``func``; the first attempt of item ``victim`` kills its worker process (a lost node). Every
    attempt is written to ``log_dir`` so the test sees which tasks ran again."""

    def __init__(self, func, log_dir, victim):
        self.func, self.log_dir, self.victim = func, log_dir, victim

    def __call__(self, numbered):
        import os
        from pathlib import Path

        i, item = numbered
        with open(Path(self.log_dir) / "attempts.txt", "a") as f:
            f.write(f"{i} {os.getpid()}\n")
        killed = Path(self.log_dir) / "killed"
        if i == self.victim and not killed.exists():
            killed.write_text(str(os.getpid()))
            os._exit(1)  # the worker process dies mid-task, its nanny starts a new one
        return self.func(item)


class _KillingRunner(TaskRunner):
    def __init__(self, log_dir, victim, **kw):
        super().__init__(**kw)
        self.log_dir, self.victim = log_dir, victim

    def map(self, func, items, **kw):
        return super().map(_Flaky(func, self.log_dir, self.victim), list(enumerate(items)), **kw)


def test_units_and_attributes_as_tasks_equal_in_process_and_survive_a_lost_worker(ridge_complexes, tmp_path):
    from glacierinv.attributes import compute_attributes
    from glacierinv.taskmap import using
    from glacierinv.units import subdivide

    dem, ice = ridge_complexes
    units, debris, divides = subdivide(ice, dem, min_unit_area_km2=0.01)
    assert len(units) > len(ice)  # the complexes across the ridge were split
    attrs, hyps, lines = compute_attributes(units, dem, return_centerlines=True)
    with _KillingRunner(tmp_path, victim=2, workers=2, threads_per_worker=1) as cluster, using(cluster):
        d_units, d_debris, d_divides = subdivide(ice, dem, min_unit_area_km2=0.01)
        attempts = [
            tuple(map(int, ln.split())) for ln in (tmp_path / "attempts.txt").read_text().splitlines()
        ]
        (tmp_path / "attempts.txt").unlink()
        d_attrs, d_hyps, d_lines = compute_attributes(d_units, dem, return_centerlines=True)
    dead = int((tmp_path / "killed").read_text())
    assert sorted({i for i, _ in attempts}) == list(range(8))  # one complex per batch (<= 6 per worker)
    # only the lost worker's batches ran again (the one it was running, and any whose result it still held)
    pids = {i: [pid for j, pid in attempts if j == i] for i in range(8)}
    assert len(pids[2]) == 2 and pids[2][0] == dead
    assert all(p[:-1] == [dead] * (len(p) - 1) for p in pids.values())  # every re-run was the dead worker's
    for a, b in ((units, d_units), (debris, d_debris), (divides, d_divides), (attrs, d_attrs),
                 (hyps, d_hyps), (lines, d_lines)):  # fmt: skip
        _same_frames(a, b)


def test_batches_per_worker_default_from_the_config_and_checked():
    from glacierinv.config import RuntimeConfig

    default = RuntimeConfig.model_fields["batches_per_worker"].default
    assert TaskRunner().batches_per_slot == default
    assert TaskRunner(workers=2, batches_per_worker=3).batches_per_slot == 3
    with pytest.raises(ConfigError, match="batches_per_worker"):
        TaskRunner(batches_per_worker=0)
