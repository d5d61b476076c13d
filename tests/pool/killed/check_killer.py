"""Run only by tests/pool/test_pool_xdist.py (files named check_*): the first test kills the bridge of
the emulator board this worker leased; the tests after it must fail naming the lost device."""

from __future__ import annotations

import pytest

from rig.links.emulator import EmulatorLink
from rig.targets.registry import Target


def test_0_kill_this_workers_bridge(rig_target: Target) -> None:
    link = getattr(rig_target, "link", None)  # an EmulatorTarget's, or the one a labgrid place opened
    assert isinstance(link, EmulatorLink)
    link._proc.kill()  # the bridge dies as a crashed Node process would
    link._proc.wait()


@pytest.mark.parametrize("n", range(3))
def test_1_after_the_kill(rig_target: Target, n: int) -> None:
    device = rig_target.usb_device()
    device.ctrl_transfer(0x80, 0x06, 0x0100, 0, 18)  # GET_DESCRIPTOR(DEVICE)
