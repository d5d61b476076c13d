"""Run only by tests/pool/test_pool_xdist.py (files named check_*): a few requests on each target; the
conftest beside it makes one worker die after its tests were reported."""

from __future__ import annotations

import pytest

from rig.targets.registry import Target


@pytest.mark.parametrize("n", range(3))
def test_descriptor(rig_target: Target, n: int) -> None:
    device = rig_target.usb_device()
    assert len(device.ctrl_transfer(0x80, 0x06, 0x0100, 0, 18)) == 18
