"""Routing for a mixed split pool under pytest-xdist: a scheduler that gives the tests needing our
board (parameter POOL_OURS_PARAM in their nodeid, kept by rig.pytest_plugin.applicability) only to
workers leasing our boards, and any other test to any worker; each test still runs once.

xdist's LoadScheduling with one change: a worker is sent only tests it can run, and is shut down when
none of those is left (the others wait for the workers that can run them)."""

from __future__ import annotations

from typing import Any

import pytest
from xdist.scheduler import LoadScheduling
from xdist.workermanage import WorkerController

from rig.pytest_plugin.pool import CANDIDATES_KEY, POOL_OURS_PARAM, has_param_id
from rig.pytest_plugin.state import state_of


def needs_our_board(nodeid: str) -> bool:
    """True when POOL_OURS_PARAM is one of `nodeid`'s parameter ids."""
    return has_param_id(nodeid, POOL_OURS_PARAM)


def leases_our_board(node: WorkerController, foreign: dict[str, str]) -> bool:
    """True when the worker leases among our boards (its candidates from the controller)."""
    candidates = node.workerinput.get(CANDIDATES_KEY, [])
    return any(spec not in foreign for spec in candidates)


class RoutingScheduling(LoadScheduling):
    """LoadScheduling that sends a worker only the tests its target can run."""

    def __init__(self, config: pytest.Config, log: Any = None) -> None:
        super().__init__(config, log)
        self.foreign: dict[str, str] = {}

    def can_run(self, node: WorkerController, index: int) -> bool:
        """True when `node`'s target can run test `index` of the collection."""
        assert self.collection is not None
        return not needs_our_board(self.collection[index]) or leases_our_board(node, self.foreign)

    def _send_tests(self, node: WorkerController, num: int) -> None:
        chosen = [i for i in self.pending if self.can_run(node, i)][:num]
        if chosen:
            taken = set(chosen)
            self.pending[:] = [i for i in self.pending if i not in taken]
            self.node2pending[node].extend(chosen)
            node.send_runtest_some(chosen)

    def check_schedule(self, node: WorkerController, duration: float = 0) -> None:
        if not node.shutting_down and not any(self.can_run(node, i) for i in self.pending):
            node.shutdown()  # nothing left this worker can run: it finishes what it holds and stops
            return
        super().check_schedule(node, duration)

    def schedule(self) -> None:
        first = self.collection is None
        super().schedule()
        if first and self.collection:  # a worker the first share left empty is shut down or fed now
            for node in self.nodes:
                if not self.node2pending[node]:
                    self.check_schedule(node)


class RoutingPlugin:
    """The controller's scheduler for a mixed split pool (registered by rig.pytest_plugin.options)."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> RoutingScheduling:
        scheduler = RoutingScheduling(config, log)
        plan = state_of(config).plan
        scheduler.foreign = dict(plan.foreign) if plan is not None else {}
        return scheduler
