"""Matrix mode under pytest-xdist: the controller's scheduler hands out whole targets. Every test of
one target is one work unit, sent to one worker; that worker leases the target at its first test,
keeps it for the rest of them and gives it back when it moves on (rig.pytest_plugin.fixtures), so no
worker ever waits for a lease another worker holds.

xdist's LoadScopeScheduling with the scope of a test being the target its nodeid names (xdist's own
`--dist loadgroup` cannot do it under pytest 9: it renames items through `item._nodeid`, which pytest
no longer reads). Tests that name no target of the pool keep LoadScope's scope (their module)."""

from __future__ import annotations

from typing import Any

import pytest
from xdist.scheduler import LoadScopeScheduling

from rig.pytest_plugin.pool import target_in_nodeid
from rig.pytest_plugin.state import state_of

TARGET_SCOPE = "rig target "
"""The prefix of a target's work unit (a module scope is a path: the two never meet)."""


class MatrixScheduling(LoadScopeScheduling):
    """LoadScopeScheduling whose work unit is a target: all of one target's tests on one worker."""

    def __init__(self, config: pytest.Config, log: Any = None, specs: list[str] | None = None) -> None:
        super().__init__(config, log)
        self.specs = list(specs or [])

    def _split_scope(self, nodeid: str) -> str:
        target = target_in_nodeid(nodeid, self.specs)
        return TARGET_SCOPE + target if target is not None else super()._split_scope(nodeid)


class MatrixPlugin:
    """The controller's scheduler for a matrix pool (registered by rig.pytest_plugin.options),
    whatever --dist says."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> MatrixScheduling:
        plan = state_of(config).plan
        return MatrixScheduling(config, log, plan.healthy if plan is not None else [])
