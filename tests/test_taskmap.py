"""Batches of glacier complexes for the per-glacier tasks (glacierinv.taskmap)."""

from glacierinv.taskmap import batch_count, map_tasks, plan_batches, using


def test_groups_stay_together_and_weights_balance():
    weights = [10.0, 1.0, 1.0, 4.0, 4.0, 2.0]
    groups = ["a", "b", "b", "c", "d", "e"]
    plan = plan_batches(weights, 3, groups)
    assert sorted(i for b in plan for i in b) == list(range(6))  # every item once
    assert any({1, 2} <= set(b) for b in plan)  # the units of complex b share a batch
    loads = sorted(sum(weights[i] for i in b) for b in plan)
    assert loads == [6.0, 6.0, 10.0]  # LPT: the big complex alone, the rest split evenly
    assert [b[0] for b in plan] == sorted(b[0] for b in plan) and all(b == sorted(b) for b in plan)


def test_no_more_batches_than_groups_and_none_empty():
    assert plan_batches([1.0, 1.0], 8) == [[0], [1]]
    assert plan_batches([1.0, 1.0, 1.0], 8, ["x", "x", "x"]) == [[0, 1, 2]]
    assert plan_batches([], 4) == []


class _Cluster:
    """A stand-in task map recording what it was asked to run."""

    slots = 2

    def __init__(self, batches_per_slot: int = 6):
        self.calls = []
        self.batches_per_slot = batches_per_slot

    def map(self, func, items, *, keys=None):
        self.calls.append(list(keys))
        return [func(i) for i in items]


def test_in_process_by_default_and_the_run_cluster_when_set():
    assert batch_count(40) == 1 and map_tasks(abs, [-1, -2]) == [1, 2]
    cluster = _Cluster()
    with using(cluster):
        assert batch_count(40) == 12 and batch_count(5) == 5  # 6 batches per worker, at most one per group
        assert map_tasks(abs, [-3, 4], keys=["a", "b"]) == [3, 4]
    assert cluster.calls == [["a", "b"]]
    assert batch_count(40) == 1  # reset when the block ends


def test_batches_per_slot_comes_from_the_task_map():
    with using(_Cluster(batches_per_slot=2)):
        assert batch_count(40) == 4 and batch_count(3) == 3
    with using(_Cluster(batches_per_slot=1)):
        assert batch_count(40) == 2


def test_heaviest_batches_are_submitted_first_and_results_come_back_in_item_order():
    from glacierinv.taskmap import map_batched, submission_order

    weights = [1.0, 9.0, 2.0, 5.0, 3.0, 4.0]
    cluster = _Cluster(batches_per_slot=3)  # 2 slots × 3 = 6 batches: one item each
    with using(cluster):
        out = map_batched(lambda batch: [x * 10 for x in batch], [0, 1, 2, 3, 4, 5], weights, name="w")
    assert out == [0, 10, 20, 30, 40, 50]
    # keys keep the batch's place in the plan (item order); the submission goes by weight, heaviest first
    assert cluster.calls == [["w-00001", "w-00003", "w-00005", "w-00004", "w-00002", "w-00000"]]
    assert submission_order([2.0, 2.0, 1.0]) == [0, 1, 2]  # ties: plan order
