import math

import pytest

from glacierinv.distributed import TaskFailure, TaskRunner
from glacierinv.errors import ConfigError


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


def _native_threads(_):
    import torch

    return torch.get_num_threads()


def test_workers_do_not_oversubscribe_the_cpus():
    from glacierinv.distributed import default_threads_per_worker

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
    from glacierinv.distributed import TASK_MODULES

    with TaskRunner(workers=1, threads_per_worker=1) as cluster:
        assert cluster.map(_imported, [TASK_MODULES]) == [[True] * len(TASK_MODULES)]
    with TaskRunner(workers=1, threads_per_worker=1, preload=()) as cluster:
        assert cluster.map(_imported, [("glacierinv.segment.infer",)]) == [[False]]
