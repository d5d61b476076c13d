"""MIDI behaviour over raw USB-MIDI (the `midi` suite), for any USB-MIDI device that sends back what
it receives: our board in ECHO mode, a device declared `usb:...,echo`, or one with a DIN loopback
cable (`usb:...,loop`, `emulator:IMAGE,echo`). The rig plugin must be loaded (else every test here
skips, or fails under CI). `raw_midi` is the device's first MIDIStreaming OUT/IN pair on the target's
cable; no vendor request reaches a device that is not ours, so the tests are device_agnostic: they
run on an `emulator:IMAGE` of firmware that is not our board too."""

from __future__ import annotations

from pathlib import Path

from ..conformance_usb.fixtures import *  # noqa: F403  (the suite fixtures: fixtures.__all__)
from ..conformance_usb.fixtures import suite_hooks
from .raw_port import raw_midi

__all__ = ["raw_midi"]

pytest_configure, pytest_collection_modifyitems = suite_hooks(Path(__file__).resolve().parent)
