"""Fixtures for the loopback board tests: a board and its pyusb device. (OS MIDI needs no fixture: the
loopback target starts its own JACK server where there is no MIDI system.)"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import usb.core

from rig import contract as c
from rig.links.pyusb_backend import LinkBackend
from rig.loopback import LoopbackBoard


@pytest.fixture
def board() -> Iterator[LoopbackBoard]:
    """A fresh loopback board; closing it must leave no thread of its own behind."""
    before = set(threading.enumerate())
    b = LoopbackBoard()
    try:
        yield b
    finally:
        b.close()
        leaked = [t for t in threading.enumerate() if t not in before and t.name.startswith("loopback")]
        assert not leaked, f"threads left running after close: {leaked}"


@pytest.fixture
def dev(board: LoopbackBoard) -> usb.core.Device:
    """The board as a configured pyusb device, found as a user finds a real board."""
    device = usb.core.find(idVendor=c.VID, idProduct=c.PID, backend=LinkBackend([board]))
    assert device is not None
    device.set_configuration()
    return device
