"""Where tasks run: in-process by default, on a Dask distributed cluster when asked.

:class:`TaskRunner` maps a picklable function over task descriptions. Every task is logged with its
outcome and duration (like OGGM's ``entity_task``); a failed task does not lose the others' results,
and the first failure is re-raised after all tasks have finished (or, with ``continue_on_error``,
returned as an error record). Results come back in the order of the inputs, so in-process and Dask runs
give identical outputs.

Run on a real cluster by starting a scheduler and workers that can read the inputs and write the run
folder (shared file system), then ``glacierinv run CONFIG --out RUN --scheduler tcp://HOST:8786``;
dask-jobqueue (SLURM/PBS) or dask-kubernetes create such clusters.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from glacierinv.config import RuntimeConfig
from glacierinv.errors import ConfigError, GlacierInvError

__all__ = ["TASK_MODULES", "TaskFailure", "TaskRunner", "default_threads_per_worker"]

#: environment variables that size the native thread pools (OpenMP/BLAS/oneDNN, GDAL) of a worker
_THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "GDAL_NUM_THREADS")

#: what the pipeline's part tasks (stack and segment of a scene or tile) import; a LocalCluster worker imports
#: them once when it starts (with the cluster, in parallel on all workers), so that no task pays ~2-4 s of
#: imports (torch, rasterio, geopandas, the stages) inside its own time
TASK_MODULES = (
    "glacierinv.pipeline.scenes",
    "glacierinv.preprocess.runner",
    "glacierinv.preprocess.stack",
    "glacierinv.segment.runner",
    "glacierinv.segment.infer",
    # the per-window and per-glacier tasks of the outlines, units, attributes and analyse stages
    "glacierinv.outlines.vectorize",
    "glacierinv.outlines.review",
    "glacierinv.units.subdivide",
    "glacierinv.attributes.compute",
    "glacierinv.attributes.terminus",
    "glacierinv.attributes.proba_range",
    "glacierinv.attributes.uncertainty",
    "glacierinv.analysis.sampling",
    "glacierinv.analysis.profiles",
    "glacierinv.analysis.demres",
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TaskFailure:
    """The record of a task that raised (returned only with ``continue_on_error``)."""

    key: str
    error: str


def _timed(func: Callable, key: str, item: Any) -> tuple:
    """``(key, value, wall s, error or None, exception or None, CPU s of this process)`` of one task."""
    started, cpu = time.perf_counter(), time.process_time()
    value = error = exc = None
    try:
        value = func(item)
    except GlacierInvError as e:  # user errors travel as themselves
        error, exc = f"{type(e).__name__}: {e}", e
    except Exception as e:  # noqa: BLE001 - bugs: keep the message, re-raise in the caller
        error, exc = f"{type(e).__name__}: {e}", e
    return key, value, time.perf_counter() - started, error, exc, time.process_time() - cpu


class _Records(logging.Handler):
    """Collects this package's log records of one task on a worker (replayed in the run's log)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        record.msg, record.args = record.getMessage(), None  # plain text: picklable whatever the args were
        record.exc_info = record.exc_text = None
        self.records.append(record)


def _timed_with_logs(func: Callable, key: str, item: Any) -> tuple:
    """:func:`_timed` on a worker, with the task's ``glacierinv`` log records (INFO and above) attached, so
    that a warning about a glacier reaches ``run.log`` from any worker."""
    logger = logging.getLogger("glacierinv")
    handler, level = _Records(), logger.level
    logger.addHandler(handler)
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    try:
        return (*_timed(func, key, item), handler.records)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def default_threads_per_worker(workers: int, cpus: int | None = None) -> int:
    """Native threads per worker process so that ``workers × threads`` fills the CPUs, not more (>= 1)."""
    if cpus is None:
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, int(cpus or 1) // max(workers, 1))


def _set_native_threads(threads: int) -> None:
    """Size this process's torch/OpenMP thread pool (run on each Dask worker when it starts)."""
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:  # pragma: no cover - torch is a dependency; kept harmless for other tasks
        pass


def _preload(modules: tuple[str, ...]) -> None:
    """Import ``modules`` in this process (a worker starting up); one that fails is left to the task."""
    import importlib

    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as exc:  # pragma: no cover - the task will raise it with its own context
            log.warning("worker preload: cannot import %s (%s)", name, exc)


def _worker_setup_plugin(threads: int, preload: tuple[str, ...] = ()):
    """Dask worker plugin: ``torch.set_num_threads`` on every worker (env vars cover OpenMP/BLAS/GDAL) and
    the import of ``preload`` (the tasks' modules), once per worker at start-up."""
    from distributed.diagnostics.plugin import WorkerPlugin

    class WorkerSetup(WorkerPlugin):
        name = "glacierinv-worker-setup"

        def setup(self, worker) -> None:
            _set_native_threads(threads)
            _preload(preload)

    return WorkerSetup()


class TaskRunner:
    """Run tasks in-process (``workers=0``, no scheduler) or on Dask distributed.

    Parameters
    ----------
    workers
        Number of worker processes of a LocalCluster; 0 = in-process.
    scheduler
        Address of an existing scheduler (``tcp://host:8786``); overrides ``workers``.
    threads_per_worker
        Native threads (torch/OpenMP/BLAS/GDAL) of each LocalCluster worker; None = CPUs ÷ workers, so the
        workers do not oversubscribe the cores (one torch pool of all cores per worker would). Each worker
        runs one task at a time (one Dask thread): a tile's work is parallel inside the task.
    batches_per_worker
        How many tasks per worker the per-window and per-glacier work is cut into (``batches_per_slot`` of
        :class:`glacierinv.taskmap.TaskMap`); None = the ``[runtime] batches_per_worker`` default.
    preload
        Modules every LocalCluster worker imports when it starts (default: :data:`TASK_MODULES`, those of the
        pipeline's part tasks), so the imports are paid once per worker during cluster start-up instead of
        inside the first task of every worker.

    After :meth:`map`, ``last_map_seconds`` holds the wall time from the first submission to the last
    result (the tile work, without cluster start-up); ``map_seconds`` and ``task_cpu_seconds`` add up the
    wall time of every map and the CPU time of every task so far.
    """

    def __init__(
        self,
        workers: int = 0,
        scheduler: str | None = None,
        threads_per_worker: int | None = None,
        preload: tuple[str, ...] = TASK_MODULES,
        batches_per_worker: int | None = None,
    ):
        if workers < 0:
            raise ConfigError(f"workers must be >= 0, not {workers}")
        if batches_per_worker is None:
            batches_per_worker = RuntimeConfig.model_fields["batches_per_worker"].default
        if batches_per_worker < 1:
            raise ConfigError(f"batches_per_worker must be >= 1, not {batches_per_worker}")
        self.batches_per_slot = int(batches_per_worker)
        if threads_per_worker is not None and threads_per_worker < 1:
            raise ConfigError(f"threads_per_worker must be >= 1, not {threads_per_worker}")
        self.workers, self.scheduler = workers, scheduler
        self.preload = tuple(preload)
        self.threads_per_worker = threads_per_worker or default_threads_per_worker(workers)
        self.last_map_seconds: float | None = None
        self.map_seconds = 0.0  # all maps so far: wall time from first submission to last result
        self.task_cpu_seconds = 0.0  # all tasks so far: CPU time inside the tasks
        self._client = None
        self._cluster = None

    @property
    def distributed(self) -> bool:
        return bool(self.scheduler) or self.workers > 0

    @property
    def slots(self) -> int:
        """Tasks running at once: the cluster's workers (started if not yet), 1 in process."""
        if not self.distributed:
            return 1
        self._start()
        return max(1, len(self._client.scheduler_info().get("workers", {})))

    def __enter__(self) -> TaskRunner:
        return self  # the cluster starts with the first distributed map: a run whose stages are current
        # never pays its start-up

    def _start(self) -> None:
        if self._client is not None:
            return
        from distributed import Client, LocalCluster

        started = time.perf_counter()
        try:
            if self.scheduler:
                self._client = Client(self.scheduler, timeout="20s")
            else:
                threads = str(self.threads_per_worker)
                self._cluster = LocalCluster(
                    n_workers=self.workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    silence_logs=logging.ERROR,
                    env={k: threads for k in _THREAD_ENV},
                )
                self._client = Client(self._cluster)
                # waits until every worker ran it: the imports are part of the cluster's start-up
                self._client.register_plugin(_worker_setup_plugin(self.threads_per_worker, self.preload))
        except OSError as exc:
            raise ConfigError(
                f"cannot reach the Dask scheduler {self.scheduler or 'LocalCluster'} ({exc})"
            ) from None
        log.info("dask: %s, %d workers, started in %.1f s", self.scheduler or "LocalCluster",
                 len(self._client.scheduler_info().get("workers", {})), time.perf_counter() - started)  # fmt: skip

    def __exit__(self, *exc) -> None:
        if self._client is not None:
            self._client.close()
        if self._cluster is not None:
            self._cluster.close()
        self._client = self._cluster = None

    def map(
        self,
        func: Callable[[Any], Any],
        items: Iterable[Any],
        *,
        keys: Iterable[str] | None = None,
        continue_on_error: bool = False,
        on_done: Callable[[int, int], None] | None = None,
    ) -> list[Any]:
        """``[func(item) for item in items]``, in order, in-process or on the cluster.

        ``on_done(n_finished, n_total)`` is called as tasks finish (for progress bars).
        """
        items = list(items)
        keys = list(keys) if keys is not None else [f"task-{i}" for i in range(len(items))]
        started = time.perf_counter()
        if self.distributed:
            outcomes = self._map_on_cluster(func, items, keys, on_done)
        else:
            outcomes = self._map_in_process(func, items, keys, continue_on_error, on_done)
        self.last_map_seconds = time.perf_counter() - started
        self.map_seconds += self.last_map_seconds
        self.task_cpu_seconds += sum(o[5] for o in outcomes.values())
        results = []
        for key in keys:
            _, value, _, error, exc, _ = outcomes[key]
            if error is not None:
                if not continue_on_error:
                    raise exc
                results.append(TaskFailure(key, error))
            else:
                results.append(value)
        return results

    def _map_in_process(self, func, items, keys, continue_on_error, on_done) -> dict[str, tuple]:
        """Run the tasks one after another here; stop at the first failure unless ``continue_on_error``."""
        outcomes: dict[str, tuple] = {}
        for i, (key, item) in enumerate(zip(keys, items, strict=True)):
            outcomes[key] = _timed(func, key, item)
            self._log(outcomes[key])
            if outcomes[key][3] is not None and not continue_on_error:
                raise outcomes[key][4]
            if on_done:
                on_done(i + 1, len(items))
        return outcomes

    def _map_on_cluster(self, func, items, keys, on_done) -> dict[str, tuple]:
        """Submit the tasks to the cluster and gather their outcomes as they finish."""
        from distributed import as_completed

        self._start()
        # the scheduler starts tasks by priority: the first item first (callers put the heaviest first)
        futures = [
            self._client.submit(
                _timed_with_logs,
                func,
                key,
                item,
                key=f"glacierinv-{key}-{time.time_ns()}",
                pure=False,
                priority=len(items) - i,
            )
            for i, (key, item) in enumerate(zip(keys, items, strict=True))
        ]
        done = as_completed(futures)
        del futures  # from here on only `done` and the loop hold a task's future
        outcomes: dict[str, tuple] = {}
        for n, fut in enumerate(done, start=1):
            *outcome, records = fut.result()
            # a finished task's result is released at once: a worker lost later does not make the
            # scheduler recompute it, only the tasks that were on that worker and not yet gathered
            fut.release()
            for record in records:
                logging.getLogger(record.name).handle(record)
            outcomes[outcome[0]] = tuple(outcome)
            self._log(tuple(outcome))
            if on_done:
                on_done(n, len(items))
        return outcomes

    @staticmethod
    def _log(outcome: tuple) -> None:
        key, _, seconds, error, _, cpu = outcome
        if error is None:
            log.info("task %s: SUCCESS in %.2f s (%.2f s CPU)", key, seconds, cpu)
        else:
            log.error("task %s: %s", key, error)
