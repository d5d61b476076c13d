"""Run only by tests/pool/test_pool_history.py: two tests on every target of a pool; the second fails
on the target RIG_TEST_BREAK names (an injected regression on that one target)."""

from __future__ import annotations

import os

from rig.targets.registry import Target


def test_device_descriptor(rig_target: Target) -> None:
    device = rig_target.usb_device()
    assert len(device.ctrl_transfer(0x80, 0x06, 0x0100, 0, 18)) == 18


def test_breakable(rig_target: Target) -> None:
    assert os.environ.get("RIG_TEST_BREAK") != rig_target.name, f"regression injected on {rig_target.name}"
