"""MIDI behaviour over raw USB-MIDI (the `midi` suite), for any USB-MIDI device that sends back what
it receives: our board in ECHO mode, a device declared `usb:...,echo`, or one with a DIN loopback
cable (`usb:...,loop`). The rig plugin must be loaded (else every test here skips, or fails under CI).
`raw_midi` is the device's first MIDIStreaming OUT/IN pair on the target's cable; no vendor request
reaches a device that is not ours."""

from __future__ import annotations

from pathlib import Path

import pytest

from ..conformance_usb.fixtures import (
    _no_vendor_request_reached_a_foreign_device,
    _rig_plugin_loaded,
    register_markers,
    skip_without_plugin,
)
from .raw_port import raw_midi

__all__ = ["_no_vendor_request_reached_a_foreign_device", "_rig_plugin_loaded", "raw_midi"]


def pytest_configure(config: pytest.Config) -> None:
    register_markers(config)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_without_plugin(config, items, Path(__file__).resolve().parent)
