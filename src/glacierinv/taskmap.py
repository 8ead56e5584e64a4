"""Where a stage's per-glacier tasks run: the run's task map (in this process unless the pipeline set one).

The stage packages (units, attributes, analysis) sit below the orchestration layer and do not know about
Dask. They cut their work into batches of glacier complexes and hand them to :func:`map_tasks`, which runs
them here, in order, unless the pipeline installed the run's cluster with :func:`using` (one
:class:`glacierinv.pipeline.distributed.TaskRunner` per run, shared by every stage). Results always come back in
the order of the items, so a run gives the same outputs in-process and on any number of workers.

:func:`plan_batches` groups items (glaciers) into batches: the items of one group (a complex and its units)
stay together, and the groups are spread over ``n_batches`` batches of about equal weight (largest first
onto the lightest batch; Graham's LPT rule), so one huge complex does not wait behind many small ones.

>>> plan_batches([5.0, 1.0, 1.0, 3.0], 2)
[[0], [1, 2, 3]]
>>> map_tasks(abs, [-1, 2, -3])
[1, 2, 3]
>>> map_batched(lambda batch: [x * 10 for x in batch], [1, 2, 3], [1.0, 1.0, 1.0], name="times")
[10, 20, 30]
"""

from __future__ import annotations

import contextlib
import contextvars
import heapq
from collections.abc import Callable, Hashable, Iterator, Sequence
from typing import Any, Protocol

__all__ = ["TaskMap", "batch_count", "map_batched", "map_tasks", "plan_batches", "submission_order", "using"]


class TaskMap(Protocol):
    """What a stage needs from the run's cluster (implemented by :class:`glacierinv.pipeline.distributed.TaskRunner`)."""

    def map(
        self, func: Callable[[Any], Any], items: Sequence[Any], *, keys: Sequence[str] | None = None
    ) -> list:
        """``[func(item) for item in items]`` in order; the tasks start in the order of ``items``."""

    @property
    def slots(self) -> int:
        """Tasks that run at the same time (workers of the cluster; 1 in process)."""

    @property
    def batches_per_slot(self) -> int:
        """How many batches each slot gets (``[runtime] batches_per_worker``): several per worker balance
        unequal batches."""


_current: contextvars.ContextVar[TaskMap | None] = contextvars.ContextVar("glacierinv_task_map", default=None)


@contextlib.contextmanager
def using(task_map: TaskMap | None) -> Iterator[None]:
    """Run the per-glacier tasks of the stages called inside on ``task_map`` (None: in this process)."""
    token = _current.set(task_map)
    try:
        yield
    finally:
        _current.reset(token)


def batch_count(n_groups: int) -> int:
    """How many batches to cut ``n_groups`` groups into: 1 in process, else the task map's
    ``batches_per_slot`` per slot (at most one group per batch)."""
    task_map = _current.get()
    if task_map is None or n_groups <= 1:
        return min(n_groups, 1)
    return min(n_groups, max(1, int(task_map.batches_per_slot)) * max(1, int(task_map.slots)))


def map_tasks(func: Callable[[Any], Any], items: Sequence[Any], *, keys: Sequence[str] | None = None) -> list:
    """``[func(item) for item in items]``, in order: on the run's task map when one is set, else here.

    ``func`` and the items must be picklable when a cluster runs them (module-level functions, plain data,
    geometries); a task's exception is raised here after the others finished.
    """
    items = list(items)
    task_map = _current.get()
    if task_map is None or not items:
        return [func(item) for item in items]
    return task_map.map(func, items, keys=keys)


def plan_batches(
    weights: Sequence[float], n_batches: int, groups: Sequence[Hashable] | None = None
) -> list[list[int]]:
    """Item indices cut into at most ``n_batches`` batches of about equal total weight.

    Parameters
    ----------
    weights
        Cost of each item (e.g. its window's area); non-negative.
    n_batches
        Upper bound on the number of batches (>= 1 when there are items).
    groups
        Group of each item (e.g. its complex id): a group's items always share a batch. None = each item
        its own group.

    Returns
    -------
    list of lists
        Each batch's item indices in ascending order; batches ordered by their first index; no empty batch.
    """
    n = len(weights)
    if n == 0:
        return []
    keys = list(groups) if groups is not None else list(range(n))
    members: dict[Hashable, list[int]] = {}
    for i, k in enumerate(keys):
        members.setdefault(k, []).append(i)
    group_list = list(members.values())
    group_weight = [sum(float(weights[i]) for i in g) for g in group_list]
    n_batches = max(1, min(int(n_batches), len(group_list)))
    heap = [(0.0, b) for b in range(n_batches)]  # (load, batch)
    batches: list[list[int]] = [[] for _ in range(n_batches)]
    # heaviest group first onto the lightest batch; ties by first index, so the plan is deterministic
    for g in sorted(range(len(group_list)), key=lambda j: (-group_weight[j], group_list[j][0])):
        load, b = heapq.heappop(heap)
        batches[b].extend(group_list[g])
        heapq.heappush(heap, (load + group_weight[g], b))
    return sorted((sorted(b) for b in batches if b), key=lambda b: b[0])


def map_batched(
    func: Callable[[list], list],
    items: Sequence[Any],
    weights: Sequence[float],
    *,
    name: str,
    groups: Sequence[Hashable] | None = None,
) -> list:
    """One result per item, in item order, from tasks over batches of items (:func:`plan_batches`).

    ``func(batch)`` takes a list of items and returns their results in the same order; it runs once per
    batch (:func:`map_tasks`: on the run's cluster when one is set, else here in one batch), so it can
    open its files once per batch. Tasks are named ``{name}-00000``, ``{name}-00001``, …
    """
    items = list(items)
    n_groups = len(set(groups)) if groups is not None else len(items)
    plan = plan_batches(weights, batch_count(n_groups), groups)
    heaviest_first = submission_order([sum(float(weights[i]) for i in idx) for idx in plan])
    done = map_tasks(
        func,
        [[items[i] for i in plan[b]] for b in heaviest_first],
        keys=[f"{name}-{b:05d}" for b in heaviest_first],
    )
    out: list = [None] * len(items)
    for b, results in zip(heaviest_first, done, strict=True):
        for i, r in zip(plan[b], results, strict=True):
            out[i] = r
    return out


def submission_order(batch_weights: Sequence[float]) -> list[int]:
    """Batch indices, heaviest first (ties: lower index first).

    A cluster runs the tasks in the order they are submitted (:meth:`TaskMap.map`), so the batches that take
    longest start first and the workers finish together instead of one waiting for a heavy batch
    submitted last (the LPT rule again, this time in time: measured in docs/pipeline.md).

    >>> submission_order([1.0, 3.0, 2.0, 3.0])
    [1, 3, 2, 0]
    """
    return sorted(range(len(batch_weights)), key=lambda b: (-float(batch_weights[b]), b))
