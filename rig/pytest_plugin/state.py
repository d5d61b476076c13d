"""The plugin's per-session state (kept in config.stash) and the pool of opened targets."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from rig.errors import TargetError
from rig.pytest_plugin.pool import PoolPlan
from rig.pytest_plugin.run_report import RunRecord
from rig.targets.factory import make_target
from rig.targets.registry import Target


class TargetPool:
    """Targets of one session: built and opened on first use, closed together at the end.

    An open that fails is remembered, so every test of that target reports the same error quickly.
    """

    def __init__(self) -> None:
        self._targets: dict[str, Target] = {}
        self._failures: dict[str, str] = {}

    def get(self, spec: str) -> Target:
        """The opened target for `spec`."""
        if spec in self._failures:
            raise TargetError(self._failures[spec])
        target = self._targets.get(spec)
        if target is None:
            try:
                target = make_target(spec)
                target.open()
            except Exception as exc:
                message = f"target {spec}: could not open: {exc}"
                self._failures[spec] = message
                raise TargetError(message) from None  # the message carries the cause, once
            self._targets[spec] = target
        return target

    def opened(self) -> dict[str, Target]:
        """Specs and targets opened so far."""
        return dict(self._targets)

    def close_one(self, spec: str) -> None:
        """Close the target of `spec` if it is open (a later get() opens it again)."""
        target = self._targets.pop(spec, None)
        if target is not None:
            try:
                target.close()
            except Exception as exc:
                raise TargetError(f"target {spec}: close failed: {exc}") from None

    def close(self) -> None:
        """Close every opened target (errors are collected and raised together)."""
        errors: list[str] = []
        for spec, target in reversed(list(self._targets.items())):
            try:
                target.close()
            except Exception as exc:
                errors.append(f"target {spec}: close failed: {exc}")
        self._targets.clear()
        if errors:
            raise TargetError("; ".join(errors))


@dataclass
class RigState:
    """Per-session plugin state, kept in config.stash."""

    specs: list[str]
    strict: bool
    report_dir: Path | None
    pool: TargetPool
    record: RunRecord
    plan: PoolPlan | None = None
    """The --rig-pool plan (None: the targets are the --rig specs)."""


STATE = pytest.StashKey[RigState]()


def state_of(config: pytest.Config) -> RigState:
    """The session's RigState (set by pytest_configure)."""
    return config.stash[STATE]
