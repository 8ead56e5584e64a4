"""A stand-in for the run's cluster for the tests of per-glacier and per-window tasks."""

from __future__ import annotations

import pickle


class ShuffledCluster:
    """A stand-in for the run's cluster (:class:`glacierinv.taskmap.TaskMap`): runs each task on a pickled
    copy of its item, last task first, and records the task keys — the order and batching a real cluster
    may choose, without Dask."""

    def __init__(self, slots: int = 3, batches_per_slot: int = 6):
        self.slots = slots
        self.batches_per_slot = batches_per_slot
        self.keys: list[str] = []

    def map(self, func, items, *, keys=None):
        self.keys += list(keys or [])
        func = pickle.loads(pickle.dumps(func))  # module-level functions and plain data only
        done = [pickle.loads(pickle.dumps(func(pickle.loads(pickle.dumps(i))))) for i in reversed(items)]
        return done[::-1]
