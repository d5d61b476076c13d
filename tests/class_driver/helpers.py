"""rtmidi client helpers for the class driver tests: open a port by name, receive with a timeout."""

from __future__ import annotations

import time
from typing import Any

import pytest

from rig.os_midi.quiet import quietly


def open_port(api: int, kind: str, wanted: str) -> Any:
    """An rtmidi client port of `kind` ("out"/"in") opened on the port whose name contains `wanted`."""
    import rtmidi

    port = quietly(lambda: (rtmidi.MidiOut if kind == "out" else rtmidi.MidiIn)(rtapi=api))
    names = port.get_ports()
    matches = [i for i, name in enumerate(names) if wanted in name]
    if not matches:
        port.delete()
        raise AssertionError(f"{wanted!r} not among {names}")
    port.open_port(matches[0])
    if kind == "in":
        port.ignore_types(sysex=False, timing=False, active_sense=False)
    return port


def receive(port: Any, count: int, timeout_s: float = 10.0) -> list[list[int]]:
    """Up to `count` messages from an rtmidi input, polling until `timeout_s` passes."""
    got: list[list[int]] = []
    deadline = time.monotonic() + timeout_s
    while len(got) < count and time.monotonic() < deadline:
        event = port.get_message()
        if event is None:
            time.sleep(0.002)
        else:
            got.append(event[0])
    return got


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
        port.close_port()
        port.delete()
