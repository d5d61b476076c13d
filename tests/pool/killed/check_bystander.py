"""Run only by tests/pool/test_pool_xdist.py: the same requests on the other worker's board, which
must stay green while the other worker's bridge is killed."""

from __future__ import annotations

import pytest

from rig.targets.registry import Target


@pytest.mark.parametrize("n", range(4))
def test_descriptor_on_the_other_board(rig_target: Target, n: int) -> None:
    device = rig_target.usb_device()
    assert len(device.ctrl_transfer(0x80, 0x06, 0x0100, 0, 18)) == 18
