"""Fixtures for the loopback board tests: a board, its pyusb device, and (session) a JACK server."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import pytest
import usb.core

from rig import contract as c
from rig.jack import JackMissing, JackServer
from rig.loopback import LoopbackBoard
from rig.usb_backend import LinkBackend


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


@pytest.fixture(scope="session")
def jack_server() -> Iterator[JackServer]:
    """A JACK server for python-rtmidi (dummy driver). Missing jackd: a failure in CI, a skip elsewhere."""
    try:
        server = JackServer(timeout_s=15).start()
    except JackMissing as exc:
        if os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}:
            pytest.fail(f"CI must run the JACK tests: {exc}")
        pytest.skip(f"no JACK: {exc}")
    try:
        yield server
    finally:
        server.stop()
