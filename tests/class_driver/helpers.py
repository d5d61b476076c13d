"""rtmidi client helpers for the class driver tests: open a port by name, receive with a timeout."""

from __future__ import annotations

import time
from typing import Any

import pytest

from rig.pytest_plugin.testing import close_rtmidi_port
from rig.pytest_plugin.testing import open_rtmidi_port as open_port
from rig.pytest_plugin.testing import receive_messages as receive

__all__ = ["close_ports", "open_port", "receive", "wait_for"]


def wait_for(what: str, ready: Any, timeout_s: float = 5.0) -> None:
    """Poll until `ready()`; fail naming `what`."""
    deadline = time.monotonic() + timeout_s
    while not ready():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.005)


def close_ports(*ports: Any) -> None:
    """Close and delete rtmidi client ports (idle clients slow every JACK cycle)."""
    for port in ports:
        close_rtmidi_port(port)
