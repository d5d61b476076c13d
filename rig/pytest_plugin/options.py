"""The plugin's command-line options (the "rig" group) and what they set up: the session state,
the checked --rig specs, the report header and one parametrization of `rig_target` per spec."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from rig.errors import UnknownTargetError
from rig.pytest_plugin import crash_dumps, pool
from rig.pytest_plugin.applicability import register_markers as register_agnostic_marker
from rig.pytest_plugin.capture import add_options as add_capture_options
from rig.pytest_plugin.history_store import add_options as add_history_options
from rig.pytest_plugin.recording import register_controller
from rig.pytest_plugin.run_report import RunRecord
from rig.pytest_plugin.skip_rule import register_markers, strict_from_env
from rig.pytest_plugin.state import STATE, RigState, TargetPool, state_of
from rig.targets.discovery import default_target
from rig.targets.registry import KINDS, TargetSpec


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("rig", "USB-MIDI test rig")
    group.addoption("--rig", action="append", dest="rig_specs", metavar="SPEC", default=None,
                    help="target to run on: loopback, emulator, board, board:SERIAL, midi:OUT,IN "
                         "(repeat for several; default: an attached board, else loopback)")
    group.addoption("--rig-strict", action="store_true", dest="rig_strict", default=False,
                    help="a skip for a capability the target should have fails instead "
                         "(also on when CI=true)")
    group.addoption("--rig-report", dest="rig_report", metavar="DIR", default=None,
                    help="write record.json and report.md into DIR")
    group.addoption("--rig-open-early", action="store_true", dest="rig_open_early", default=False,
                    help="open the targets right after collection; one that cannot open ends the "
                         "session with its cause in one line")
    add_capture_options(group)
    pool.add_options(group)
    add_history_options(group)


def default_spec() -> str:
    """`default_target()`, or loopback when this installation has no board support."""
    try:
        return default_target()
    except ModuleNotFoundError as exc:  # board support absent: the loopback is the default
        if exc.name and exc.name.startswith("rig.targets"):
            return "loopback"
        raise


def check_spec(text: str) -> str:
    """The normalised spec; a UsageError naming the value when it names no kind of target."""
    try:
        spec = TargetSpec.parse(text)
    except UnknownTargetError as exc:
        raise pytest.UsageError(f"--rig: {exc}") from None
    if spec.kind not in KINDS:
        raise pytest.UsageError(f"--rig: unknown target {text!r}; expected one of {', '.join(KINDS)}")
    return str(spec)


def pytest_configure(config: pytest.Config) -> None:
    crash_dumps.enable()
    register_markers(config)
    register_agnostic_marker(config)
    specs = list(dict.fromkeys(check_spec(spec) for spec in config.getoption("rig_specs") or []))
    report = config.getoption("rig_report")
    record = RunRecord()
    strict = bool(config.getoption("rig_strict")) or strict_from_env(os.environ)
    record.settings.update({"strict": str(strict), "targets": ", ".join(specs) or "(default)",
                            "pytest arguments": " ".join(config.invocation_params.args),
                            "CI": os.environ.get("CI", "(unset)")})
    plan = config.stash.get(_EARLY_PLAN, None) or pool.plan_from(config)
    if plan is not None and not pool.is_worker(config):
        plan.classify()  # workers learn it from the controller (pytest_configure_node)
    if plan is not None:
        specs = plan.healthy if plan.mode == pool.MATRIX else pool.split_params(plan)
        record.settings.update({"targets": f"pool of {len(plan.specs)}: {', '.join(plan.specs)}",
                                "pool mode": plan.mode})
        if plan.unhealthy:
            left = plan.unhealthy.items()
            record.settings["left out of the pool"] = "; ".join(f"{s}: {w}" for s, w in left)
        # Every pool target gets its row in the per-target table, one that ran no test too.
        record.extra["pool_targets"] = {spec: f"left out of the pool: {plan.unhealthy[spec]}"
                                        if spec in plan.unhealthy else "" for spec in plan.specs}
        routing = plan.routing()
        if routing is not None:
            record.settings["pool routing"] = routing
            record.extra["target_notes"] = {spec: "tests that need our board's contract are not applicable "
                                                  "here: they ran on our boards"
                                            for spec in plan.healthy if spec in plan.foreign}
    if pool.is_controller(config):
        record.settings["xdist workers"] = str(len(config.option.tx))
    if pool.is_worker(config):
        report = None  # the controller merges what workers record and writes the one report
    config.stash[STATE] = RigState(specs=specs, strict=strict, report_dir=Path(report) if report else None,
                                   pool=TargetPool(), record=record, plan=plan)
    register_controller(config)
    if plan is not None and pool.is_controller(config):
        register_scheduler(config, plan)


def register_scheduler(config: pytest.Config, plan: pool.PoolPlan) -> None:
    """The controller's scheduler for a pool under xdist, whatever --dist says: matrix mode hands each
    target's tests to one worker (rig.pytest_plugin.pool_matrix); a mixed split pool gives the tests
    that need our board (parameter POOL_OURS_PARAM) only to workers leasing our boards
    (rig.pytest_plugin.pool_routing)."""
    if plan.mode == pool.MATRIX:
        from rig.pytest_plugin.pool_matrix import MatrixPlugin  # imports xdist, present here

        config.pluginmanager.register(MatrixPlugin(), "rig-pool-matrix")
    elif plan.mixed:
        from rig.pytest_plugin.pool_routing import RoutingPlugin

        config.pluginmanager.register(RoutingPlugin(), "rig-pool-routing")


_EARLY_PLAN = pytest.StashKey[pool.PoolPlan]()
"""The plan built while xdist counted workers (before pytest_configure), reused there."""


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """`-n auto` with a pool: one worker per healthy target."""
    plan = pool.plan_from(config)
    if plan is None:
        return None
    config.stash[_EARLY_PLAN] = plan
    return pool.auto_workers(plan)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """Tell each worker which pool targets the controller found unhealthy or not ours (they all
    collect alike), and which it may lease in split mode."""
    plan = state_of(node.config).plan
    if plan is not None:
        node.workerinput["rig_pool_unhealthy"] = dict(plan.unhealthy)
        node.workerinput["rig_pool_foreign"] = dict(plan.foreign)
        worker = str(node.gateway.id).removeprefix("gw")
        node.workerinput[pool.CANDIDATES_KEY] = plan.worker_candidates(int(worker) if worker.isdigit() else 0)


def pytest_report_header(config: pytest.Config) -> str:
    state = state_of(config)
    return (f"rig: targets {', '.join(state.specs) or '(default)'}; strict {'on' if state.strict else 'off'}"
            + (f"; report {state.report_dir}" if state.report_dir else ""))


def _user_parametrizes_target(metafunc: pytest.Metafunc) -> bool:
    for marker in metafunc.definition.iter_markers("parametrize"):
        names = marker.args[0] if marker.args else marker.kwargs.get("argnames", "")
        if isinstance(names, str):
            names = [n.strip() for n in names.split(",")]
        if "rig_target" in names:
            return True
    return False


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "rig_target" not in metafunc.fixturenames or _user_parametrizes_target(metafunc):
        return
    state = state_of(metafunc.config)
    if not state.specs:
        state.specs = [default_spec()]
        state.record.settings["targets"] = f"{state.specs[0]} (default)"
    metafunc.parametrize("rig_target", state.specs, indirect=True, ids=list(state.specs), scope="session")
