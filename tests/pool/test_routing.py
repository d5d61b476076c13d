"""The pool's xdist schedulers, driven with stand-in xdist workers. A mixed split pool (our boards with
devices that are not ours): which worker may lease what (PoolPlan.worker_candidates) and the scheduler
that routes the tests needing our board only to workers leasing our boards
(rig.pytest_plugin.pool_routing): each test is sent exactly once, a contract test never to a worker
of the other devices, and a worker left with nothing it can run is shut down (no hang). Matrix mode
(rig.pytest_plugin.pool_matrix): every test of one target goes to one worker. The subprocess proofs
are in test_pool_xdist."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from rig.pytest_plugin.pool import (
    CANDIDATES_KEY,
    MATRIX,
    POOL_OURS_PARAM,
    SPLIT,
    PoolPlan,
    split_params,
    target_in_nodeid,
)

pytest.importorskip("xdist")  # a dev dependency: make venv installs it, so CI always has it

from rig.pytest_plugin.pool_matrix import MatrixScheduling
from rig.pytest_plugin.pool_routing import RoutingScheduling, needs_our_board

OURS = ["emulator:uid=E000000000000001", "loopback:0000000000000101"]
PLAIN = "emulator:plain.uf2"
FOREIGN = {PLAIN: "1209:0002"}


def plan(mode: str = SPLIT) -> PoolPlan:
    return PoolPlan([OURS[0], PLAIN, OURS[1]], mode, foreign=dict(FOREIGN), probed=True)


def test_a_mixed_split_pool_gives_each_worker_ours_or_the_others_worker_0_ours() -> None:
    mixed = plan()
    assert mixed.mixed and mixed.ours == OURS
    assert [mixed.worker_candidates(i) for i in range(4)] == [OURS, [PLAIN], OURS, OURS]
    routing = mixed.routing()
    assert routing is not None and f"only on our boards ({', '.join(OURS)})" in routing and PLAIN in routing
    assert not plan(MATRIX).mixed and plan(MATRIX).routing() is None
    one_kind = PoolPlan(OURS, SPLIT, probed=True)
    assert not one_kind.mixed and one_kind.worker_candidates(1) == OURS
    assert split_params(mixed) == [POOL_OURS_PARAM, "pool"] and split_params(one_kind) == ["pool"]


class Worker:
    """What the scheduler uses of xdist's WorkerController: its id, input, and the commands sent."""

    def __init__(self, index: int, candidates: list[str]) -> None:
        self.gateway = SimpleNamespace(id=f"gw{index}")
        self.workerinput = {CANDIDATES_KEY: candidates}
        self.shutting_down = False
        self.sent: list[int] = []

    def send_runtest_some(self, indices: list[int]) -> None:
        self.sent += indices

    def shutdown(self) -> None:
        self.shutting_down = True


def config(workers: int) -> Any:
    option = SimpleNamespace(tx=["popen"] * workers, maxschedchunk=None, loadscopereorder=True)
    return SimpleNamespace(option=option, getvalue=lambda name: getattr(option, name),
                           getoption=lambda name: getattr(option, name), hook=None)


def contract(name: str) -> str:
    return f"tests/conformance/test_x.py::{name}[{POOL_OURS_PARAM}]"


def run(collection: list[str], workers: list[Worker], sched: Any = None) -> Any:
    """Schedule `collection` on `workers` (with `sched`, else a mixed pool's RoutingScheduling),
    completing the tests each was sent, one at a time in turn, until none is left."""
    if sched is None:
        sched = RoutingScheduling(config(len(workers)))
        sched.foreign = dict(FOREIGN)
    for worker in workers:
        sched.add_node(worker)
    for worker in workers:
        sched.add_node_collection(worker, collection)
    sched.schedule()
    done: dict[Worker, int] = {w: 0 for w in workers}
    while any(done[w] < len(w.sent) for w in workers):
        for worker in workers:
            if done[worker] < len(worker.sent):
                sched.mark_test_complete(worker, worker.sent[done[worker]])
                done[worker] += 1
    return sched


@pytest.mark.parametrize("contract_first", [True, False])
def test_contract_tests_go_only_to_workers_leasing_our_boards_and_every_test_runs_once(
        contract_first: bool) -> None:
    contract_tests = [contract(f"test_c{i}") for i in range(6)]
    agnostic = [f"tests/conformance_usb/test_y.py::test_a{i}[pool]" for i in range(10)]
    collection = contract_tests + agnostic if contract_first else agnostic + contract_tests
    mixed = plan()
    workers = [Worker(i, mixed.worker_candidates(i)) for i in range(3)]
    sched = run(collection, workers)
    sent = sorted(i for w in workers for i in w.sent)
    assert sent == list(range(len(collection)))  # each test once
    plain = workers[1]
    assert plain.workerinput[CANDIDATES_KEY] == [PLAIN]
    assert plain.sent and not any(needs_our_board(collection[i]) for i in plain.sent)
    assert all(w.shutting_down for w in workers) and not sched.pending


def test_a_worker_with_nothing_it_can_run_is_shut_down_at_once() -> None:
    collection = [contract(f"test_c{i}") for i in range(5)]
    mixed = plan()
    workers = [Worker(i, mixed.worker_candidates(i)) for i in range(2)]
    sched = RoutingScheduling(config(2))
    sched.foreign = dict(FOREIGN)
    for worker in workers:
        sched.add_node(worker)
        sched.add_node_collection(worker, collection)
    sched.schedule()
    assert workers[1].shutting_down and workers[1].sent == []  # the plain image's worker: no contract test
    assert workers[0].sent and not workers[0].shutting_down


def test_the_routing_reads_the_our_boards_parameter_from_the_nodeid_wherever_it_stands() -> None:
    assert needs_our_board(f"t.py::test[{POOL_OURS_PARAM}]")
    assert needs_our_board(f"t.py::test[{POOL_OURS_PARAM}-stop 3]")
    assert needs_our_board(f"t.py::test[4 bits-{POOL_OURS_PARAM}]")
    assert not needs_our_board("t.py::test[pool-stop 3]")
    assert not needs_our_board(f"t.py::test[x{POOL_OURS_PARAM}y]")


MATRIX_POOL = [*(f"emulator:uid=E00000000000000{n}" for n in range(1, 5)),
               "loopback", "loopback:0000000000000101"]


def test_matrix_mode_hands_each_target_whole_to_one_worker() -> None:
    """6 targets on 4 workers: each target's tests (the foreign one's fewer) all go to one worker, every
    test once, every worker used, nothing left; a test of no target is scheduled too."""
    tests = [f"tests/conformance_usb/test_d.py::test_{i}[{{}}]" for i in range(8)] + [
        f"tests/conformance_usb/test_d.py::test_short[{{}}-{n}]" for n in (1, 9)]
    collection = [t.format(spec) for spec in MATRIX_POOL for t in tests[: 4 if spec == "loopback" else None]]
    collection.append("tests/test_units.py::test_without_a_target")
    workers = [Worker(i, []) for i in range(4)]
    sched = run(collection, workers, MatrixScheduling(config(4), specs=MATRIX_POOL))
    assert sorted(i for w in workers for i in w.sent) == list(range(len(collection)))  # each test once
    holders: dict[str | None, set[str]] = {}
    for worker in workers:
        for i in worker.sent:
            holders.setdefault(target_in_nodeid(collection[i], MATRIX_POOL), set()).add(worker.gateway.id)
    assert set(holders) == {*MATRIX_POOL, None}
    assert all(len(held) == 1 for held in holders.values()), holders
    assert all(w.sent for w in workers) and all(w.shutting_down for w in workers) and not sched.workqueue


def test_the_target_of_a_nodeid_is_the_longest_pool_spec_among_its_parameter_ids() -> None:
    assert target_in_nodeid("t.py::test[loopback:0000000000000101-2]", MATRIX_POOL) == MATRIX_POOL[-1]
    assert target_in_nodeid("t.py::test[3-loopback]", MATRIX_POOL) == "loopback"
    assert target_in_nodeid("t.py::test[usb:1-2]", ["usb:1", "usb:1-2"]) == "usb:1-2"
    assert target_in_nodeid("t.py::test[usb:1-x]", ["usb:1", "usb:1-2"]) == "usb:1"
    assert target_in_nodeid("t.py::test[xloopback]", MATRIX_POOL) is None
    assert target_in_nodeid("t.py::test", MATRIX_POOL) is None
