"""A mixed split pool (our boards with devices that are not ours): which worker may lease what
(PoolPlan.worker_candidates) and the scheduler that routes the tests needing our board only to
workers leasing our boards (rig.pytest_plugin.pool_routing), driven with stand-in xdist workers: each
test is sent exactly once, a contract test never to a worker of the other devices, and a worker
left with nothing it can run is shut down (no hang). The subprocess proof is in test_pool_xdist."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from rig.pytest_plugin.pool import CANDIDATES_KEY, MATRIX, POOL_OURS_PARAM, SPLIT, PoolPlan, split_params

pytest.importorskip("xdist")  # a dev dependency: make venv installs it, so CI always has it

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
    option = SimpleNamespace(tx=["popen"] * workers, maxschedchunk=None)
    return SimpleNamespace(option=option, getvalue=lambda name: getattr(option, name),
                           getoption=lambda name: getattr(option, name), hook=None)


def contract(name: str) -> str:
    return f"tests/conformance/test_x.py::{name}[{POOL_OURS_PARAM}]"


def run(collection: list[str], workers: list[Worker]) -> RoutingScheduling:
    """Schedule `collection` on `workers`, completing the tests each was sent until none is left."""
    sched = RoutingScheduling(config(len(workers)))
    sched.foreign = dict(FOREIGN)
    for worker in workers:
        sched.add_node(worker)
    for worker in workers:
        sched.add_node_collection(worker, collection)
    sched.schedule()
    while any(sched.node2pending[w] for w in workers):
        for worker in workers:
            if sched.node2pending[worker]:
                sched.mark_test_complete(worker, sched.node2pending[worker][0])
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
