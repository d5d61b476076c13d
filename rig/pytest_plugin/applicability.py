"""Which tests apply to which target: a target that is not our board (an `emulator:IMAGE` of other
firmware) gets only the device-agnostic suites, whose conftests mark their tests `device_agnostic`;
every other test of that target is deselected (not applicable: it needs our contract), not skipped.
The smallest rule until suites are picked by capabilities from descriptors."""

from __future__ import annotations

import pytest

from rig.errors import TargetError
from rig.pytest_plugin.pool import POOL_OURS_PARAM, POOL_PARAM, is_pool_param
from rig.pytest_plugin.run_report import NOT_APPLICABLE
from rig.pytest_plugin.state import STATE, state_of
from rig.targets.registry import TargetSpec

AGNOSTIC_MARK = "device_agnostic"


def register_markers(config: pytest.Config) -> None:
    """Declare the marker."""
    config.addinivalue_line("markers", f"{AGNOSTIC_MARK}: judges any USB device by the specifications alone; "
                                       "the only tests a target that is not our board runs")


def not_our_board(config: pytest.Config, spec: str) -> bool:
    """True when `spec` names an emulator image whose device is not our board. Only such specs are
    opened here (at collection; a pool's were probed before); an open that fails says nothing, and
    the tests report the failure."""
    plan = state_of(config).plan
    if plan is not None:  # a pool's targets were probed once by the controller (PoolPlan.classify)
        if is_pool_param(spec):  # split mode: not ours when no healthy target is (a mixed pool routes)
            return bool(plan.healthy) and all(s in plan.foreign for s in plan.healthy)
        return spec in plan.foreign
    parsed = TargetSpec.parse(spec)
    if parsed.kind != "emulator":
        return False
    from rig.targets.emulator import parse_emulator_arg  # the emulator's stack, only for its specs

    if parse_emulator_arg(parsed.arg).image is None:
        return False  # our firmware (whatever its unique ID)
    try:
        target = state_of(config).pool.get(str(parsed))
    except TargetError:
        return False
    return getattr(target, "is_our_board", True) is False


def _target_param(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    if callspec is None or "rig_target" not in callspec.params:
        return None
    return str(callspec.params["rig_target"])


CONTRACT_REASON = "needs our board's contract; the device is not our board"


def keep_routed_twin(items: list[pytest.Item]) -> None:
    """A mixed split pool collects each test twice (rig.pytest_plugin.pool.split_params): keep the
    POOL_OURS_PARAM one of a test that needs our board and the POOL_PARAM one of a device-agnostic test.
    The other is no test of its own: it is dropped, not reported as deselected."""
    def wanted(item: pytest.Item) -> bool:
        spec = _target_param(item)
        if spec not in (POOL_PARAM, POOL_OURS_PARAM):
            return True
        return (spec == POOL_OURS_PARAM) == (item.get_closest_marker(AGNOSTIC_MARK) is None)

    if any(_target_param(item) == POOL_OURS_PARAM for item in items):
        items[:] = [item for item in items if wanted(item)]


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect tests that need our contract from targets that are not our board, recording each as
    not applicable there with the reason (rig.pytest_plugin.recording carries a worker's to the
    controller)."""
    if STATE not in config.stash:
        return
    keep_routed_twin(items)
    foreign: dict[str, bool] = {}
    keep: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        spec = _target_param(item)
        if spec is not None and item.get_closest_marker(AGNOSTIC_MARK) is None:
            if spec not in foreign:
                foreign[spec] = not_our_board(config, spec)
            if foreign[spec]:
                dropped.append(item)
                continue
        keep.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep
        state = state_of(config)
        for item in dropped:
            spec = str(_target_param(item))
            where = "any target of the pool" if is_pool_param(spec) else spec
            result = state.record.result(item.nodeid, spec)
            result.outcome, result.message = NOT_APPLICABLE, f"{CONTRACT_REASON} ({where})"
